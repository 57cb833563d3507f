package grpcjwt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// Defaults for the optional [Config] fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenSize       = 64 << 10
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultMaxResponseSize    = 1 << 20
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = time.Minute
	DefaultStartRetry         = time.Second
	DefaultKeyCacheMaxAge     = 24 * time.Hour
)

// DefaultAlgorithms returns the signature algorithms accepted when
// [Config.Algorithms] is empty: every asymmetric JWS algorithm. "none" and
// the HMAC algorithms can never be enabled. Each call returns a new slice,
// so the defaults cannot be changed from outside.
func DefaultAlgorithms() []string {
	return jose.Names()
}

// Config configures a [Validator]. Issuer and Audience are required (or
// Issuers); every other field has a safe default. Settings that are not
// about one issuer (leeway, sizes, HTTP, the cache, the logger, the clock)
// apply to every issuer.
type Config struct {
	// The issuer and the API.

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

	// Audiences are more exact audiences accepted for Issuer, beside
	// Audience; a token needs one of them in its "aud".
	Audiences []string

	// AudiencePrefixes accept for Issuer any audience that starts with one
	// of them and goes on, such as "urn:logto:organization:" for Logto's
	// organization tokens: what follows the prefix is the organization the
	// issuer asserts ([Claims.Organization]). [Claims.MatchedAudience] is
	// the audience that matched and [Claims.AudienceSuffix] what follows the
	// prefix. Exact audiences are tried first. The interceptors accept a
	// token whose audience matched by a prefix only on methods with an
	// organization rule that reads the audience (see [OrganizationRule]):
	// an organization token's scopes are the organization's permissions,
	// not the API's, so on any other method it is refused (invalid_token,
	// [ErrAudienceMismatch]). [Validator.Validate] alone accepts it.
	AudiencePrefixes []string

	// OrganizationClaim names the claim in which Issuer asserts the
	// organization a token is for, such as [DefaultOrganizationClaim]
	// ("organization_id", Logto's organization-level API resource
	// tokens): a top-level name or a dotted path, holding a string. By
	// default Issuer asserts no organization by claim, and the claim is
	// never read for an organization rule. The same holds for each of
	// Issuers (see [IssuerConfig]): an issuer speaks for organizations only
	// when its own configuration says so.
	OrganizationClaim string

	// ScopeClaims name more claims of Issuer's tokens whose values count as
	// scopes for rules and [Claims.HasScope]: a top-level name
	// ("permissions", Auth0 RBAC) or a dotted path into objects
	// ("realm_access.roles", Keycloak), holding a string (split on spaces)
	// or an array of strings. They add to "scope" or "scp".
	ScopeClaims []string

	// JWKSURL, when set, is used instead of discovery. It must be https
	// when Issuer is.
	JWKSURL string

	// Introspection gives Issuer an introspection endpoint (RFC 7662), for
	// its opaque tokens (see OpaqueTokenIssuer) and for its JWTs on methods
	// that check revocation ([WithRevocationCheck]); see
	// [IntrospectionConfig]. Default: none.
	Introspection *IntrospectionConfig

	// OpaqueTokenIssuer names the one trusted issuer (Issuer, or one of
	// Issuers, with an Introspection) whose introspection endpoint verifies
	// every token that is not a compact JWS. An opaque token says nothing
	// of its issuer, so it is sent to this one and no other; JWTs are
	// still routed by their "iss" and verified by signature. Default "":
	// opaque tokens are refused (invalid_token) without a request.
	OpaqueTokenIssuer string

	// Issuers are more trusted issuers, each with its own keys, refresh,
	// limits, audiences and algorithms; see [IssuerConfig]. A token is
	// routed by its exact "iss" to one of Issuer and Issuers; any other
	// "iss" is refused ([ErrUntrustedIssuer]) without a network request.
	// Issuer may be empty when Issuers is not.
	Issuers []IssuerConfig

	// The token.

	// Algorithms restricts the accepted signature algorithms of every
	// issuer, Config.Issuer and each of Issuers alike; default
	// [DefaultAlgorithms]. An entry of Issuers may narrow them further,
	// never widen them. Unknown names, "none" and HS* are refused,
	// wherever they appear.
	Algorithms []string

	// RequireATJWT accepts only tokens typed "at+jwt" (RFC 9068), from
	// every issuer. By default "typ" may also be absent or "JWT"; an entry
	// of Issuers may require at+jwt for itself alone.
	RequireATJWT bool

	// Leeway is the clock skew allowed on exp, nbf and iat; default
	// [DefaultLeeway]. Use a negative value for none.
	Leeway time.Duration

	// MaxTokenSize bounds a token's length in bytes; default
	// [DefaultMaxTokenSize]. Longer tokens are refused before any parsing.
	MaxTokenSize int

	// Keys and HTTP.

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
	// lazily, on a request that finds one due, and never delay it. Unless
	// JWKSURL is set, each of these refreshes reads the discovery document
	// again, so that a provider that moves its jwks_uri is followed; if
	// discovery fails then, the jwks_uri it gave last is fetched.
	RefreshInterval time.Duration

	// MinRefreshInterval is the least time between two refreshes caused by
	// tokens with an unknown kid (the first one is free) and the floor for
	// Cache-Control; default [DefaultMinRefreshInterval].
	MinRefreshInterval time.Duration

	// Startup.

	// BackgroundStart makes NewValidator return at once, without reaching
	// any provider: discovery and the first key fetch of each issuer run in
	// the background, retried with jittered exponential backoff from
	// StartRetry up to MinRefreshInterval until they succeed or the
	// Validator is closed. Until an issuer's keys arrive, its tokens are
	// refused with [ErrKeysUnavailable] (Unavailable
	// "temporarily_unavailable": retryable, the client keeps its token);
	// [Validator.State] and [ServeHealth] tell when it is ready. By default
	// NewValidator fails when a provider cannot be reached, which makes
	// every restarting replica fail during an identity provider outage.
	BackgroundStart bool

	// StartRetry is the first delay between attempts to reach a provider
	// in a background start, or after a startup fetch failed while keys
	// from KeyCacheDir were in use; it doubles, with jitter, up to
	// MinRefreshInterval. Default [DefaultStartRetry].
	StartRetry time.Duration

	// KeyCacheDir, when set, is a directory where the last good JWKS of
	// each issuer is kept (a file per issuer, written after every
	// successful fetch, with the URL it came from), and read at startup, so
	// that a restart survives a provider outage. The directory must exist.
	//
	// The file is trusted only while the provider cannot be reached (its
	// discovery or its JWKS fails), and never to say where the keys are.
	// Its keys (if for this issuer, no older than KeyCacheMaxAge and, with
	// JWKSURL set, from that URL) serve only after a startup fetch has
	// failed: NewValidator then succeeds and the provider is retried in the
	// background. A successful fetch replaces them (at startup, before
	// NewValidator returns, so that they are not used at all). When
	// discovery names another jwks_uri than the file's, the file's keys are
	// dropped at once (tokens they verified stop verifying), even if that
	// jwks_uri then fails, and the file is deleted. Whoever can write the
	// file chooses the keys a restart accepts during an outage: protect the
	// directory as you do the server's configuration.
	KeyCacheDir string

	// KeyCacheMaxAge bounds the age of keys read from KeyCacheDir at
	// startup; default [DefaultKeyCacheMaxAge].
	KeyCacheMaxAge time.Duration

	// The verified-token cache, logs, metrics, the clock.

	// CacheSize bounds the verified-token cache in entries; default
	// [DefaultCacheSize]. A negative value turns the cache off.
	CacheSize int

	// CacheBytes bounds the cache's memory, counted as the tokens' and
	// payloads' lengths plus a fixed overhead per entry; default
	// [DefaultCacheBytes].
	CacheBytes int64

	// Logger receives rejected tokens (with their cause, never the token)
	// at Debug, and key-set events (refresh failures at Warn); default: no
	// logging. See also the interceptors' [WithRejectHook].
	Logger *slog.Logger

	// Observer, when set, sees every decision, validation and key fetch,
	// for metrics and traces; see [Observer].
	Observer Observer

	// Now is the clock; default time.Now. For tests.
	Now func() time.Time
}

// setDefaults fills the optional fields c leaves zero (and a negative
// Leeway) with their defaults.
func (c *Config) setDefaults() {
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.MaxTokenSize <= 0 {
		c.MaxTokenSize = DefaultMaxTokenSize
	}
	if c.StartRetry <= 0 {
		c.StartRetry = DefaultStartRetry
	}
	if c.KeyCacheMaxAge <= 0 {
		c.KeyCacheMaxAge = DefaultKeyCacheMaxAge
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
}

// IssuerConfig is one more issuer a [Validator] trusts, beside
// [Config.Issuer]: a provider migration, a partner's IdP, a service IdP next
// to the customer one. Each issuer has its own discovery, key set, refresh
// schedule, unknown-kid rate limit, stale-on-error, audiences and
// algorithms; what one issuer's provider does (hang, fail, rotate, serve a
// storm of unknown kids) never delays or limits another's tokens. A token
// is routed by its exact "iss" to the one issuer of that name, before any
// key is looked up.
//
// The fields mean what the [Config] fields of the same names mean for
// Config.Issuer. Issuer is required, and at least one of Audience,
// Audiences or AudiencePrefixes. RefreshInterval and MinRefreshInterval
// default to the Config's. [Config.Algorithms] and [Config.RequireATJWT]
// apply to every issuer: an entry's Algorithms may only narrow the
// Config's, and its RequireATJWT only add to it.
//
// An issuer asserts organizations only when its entry says so: by
// OrganizationClaim and by AudiencePrefixes. An entry with neither never
// satisfies an organization rule, whatever its tokens claim, so that a
// partner IdP cannot speak for another tenant's organization. See
// [OrganizationRule].
type IssuerConfig struct {
	Issuer             string
	Audience           string
	Audiences          []string
	AudiencePrefixes   []string
	OrganizationClaim  string
	JWKSURL            string
	Algorithms         []string
	RequireATJWT       bool
	ScopeClaims        []string
	RefreshInterval    time.Duration
	MinRefreshInterval time.Duration
	Introspection      *IntrospectionConfig
}

// issuerConfigs returns every issuer cfg trusts, Config.Issuer first.
func (c *Config) issuerConfigs() []IssuerConfig {
	var out []IssuerConfig
	if c.Issuer != "" {
		out = append(out, IssuerConfig{
			Issuer: c.Issuer, Audience: c.Audience, Audiences: c.Audiences, AudiencePrefixes: c.AudiencePrefixes,
			OrganizationClaim: c.OrganizationClaim, JWKSURL: c.JWKSURL, ScopeClaims: c.ScopeClaims,
			Introspection: c.Introspection,
		})
	}
	return append(out, c.Issuers...)
}

// check checks one issuer's settings, named label in errors ("Config" or
// "Config.Issuers[1]"), against c's and against the issuers in seen (those
// before it), to which it adds its own.
func (ic *IssuerConfig) check(label string, c *Config, seen map[string]bool) error {
	if ic.Issuer == "" {
		return fmt.Errorf("%s.Issuer is required", label)
	}
	if err := checkHTTPURL(ic.Issuer); err != nil {
		return fmt.Errorf("%s.Issuer: %w", label, err)
	}
	if seen[ic.Issuer] {
		return fmt.Errorf("%s.Issuer: %q is configured twice", label, ic.Issuer)
	}
	seen[ic.Issuer] = true
	if ic.Audience == "" && len(ic.Audiences) == 0 && len(ic.AudiencePrefixes) == 0 {
		return fmt.Errorf("%s.Audience is required (or Audiences, or AudiencePrefixes)", label)
	}
	for _, a := range append(append([]string{}, ic.Audiences...), ic.AudiencePrefixes...) {
		if a == "" {
			return fmt.Errorf("%s: an empty audience or audience prefix would match anything", label)
		}
	}
	if ic.JWKSURL != "" {
		if err := checkHTTPURL(ic.JWKSURL); err != nil {
			return fmt.Errorf("%s.JWKSURL: %w", label, err)
		}
		if err := checkKeysURL(ic.Issuer, ic.JWKSURL); err != nil {
			return fmt.Errorf("%s.JWKSURL: %w", label, err)
		}
	}
	if err := checkAlgorithms(label+".Algorithms", ic.Algorithms); err != nil {
		return err
	}
	if len(c.Algorithms) > 0 {
		for _, a := range ic.Algorithms {
			if !slices.Contains(c.Algorithms, a) {
				return fmt.Errorf("%s.Algorithms: %q is not in Config.Algorithms %q; an issuer may only narrow them", label, a, c.Algorithms)
			}
		}
	}
	for _, p := range ic.ScopeClaims {
		if !isClaimPath(p) {
			return fmt.Errorf("%s.ScopeClaims: %q is not a claim name or a dotted path", label, p)
		}
	}
	if ic.OrganizationClaim != "" && !isClaimPath(ic.OrganizationClaim) {
		return fmt.Errorf("%s.OrganizationClaim: %q is not a claim name or a dotted path", label, ic.OrganizationClaim)
	}
	if ic.Introspection != nil {
		if err := ic.Introspection.check(label+".Introspection", ic); err != nil {
			return err
		}
	}
	return nil
}

// setDefaults fills the settings ic, checked, leaves zero from c's (after
// c's own defaults are set): Algorithms (or [DefaultAlgorithms]),
// RefreshInterval and MinRefreshInterval. c's RequireATJWT applies to ic
// too.
func (ic *IssuerConfig) setDefaults(c *Config) {
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = c.Algorithms
	}
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = DefaultAlgorithms()
	}
	ic.RequireATJWT = ic.RequireATJWT || c.RequireATJWT
	if ic.RefreshInterval <= 0 {
		ic.RefreshInterval = c.RefreshInterval
	}
	if ic.MinRefreshInterval <= 0 {
		ic.MinRefreshInterval = c.MinRefreshInterval
	}
	ic.MinRefreshInterval = min(ic.MinRefreshInterval, ic.RefreshInterval)
}

// isClaimPath reports whether p is a claim name or a dotted path of them.
func isClaimPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, ".") && !strings.HasSuffix(p, ".") && !strings.Contains(p, "..")
}

// checkAlgorithms refuses names that are not allowed signature
// algorithms: unknown ones, "none" and HS*.
func checkAlgorithms(label string, algs []string) error {
	for _, a := range algs {
		if jose.Lookup(a) == nil {
			return fmt.Errorf("%s: %q is not an allowed signature algorithm (allowed: %s)", label, a, strings.Join(DefaultAlgorithms(), ", "))
		}
	}
	return nil
}

// issuers checks every issuer c trusts (after c's own defaults are set)
// and returns them with their defaults, Config.Issuer first. The
// top-level Algorithms and RequireATJWT are checked whether or not
// Config.Issuer is set, and apply to every issuer.
func (c *Config) issuers() ([]IssuerConfig, error) {
	if c.Issuer == "" && len(c.Issuers) == 0 {
		return nil, errors.New("grpcjwt: Config.Issuer is required")
	}
	if c.Issuer == "" && (c.Audience != "" || len(c.Audiences) > 0 || len(c.AudiencePrefixes) > 0 || c.JWKSURL != "" || len(c.ScopeClaims) > 0 || c.OrganizationClaim != "" || c.Introspection != nil) {
		return nil, errors.New("grpcjwt: Config.Audience, Audiences, AudiencePrefixes, OrganizationClaim, ScopeClaims, JWKSURL and Introspection belong to Config.Issuer, which is empty; set them in each of Config.Issuers")
	}
	if err := checkAlgorithms("Config.Algorithms", c.Algorithms); err != nil {
		return nil, fmt.Errorf("grpcjwt: %w", err)
	}
	ics := c.issuerConfigs()
	seen := make(map[string]bool, len(ics))
	for i := range ics {
		label := "Config"
		if c.Issuer == "" || i > 0 {
			label = fmt.Sprintf("Config.Issuers[%d]", i-btoi(c.Issuer != ""))
		}
		if err := ics[i].check(label, c, seen); err != nil {
			return nil, fmt.Errorf("grpcjwt: %w", err)
		}
		ics[i].setDefaults(c)
	}
	if c.OpaqueTokenIssuer != "" {
		i := slices.IndexFunc(ics, func(ic IssuerConfig) bool { return ic.Issuer == c.OpaqueTokenIssuer })
		switch {
		case i < 0:
			return nil, fmt.Errorf("grpcjwt: Config.OpaqueTokenIssuer %q is not a trusted issuer", c.OpaqueTokenIssuer)
		case ics[i].Introspection == nil:
			return nil, fmt.Errorf("grpcjwt: Config.OpaqueTokenIssuer %q has no Introspection to verify its opaque tokens with", c.OpaqueTokenIssuer)
		}
	}
	return ics, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
