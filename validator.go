package grpcjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"google.golang.org/grpc"
)

// Defaults for the optional [Config] fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenSize       = 64 << 10
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultMaxResponseSize    = 1 << 20
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = time.Minute
)

// DefaultAlgorithms returns the signature algorithms accepted when
// [Config.Algorithms] is empty: every asymmetric JWS algorithm. "none" and
// the HMAC algorithms can never be enabled. Each call returns a new slice,
// so the defaults cannot be changed from outside.
func DefaultAlgorithms() []string {
	return jose.Names()
}

// Config configures a [Validator]. Issuer and Audience are required; every
// other field has a safe default.
type Config struct {
	// Issuer is the exact "iss" of accepted tokens, such as
	// "https://tenant.logto.app/oidc" or "https://tenant.auth0.com/"
	// (with Auth0's trailing slash). Unless JWKSURL is set, the keys are
	// found through OIDC discovery at Issuer, less any trailing slash, plus
	// "/.well-known/openid-configuration"; the document's "issuer" must
	// equal Issuer exactly. Plain http:// is allowed, for local providers;
	// the keys of an https issuer are only ever fetched over https.
	Issuer string

	// Audience is the API's identifier (resource indicator); it must appear
	// in the token's "aud", a string or an array.
	Audience string

	// JWKSURL, when set, is used instead of discovery. It must be https
	// when Issuer is.
	JWKSURL string

	// Algorithms restricts the accepted signature algorithms; default
	// [DefaultAlgorithms]. Unknown names, "none" and HS* are refused.
	Algorithms []string

	// RequireATJWT accepts only tokens typed "at+jwt" (RFC 9068). By
	// default "typ" may also be absent or "JWT".
	RequireATJWT bool

	// Leeway is the clock skew allowed on exp and nbf; default
	// [DefaultLeeway]. Use a negative value for none.
	Leeway time.Duration

	// MaxTokenSize bounds a token's length in bytes; default
	// [DefaultMaxTokenSize]. Longer tokens are refused before any parsing.
	MaxTokenSize int

	// HTTPClient fetches discovery and the JWKS; default a client of the
	// http package's default transport. Each request is bounded by
	// HTTPTimeout whatever the client's own settings. A redirect from https
	// to http is refused before the client's own CheckRedirect is asked;
	// the client itself is not modified.
	HTTPClient *http.Client

	// HTTPTimeout bounds each discovery or JWKS request; default
	// [DefaultHTTPTimeout].
	HTTPTimeout time.Duration

	// MaxResponseSize bounds the discovery and JWKS bodies; default
	// [DefaultMaxResponseSize].
	MaxResponseSize int64

	// RefreshInterval is how often the JWKS is fetched again; default
	// [DefaultRefreshInterval]. A shorter Cache-Control max-age on the JWKS
	// response shortens it, down to MinRefreshInterval. Refreshes start
	// lazily, on a request that finds one due, and never delay it.
	RefreshInterval time.Duration

	// MinRefreshInterval is the least time between two refreshes caused by
	// tokens with an unknown kid (the first one is free) and the floor for
	// Cache-Control; default [DefaultMinRefreshInterval].
	MinRefreshInterval time.Duration

	// Logger receives rejected tokens (with their cause, never the token)
	// at Debug, and key-set events (refresh failures at Warn); default: no
	// logging. See also the interceptors' [WithRejectHook].
	Logger *slog.Logger

	// CacheSize bounds the verified-token cache in entries; default
	// [DefaultCacheSize]. A negative value turns the cache off.
	CacheSize int

	// CacheBytes bounds the cache's memory, counted as the tokens' and
	// payloads' lengths plus a fixed overhead per entry; default
	// [DefaultCacheBytes].
	CacheBytes int64

	// Now is the clock; default time.Now. For tests.
	Now func() time.Time
}

// Validator verifies access tokens. It is safe for concurrent use. Call
// [Validator.Close] when done with it to stop a key refresh in flight.
type Validator struct {
	issuer       string
	audience     string
	algs         map[string]*jose.Algorithm
	requireATJWT bool
	leeway       time.Duration
	maxSize      int
	now          func() time.Time
	log          *slog.Logger
	keys         *keySet
	cache        *tokenCache // nil when off
	ownClient    *http.Client
}

// NewValidator checks cfg, performs OIDC discovery and fetches the JWKS,
// all within ctx: a provider that hangs makes it fail when ctx is done (and
// in any case after HTTPTimeout per request). It fails with a message
// naming what went wrong, and an error that matches, with [errors.Is], one
// of [ErrConfig] (cfg is invalid), [ErrDiscovery] (also [ErrIssuerMismatch]
// when the provider names another issuer) or [ErrKeySet] (the JWKS could
// not be fetched or has no usable key), along with the cause, such as
// [context.DeadlineExceeded].
func NewValidator(ctx context.Context, cfg Config) (*Validator, error) {
	ownClient := cfg.HTTPClient == nil // made by setDefaults, so Close may release it
	if err := cfg.setDefaults(); err != nil {
		return nil, &startupError{ErrConfig, err}
	}
	v := &Validator{
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
		algs:         make(map[string]*jose.Algorithm, len(cfg.Algorithms)),
		requireATJWT: cfg.RequireATJWT,
		leeway:       cfg.Leeway,
		maxSize:      cfg.MaxTokenSize,
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	for _, a := range cfg.Algorithms {
		v.algs[a] = jose.Lookup(a)
	}
	if ownClient {
		v.ownClient = cfg.HTTPClient
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize, cfg.CacheBytes)
	}
	client := refuseDowngrade(cfg.HTTPClient)
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		u, err := discover(ctx, client, cfg.HTTPTimeout, cfg.Issuer, cfg.MaxResponseSize)
		if err != nil {
			return nil, &startupError{ErrDiscovery, err}
		}
		jwksURL = u
	}
	bg, cancel := context.WithCancel(context.Background())
	v.keys = &keySet{
		jwksURL:     jwksURL,
		client:      client,
		timeout:     cfg.HTTPTimeout,
		maxBody:     cfg.MaxResponseSize,
		interval:    cfg.RefreshInterval,
		minInterval: cfg.MinRefreshInterval,
		now:         cfg.Now,
		log:         cfg.Logger,
		ctx:         bg,
		cancel:      cancel,
	}
	if err := v.keys.fetch(ctx); err != nil {
		v.Close()
		return nil, &startupError{ErrKeySet, fmt.Errorf("grpcjwt: fetching the JWKS: %w", err)}
	}
	return v, nil
}

func (c *Config) setDefaults() error {
	if c.Issuer == "" {
		return errors.New("grpcjwt: Config.Issuer is required")
	}
	if err := checkHTTPURL(c.Issuer); err != nil {
		return fmt.Errorf("grpcjwt: Config.Issuer: %w", err)
	}
	if c.Audience == "" {
		return errors.New("grpcjwt: Config.Audience is required")
	}
	if c.JWKSURL != "" {
		if err := checkHTTPURL(c.JWKSURL); err != nil {
			return fmt.Errorf("grpcjwt: Config.JWKSURL: %w", err)
		}
		if err := checkKeysURL(c.Issuer, c.JWKSURL); err != nil {
			return fmt.Errorf("grpcjwt: Config.JWKSURL: %w", err)
		}
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms()
	}
	for _, a := range c.Algorithms {
		if jose.Lookup(a) == nil {
			return fmt.Errorf("grpcjwt: Config.Algorithms: %q is not an allowed signature algorithm (allowed: %s)", a, strings.Join(DefaultAlgorithms(), ", "))
		}
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.MaxTokenSize <= 0 {
		c.MaxTokenSize = DefaultMaxTokenSize
	}
	if c.HTTPClient == nil {
		// A transport of our own, whose idle connections Close can release.
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.MaxResponseSize <= 0 {
		c.MaxResponseSize = DefaultMaxResponseSize
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MinRefreshInterval <= 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.MinRefreshInterval > c.RefreshInterval {
		c.MinRefreshInterval = c.RefreshInterval
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Close stops a key refresh in flight, waits for it to end and releases
// idle connections, so that the Validator leaves no goroutine behind. A
// closed Validator still verifies tokens against the keys it has, but no
// longer refreshes them.
func (v *Validator) Close() error {
	v.keys.close()
	if v.ownClient != nil {
		v.ownClient.CloseIdleConnections()
	}
	return nil
}

var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header members grpcjwt reads, by their exact names.
type header struct {
	alg, kid string
	typ      *string
}

// parseHeader reads a JOSE header. Members that are present but must not be
// (crit, b64, zip, enc) refuse the token; jwk, jku, x5u and x5c are never
// read.
func parseHeader(raw []byte) (header, error) {
	var h header
	err := exactjson.Object(raw, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "alg":
			h.alg, ok = exactjson.String(value)
		case "kid":
			h.kid, ok = exactjson.String(value)
		case "typ":
			var t string
			t, ok = exactjson.String(value)
			h.typ = &t
		case "crit", "b64", "zip", "enc":
			return tokenErr(ErrUnsupportedHeader, "crit, b64, zip and enc are not supported")
		default:
			return nil
		}
		if !ok {
			return tokenErr(ErrTokenMalformed, fmt.Sprintf("header member %q has the wrong type", name))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, exactjson.ErrDuplicate) {
			return h, tokenErr(ErrDuplicateMember, "header: "+err.Error())
		}
		if _, ok := err.(*TokenError); ok {
			return h, err
		}
		return h, tokenErr(ErrTokenMalformed, "header is not a JSON object: "+err.Error())
	}
	return h, nil
}

// isBase64URL reports whether every byte of s is in the base64url alphabet
// (RFC 4648 §5). The decoder alone would skip CR and LF.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !b64Alphabet[s[i]] {
			return false
		}
	}
	return true
}

var b64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// Validate verifies token and returns its claims. The checks run cheapest
// first, so that junk costs neither a signature check nor a key fetch:
//
//  1. size at most MaxTokenSize; a compact JWS of three base64url parts;
//  2. header: alg allowed, typ absent/JWT/at+jwt, no crit, b64 or zip
//     (jwk, jku, x5u and x5c are never read);
//  3. claims: iss equals Issuer, aud contains Audience, exp present and
//     not past, nbf not ahead (both with Leeway), dates as JSON numbers;
//  4. key: by kid from the provider's JWKS, of a type, curve and alg that
//     fit the header's alg; an unknown kid may trigger one shared refresh,
//     waited for within ctx;
//  5. signature.
//
// Tokens that pass are cached (see [Config.CacheSize]): the same token
// again costs a map lookup and a check of exp and nbf against the clock.
//
// Every error matches [ErrInvalidToken] and one cause sentinel such as
// [ErrTokenExpired]; see [TokenError]. The returned Claims must not be
// modified.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	now := v.now()
	if v.cache != nil && len(token) <= v.maxSize {
		if c := v.cache.get(token, now.UnixNano()); c != nil {
			v.keys.maybeRefresh(now)
			return c, nil
		}
	}
	c, key, err := v.validate(ctx, token, now)
	if err != nil {
		if v.log.Enabled(ctx, slog.LevelDebug) {
			method, _ := grpc.Method(ctx)
			v.log.DebugContext(ctx, "grpcjwt: token rejected", "method", truncateTo(method, maxMethodName), "error", err)
		}
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(token, c, key, v.leeway, now.UnixNano())
	}
	return c, nil
}

func (v *Validator) validate(ctx context.Context, token string, now time.Time) (*Claims, *verifyKey, error) {
	// 1. Shape.
	if len(token) > v.maxSize {
		return nil, nil, tokenErr(ErrTokenTooLarge, fmt.Sprintf("%d bytes, limit %d", len(token), v.maxSize))
	}
	dot1 := strings.IndexByte(token, '.')
	if dot1 < 0 {
		return nil, nil, tokenErr(ErrTokenMalformed, "no '.'")
	}
	dot2 := dot1 + 1 + strings.IndexByte(token[dot1+1:], '.')
	if dot2 == dot1 || strings.IndexByte(token[dot2+1:], '.') >= 0 {
		return nil, nil, tokenErr(ErrTokenMalformed, "not three dot-separated parts (JWE and JSON serialization are not accepted)")
	}
	if dot2 == len(token)-1 {
		return nil, nil, tokenErr(ErrTokenMalformed, "empty signature")
	}
	if !isBase64URL(token[:dot1]) || !isBase64URL(token[dot1+1:dot2]) || !isBase64URL(token[dot2+1:]) {
		return nil, nil, tokenErr(ErrTokenMalformed, "a byte outside the base64url alphabet")
	}
	hdrJSON, err := b64.DecodeString(token[:dot1])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "header is not base64url")
	}

	// 2. Header.
	h, err := parseHeader(hdrJSON)
	if err != nil {
		return nil, nil, err
	}
	alg := v.algs[h.alg]
	if alg == nil {
		return nil, nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q", truncate(h.alg)))
	}
	if !v.typAllowed(h.typ) {
		typ := "(absent)"
		if h.typ != nil {
			typ = fmt.Sprintf("%q", truncate(*h.typ))
		}
		return nil, nil, tokenErr(ErrTypeNotAllowed, "typ "+typ)
	}

	// 3. Claims, unverified: only to refuse early, never returned unless the
	// signature verifies.
	raw, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "payload is not base64url")
	}
	c, has, err := parsePayload(raw)
	if err != nil {
		if errors.Is(err, exactjson.ErrDuplicate) {
			return nil, nil, tokenErr(ErrDuplicateMember, "payload: "+err.Error())
		}
		return nil, nil, tokenErr(ErrTokenMalformed, "payload: "+err.Error())
	}
	if err := v.checkClaims(c, has, now); err != nil {
		return nil, nil, err
	}

	// 4. Key.
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "signature is not base64url")
	}
	key, err := v.keys.key(ctx, now, h.kid, alg)
	if err != nil {
		return nil, nil, err
	}

	// 5. Signature.
	if err := verifySignature(key.pub, alg, []byte(token[:dot2]), sig); err != nil {
		return nil, nil, tokenErr(ErrBadSignature, fmt.Sprintf("kid %q alg %s", truncate(h.kid), h.alg))
	}
	return c, key, nil
}

func (v *Validator) typAllowed(typ *string) bool {
	if typ == nil {
		return !v.requireATJWT
	}
	t := *typ
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		t = t[len("application/"):]
	}
	if strings.EqualFold(t, "at+jwt") {
		return true
	}
	return !v.requireATJWT && strings.EqualFold(t, "JWT")
}

func (v *Validator) checkClaims(c *Claims, has present, now time.Time) error {
	if has&hasIss == 0 {
		return tokenErr(ErrMissingClaim, "iss")
	}
	if c.Issuer != v.issuer {
		return tokenErr(ErrIssuerMismatch, fmt.Sprintf("want %q, got %q", v.issuer, truncate(c.Issuer)))
	}
	if !contains(c.Audience, v.audience) {
		if len(c.Audience) == 0 {
			return tokenErr(ErrMissingClaim, "aud")
		}
		got := make([]string, 0, 3)
		for _, a := range c.Audience[:min(len(c.Audience), 3)] {
			got = append(got, truncate(a))
		}
		return tokenErr(ErrAudienceMismatch, fmt.Sprintf("want %q, got %q (of %d)", v.audience, got, len(c.Audience)))
	}
	if has&hasExp == 0 {
		return tokenErr(ErrMissingClaim, "exp")
	}
	if has&hasIat != 0 && c.IssuedAt.After(now.Add(v.leeway)) {
		return tokenErr(ErrIssuedInFuture, fmt.Sprintf("issued at %s, now %s, leeway %s", c.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	return v.checkTimes(now, c.ExpiresAt, c.NotBefore)
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

// verifySignature checks sig over signingInput with pub. The caller has
// checked that the key fits alg.
func verifySignature(pub any, alg *jose.Algorithm, signingInput, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwsbb.VerifyRSA(k, signingInput, sig, alg.Hash, alg.PSS)
	case *ecdsa.PublicKey:
		return jwsbb.VerifyECDSA(k, signingInput, sig, alg.Hash)
	case ed25519.PublicKey:
		return jwsbb.VerifyEdDSA(k, signingInput, sig)
	}
	return errors.New("unsupported key type")
}
