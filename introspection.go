package grpcjwt

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Token introspection (RFC 7662): a second way to verify a token, for an
// issuer whose access tokens are opaque (Ory Hydra and Zitadel by default)
// and for methods that must see a revocation at once. The Validator asks
// the issuer's introspection endpoint whether a token is active, reads the
// answer as strictly as a JWT's payload, and returns the same Claims.

// Defaults of [IntrospectionConfig].
const (
	DefaultIntrospectionCacheTTL         = time.Minute
	DefaultIntrospectionNegativeCacheTTL = 5 * time.Second
	DefaultIntrospectionMaxConcurrent    = 16
	DefaultIntrospectionMaxWaiting       = 256
	DefaultIntrospectionMinTokenLength   = 16
)

// IntrospectionConfig gives a trusted issuer an introspection endpoint (RFC
// 7662), in [Config.Introspection] or [IssuerConfig.Introspection]: how the
// server reaches it and authenticates to it, how long its answers are kept,
// and how many requests it may have at once.
//
// An issuer's endpoint is asked about two kinds of token. When the issuer
// is [Config.OpaqueTokenIssuer], about every token that is not a compact
// JWS (not three dot-separated parts): an opaque token names no issuer, so
// it is sent to that one issuer and no other. And about a JWT of the
// issuer, after its signature and claims are verified, on a method whose
// rule checks revocation ([WithRevocationCheck]). A JWT is never
// introspected otherwise.
//
// The answer is read as a JWT's payload is: exact member names,
// duplicates refused, types checked. "active" must be true; "iss", when
// present, must be the issuer's name exactly (when absent it is the
// issuer's); "aud" must hold an audience the issuer accepts, "exp" must be
// present and not past, "nbf" and "iat" not ahead (with [Config.Leeway]);
// "token_type", when present, must be "Bearer" or "DPoP" (a refresh token
// is refused), and Hydra's "token_use" "access_token". "scope",
// "client_id", "sub", "cnf" and the issuer's scope and organization claims
// fill the same [Claims] as a JWT's, on which every rule applies the same
// way (scopes, organizations, DPoP and certificate binding);
// [Claims.Introspected] tells a handler which path verified a token.
//
// Answers are cached by a keyed digest of the token (SipHash-2-4-128 under
// a random key of the Validator's), never the token itself:
// an active token until the earlier of its exp and CacheTTL (so a
// revocation is seen within CacheTTL), a refused one for NegativeCacheTTL.
// The endpoint down, slow, or answering other than 200 with a JSON object
// refuses the call with Unavailable "temporarily_unavailable"
// ([ErrIntrospectionUnavailable]), retryable and never cached; "active":
// false is invalid_token ([ErrTokenInactive]).
//
// When the issuer offers them, the answers are asked for as JWTs signed
// with the issuer's keys (RFC 9701), and required to be: see
// [SignedResponses].
type IntrospectionConfig struct {
	// Endpoint is the introspection endpoint's URL. By default it is the
	// introspection_endpoint of the issuer's discovery document, read with
	// its jwks_uri (and again at each periodic refresh): then NewValidator
	// fails when the document names none. Set it when the endpoint is not
	// discovered, as Hydra's admin API is not ("<admin URL>/admin/oauth2/
	// introspect"), and when the issuer's JWKSURL is set (discovery never
	// runs then). It must be https when the issuer is, and carry no user
	// name or password.
	Endpoint string

	// AuthMethod is how the server authenticates to the endpoint:
	// [ClientSecretBasic] (the default), [ClientSecretPost],
	// [PrivateKeyJWT], [TLSClientAuth] or [AuthNone].
	AuthMethod ClientAuthMethod

	// ClientID is the server's client ID at the issuer; required unless
	// AuthMethod is AuthNone.
	ClientID string

	// ClientSecret is its secret, for ClientSecretBasic and
	// ClientSecretPost. It never appears in a log line or an error.
	ClientSecret Secret

	// PrivateKey signs the client assertions of PrivateKeyJWT under
	// SigningAlgorithm (default: RS256 for an RSA key, ES256, ES384 or
	// ES512 by an ECDSA key's curve, EdDSA for Ed25519); KeyID, when set,
	// is their kid. AssertionAudience is their aud; default the issuer's
	// name, as Zitadel and Keycloak accept.
	PrivateKey        crypto.Signer
	SigningAlgorithm  string
	KeyID             string
	AssertionAudience string

	// HTTPClient makes the introspection requests; default
	// [Config.HTTPClient]. For TLSClientAuth, give one whose transport
	// presents the client certificate. Each request is bounded by
	// [Config.HTTPTimeout] and its answer by [Config.MaxTokenSize]; a
	// redirect is never followed (it would send the token elsewhere).
	HTTPClient *http.Client

	// CacheTTL bounds how long an active answer is kept: until the token's
	// exp, but no longer than this; default
	// [DefaultIntrospectionCacheTTL]. It is the most a revocation at the
	// issuer can go unseen. A negative value keeps no answer: every call
	// with the token is a request.
	CacheTTL time.Duration

	// NegativeCacheTTL is how long a refused token (inactive, or active
	// with claims that fail a check) is remembered, so that a client
	// retrying it costs no request; default
	// [DefaultIntrospectionNegativeCacheTTL]. A negative value remembers
	// none.
	NegativeCacheTTL time.Duration

	// MaxConcurrent bounds the requests in flight to the endpoint; default
	// [DefaultIntrospectionMaxConcurrent]. MaxWaiting bounds the distinct
	// tokens waiting for one of them beyond those; default
	// [DefaultIntrospectionMaxWaiting]. A token beyond both is refused at
	// once with Unavailable; a waiting one waits no longer than its call's
	// deadline and HTTPTimeout. Calls with the same token share one
	// request.
	MaxConcurrent int
	MaxWaiting    int

	// MinTokenLength is the length below which an opaque token is refused
	// without a request; default [DefaultIntrospectionMinTokenLength].
	// Every opaque token must also be an RFC 6750 b64token (letters,
	// digits and "-._~+/", then "=" padding) and at most
	// [Config.MaxTokenSize] bytes.
	MinTokenLength int

	// SignedResponses is whether the server asks the endpoint for answers
	// signed with the issuer's keys (RFC 9701), and then accepts no other:
	// by default ([SignedResponsesIfOffered]) when the issuer's discovery
	// document lists introspection_signing_alg_values_supported for the
	// endpoint it names; [SignedResponsesRequired] always;
	// [SignedResponsesOff] never.
	SignedResponses SignedResponses
}

// check checks c, the introspection settings of the issuer ic, named
// label in errors ("Config.Introspection").
func (c *IntrospectionConfig) check(label string, ic *IssuerConfig) error {
	if c.Endpoint != "" {
		if err := checkEndpoint(ic.Issuer, c.Endpoint); err != nil {
			return fmt.Errorf("%s.Endpoint: %w", label, err)
		}
	} else if ic.JWKSURL != "" {
		return fmt.Errorf("%s.Endpoint is required when JWKSURL is set: discovery, which would find it, never runs", label)
	}
	if _, err := newClientAuth(c, ic.Issuer); err != nil {
		return fmt.Errorf("%s.%w", label, err)
	}
	if c.MaxConcurrent < 0 || c.MaxWaiting < 0 || c.MinTokenLength < 0 {
		return fmt.Errorf("%s: MaxConcurrent, MaxWaiting and MinTokenLength must not be negative", label)
	}
	if err := c.SignedResponses.check(); err != nil {
		return fmt.Errorf("%s.%w", label, err)
	}
	return nil
}

// checkEndpoint refuses an introspection endpoint that is not an absolute
// http(s) URL, that is http for an https issuer (the token and the client
// credentials would cross in the clear), or that carries user information.
func checkEndpoint(issuer, endpoint string) error {
	if err := checkHTTPURL(endpoint); err != nil {
		return err
	}
	if err := checkKeysURL(issuer, endpoint); err != nil {
		return err
	}
	if u, _ := url.Parse(endpoint); u.User != nil {
		return errors.New("the URL carries user information; client credentials go in ClientID and ClientSecret")
	}
	return nil
}

// introspector is one issuer's introspection endpoint, its client and its
// bounds: calls with the same token share one request (flights), and at
// most len(slots) requests are in flight, with at most maxPending flights
// in all.
type introspector struct {
	issuer     string
	configured bool                   // the endpoint is configured, not discovered
	endpoint   atomic.Pointer[string] // nil until discovery names one
	answered   atomic.Bool            // discovery has answered
	signed     SignedResponses
	offered    atomic.Bool  // discovery offers signed answers from the endpoint in use
	client     *http.Client // never follows a redirect
	auth       *clientAuth
	timeout    time.Duration
	maxBody    int64
	ttl        time.Duration // <= 0: no positive caching
	negTTL     time.Duration // <= 0: no negative caching
	minLen     int
	now        func() time.Time
	log        *slog.Logger
	observer   IntrospectionObserver // nil: none

	slots      chan struct{}
	maxPending int // flights, in flight or waiting for a slot

	mu      sync.Mutex
	flights map[tokenDigest]*flight // by the token's digest

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// flight is one introspection request, shared by every call with the
// same token while it runs.
type flight struct {
	done    chan struct{}
	claims  *Claims
	err     error
	waiters int                // calls waiting for it; under introspector.mu
	cancel  context.CancelFunc // stops it when no call waits any more
}

// newIntrospector makes the introspector of issuer ic, checked, under cfg
// with its defaults set.
func newIntrospector(ic *IssuerConfig, cfg *Config) *introspector {
	c := ic.Introspection
	auth, _ := newClientAuth(c, ic.Issuer) // checked by IssuerConfig.check
	client := c.HTTPClient
	if client == nil {
		client = cfg.HTTPClient
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	in := &introspector{
		issuer:     ic.Issuer,
		configured: c.Endpoint != "",
		client:     &noRedirect,
		auth:       auth,
		timeout:    cfg.HTTPTimeout,
		maxBody:    int64(cfg.MaxTokenSize),
		ttl:        orDefault(c.CacheTTL, DefaultIntrospectionCacheTTL),
		negTTL:     orDefault(c.NegativeCacheTTL, DefaultIntrospectionNegativeCacheTTL),
		minLen:     orDefault(c.MinTokenLength, DefaultIntrospectionMinTokenLength),
		signed:     c.SignedResponses,
		now:        cfg.Now,
		log:        cfg.Logger.With("issuer", ic.Issuer),
		slots:      make(chan struct{}, orDefault(c.MaxConcurrent, DefaultIntrospectionMaxConcurrent)),
		flights:    make(map[tokenDigest]*flight),
	}
	in.maxPending = cap(in.slots) + orDefault(c.MaxWaiting, DefaultIntrospectionMaxWaiting)
	if o, ok := cfg.Observer.(IntrospectionObserver); ok {
		in.observer = o
	}
	if c.Endpoint != "" {
		in.endpoint.Store(&c.Endpoint)
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	return in
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// discovered takes what a discovery document says of introspection: its
// introspection_endpoint, unless the endpoint is configured, and whether
// it signs the answers of the endpoint in use (see [SignedResponses]).
func (in *introspector) discovered(doc providerMetadata) {
	if !in.configured {
		in.answered.Store(true)
		in.takeEndpoint(doc.introspectionEndpoint)
	}
	ep := in.endpoint.Load()
	offered := doc.signsIntrospection && ep != nil && *ep == doc.introspectionEndpoint
	if in.offered.Swap(offered) == offered || in.signed != SignedResponsesIfOffered {
		return
	}
	if offered {
		in.log.Info("grpcjwt: discovery offers signed introspection answers (RFC 9701): asking for them, and accepting no other")
	} else {
		in.log.Warn("grpcjwt: discovery no longer offers signed introspection answers (RFC 9701): asking for plain JSON")
	}
}

// takeEndpoint takes the introspection_endpoint of a discovery document.
// One that is unusable is logged and ignored: the last good one stays.
func (in *introspector) takeEndpoint(endpoint string) {
	if endpoint == "" {
		if in.endpoint.Load() == nil {
			in.log.Warn("grpcjwt: the discovery document names no introspection_endpoint; opaque tokens wait for one")
		}
		return
	}
	if err := checkEndpoint(in.issuer, endpoint); err != nil {
		in.log.Warn("grpcjwt: ignoring the discovery document's introspection_endpoint", "error", err)
		return
	}
	if last := in.endpoint.Load(); last == nil || *last != endpoint {
		in.endpoint.Store(&endpoint)
	}
}

// close stops every request in flight and waits for them.
func (in *introspector) close() {
	in.cancel()
	in.wg.Wait()
}

// unavailable is the error of an introspection that could not say whether
// a token is active.
func unavailable(issuer, format string, args ...any) error {
	return fmt.Errorf("%w: issuer %q: introspection: %s", ErrIntrospectionUnavailable, issuer, fmt.Sprintf(format, args...))
}

// isB64Token reports whether s is a b64token (RFC 6750 §2.1):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64TokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// b64TokenChar holds the bytes of a b64token before its padding.
var b64TokenChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") {
		t[c] = true
	}
	return t
}()

// share runs introspect for the token whose digest is sum, or joins the
// run for it already in flight, and waits for its outcome within ctx. A
// run waits for one of the endpoint's slots, then makes its request, both
// within HTTPTimeout, on a context of its own that keeps ctx's values:
// a call that gives up does not fail the others. When every call waiting
// for a run has given up, the run is stopped, whether it waits for a slot
// or for an answer. Beyond maxPending runs, a call is refused at once.
func (in *introspector) share(ctx context.Context, sum tokenDigest, introspect func(context.Context) (*Claims, error)) (*Claims, error) {
	in.mu.Lock()
	f := in.flights[sum]
	if f == nil {
		if in.ctx.Err() != nil {
			in.mu.Unlock()
			return nil, unavailable(in.issuer, "the Validator is closed")
		}
		if len(in.flights) >= in.maxPending {
			in.mu.Unlock()
			return nil, unavailable(in.issuer, "%d requests in flight or waiting, the most allowed", in.maxPending)
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.timeout)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		in.flights[sum] = f
		in.wg.Add(1)
		go in.fly(fctx, sum, f, introspect)
	}
	f.waiters++
	in.mu.Unlock()
	select {
	case <-f.done:
		return f.claims, f.err
	case <-ctx.Done():
		in.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
		}
		in.mu.Unlock()
		return nil, unavailable(in.issuer, "gave up waiting: %v", ctx.Err())
	}
}

// fly runs one flight: a slot, then the request. Its outcome is set
// before done is closed, and the flight leaves the table first, so that a
// call arriving later finds the cache introspect filled, or starts anew.
func (in *introspector) fly(ctx context.Context, sum tokenDigest, f *flight, introspect func(context.Context) (*Claims, error)) {
	defer in.wg.Done()
	stop := context.AfterFunc(in.ctx, f.cancel)
	defer func() {
		stop()
		f.cancel()
		in.mu.Lock()
		delete(in.flights, sum)
		in.mu.Unlock()
		close(f.done)
	}()
	select {
	case in.slots <- struct{}{}:
	case <-ctx.Done():
		f.err = unavailable(in.issuer, "no free request slot of %d: %v", cap(in.slots), context.Cause(ctx))
		return
	}
	defer func() { <-in.slots }()
	f.claims, f.err = introspect(ctx)
}

// introspectionAnswer is the introspection endpoint's 200 answer to one
// request.
type introspectionAnswer struct {
	body        []byte
	contentType string
	signed      bool      // a signed answer (RFC 9701) was asked for, and none other will do
	sent        time.Time // when the request was made
}

// request asks the endpoint about token and returns its 200 answer. Any
// failure is [ErrIntrospectionUnavailable]: the token may be good.
func (in *introspector) request(ctx context.Context, token string) (introspectionAnswer, error) {
	a := introspectionAnswer{signed: in.asksSigned(), sent: in.now()}
	ep := in.endpoint.Load()
	if ep == nil {
		return a, unavailable(in.issuer, "no introspection_endpoint known yet")
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *ep, nil)
	if err != nil {
		return a, unavailable(in.issuer, "%v", err)
	}
	if err := in.auth.apply(req, form, a.sent); err != nil {
		return a, unavailable(in.issuer, "client authentication: %v", err)
	}
	if a.signed {
		req.Header.Set("Accept", introspectionJWT)
	}
	body, hdr, err := postForm(in.client, req, form, in.maxBody)
	if err != nil {
		return a, unavailable(in.issuer, "%v", err)
	}
	a.body, a.contentType = body, hdr.Get("Content-Type")
	return a, nil
}
