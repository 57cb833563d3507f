// Package grpcjwttest runs a local OpenID Connect issuer for tests and
// demos, in the manner of net/http/httptest: a real HTTP server on loopback
// serving discovery and a JWKS, that mints access tokens with any claims
// and header fields, rotates keys, counts JWKS fetches, and can be made to
// fail or hang. It needs no *testing.T.
//
//	iss := grpcjwttest.NewIssuer()
//	defer iss.Close()
//	v, _ := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
//	token := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
//
// It also has a minimal token endpoint for the client_credentials grant
// ([Issuer.AddClient]), so that OAuth 2.0 client code can be tested
// against it; given a DPoP proof, it issues DPoP-bound tokens. For
// resource servers that introspect, it mints opaque tokens
// ([Issuer.OpaqueToken], [WithOpaqueTokens]) and serves token
// introspection (RFC 7662; its answers signed when asked, RFC 9701, with
// [WithSignedIntrospection]) and revocation (RFC 7009), named by
// discovery:
//
//	iss.AddClient("api", "api-secret") // the resource server's credentials
//	token := iss.OpaqueToken(map[string]any{"scope": "greet:read"})
//	iss.Revoke(token) // introspection now answers {"active": false}
package grpcjwttest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/logto"
)

// DefaultAudience is the audience of tokens minted by an [Issuer] unless
// changed: the resource indicator of the API under test.
const DefaultAudience = "https://api.example.com"

// Mode is how an endpoint of the issuer responds.
type Mode int

const (
	// Serve answers normally.
	Serve Mode = iota
	// Fail answers 500 Internal Server Error.
	Fail
	// Hang never answers: the request blocks until the client gives up or
	// the issuer is closed.
	Hang
	// Unsigned makes the introspection endpoint of an issuer
	// [WithSignedIntrospection] answer plain JSON even when asked for a
	// signed answer, as a provider that does not sign for the client, or
	// a man in the middle who strips the signature, would. Other
	// endpoints serve as usual.
	Unsigned
)

// Issuer is a local OIDC issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer identifier, the server's base URL plus the path
	// given to [WithPath] ("/oidc" unless changed), without a trailing
	// slash. Discovery is at URL+"/.well-known/openid-configuration".
	URL string
	// Audience is the default "aud" of minted tokens: [DefaultAudience].
	Audience string

	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu              sync.Mutex
	published       []*Key
	signing         map[string]*Key // by alg
	jwksMode        Mode
	discoveryMode   Mode
	discoveryIssuer string
	jwksURI         string // the discovery document's jwks_uri
	introspectURI   string // the discovery document's introspection_endpoint; "": none
	cacheControl    string
	jwksBody        []byte // overrides the JWKS when set

	clients    map[string]string // client_credentials clients: id -> secret
	defaultAlg string            // of Token without WithKeyFor or WithKey

	proofs dpopProofs // of token requests

	opaqueTokens      bool                   // the token endpoint issues opaque tokens
	opaque            map[[32]byte]*opaque   // by the token's SHA-256
	revoked           map[[32]byte]time.Time // by the token's SHA-256: until when it is kept
	introspectionMode Mode
	signedAnswers     bool                                // WithSignedIntrospection
	editAnswer        func(header, claims map[string]any) // of SetIntrospectionJWT

	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64
	introspections   atomic.Int64
}

type config struct {
	path       string
	algs       []string
	tls        bool
	listener   net.Listener
	baseURL    string
	keys       []*Key
	defaultAlg string
	handlers   []handler
	middleware []func(http.Handler) http.Handler
	opaque     bool
	signed     bool // WithSignedIntrospection
}

type handler struct {
	pattern string
	h       http.Handler
}

// Option configures [NewIssuer].
type Option func(*config)

// WithPath sets the issuer's path: the issuer identifier is the server URL
// plus path. Default "/oidc", as Logto's "https://<tenant>/oidc". Use ""
// for an issuer at the server's root, like Hydra's.
func WithPath(path string) Option {
	return func(c *config) { c.path = strings.TrimSuffix(path, "/") }
}

// WithAlgorithms sets the algorithms the issuer has a signing key for at
// start. Default: RS256, ES256 and EdDSA. Others get a key on first use by
// [Issuer.Token], which publishes it then.
func WithAlgorithms(algs ...string) Option {
	return func(c *config) { c.algs = algs }
}

// WithTLS serves the issuer over HTTPS, with httptest's certificate for
// "127.0.0.1": URL starts with "https://", and [Issuer.Client] trusts it.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithListener serves the issuer on l, which it closes with the issuer,
// instead of on a new loopback port: a fixed port, or an address other
// machines reach. URL is built from l's address (see [WithBaseURL]).
func WithListener(l net.Listener) Option {
	return func(c *config) { c.listener = l }
}

// WithBaseURL sets the server's base URL, such as "http://issuer:8081",
// when clients reach the issuer by another name than its listener's
// address (a listener on all interfaces, a container name, a proxy): URL
// is then base plus the path of [WithPath]. Tokens' "iss" and the
// discovery document follow URL; the server still listens where it did.
func WithBaseURL(base string) Option {
	return func(c *config) { c.baseURL = strings.TrimSuffix(base, "/") }
}

// WithSigningKey makes k the issuer's signing key for k.Alg, published
// from the start, instead of a key generated for that algorithm: so that
// tokens signed by an issuer that ran before, or outside the issuer (with
// [Key.Sign]), verify against this one's JWKS. Given more than once for
// an algorithm, every key is published and the last one signs.
func WithSigningKey(k *Key) Option {
	return func(c *config) { c.keys = append(c.keys, k) }
}

// WithDefaultAlgorithm sets the algorithm [Issuer.Token] signs with when
// no [WithKeyFor] or [WithKey] says otherwise, and so the algorithm of the
// token endpoint's tokens. Default RS256. The issuer has a signing key for
// it from the start.
func WithDefaultAlgorithm(alg string) Option {
	return func(c *config) { c.defaultAlg = alg }
}

// WithHandler adds h to the issuer's server under pattern, a pattern of
// [http.ServeMux] matched against the whole request path (the issuer's
// path is not prepended), for a test or command that serves more beside
// the issuer. h may be called as soon as NewIssuer has started the
// server, before NewIssuer returns. NewIssuer panics if pattern conflicts
// with the issuer's own routes or another handler's.
func WithHandler(pattern string, h http.Handler) Option {
	return func(c *config) { c.handlers = append(c.handlers, handler{pattern, h}) }
}

// WithMiddleware serves every request through m: the server's handler is
// m applied to the issuer's, which routes to its endpoints and to those of
// [WithHandler]. For a command that checks requests before any endpoint
// sees them, as grpcjwt-issuer serve refuses a POST by a Host name that a
// DNS rebinding attack could have sent. Given more than once, the first
// given sees a request first.
func WithMiddleware(m func(http.Handler) http.Handler) Option {
	return func(c *config) { c.middleware = append(c.middleware, m) }
}

// NewIssuer starts an issuer on a loopback port, or on the listener of
// [WithListener]. It panics if it cannot, as httptest.NewServer does, or
// if an option names an algorithm it cannot sign with. Close it when done.
func NewIssuer(opts ...Option) *Issuer {
	cfg := config{path: "/oidc", algs: []string{"RS256", "ES256", "EdDSA"}}
	for _, o := range opts {
		o(&cfg)
	}
	i := &Issuer{
		Audience:   DefaultAudience,
		closed:     make(chan struct{}),
		signing:    make(map[string]*Key),
		clients:    make(map[string]string),
		defaultAlg: cfg.defaultAlg,

		opaqueTokens:  cfg.opaque,
		signedAnswers: cfg.signed,
		opaque:        make(map[[32]byte]*opaque),
		revoked:       make(map[[32]byte]time.Time),
	}
	if i.defaultAlg == "" {
		i.defaultAlg = "RS256"
	}
	given := make(map[string]bool)
	for _, k := range cfg.keys {
		given[k.Alg] = true
	}
	for _, alg := range cfg.algs {
		if given[alg] {
			continue
		}
		k, err := NewKey(alg)
		if err != nil {
			panic(err)
		}
		i.signing[alg] = k
		i.published = append(i.published, k)
	}
	for _, k := range cfg.keys {
		i.signing[k.Alg] = k
		i.published = append(i.published, k)
	}
	if _, ok := i.signing[i.defaultAlg]; !ok && cfg.defaultAlg != "" {
		k, err := NewKey(cfg.defaultAlg)
		if err != nil {
			panic(err)
		}
		i.signing[k.Alg] = k
		i.published = append(i.published, k)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+cfg.path+"/.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET "+cfg.path+"/jwks", i.serveJWKS)
	mux.HandleFunc("POST "+cfg.path+"/token", i.serveToken)
	mux.HandleFunc("POST "+cfg.path+"/introspect", i.serveIntrospection)
	mux.HandleFunc("POST "+cfg.path+"/revoke", i.serveRevocation)
	for _, h := range cfg.handlers {
		mux.Handle(h.pattern, h.h)
	}
	var h http.Handler = mux
	for n := len(cfg.middleware) - 1; n >= 0; n-- {
		h = cfg.middleware[n](h)
	}
	// URL is set before the server starts, so handlers never race with it.
	i.srv = httptest.NewUnstartedServer(h)
	if cfg.listener != nil {
		_ = i.srv.Listener.Close()
		i.srv.Listener = cfg.listener
	}
	base := "http://" + i.srv.Listener.Addr().String()
	if cfg.tls {
		base = "https://" + i.srv.Listener.Addr().String()
	}
	if cfg.baseURL != "" {
		base = cfg.baseURL
	}
	i.URL = base + cfg.path
	i.discoveryIssuer = i.URL
	i.jwksURI = i.JWKSURL()
	i.introspectURI = i.IntrospectionURL()
	if cfg.tls {
		i.srv.StartTLS()
	} else {
		i.srv.Start()
	}
	return i
}

// Close shuts the issuer down, releasing requests that hang.
func (i *Issuer) Close() {
	i.once.Do(func() { close(i.closed) })
	i.srv.Close()
}

// JWKSURL returns the URL of the issuer's JWKS.
func (i *Issuer) JWKSURL() string { return i.URL + "/jwks" }

// JWKSFetches returns how many JWKS requests the issuer has received.
func (i *Issuer) JWKSFetches() int64 { return i.jwksFetches.Load() }

// DiscoveryFetches returns how many discovery requests it has received.
func (i *Issuer) DiscoveryFetches() int64 { return i.discoveryFetches.Load() }

// SetJWKSMode sets how the JWKS endpoint responds.
func (i *Issuer) SetJWKSMode(m Mode) { i.mu.Lock(); i.jwksMode = m; i.mu.Unlock() }

// SetDiscoveryMode sets how the discovery endpoint responds.
func (i *Issuer) SetDiscoveryMode(m Mode) { i.mu.Lock(); i.discoveryMode = m; i.mu.Unlock() }

// SetDiscoveryIssuer makes the discovery document name issuer instead of
// URL, as a misconfigured or impersonating provider would.
func (i *Issuer) SetDiscoveryIssuer(issuer string) {
	i.mu.Lock()
	i.discoveryIssuer = issuer
	i.mu.Unlock()
}

// SetJWKSURI makes the discovery document name u as jwks_uri instead of
// [Issuer.JWKSURL], as a provider whose keys are served elsewhere would.
func (i *Issuer) SetJWKSURI(u string) { i.mu.Lock(); i.jwksURI = u; i.mu.Unlock() }

// SetIntrospectionURI makes the discovery document name u as
// introspection_endpoint instead of [Issuer.IntrospectionURL]; "" leaves it
// out, as Ory Hydra's public discovery does.
func (i *Issuer) SetIntrospectionURI(u string) { i.mu.Lock(); i.introspectURI = u; i.mu.Unlock() }

// Client returns an HTTP client for the issuer: for one started
// [WithTLS], a client that trusts its certificate (and that of any other
// httptest TLS server), as httptest.Server.Client does.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// SetCacheControl sets the Cache-Control header of JWKS responses.
func (i *Issuer) SetCacheControl(v string) { i.mu.Lock(); i.cacheControl = v; i.mu.Unlock() }

// SetJWKSBody makes the JWKS endpoint serve body as it is, instead of the
// published keys; nil restores them. For hostile or broken key sets.
func (i *Issuer) SetJWKSBody(body []byte) { i.mu.Lock(); i.jwksBody = body; i.mu.Unlock() }

// SigningKey returns the key tokens for alg are signed with, creating and
// publishing one if the issuer has none.
func (i *Issuer) SigningKey(alg string) *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	if k, ok := i.signing[alg]; ok {
		return k
	}
	k := MustKey(alg)
	i.signing[alg] = k
	i.published = append(i.published, k)
	return k
}

// RotateKey creates a new key for alg, publishes it and signs new tokens
// for alg with it. Older keys stay published until [Issuer.Unpublish].
func (i *Issuer) RotateKey(alg string) *Key {
	k := MustKey(alg)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signing[alg] = k
	i.published = append(i.published, k)
	return k
}

// Publish adds k to the JWKS without signing with it.
func (i *Issuer) Publish(k *Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = append(i.published, k)
}

// Unpublish removes the key with kid from the JWKS. Tokens can still be
// signed with it.
func (i *Issuer) Unpublish(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	kept := i.published[:0]
	for _, k := range i.published {
		if k.KID != kid {
			kept = append(kept, k)
		}
	}
	i.published = kept
}

// AddClient registers an OAuth 2.0 client that may obtain tokens from the
// issuer's token endpoint (URL+"/token") with the client_credentials grant,
// and use its introspection and revocation endpoints, authenticating with
// HTTP Basic (id and secret form-encoded, RFC 6749 §2.3.1) or form
// parameters. A token request with
// a DPoP header (RFC 9449 §5) gets a DPoP-bound token (cnf jkt, the
// thumbprint of the proof's key) of token_type "DPoP", if the proof is a
// dpop+jwt signed by the public jwk in its header, with htm POST, htu
// URL+"/token", an iat within a minute of now and a jti not used before;
// otherwise the answer is 400 {"error":"invalid_dpop_proof"} with an
// error_description that says what was wrong.
func (i *Issuer) AddClient(id, secret string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.clients[id] = secret
}

// TokenOption changes how [Issuer.Token] mints a token.
type TokenOption func(*tokenConfig)

type tokenConfig struct {
	alg    string
	key    *Key
	header map[string]any
	claims map[string]any // set by options, under the caller's claims
}

func (c *tokenConfig) set(name string, v any) {
	if c.claims == nil {
		c.claims = make(map[string]any)
	}
	c.claims[name] = v
}

// OrganizationClaim is the claim that [WithOrganization] sets: the
// organization a token for an API resource is also for.
const OrganizationClaim = logto.OrganizationClaim

// OrganizationAudiencePrefix is the audience prefix of Logto's organization
// tokens: their "aud" is this followed by the organization ID.
const OrganizationAudiencePrefix = logto.OrganizationAudiencePrefix

// WithOrganization mints a token for an API resource and an organization,
// as Logto does when a client asks for both: the audience stays the API's,
// and an "organization_id" claim names the organization.
func WithOrganization(id string) TokenOption {
	return func(c *tokenConfig) { c.set(logto.OrganizationClaim, id) }
}

// WithCertificateBinding mints a certificate-bound token (RFC 8705 §3): its
// "cnf" claim holds the x5t#S256 thumbprint of the client certificate der
// (the DER bytes, as in tls.Certificate.Certificate[0] or
// x509.Certificate.Raw).
func WithCertificateBinding(der []byte) TokenOption {
	sum := sha256.Sum256(der)
	return func(c *tokenConfig) {
		c.set("cnf", map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])})
	}
}

// WithDPoPBinding mints a DPoP-bound token (RFC 9449 §6.1): its "cnf"
// claim holds jkt, the RFC 7638 thumbprint of the client's DPoP key (as
// grpcjwt.DPoPCredentials.Thumbprint returns it).
func WithDPoPBinding(jkt string) TokenOption {
	return func(c *tokenConfig) { c.set("cnf", map[string]any{"jkt": jkt}) }
}

// WithOrganizationAudience mints a Logto organization token: its "aud" is
// [OrganizationAudiencePrefix] followed by id, instead of the API's
// audience.
func WithOrganizationAudience(id string) TokenOption {
	return func(c *tokenConfig) { c.set("aud", OrganizationAudiencePrefix+id) }
}

// WithKeyFor signs with the issuer's signing key for alg (default RS256,
// or that of [WithDefaultAlgorithm]).
func WithKeyFor(alg string) TokenOption { return func(c *tokenConfig) { c.alg = alg } }

// WithKey signs with k, which need not be published: a token from an
// unknown key, or, with k.KID set to a published kid, a forged one.
func WithKey(k *Key) TokenOption { return func(c *tokenConfig) { c.key = k } }

// WithHeader sets a header member; a nil value removes it (say "kid" or
// "typ"). Setting "alg" changes the algorithm the token is signed with, so
// it must suit the key: another hash or padding of the key's family (RS384
// or PS256 with an RSA key) works, another family (ES256 with an RSA key)
// makes [Issuer.Token] panic. To mint a token whose alg header the key
// cannot honour, sign its exact bytes with [Key.SignJSON].
func WithHeader(name string, value any) TokenOption {
	return func(c *tokenConfig) {
		if c.header == nil {
			c.header = make(map[string]any)
		}
		c.header[name] = value
	}
}

// Token mints a signed access token. Its claims are iss (URL), aud
// (Audience), sub "user-123", client_id "test-client", iat now, exp in one
// hour and a random jti, merged with claims: a value there replaces the
// default, and a nil value removes the claim; options such as
// [WithOrganization] set claims that claims may still replace. The header
// is alg, kid and
// typ "at+jwt", changed by [WithHeader]. Token panics if it cannot sign,
// which happens only with a key and alg that do not match.
func (i *Issuer) Token(claims map[string]any, opts ...TokenOption) string {
	cfg := tokenConfig{alg: i.defaultAlg}
	for _, o := range opts {
		o(&cfg)
	}
	k := cfg.key
	if k == nil {
		k = i.SigningKey(cfg.alg)
	}
	c := i.defaultClaims(time.Now())
	merge(c, cfg.claims)
	merge(c, claims)
	h := map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "at+jwt"}
	merge(h, cfg.header)
	tok, err := k.Sign(h, c)
	if err != nil {
		panic(fmt.Sprintf("grpcjwttest: signing: %v", err))
	}
	return tok
}

// defaultClaims are the claims of a token minted at now, before the
// caller's.
func (i *Issuer) defaultClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       i.URL,
		"aud":       i.Audience,
		"sub":       "user-123",
		"client_id": "test-client",
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       randomID(),
	}
}

func merge(dst, src map[string]any) {
	for name, v := range src {
		if v == nil {
			delete(dst, name)
		} else {
			dst[name] = v
		}
	}
}

// respond applies m; it reports false when the handler must not go on.
func (i *Issuer) respond(w http.ResponseWriter, r *http.Request, m Mode) bool {
	switch m {
	case Fail:
		http.Error(w, "grpcjwttest: failing on purpose", http.StatusInternalServerError)
		return false
	case Hang:
		select {
		case <-r.Context().Done():
		case <-i.closed:
		}
		return false
	}
	return true
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.discoveryFetches.Add(1)
	i.mu.Lock()
	m, iss, jwksURI, introspectURI := i.discoveryMode, i.discoveryIssuer, i.jwksURI, i.introspectURI
	i.mu.Unlock()
	if !i.respond(w, r, m) {
		return
	}
	doc := map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              jwksURI,
		"token_endpoint":                        i.URL + "/token",
		"revocation_endpoint":                   i.RevocationURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": Algorithms(),
		"dpop_signing_alg_values_supported":     Algorithms(),
	}
	if introspectURI != "" {
		doc["introspection_endpoint"] = introspectURI
	}
	if i.signedAnswers {
		doc["introspection_signing_alg_values_supported"] = Algorithms()
	}
	writeJSON(w, doc)
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.jwksFetches.Add(1)
	i.mu.Lock()
	m, cc, body := i.jwksMode, i.cacheControl, i.jwksBody
	keys := append([]*Key(nil), i.published...)
	i.mu.Unlock()
	if !i.respond(w, r, m) {
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
		return
	}
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range keys {
		j, err := k.JWK()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.Keys = append(set.Keys, j)
	}
	writeJSON(w, set)
}

// serveToken is a minimal token endpoint: the client_credentials grant for
// clients added with AddClient. The token's sub and client_id are the
// client's id, its scope is the requested one, and its aud is the
// "resource" (RFC 8707) or "audience" parameter, else Audience. A request
// with a DPoP header (RFC 9449 §5) gets a DPoP-bound token (cnf jkt, the
// thumbprint of the proof's key) and token_type "DPoP", if the proof is
// valid for a POST to the token endpoint (see [dpopProofs.check]); an
// invalid one gets 400 invalid_dpop_proof.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	id, ok := i.client(r)
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	claims := map[string]any{"sub": id, "client_id": id}
	if aud := r.PostForm.Get("resource"); aud != "" {
		claims["aud"] = aud
	} else if aud := r.PostForm.Get("audience"); aud != "" {
		claims["aud"] = aud
	}
	if scope := r.PostForm.Get("scope"); scope != "" {
		claims["scope"] = scope
	}
	tokenType := "Bearer"
	var opts []TokenOption
	if proofs := r.Header.Values("DPoP"); len(proofs) > 0 {
		if len(proofs) > 1 {
			oauthError(w, http.StatusBadRequest, "invalid_dpop_proof", fmt.Sprintf("%d DPoP headers, want one", len(proofs)))
			return
		}
		jkt, err := i.proofs.check(proofs[0], http.MethodPost, i.URL+"/token", time.Now())
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_dpop_proof", err.Error())
			return
		}
		tokenType = "DPoP"
		opts = append(opts, WithDPoPBinding(jkt))
	}
	mint := i.Token
	if i.opaqueTokens {
		mint = i.OpaqueToken
	}
	writeJSON(w, map[string]any{
		"access_token": mint(claims, opts...),
		"token_type":   tokenType,
		"expires_in":   3600,
		"scope":        r.PostForm.Get("scope"),
	})
}

// oauthError writes an OAuth 2.0 error response (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
