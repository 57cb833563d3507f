package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/grpcjwt/grpcjwt/internal/keycache"
)

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
}

// trustedIssuer is an issuer's settings and its keys.
type trustedIssuer struct {
	name        string
	audiences   []string // exact
	prefixes    []string
	algs        map[string]*jose.Algorithm
	types       *jose.Types // the typ values of its tokens
	scopeClaims [][]string  // dotted paths, split
	orgClaim    []string    // the organization claim's dotted path, split; nil: none
	keys        *keySet
}

// issuerConfigs returns every issuer cfg trusts, Config.Issuer first.
func (c *Config) issuerConfigs() []IssuerConfig {
	var out []IssuerConfig
	if c.Issuer != "" {
		out = append(out, IssuerConfig{
			Issuer: c.Issuer, Audience: c.Audience, Audiences: c.Audiences, AudiencePrefixes: c.AudiencePrefixes,
			OrganizationClaim: c.OrganizationClaim, JWKSURL: c.JWKSURL, ScopeClaims: c.ScopeClaims,
		})
	}
	return append(out, c.Issuers...)
}

// check validates one issuer's settings, named label in errors ("Config"
// or "Config.Issuers[1]"), and fills its defaults from c.
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
	switch {
	case len(ic.Algorithms) == 0:
		ic.Algorithms = c.Algorithms
	case len(c.Algorithms) > 0:
		for _, a := range ic.Algorithms {
			if !slices.Contains(c.Algorithms, a) {
				return fmt.Errorf("%s.Algorithms: %q is not in Config.Algorithms %q; an issuer may only narrow them", label, a, c.Algorithms)
			}
		}
	}
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = DefaultAlgorithms()
	}
	ic.RequireATJWT = ic.RequireATJWT || c.RequireATJWT
	for _, p := range ic.ScopeClaims {
		if !isClaimPath(p) {
			return fmt.Errorf("%s.ScopeClaims: %q is not a claim name or a dotted path", label, p)
		}
	}
	if ic.OrganizationClaim != "" && !isClaimPath(ic.OrganizationClaim) {
		return fmt.Errorf("%s.OrganizationClaim: %q is not a claim name or a dotted path", label, ic.OrganizationClaim)
	}
	if ic.RefreshInterval <= 0 {
		ic.RefreshInterval = c.RefreshInterval
	}
	if ic.MinRefreshInterval <= 0 {
		ic.MinRefreshInterval = c.MinRefreshInterval
	}
	ic.MinRefreshInterval = min(ic.MinRefreshInterval, ic.RefreshInterval)
	return nil
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

// checkIssuers validates every issuer of c (after c's own defaults are
// set) and returns them with their defaults, Config.Issuer first. The
// top-level Algorithms and RequireATJWT are checked whether or not
// Config.Issuer is set, and apply to every issuer.
func (c *Config) checkIssuers() ([]IssuerConfig, error) {
	if c.Issuer == "" && len(c.Issuers) == 0 {
		return nil, errors.New("grpcjwt: Config.Issuer is required")
	}
	if c.Issuer == "" && (c.Audience != "" || len(c.Audiences) > 0 || len(c.AudiencePrefixes) > 0 || c.JWKSURL != "" || len(c.ScopeClaims) > 0 || c.OrganizationClaim != "") {
		return nil, errors.New("grpcjwt: Config.Audience, Audiences, AudiencePrefixes, OrganizationClaim, ScopeClaims and JWKSURL belong to Config.Issuer, which is empty; set them in each of Config.Issuers")
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
	}
	return ics, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newTrustedIssuer makes an issuer whose key set is not fetched yet.
func newTrustedIssuer(ic IssuerConfig, cfg *Config, client *http.Client) *trustedIssuer {
	bg, cancel := context.WithCancel(context.Background())
	t := &trustedIssuer{
		name:     ic.Issuer,
		prefixes: ic.AudiencePrefixes,
		algs:     make(map[string]*jose.Algorithm, len(ic.Algorithms)),
		types:    &jwtTypes,
		keys: &keySet{
			configuredURL: ic.JWKSURL,
			client:        client,
			timeout:       cfg.HTTPTimeout,
			maxBody:       cfg.MaxResponseSize,
			interval:      ic.RefreshInterval,
			minInterval:   ic.MinRefreshInterval,
			now:           cfg.Now,
			log:           cfg.Logger.With("issuer", ic.Issuer),
			issuer:        ic.Issuer,
			observer:      cfg.Observer,
			ctx:           bg,
			cancel:        cancel,
		},
	}
	if ic.RequireATJWT {
		t.types = &atJWTTypes
	}
	if ic.JWKSURL != "" {
		t.keys.jwksURL.Store(&ic.JWKSURL)
	}
	t.keys.nextRefresh.Store(math.MaxInt64) // until the first keys arrive
	if cfg.KeyCacheDir != "" {
		t.keys.cacheFile = keycache.Name(cfg.KeyCacheDir, ic.Issuer)
	}
	if ic.Audience != "" {
		t.audiences = append(t.audiences, ic.Audience)
	}
	t.audiences = append(t.audiences, ic.Audiences...)
	for _, a := range ic.Algorithms {
		t.algs[a] = jose.Lookup(a)
	}
	for _, p := range ic.ScopeClaims {
		t.scopeClaims = append(t.scopeClaims, strings.Split(p, "."))
	}
	if ic.OrganizationClaim != "" {
		t.orgClaim = strings.Split(ic.OrganizationClaim, ".")
	}
	return t
}

// checkHeader checks the header's alg and typ against the issuer's
// settings and returns the algorithm.
func (t *trustedIssuer) checkHeader(h *jose.Header) (*jose.Algorithm, error) {
	alg := t.algs[h.Alg]
	if alg == nil {
		return nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q for issuer %q", truncate(h.Alg), t.name))
	}
	if !t.types.Accept(h) {
		typ := "(absent)"
		if h.HasTyp {
			typ = fmt.Sprintf("%q", truncate(h.Typ))
		}
		return nil, tokenErr(ErrJWTTypeNotAllowed, "typ "+typ)
	}
	return alg, nil
}

// matchAudience finds the audience of c the issuer accepts: an exact one
// first, in the order the issuer lists them, then one that starts with a
// prefix. It records the match in c.
func (t *trustedIssuer) matchAudience(c *Claims) bool {
	for _, want := range t.audiences {
		for _, a := range c.Audience {
			if a == want {
				c.MatchedAudience = a
				return true
			}
		}
	}
	for _, p := range t.prefixes {
		for _, a := range c.Audience {
			if len(a) > len(p) && strings.HasPrefix(a, p) {
				c.MatchedAudience, c.AudienceSuffix = a, a[len(p):]
				return true
			}
		}
	}
	return false
}

// assertOrganization records in c the organization the issuer asserts for
// the token: by its organization claim, when it has one, and by the
// audiences that one of its prefixes accepts. A token whose audiences name
// two organizations, or whose claim and audience disagree, is for no
// organization (and is refused by every organization rule). An
// organization claim that is present but not a string is an error.
func (t *trustedIssuer) assertOrganization(c *Claims) error {
	if t.orgClaim != nil {
		if v := lookupPath(c.raw, t.orgClaim); v != nil && string(v) != "null" {
			s, ok := exactjson.String(v)
			if !ok {
				return fmt.Errorf("organization claim %q is not a string", strings.Join(t.orgClaim, "."))
			}
			c.orgByClaim = s
		}
	}
	for _, p := range t.prefixes {
		for _, a := range c.Audience {
			if len(a) > len(p) && strings.HasPrefix(a, p) {
				switch org := a[len(p):]; {
				case c.orgByAudience == "":
					c.orgByAudience = org
				case c.orgByAudience != org:
					c.orgConflict = true
				}
			}
		}
	}
	switch {
	case c.orgConflict:
	case c.orgByClaim != "" && c.orgByAudience != "" && c.orgByClaim != c.orgByAudience:
		c.orgConflict = true
	case c.orgByClaim != "":
		c.Organization = c.orgByClaim
	default:
		c.Organization = c.orgByAudience
	}
	return nil
}

// describeAudiences says what the issuer accepts, for an error's detail.
func (t *trustedIssuer) describeAudiences() string {
	s := fmt.Sprintf("%q", t.audiences)
	if len(t.prefixes) > 0 {
		s += fmt.Sprintf(" or a prefix of %q", t.prefixes)
	}
	return s
}

// addScopeClaims appends to c.Scopes the values of the issuer's extra
// scope claims: each a string (split on spaces, as scope is) or an array of
// strings, at a top-level name or a dotted path into nested objects.
func (t *trustedIssuer) addScopeClaims(c *Claims) error {
	for _, path := range t.scopeClaims {
		value := lookupPath(c.raw, path)
		if value == nil || string(value) == "null" {
			continue
		}
		if s, ok := exactjson.String(value); ok {
			c.Scopes = append(c.Scopes, splitScopes(s)...)
			continue
		}
		l, ok := stringOrStrings(value)
		if !ok {
			return fmt.Errorf("scope claim %q is not a string or an array of strings", strings.Join(path, "."))
		}
		for _, s := range l {
			if isScopeToken(s) {
				c.Scopes = append(c.Scopes, s)
			}
		}
	}
	return nil
}

// lookupPath returns the value at path in the JSON object raw, which has
// been checked, or nil.
func lookupPath(raw []byte, path []string) []byte {
	for _, name := range path {
		var found []byte
		_ = exactjson.Object(raw, func(n, v []byte) error {
			if string(n) == name {
				found = v
			}
			return nil
		})
		if found == nil {
			return nil
		}
		raw = found
	}
	return raw
}

// canAssert says why no trusted issuer can satisfy the organization rule r
// (an issuer it names is not trusted, or none of the issuers it accepts
// asserts organizations where it reads them), or returns nil.
func (v *Validator) canAssert(r *OrganizationRule) error {
	for _, name := range r.Issuers {
		if v.issuers[name] == nil {
			return fmt.Errorf("the organization rule names issuer %q, which the Validator does not trust", name)
		}
	}
	for name, t := range v.issuers {
		if len(r.Issuers) > 0 && !slices.Contains(r.Issuers, name) {
			continue
		}
		byClaim, byAudience := t.orgClaim != nil, len(t.prefixes) > 0
		switch r.Token {
		case OrganizationFromClaim:
			if byClaim {
				return nil
			}
		case OrganizationFromAudience:
			if byAudience {
				return nil
			}
		default:
			if byClaim || byAudience {
				return nil
			}
		}
	}
	return errors.New("no trusted issuer it accepts asserts organizations where it reads them (set OrganizationClaim or AudiencePrefixes on the issuer)")
}
