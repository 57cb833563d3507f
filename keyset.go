package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/grpcjwt/grpcjwt/internal/keycache"
)

// refresh is one JWKS fetch in flight; waiters block on done.
type refresh struct {
	done chan struct{}
	err  error
}

// keySet holds the provider's keys and keeps them fresh: periodic refreshes
// started lazily by requests (which never wait for them), and refreshes for
// unknown kids, shared by all concurrent callers and rate-limited.
type keySet struct {
	configuredURL string // the issuer's JWKSURL; "": discovery finds the JWKS
	client        *http.Client
	timeout       time.Duration
	maxBody       int64
	interval      time.Duration // periodic refresh, and the ceiling for Cache-Control
	minInterval   time.Duration // unknown-kid rate limit, and the floor for Cache-Control
	now           func() time.Time
	log           *slog.Logger
	issuer        string
	observer      Observer // nil: none
	cacheFile     string   // where the last good JWKS is kept; "" for none
	notify        func()   // called after every fetch, for State watchers
	// discovered, when set, is told every discovery document that answers
	// (the issuer's introspector).
	discovered func(providerMetadata)

	jwksURL     atomic.Pointer[string]      // configuredURL, or the jwks_uri discovery gave last; nil until it first answers
	snap        atomic.Pointer[keySnapshot] // written under mu; nil until the first keys arrive, or after cached keys are discarded
	lastSuccess atomic.Int64                // unix nanoseconds of the last good fetch; 0: never
	staleSince  atomic.Int64                // unix nanoseconds of the first failure since; 0: fresh
	lastErr     atomic.Pointer[error]       // of the last fetch; nil after a success
	nextRefresh atomic.Int64                // unix nanoseconds; periodic refresh is due at or after it

	mu          sync.Mutex
	inflight    *refresh
	lastUnknown time.Time   // zero until the first unknown-kid refresh, which is free
	cached      *cachedKeys // the key cache file's, until a fetch supersedes or discovery disowns them

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// key returns the key for kid and alg. An unknown kid triggers (or joins) a
// refresh when the rate limit allows, and waits for it within ctx; under a
// ctx of the tap handle ([mustNotWait]) it returns errKeyNotAtHand instead,
// and starts nothing.
func (ks *keySet) key(ctx context.Context, now time.Time, kid string, alg *jose.Algorithm) (*verifyKey, error) {
	snap := ks.snap.Load()
	if snap == nil {
		return nil, fmt.Errorf("%w: issuer %q has no keys yet", ErrKeysUnavailable, ks.issuer)
	}
	ks.maybeRefresh(now.UnixNano())
	if k := snap.find(kid, alg); k != nil {
		return k, nil
	}
	if kid == "" && snap.fitsAny(alg) {
		return nil, tokenErr(ErrUnknownKey, "token has no kid and several keys fit "+alg.Name)
	}
	var r *refresh
	if !mustNotWait(ctx) {
		r = ks.unknownRefresh()
	} else if ks.refreshAllowed() {
		return nil, errKeyNotAtHand // the interceptors will start the refresh and wait
	}
	if r == nil {
		// A refresh may have ended since snap was read: it is what the
		// rate limit kept this caller from starting.
		if k := ks.snap.Load().find(kid, alg); k != nil {
			return k, nil
		}
		return nil, tokenErr(ErrUnknownKey, fmt.Sprintf("kid %q not in the key set; refresh rate-limited", truncate(kid)))
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, tokenErr(ErrUnknownKey, fmt.Sprintf("kid %q: gave up waiting for the key set refresh: %v", truncate(kid), ctx.Err()))
	}
	if k := ks.snap.Load().find(kid, alg); k != nil {
		return k, nil
	}
	if r.err != nil {
		return nil, tokenErr(ErrUnknownKey, fmt.Sprintf("kid %q not in the key set; refresh failed: %v", truncate(kid), r.err))
	}
	return nil, tokenErr(ErrUnknownKey, fmt.Sprintf("kid %q not in the key set", truncate(kid)))
}

// maybeRefresh starts a periodic refresh when one is due. It never waits,
// and only the one caller that moves the due time on takes the lock: the
// others, however many arrive while the refresh runs, read one atomic.
func (ks *keySet) maybeRefresh(nowUnix int64) {
	due := ks.nextRefresh.Load()
	if nowUnix < due {
		return
	}
	// Not due again before minInterval; the fetch sets the real next time.
	if !ks.nextRefresh.CompareAndSwap(due, nowUnix+int64(ks.minInterval)) {
		return
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight == nil { // else a refresh for an unknown kid is doing it
		ks.startLocked(FetchPeriodic)
	}
}

// unknownRefresh returns the refresh an unknown kid should wait for: the one
// in flight, or a new one if the rate limit allows; nil otherwise.
func (ks *keySet) unknownRefresh() *refresh {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	now := ks.now()
	if ks.unknownLimitedLocked(now) {
		return nil
	}
	ks.lastUnknown = now
	return ks.startLocked(FetchUnknownKID)
}

// refreshAllowed reports whether an unknown kid would now join a refresh in
// flight or start one, as [keySet.unknownRefresh] would, without starting
// it.
func (ks *keySet) refreshAllowed() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.inflight != nil || !ks.unknownLimitedLocked(ks.now())
}

// unknownLimitedLocked reports whether the rate limit keeps an unknown kid
// from starting a refresh at now. ks.mu must be held.
func (ks *keySet) unknownLimitedLocked(now time.Time) bool {
	return !ks.lastUnknown.IsZero() && now.Sub(ks.lastUnknown) < ks.minInterval
}

// startLocked starts a refresh in the background. It runs on the key set's
// own context, not a caller's: a caller that gives up must not cancel the
// refresh others wait for. ks.mu must be held.
func (ks *keySet) startLocked(reason FetchReason) *refresh {
	r := &refresh{done: make(chan struct{})}
	if ks.ctx.Err() != nil {
		r.err = errors.New("validator closed")
		close(r.done)
		return r
	}
	ks.inflight = r
	ks.wg.Add(1)
	go func() {
		defer ks.wg.Done()
		err := ks.fetch(ks.ctx, reason)
		ks.mu.Lock()
		ks.inflight = nil
		ks.mu.Unlock()
		r.err = err
		close(r.done)
	}()
	return r
}

// close stops any refresh in flight and waits for it.
func (ks *keySet) close() {
	ks.cancel()
	ks.wg.Wait()
	ks.nextRefresh.Store(math.MaxInt64) // no more periodic attempts
}

// fetch finds the JWKS URL (see locate), downloads the JWKS and installs
// it. On any failure the last good snapshot stays, or the key cache file's
// keys serve if there are none yet, and the next periodic attempt waits
// minInterval.
func (ks *keySet) fetch(ctx context.Context, reason FetchReason) (err error) {
	if ks.observer != nil {
		start := time.Now()
		var done func(KeyFetchResult)
		ctx, done = ks.observer.StartKeyFetch(ctx, KeyFetch{Issuer: ks.issuer, Reason: reason})
		defer func() {
			r := KeyFetchResult{Err: err, Duration: time.Since(start)}
			if snap := ks.snap.Load(); err == nil && snap != nil {
				r.Keys = len(snap.keys)
			}
			done(r)
		}()
	}
	if ks.notify != nil {
		defer ks.notify()
	}
	u, err := ks.locate(ctx, reason)
	if err != nil {
		ks.failed(err)
		return err
	}
	snap, body, maxAge, err := ks.download(ctx, u)
	now := ks.now()
	if err != nil {
		ks.failed(err)
		return err
	}
	interval := ks.interval
	if maxAge > 0 {
		interval = min(max(maxAge, ks.minInterval), ks.interval)
	}
	// Jitter down to 80% so that a fleet started together spreads out.
	interval -= time.Duration(rand.Int64N(int64(interval)/5 + 1))
	ks.nextRefresh.Store(now.Add(interval).UnixNano())

	ks.install(snap)
	ks.lastSuccess.Store(now.UnixNano())
	ks.staleSince.Store(0)
	ks.lastErr.Store(nil)
	ks.log.Debug("grpcjwt: JWKS refreshed", "jwks_uri", u, "keys", len(snap.keys), "next_in", interval)
	if ks.cacheFile != "" {
		if err := keycache.Write(ks.cacheFile, keycache.File{Issuer: ks.issuer, JWKSURI: u, FetchedAt: now, JWKS: body}); err != nil {
			ks.log.Warn("grpcjwt: could not keep the JWKS in the key cache", "file", ks.cacheFile, "error", err)
		}
	}
	return nil
}

// locate returns the URL to fetch the JWKS from. A configured one is used
// as it is. Otherwise discovery runs at every fetch but one for an unknown
// kid, which callers wait for and which uses the jwks_uri discovery gave
// last (if it has answered yet): so a provider that moves its jwks_uri is
// followed at the next periodic refresh, and one whose discovery fails
// while its JWKS answers keeps its keys fresh. Discovery that names another
// jwks_uri than the key cache file's discards the file's keys.
func (ks *keySet) locate(ctx context.Context, reason FetchReason) (string, error) {
	if ks.configuredURL != "" {
		return ks.configuredURL, nil
	}
	last := ks.jwksURL.Load()
	if last != nil && reason == FetchUnknownKID {
		return *last, nil
	}
	doc, err := discover(ctx, ks.client, ks.timeout, ks.issuer, ks.maxBody)
	if err != nil {
		if last == nil || ctx.Err() != nil {
			return "", err
		}
		ks.log.Warn("grpcjwt: OIDC discovery failed; fetching the JWKS from the jwks_uri it gave last", "jwks_uri", *last, "error", err)
		return *last, nil
	}
	if ks.discovered != nil {
		ks.discovered(doc)
	}
	u := doc.jwksURI
	if last != nil && *last != u {
		ks.log.Info("grpcjwt: the provider moved its jwks_uri", "from", *last, "to", u)
	}
	ks.jwksURL.Store(&u)
	ks.disownCached(u)
	return u, nil
}

// install makes snap the key set's keys, keeping the identity of keys that
// did not change. Fetched keys supersede the key cache file's for good.
func (ks *keySet) install(snap *keySnapshot) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.cached = nil
	if old := ks.snap.Load(); old != nil {
		snap = carryOver(old, snap)
	}
	ks.snap.Store(snap)
}

// failed records a failed fetch. Keys already held stay, and are stale from
// now if they were fresh. Without any, the key cache file's keys serve, if
// discovery has not disowned them.
func (ks *keySet) failed(err error) {
	now := ks.now()
	ks.lastErr.Store(&err)
	ks.useCached()
	if ks.snap.Load() == nil {
		return // the startup loop retries on its own schedule
	}
	ks.nextRefresh.Store(now.Add(ks.minInterval).UnixNano())
	ks.staleSince.CompareAndSwap(0, now.UnixNano())
	ks.log.Warn("grpcjwt: JWKS refresh failed; keeping the previous keys", "jwks_uri", ks.jwksURI(), "error", err)
}

// jwksURI is the JWKS URL in use, for logs; "" before discovery answers.
func (ks *keySet) jwksURI() string {
	if u := ks.jwksURL.Load(); u != nil {
		return *u
	}
	return ""
}

// download fetches and parses the JWKS at u. It returns the Cache-Control
// max-age when the response has one.
func (ks *keySet) download(ctx context.Context, u string) (*keySnapshot, []byte, time.Duration, error) {
	body, hdr, err := getJSON(ctx, ks.client, ks.timeout, u, ks.maxBody)
	if err != nil {
		return nil, nil, 0, err
	}
	snap, err := ks.parse(body)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("JWKS %s: %w", u, err)
	}
	return snap, body, maxAge(hdr.Get("Cache-Control")), nil
}

// parse makes a snapshot of this set's keys from a JWK Set.
func (ks *keySet) parse(body []byte) (*keySnapshot, error) {
	keys, err := parseJWKS(body, ks.log)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		k.set = ks
	}
	return indexKeys(keys), nil
}
