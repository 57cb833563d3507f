package grpcjwt

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/grpcjwt/grpcjwt/internal/siphash"
)

// Validator verifies access tokens from one or more trusted issuers. It is
// safe for concurrent use. Call [Validator.Close] when done with it to stop
// key refreshes in flight.
type Validator struct {
	issuers   map[string]*trustedIssuer // by exact name
	first     *trustedIssuer            // the only one, or Config.Issuer
	algs      map[string]bool           // every issuer's algorithms, to refuse junk early
	picks     []string                  // the payload members parsePayload takes (see picks)
	leeway    time.Duration
	maxSize   int
	now       func() time.Time
	realClock bool      // now is time.Now: its readings time Validate
	base      time.Time // when the Validator was made: the origin of the cache time (see cacheClock)
	baseUnix  int64     // base in unix nanoseconds
	log       *slog.Logger
	cache     *tokenCache    // nil when off
	opaque    *trustedIssuer // Config.OpaqueTokenIssuer; nil: opaque tokens are refused
	icache    *tokenCache    // introspected tokens, by their digests; nil when the cache is off
	refusals  *refusalCache  // introspected tokens refused; nil when the cache is off
	digestKey siphash.Key    // the key of tokenDigest
	ownClient *http.Client
	observer  Observer // nil: none

	stateMu sync.Mutex
	stateCh chan struct{} // closed and replaced at every key fetch, for ServeHealth
	closed  chan struct{}
	once    sync.Once
}

// NewValidator checks cfg, performs OIDC discovery and fetches the JWKS of
// every trusted issuer, concurrently, all within ctx: a provider that hangs
// makes it fail when ctx is done (and in any case after HTTPTimeout per
// request). With several issuers it fails if any one of them cannot be
// reached, naming each that failed: a trusted issuer whose keys are unknown
// would refuse every one of its tokens. It fails with a message naming what
// went wrong, and an error that matches, with [errors.Is], exactly one of
// [ErrConfig] (cfg is invalid), [ErrDiscovery] (also [ErrIssuerMismatch]
// when the provider names another issuer) or [ErrKeySet] (the JWKS could
// not be fetched or has no usable key), along with the cause, such as
// [context.DeadlineExceeded]. When several issuers fail, the sentinel is
// that of the first of them in configuration order (Config.Issuer, then
// Config.Issuers in order), and the message names each that failed, with
// its own cause.
func NewValidator(ctx context.Context, cfg Config) (*Validator, error) {
	ownClient := cfg.HTTPClient == nil // made by setDefaults, so Close may release it
	realClock := cfg.Now == nil
	cfg.setDefaults()
	ics, err := cfg.issuers()
	if err != nil {
		return nil, &startupError{ErrConfig, err}
	}
	v := &Validator{
		issuers:   make(map[string]*trustedIssuer, len(ics)),
		algs:      make(map[string]bool),
		leeway:    cfg.Leeway,
		maxSize:   cfg.MaxTokenSize,
		now:       cfg.Now,
		log:       cfg.Logger,
		observer:  cfg.Observer,
		realClock: realClock,
		base:      time.Now(),
		stateCh:   make(chan struct{}),
		closed:    make(chan struct{}),
		picks:     pickNames(ics),
	}
	v.baseUnix = v.base.UnixNano()
	for _, ic := range ics {
		for _, a := range ic.Algorithms {
			v.algs[a] = true
		}
	}
	if ownClient {
		v.ownClient = cfg.HTTPClient
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize, cfg.CacheBytes)
		if slices.ContainsFunc(ics, func(ic IssuerConfig) bool { return ic.Introspection != nil }) {
			v.icache = newTokenCache(cfg.CacheSize, cfg.CacheBytes)
			v.refusals = newRefusalCache(refusalCacheSize)
		}
		v.digestKey = siphash.RandomKey()
	}
	if err := v.startIssuers(ctx, &cfg, ics); err != nil {
		v.Close()
		return nil, err
	}
	if cfg.OpaqueTokenIssuer != "" {
		v.opaque = v.issuers[cfg.OpaqueTokenIssuer]
	}
	return v, nil
}

// Close stops a key refresh in flight, and the introspection requests in
// flight, waits for them to end and releases idle connections, so that
// the Validator leaves no goroutine behind. A closed Validator still
// verifies tokens against the keys it has, and opaque tokens by the
// introspection answers it has cached, but no longer refreshes the keys
// or asks an introspection endpoint ([ErrIntrospectionUnavailable]).
func (v *Validator) Close() error {
	v.once.Do(func() { close(v.closed) })
	for _, t := range v.issuers {
		t.keys.close()
		if t.introspect != nil {
			t.introspect.close()
		}
	}
	if v.ownClient != nil {
		v.ownClient.CloseIdleConnections()
	}
	return nil
}

// Validate verifies token and returns its claims. The checks run cheapest
// first, so that junk costs neither a signature check nor a key fetch:
//
//  1. size at most MaxTokenSize; a compact JWS of three base64url parts;
//  2. header: alg allowed, typ absent/JWT/at+jwt, no crit, b64 or zip
//     (jwk, jku, x5u and x5c are never read);
//  3. claims, read by exact names (duplicates refused): iss is one of the
//     trusted issuers, exactly, whose algorithms, audiences and keys then
//     apply; aud contains one of its audiences (or starts with one of its
//     prefixes); exp present and not past, nbf not ahead, iat not ahead
//     (all with Leeway), dates as JSON numbers;
//  4. key: by kid from that issuer's JWKS, of a type, curve and alg that
//     fit the header's alg; an unknown kid may trigger one shared refresh,
//     waited for within ctx;
//  5. signature.
//
// Tokens that pass are cached (see [Config.CacheSize]): the same token
// again costs a map lookup and a check of exp and nbf against the clock.
//
// With [Config.OpaqueTokenIssuer] set, a token that is not a compact JWS
// (not three dot-separated parts) is an opaque token, verified by that
// issuer's introspection endpoint instead (see [IntrospectionConfig]):
// size and shape (an RFC 6750 b64token of MinTokenLength bytes or more),
// then the cache of the endpoint's answers, then one request, shared by
// every call with the same token; the answer's claims are checked as in
// step 3.
//
// An error matches [ErrInvalidToken] and one cause sentinel such as
// [ErrTokenExpired] (see [TokenError]), except two: while the token's
// issuer has no keys yet ([Config.BackgroundStart]), the error matches
// [ErrKeysUnavailable] alone, and while the introspection endpoint cannot
// answer, [ErrIntrospectionUnavailable] alone, since the token may well be
// good. The returned Claims must not be modified.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	tick, hitStart := v.startTick()
	if c := v.cached(ctx, token, tick, hitStart); c != nil {
		return c, nil
	}
	now, start := v.startValidation()
	if v.opaque != nil && len(token) <= v.maxSize && !isCompactJWS(token) {
		return v.validateOpaque(ctx, token, now, start)
	}
	c, key, err := v.validate(ctx, token, now)
	if err == errKeyNotAtHand {
		return nil, err // the tap handle's: the interceptors validate the token again, and that is observed
	}
	if v.observer != nil {
		o := Validation{Duration: time.Since(start), Timed: true, Cause: CauseOf(err)}
		if c != nil {
			o.Issuer = c.Issuer
		}
		v.observer.ObserveValidation(ctx, o)
	}
	if err != nil {
		v.logRejected(ctx, err)
		return nil, err
	}
	if v.cache != nil {
		v.cache.putUntil(token, c, key, v.cacheTime(c.ExpiresAt.Add(v.leeway), now), v.cacheNotBefore(c, now), v.cacheTime(now, now))
	}
	return c, nil
}

// startValidation returns the time to validate a token at, and the time
// its validation starts for the observer (unset without one).
func (v *Validator) startValidation() (now, start time.Time) {
	now = v.now()
	if v.observer != nil {
		start = now // the same reading: a clock reading costs a fifth of a cache hit
		if !v.realClock {
			start = time.Now()
		}
	}
	return now, start
}

// The caches of verified tokens and introspection answers keep time on a
// clock of their own, the cache time: with the real clock (no Config.Now),
// the monotonic nanoseconds since the Validator was made, which one
// reading of the monotonic clock gives (time.Now reads the wall clock
// too, and costs twice as much: a fifth of a cache hit); with Config.Now,
// its unix nanoseconds. An entry's exp is converted when it is cached, by
// the wall clock then, and counted down on the monotonic one: a later step
// of the wall clock neither shortens nor lengthens a cached token's life,
// and the first validation after its exp reads the wall clock again.

// cacheClock returns the cache time now.
func (v *Validator) cacheClock() int64 {
	if v.realClock {
		return int64(time.Since(v.base))
	}
	return v.now().UnixNano()
}

// cacheTime returns the instant t in cache time, given now, the clock's
// reading (wall and monotonic) at which it is converted.
func (v *Validator) cacheTime(t, now time.Time) int64 {
	if v.realClock {
		return int64(now.Sub(v.base)) + int64(t.Sub(now)) // the first monotonic, the second by the wall clock
	}
	return t.UnixNano()
}

// cacheNotBefore returns the cache time from which c may be served: its
// nbf less the leeway, or math.MinInt64 without one.
func (v *Validator) cacheNotBefore(c *Claims, now time.Time) int64 {
	if c.NotBefore.IsZero() {
		return math.MinInt64
	}
	return v.cacheTime(c.NotBefore.Add(-v.leeway), now)
}

// tickUnix returns the cache time tick in unix nanoseconds: for the real
// clock, the wall clock when the Validator was made plus the monotonic
// time since, which is close enough to schedule a key refresh by.
func (v *Validator) tickUnix(tick int64) int64 {
	if v.realClock {
		return v.baseUnix + tick
	}
	return tick
}

// startTick returns the cache time to look a token up at, and, only with
// an observer and Config.Now, the real time the lookup starts (with the
// real clock, the tick times it).
func (v *Validator) startTick() (tick int64, start time.Time) {
	tick = v.cacheClock()
	if v.observer != nil && !v.realClock {
		start = time.Now()
	}
	return tick, start
}

// cached returns the claims of token if the cache holds them, valid at
// the cache time tick, and observes the hit; start is as startTick
// returns it, for the observer.
//
// A token is looked up in the cache of verified JWTs, and, when opaque
// tokens are accepted and it is not a compact JWS, in the cache of
// introspection answers, by its digest; a token without a dot, which no
// JWT is, only there. (Some opaque tokens have a dot, as Hydra's do.)
func (v *Validator) cached(ctx context.Context, token string, tick int64, start time.Time) *Claims {
	if len(token) > v.maxSize {
		return nil
	}
	var c *Claims
	if v.opaque == nil {
		c = v.cachedJWT(token, tick)
	} else if dot := strings.IndexByte(token, '.') >= 0; dot {
		if c = v.cachedJWT(token, tick); c == nil && !isCompactJWS(token) {
			c = v.cachedAnswer(token, tick)
		}
	} else {
		c = v.cachedAnswer(token, tick)
	}
	if c == nil {
		return nil
	}
	if v.observer != nil {
		o := Validation{Issuer: c.Issuer, CacheHit: true, Opaque: c.introspected, Cause: CauseNone}
		if rand.Uint32()%hitTimingSample == 0 {
			if v.realClock {
				o.Duration = time.Duration(v.cacheClock() - tick)
			} else {
				o.Duration = time.Since(start)
			}
			o.Timed = true
		}
		v.observer.ObserveValidation(ctx, o)
	}
	return c
}

// cachedJWT returns the claims of token from the cache of verified JWTs,
// if it holds them valid at tick.
func (v *Validator) cachedJWT(token string, tick int64) *Claims {
	if v.cache == nil {
		return nil
	}
	c, key := v.cache.get(token, tick)
	if c != nil {
		key.set.maybeRefresh(v.tickUnix(tick))
	}
	return c
}

// cachedAnswer returns the claims of the opaque token from the cache of
// introspection answers, by its digest, if it holds them valid at tick.
func (v *Validator) cachedAnswer(token string, tick int64) *Claims {
	if v.icache == nil || len(token) < v.opaque.introspect.minLen {
		return nil
	}
	sum := v.digest(token)
	// string(sum[:]) is on the stack: 16 bytes, kept by no one.
	c, _ := v.icache.get(string(sum[:]), tick)
	return c
}

// cachedCredentials is the policy's shortcut for a call with a cached token:
// given what follows the scheme of an authorization value (its leading
// white space skipped, the rest unread), it returns the claims when that
// is, exactly, a token in the cache. A cached token was read from such a
// value before, whitespace and all, so the value needs no other reading;
// anything else, a token followed by white space included, misses, and the
// caller reads the value in full.
func (v *Validator) cachedCredentials(ctx context.Context, rest string) *Claims {
	if v.cache == nil && v.icache == nil {
		return nil
	}
	tick, start := v.startTick()
	return v.cached(ctx, rest, tick, start)
}

func (v *Validator) validate(ctx context.Context, token string, now time.Time) (*Claims, *verifyKey, error) {
	// 1. Shape.
	if len(token) > v.maxSize {
		return nil, nil, tokenErr(ErrTokenTooLarge, fmt.Sprintf("%d bytes, limit %d", len(token), v.maxSize))
	}
	jws, err := jose.Split(token)
	if err != nil {
		return nil, nil, jwsTokenErr(err)
	}

	// 2. Header.
	h, err := jws.Header(&accessTokenHeader)
	if err != nil {
		return nil, nil, jwsTokenErr(err)
	}
	if !v.algs[h.Alg] {
		return nil, nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q", truncate(h.Alg)))
	}

	// 3. Claims, unverified: only to refuse early, never returned unless the
	// signature verifies.
	raw, err := jws.Payload()
	if err != nil {
		return nil, nil, jwsTokenErr(err)
	}
	p := picks{names: v.picks}
	c, has, err := parsePayload(raw, &p)
	if err != nil {
		return nil, nil, jwsTokenErr(fmt.Errorf("payload: %w", err))
	}
	if has&hasIss == 0 {
		return nil, nil, tokenErr(ErrMissingClaim, "iss")
	}
	t, err := v.route(c.Issuer)
	if err != nil {
		return nil, nil, err
	}
	alg, err := t.checkHeader(&h, t.types)
	if err != nil {
		return nil, nil, err
	}
	aud, err := v.checkClaims(t, c, has, now)
	if err != nil {
		return nil, nil, err
	}
	if err := t.completeClaims(c, aud, &p); err != nil {
		return nil, nil, err
	}

	// 4. Key.
	sig, err := jws.Signature()
	if err != nil {
		return nil, nil, jwsTokenErr(err)
	}
	key, err := t.keys.key(ctx, now, h.Kid, alg)
	if err != nil {
		return nil, nil, err
	}

	// 5. Signature.
	if err := alg.Verify(key.pub, []byte(jws.SigningInput()), sig); err != nil {
		return nil, nil, tokenErr(ErrBadSignature, fmt.Sprintf("kid %q alg %s", truncate(h.Kid), h.Alg))
	}
	return c, key, nil
}

// route returns the trusted issuer called exactly iss. Any other iss is
// refused here, before a key is looked up or fetched.
func (v *Validator) route(iss string) (*trustedIssuer, error) {
	if v.first != nil && v.first.name == iss {
		return v.first, nil
	}
	if t := v.issuers[iss]; t != nil {
		return t, nil
	}
	if len(v.issuers) == 1 {
		return nil, tokenErr(ErrUntrustedIssuer, fmt.Sprintf("want %q, got %q", v.first.name, truncate(iss)))
	}
	return nil, tokenErr(ErrUntrustedIssuer, fmt.Sprintf("%q is not one of the %d trusted issuers", truncate(iss), len(v.issuers)))
}

// checkClaims checks the claims of a token routed to t, and changes
// nothing: an audience t accepts, which it returns; exp present and not
// past, iat and nbf not ahead (all with the leeway).
func (v *Validator) checkClaims(t *trustedIssuer, c *Claims, has present, now time.Time) (audienceMatch, error) {
	aud, ok := t.matchAudience(c.Audience)
	if !ok {
		if len(c.Audience) == 0 {
			return aud, tokenErr(ErrMissingClaim, "aud")
		}
		got := make([]string, 0, 3)
		for _, a := range c.Audience[:min(len(c.Audience), 3)] {
			got = append(got, truncate(a))
		}
		return aud, tokenErr(ErrAudienceMismatch, fmt.Sprintf("want %s, got %q (of %d)", t.describeAudiences(), got, len(c.Audience)))
	}
	if has&hasExp == 0 {
		return aud, tokenErr(ErrMissingClaim, "exp")
	}
	if has&hasIat != 0 && c.IssuedAt.After(now.Add(v.leeway)) {
		return aud, tokenErr(ErrIssuedInFuture, fmt.Sprintf("issued at %s, now %s, leeway %s", c.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	return aud, v.checkTimes(now, c.ExpiresAt, c.NotBefore)
}

// checkTimes checks exp and nbf (zero when absent) against now with the
// leeway.
func (v *Validator) checkTimes(now, exp, nbf time.Time) error {
	if now.After(exp.Add(v.leeway)) {
		return tokenErr(ErrTokenExpired, fmt.Sprintf("expired at %s, now %s, leeway %s", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	if !nbf.IsZero() && now.Add(v.leeway).Before(nbf) {
		return tokenErr(ErrTokenNotYetValid, fmt.Sprintf("not before %s, now %s, leeway %s", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	return nil
}
