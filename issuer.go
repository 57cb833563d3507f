package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/grpcjwt/grpcjwt/internal/keycache"
)

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
	introspect  *introspector // nil: the issuer has no introspection endpoint
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
	if ic.Introspection != nil {
		t.introspect = newIntrospector(&ic, cfg)
		t.keys.discovered = t.introspect.discovered
	}
	return t
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

// checkIntrospection fails when the issuer's introspection endpoint is
// to come from discovery, and discovery has answered without a usable one.
func (t *trustedIssuer) checkIntrospection(named bool) *startupError {
	in := t.introspect
	if in == nil || in.endpoint.Load() != nil || !in.answered.Load() {
		return nil
	}
	err := errors.New("grpcjwt: OIDC discovery: the document names no usable introspection_endpoint; set IntrospectionConfig.Endpoint")
	if named {
		err = fmt.Errorf("issuer %q: %w", t.name, err)
	}
	return &startupError{ErrDiscovery, err}
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

// checkHeader checks the header's alg against the issuer's algorithms and
// its typ against types (t.types for its access tokens), and returns the
// algorithm.
func (t *trustedIssuer) checkHeader(h *jose.Header, types *jose.Types) (*jose.Algorithm, error) {
	alg := t.algs[h.Alg]
	if alg == nil {
		return nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q for issuer %q", truncate(h.Alg), t.name))
	}
	if !types.Accept(h) {
		typ := "(absent)"
		if h.HasTyp {
			typ = fmt.Sprintf("%q", truncate(h.Typ))
		}
		return nil, tokenErr(ErrJWTTypeNotAllowed, "typ "+typ)
	}
	return alg, nil
}

// audienceMatch is the audience of a token that its issuer accepted, and
// what follows the prefix that accepted it ("" for an exact audience).
type audienceMatch struct{ audience, suffix string }

// matchAudience finds the audience in aud the issuer accepts: an exact one
// first, in the order the issuer lists them, then one that starts with a
// prefix.
func (t *trustedIssuer) matchAudience(aud []string) (audienceMatch, bool) {
	for _, want := range t.audiences {
		for _, a := range aud {
			if a == want {
				return audienceMatch{audience: a}, true
			}
		}
	}
	for _, p := range t.prefixes {
		for _, a := range aud {
			if len(a) > len(p) && strings.HasPrefix(a, p) {
				return audienceMatch{audience: a, suffix: a[len(p):]}, true
			}
		}
	}
	return audienceMatch{}, false
}

// completeClaims records in c, whose claims have been checked, what the
// issuer's settings make of them: the audience it accepted (m), the scopes
// of its scope claims, and the organization it asserts. A scope or
// organization claim of the wrong type refuses the token. p holds the
// members parsePayload took from c's payload (nil: none).
func (t *trustedIssuer) completeClaims(c *Claims, m audienceMatch, p *picks) error {
	c.MatchedAudience, c.AudienceSuffix = m.audience, m.suffix
	if err := t.addScopeClaims(c, p); err != nil {
		return tokenErr(ErrTokenMalformed, err.Error())
	}
	if err := t.assertOrganization(c, p); err != nil {
		return tokenErr(ErrTokenMalformed, err.Error())
	}
	return nil
}

// assertOrganization records in c the organization the issuer asserts for
// the token: by its organization claim, when it has one, and by the
// audiences that one of its prefixes accepts. A token whose audiences name
// two organizations, or whose claim and audience disagree, is for no
// organization (and is refused by every organization rule). An
// organization claim that is present but not a string is an error.
func (t *trustedIssuer) assertOrganization(c *Claims, p *picks) error {
	if t.orgClaim != nil {
		if v := p.lookup(c.raw, t.orgClaim); v != nil && string(v) != "null" {
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
func (t *trustedIssuer) addScopeClaims(c *Claims, p *picks) error {
	for _, path := range t.scopeClaims {
		value := p.lookup(c.raw, path)
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

// asserts reports whether the issuer asserts organizations where from
// says a token names them: by its organization claim, by an audience one
// of its prefixes accepts, or either.
func (t *trustedIssuer) asserts(from TokenOrganization) bool {
	byClaim, byAudience := t.orgClaim != nil, len(t.prefixes) > 0
	switch from {
	case OrganizationFromClaim:
		return byClaim
	case OrganizationFromAudience:
		return byAudience
	}
	return byClaim || byAudience
}
