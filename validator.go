package grpcjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// DefaultAlgorithms are the signature algorithms accepted when
// [Config.Algorithms] is empty: every asymmetric JWS algorithm. "none" and
// the HMAC algorithms can never be enabled.
var DefaultAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// supportedAlgs maps each algorithm this package can verify to its hash.
var supportedAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
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
	algs         map[string]bool
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
		algs:         make(map[string]bool, len(cfg.Algorithms)),
		requireATJWT: cfg.RequireATJWT,
		leeway:       cfg.Leeway,
		maxSize:      cfg.MaxTokenSize,
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	for _, a := range cfg.Algorithms {
		v.algs[a] = true
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
		c.Algorithms = DefaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if !supportedAlgs[a] {
			return fmt.Errorf("grpcjwt: Config.Algorithms: %q is not an allowed signature algorithm (allowed: %s)", a, strings.Join(DefaultAlgorithms, ", "))
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

// header is the JOSE header fields grpcjwt reads. Fields that are present
// but must not be (crit, b64, zip, enc) are caught as raw JSON.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  *string         `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	Zip  json.RawMessage `json:"zip"`
	Enc  json.RawMessage `json:"enc"`
}

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
	hdrJSON, err := b64.DecodeString(token[:dot1])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "header is not base64url")
	}

	// 2. Header.
	var h header
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "header is not a JSON object of the expected types")
	}
	if !v.algs[h.Alg] {
		return nil, nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q", truncate(h.Alg)))
	}
	if h.Crit != nil || h.B64 != nil || h.Zip != nil || h.Enc != nil {
		return nil, nil, tokenErr(ErrUnsupportedHeader, "crit, b64, zip and enc are not supported")
	}
	if !v.typAllowed(h.Typ) {
		typ := "(absent)"
		if h.Typ != nil {
			typ = fmt.Sprintf("%q", truncate(*h.Typ))
		}
		return nil, nil, tokenErr(ErrTypeNotAllowed, "typ "+typ)
	}

	// 3. Claims, unverified: only to refuse early, never returned unless the
	// signature verifies.
	raw, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "payload is not base64url")
	}
	p, err := parseClaims(raw)
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "payload: "+err.Error())
	}
	if err := v.checkClaims(p, now); err != nil {
		return nil, nil, err
	}

	// 4. Key.
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, nil, tokenErr(ErrTokenMalformed, "signature is not base64url")
	}
	key, err := v.keys.key(ctx, now, h.Kid, h.Alg)
	if err != nil {
		return nil, nil, err
	}

	// 5. Signature.
	if err := verifySignature(key.pub, h.Alg, []byte(token[:dot2]), sig); err != nil {
		return nil, nil, tokenErr(ErrBadSignature, fmt.Sprintf("kid %q alg %s", truncate(h.Kid), h.Alg))
	}
	return p.claims(raw), key, nil
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

func (v *Validator) checkClaims(p *payload, now time.Time) error {
	if p.Iss == nil {
		return tokenErr(ErrMissingClaim, "iss")
	}
	if *p.Iss != v.issuer {
		return tokenErr(ErrIssuerMismatch, fmt.Sprintf("want %q, got %q", v.issuer, truncate(*p.Iss)))
	}
	if !contains(p.Aud, v.audience) {
		if len(p.Aud) == 0 {
			return tokenErr(ErrMissingClaim, "aud")
		}
		got := make([]string, 0, 3)
		for _, a := range p.Aud[:min(len(p.Aud), 3)] {
			got = append(got, truncate(a))
		}
		return tokenErr(ErrAudienceMismatch, fmt.Sprintf("want %q, got %q (of %d)", v.audience, got, len(p.Aud)))
	}
	if p.Exp == nil {
		return tokenErr(ErrMissingClaim, "exp")
	}
	return v.checkTimes(now, p.Exp.t, p.Nbf)
}

func (v *Validator) checkTimes(now, exp time.Time, nbf *numericDate) error {
	if now.After(exp.Add(v.leeway)) {
		return tokenErr(ErrTokenExpired, fmt.Sprintf("expired at %s, now %s, leeway %s", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	if nbf != nil && now.Add(v.leeway).Before(nbf.t) {
		return tokenErr(ErrTokenNotYetValid, fmt.Sprintf("not before %s, now %s, leeway %s", nbf.t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.leeway))
	}
	return nil
}

// verifySignature checks sig over signingInput with pub. The caller has
// checked that the key fits alg.
func verifySignature(pub any, alg string, signingInput, sig []byte) error {
	var h crypto.Hash
	switch alg[len(alg)-3:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwsbb.VerifyRSA(k, signingInput, sig, h, alg[0] == 'P')
	case *ecdsa.PublicKey:
		return jwsbb.VerifyECDSA(k, signingInput, sig, h)
	case ed25519.PublicKey:
		return jwsbb.VerifyEdDSA(k, signingInput, sig)
	}
	return errors.New("unsupported key type")
}
