package grpcjwt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// startIssuers makes every trusted issuer and gets its first keys from the
// provider, or from the key cache file when the provider cannot be reached
// (see [keySet.useCached]). Without a background start the providers are
// reached concurrently, within ctx, and an issuer that cannot be reached
// fails NewValidator, unless its cached keys serve, in which case it is
// retried in the background. With a background start nothing waits.
func (v *Validator) startIssuers(ctx context.Context, cfg *Config, ics []IssuerConfig) error {
	client := refuseDowngrade(cfg.HTTPClient)
	for i, ic := range ics {
		t := newTrustedIssuer(ic, cfg, client)
		t.keys.notify = v.notify
		v.issuers[ic.Issuer] = t
		if i == 0 {
			v.first = t
		}
		if t.keys.cacheFile != "" {
			if err := t.keys.loadKeyCache(cfg.KeyCacheMaxAge); err != nil {
				t.keys.log.Info("grpcjwt: no usable keys in the key cache", "file", t.keys.cacheFile, "reason", err)
			}
		}
	}
	if cfg.BackgroundStart {
		for _, t := range v.issuers {
			t.retryStart(cfg.StartRetry)
		}
		return nil
	}
	errs := make([]*startupError, len(ics))
	done := make(chan struct{})
	for i, ic := range ics {
		t := v.issuers[ic.Issuer]
		go func() {
			defer func() { done <- struct{}{} }()
			err := t.start(ctx, len(ics) > 1)
			if err != nil && t.keys.snap.Load() != nil {
				t.keys.log.Warn("grpcjwt: provider unreachable at startup; using cached keys and retrying", "error", err)
				t.retryStart(cfg.StartRetry)
				err = nil
			}
			errs[i] = err
		}()
	}
	for range ics {
		<-done
	}
	return joinStartupErrors(errs)
}

// joinStartupErrors makes one error of the issuers' startup errors (nil
// for those that started), given in configuration order: its kind is the
// first failure's, so that it matches exactly one of the NewValidator
// sentinels, and its message and causes are every failure's.
func joinStartupErrors(errs []*startupError) error {
	var kind error
	var all []error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if kind == nil {
			kind = e.kind
		}
		all = append(all, e.err)
	}
	if kind == nil {
		return nil
	}
	return &startupError{kind, errors.Join(all...)}
}

// start finds the issuer's JWKS through discovery, unless it is
// configured, and fetches it. With several issuers, the error names this
// one.
func (t *trustedIssuer) start(ctx context.Context, named bool) *startupError {
	err := t.keys.fetch(ctx, FetchStartup)
	if err == nil {
		return nil
	}
	kind := ErrKeySet
	if t.keys.jwksURL.Load() == nil { // discovery never answered
		kind = ErrDiscovery
	} else {
		err = fmt.Errorf("grpcjwt: fetching the JWKS: %w", err)
	}
	if named {
		err = fmt.Errorf("issuer %q: %w", t.name, err)
	}
	return &startupError{kind, err}
}

// retryStart reaches the provider in the background until it succeeds or
// the Validator is closed, waiting between attempts from first, doubled
// each time up to the issuer's MinRefreshInterval, with jitter (each wait
// is between half and all of the current delay).
func (t *trustedIssuer) retryStart(first time.Duration) {
	ks := t.keys
	ks.wg.Add(1)
	go func() {
		defer ks.wg.Done()
		delay := first
		for {
			if ks.ctx.Err() != nil {
				return
			}
			if ks.fetch(ks.ctx, FetchStartup) == nil {
				return
			}
			wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
			select {
			case <-ks.ctx.Done():
				return
			case <-time.After(wait):
			}
			delay = min(2*delay, max(ks.minInterval, first))
		}
	}()
}

// keyCacheFile names the file that keeps issuer's JWKS in dir.
func keyCacheFile(dir, issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return filepath.Join(dir, "grpcjwt-keys-"+hex.EncodeToString(sum[:8])+".json")
}

// cachedKeys are the keys of the key cache file. They are trusted only
// while the provider cannot be reached, and only for the jwks_uri they were
// fetched from: they serve after a fetch fails without keys to keep
// (useCached), unless discovery has named another jwks_uri (disownCached),
// and a successful fetch supersedes them (install).
type cachedKeys struct {
	jwksURI   string
	snap      *keySnapshot
	fetchedAt time.Time
}

// useCached makes the key cache file's keys the key set's, when it has no
// others and discovery has not disowned them.
func (ks *keySet) useCached() {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	c := ks.cached
	if c == nil || ks.snap.Load() != nil {
		return
	}
	ks.snap.Store(c.snap)
	ks.lastSuccess.Store(c.fetchedAt.UnixNano())
	ks.log.Info("grpcjwt: the provider cannot be reached; using keys from the key cache", "file", ks.cacheFile, "jwks_uri", c.jwksURI, "keys", len(c.snap.keys), "fetched_at", c.fetchedAt)
}

// disownCached discards the key cache file's keys when discovery names
// another jwks_uri than theirs: they stop verifying at once, tokens they
// verified included, even if the new jwks_uri then fails, and the file is
// deleted, so that no later start trusts it either.
func (ks *keySet) disownCached(jwksURI string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	c := ks.cached
	if c == nil || c.jwksURI == jwksURI {
		return
	}
	ks.cached = nil
	if ks.snap.Load() == c.snap {
		for _, k := range c.snap.keys {
			k.removed.Store(true)
		}
		ks.snap.Store(nil)
		ks.lastSuccess.Store(0)
		ks.staleSince.Store(0)
	}
	ks.log.Warn("grpcjwt: discovery names another jwks_uri than the key cache file; its keys are discarded and the file deleted",
		"file", ks.cacheFile, "file_jwks_uri", c.jwksURI, "jwks_uri", jwksURI)
	// Under mu, so that it cannot remove a file a successful fetch (which
	// clears ks.cached first, under mu) has written since.
	if err := os.Remove(ks.cacheFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		ks.log.Warn("grpcjwt: could not delete the key cache file", "file", ks.cacheFile, "error", err)
	}
}

// keyCache is the key cache file: the JWKS as fetched, and where from.
type keyCache struct {
	Issuer    string          `json:"issuer"`
	JWKSURI   string          `json:"jwks_uri"`
	FetchedAt int64           `json:"fetched_at"` // unix seconds
	JWKS      json.RawMessage `json:"jwks"`
}

// writeKeyCache keeps body, the JWKS fetched from jwksURI at now, in file:
// written to a temporary file first and renamed, so a reader never sees
// half of it.
func writeKeyCache(file, issuer, jwksURI string, now time.Time, body []byte) error {
	data, err := json.Marshal(keyCache{Issuer: issuer, JWKSURI: jwksURI, FetchedAt: now.Unix(), JWKS: body})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".grpcjwt-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// loadKeyCache reads the keys of the key cache file, to serve if the
// provider cannot be reached (see [cachedKeys]), when the file is this
// issuer's, no older than maxAge, for the configured JWKS URL if there is
// one, and holds a usable JWK Set. The file is read like anything fetched:
// bounded, exact, and refused whole on any doubt about its own members;
// its JWK Set is read as a fetched one is (a bad JWK is skipped alone).
func (ks *keySet) loadKeyCache(maxAge time.Duration) error {
	f, err := os.Open(ks.cacheFile)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 2*ks.maxBody+4096))
	if err != nil {
		return err
	}
	var c keyCache
	var hasAt bool
	err = exactjson.OuterObject(data, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "issuer":
			c.Issuer, ok = exactjson.String(value)
		case "jwks_uri":
			c.JWKSURI, ok = exactjson.String(value)
		case "fetched_at":
			var f float64
			f, ok = exactjson.Number(value)
			c.FetchedAt, hasAt = int64(f), ok
		case "jwks":
			c.JWKS, ok = value, len(value) > 0 && value[0] == '{'
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("%q has the wrong type", name)
		}
		return nil
	})
	now := ks.now()
	at := time.Unix(c.FetchedAt, 0)
	switch {
	case err != nil:
		return err
	case c.Issuer != ks.issuer:
		return fmt.Errorf("the file is for issuer %q", truncate(c.Issuer))
	case !hasAt || now.Sub(at) > maxAge || at.After(now.Add(time.Minute)):
		return fmt.Errorf("keys fetched at %s are older than %s", at.UTC().Format(time.RFC3339), maxAge)
	case ks.configuredURL != "" && c.JWKSURI != ks.configuredURL:
		return fmt.Errorf("the keys come from %q, not the configured %q", truncate(c.JWKSURI), ks.configuredURL)
	}
	if err := checkHTTPURL(c.JWKSURI); err != nil {
		return err
	}
	if err := checkKeysURL(ks.issuer, c.JWKSURI); err != nil {
		return err
	}
	snap, err := ks.parse(c.JWKS)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	ks.cached = &cachedKeys{jwksURI: c.JWKSURI, snap: snap, fetchedAt: at}
	ks.mu.Unlock()
	ks.log.Debug("grpcjwt: keys in the key cache, for when the provider cannot be reached", "file", ks.cacheFile, "keys", len(snap.keys), "fetched_at", at)
	return nil
}
