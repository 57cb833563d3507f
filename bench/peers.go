package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	auth0jwks "github.com/auth0/go-jwt-middleware/v3/jwks"
	jwtmw "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// Impl is one verifier under test. New configures it against iss for tokens
// signed with alg and returns it with a function that releases it.
type Impl struct {
	Name string
	New  func(ctx context.Context, iss *grpcjwttest.Issuer, alg string) (Verifier, func(), error)
	// SignatureOnly marks the physical floor, which reads no claims: it
	// returns no subject, and refuses only what its signature check
	// refuses.
	SignatureOnly bool
}

// Subject returns the subject im returns for the benchmark token: [Subject],
// or "" for a verifier that reads no claims.
func (im Impl) Subject() string {
	if im.SignatureOnly {
		return ""
	}
	return Subject
}

// The verifiers under test.
var (
	ImplFloor         = Impl{Name: "floor", New: newFloor}
	ImplPhysicalFloor = Impl{Name: "floor-physical", New: newPhysicalFloor, SignatureOnly: true}
	// ImplGRPCJWTCacheOff is grpcjwt with its verified-token cache off:
	// every call verifies.
	ImplGRPCJWTCacheOff = Impl{Name: "grpcjwt-cacheoff", New: func(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
		return newGRPCJWT(ctx, iss, -1, 0)
	}}
	// ImplGRPCJWTCache is grpcjwt with the cache at its defaults. Calls
	// after the first with the same token are cache hits.
	ImplGRPCJWTCache = Impl{Name: "grpcjwt-cachehit", New: func(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
		return newGRPCJWT(ctx, iss, 0, 0)
	}}
	ImplGolangJWT = Impl{Name: "golangjwt-keyfunc", New: newGolangJWT}
	ImplAuth0     = Impl{Name: "auth0-validator", New: newAuth0}
	ImplGoOIDC    = Impl{Name: "go-oidc", New: newGoOIDC}
	ImplJWX       = Impl{Name: "jwx", New: newJWX}

	// Peers are the other libraries.
	Peers = []Impl{ImplGolangJWT, ImplAuth0, ImplGoOIDC, ImplJWX}
)

func newFloor(_ context.Context, iss *grpcjwttest.Issuer, alg string) (Verifier, func(), error) {
	v, err := Floor(alg, iss.SigningKey(alg).Public(), iss.URL, iss.Audience)
	return v, func() {}, err
}

func newPhysicalFloor(_ context.Context, iss *grpcjwttest.Issuer, alg string) (Verifier, func(), error) {
	v, err := PhysicalFloor(alg, iss.SigningKey(alg).Public())
	return v, func() {}, err
}

// NewValidator returns a grpcjwt validator for iss, restricted to [Algs].
// cacheSize and cacheBytes are [grpcjwt.Config.CacheSize] and CacheBytes:
// -1 turns the cache off, 0 takes the defaults.
func NewValidator(ctx context.Context, iss *grpcjwttest.Issuer, cacheSize int, cacheBytes int64) (*grpcjwt.Validator, error) {
	return grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim, // the greeter's GreetOrganization reads it
		Algorithms:        Algs,
		Leeway:            Leeway,
		CacheSize:         cacheSize,
		CacheBytes:        cacheBytes,
	})
}

// ValidatorVerifier adapts v.
func ValidatorVerifier(v *grpcjwt.Validator) Verifier {
	return func(ctx context.Context, token string) (string, error) {
		c, err := v.Validate(ctx, token)
		if err != nil {
			return "", err
		}
		return c.Subject, nil
	}
}

func newGRPCJWT(ctx context.Context, iss *grpcjwttest.Issuer, cacheSize int, cacheBytes int64) (Verifier, func(), error) {
	v, err := NewValidator(ctx, iss, cacheSize, cacheBytes)
	if err != nil {
		return nil, nil, err
	}
	return ValidatorVerifier(v), func() { _ = v.Close() }, nil
}

// JWTClaims are the claims golang-jwt decodes: the registered ones and
// those a gRPC service needs besides.
type JWTClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// GolangJWT holds a golang-jwt parser and a keyfunc over the issuer's JWKS.
type GolangJWT struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
}

// Parse verifies token and decodes its claims into c.
func (g *GolangJWT) Parse(token string, c *JWTClaims) error {
	_, err := g.parser.ParseWithClaims(token, c, g.keyfunc)
	return err
}

// NewGolangJWT configures golang-jwt/v5 with MicahParks/keyfunc/v3 reading
// iss's JWKS (fetched now, refreshed hourly in the background until ctx is
// done): issuer, audience, expiry required, the algorithms of [Algs].
func NewGolangJWT(ctx context.Context, iss *grpcjwttest.Issuer) (*GolangJWT, error) {
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{iss.JWKSURL()})
	if err != nil {
		return nil, err
	}
	return &GolangJWT{
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algs),
			jwt.WithIssuer(iss.URL),
			jwt.WithAudience(iss.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(Leeway),
		),
		keyfunc: kf.Keyfunc,
	}, nil
}

func newGolangJWT(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	g, err := NewGolangJWT(ctx, iss)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return func(_ context.Context, token string) (string, error) {
		var c JWTClaims
		if err := g.Parse(token, &c); err != nil {
			return "", err
		}
		return c.Subject, nil
	}, cancel, nil
}

// serviceClaims are the claims a gRPC service needs besides the registered
// ones; the custom claims of go-jwt-middleware, and what go-oidc and jwx
// users read after verification.
type serviceClaims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// Validate satisfies the auth0 validator's CustomClaims; the checks that
// matter are the registered claims', which the validator makes itself.
func (*serviceClaims) Validate(context.Context) error { return nil }

// NewAuth0 configures auth0/go-jwt-middleware/v3's validator as its
// documentation does: its CachingProvider, which finds the JWKS by
// discovery (kept an hour here, as grpcjwt keeps keys), the algorithms of
// [Algs], issuer, audience, the leeway, exp required (its registered-claims
// validator; jwx checks exp only when present), and the custom claims
// client_id and scope.
func NewAuth0(iss *grpcjwttest.Issuer) (*jwtmw.Validator, error) {
	u, err := url.Parse(iss.URL)
	if err != nil {
		return nil, err
	}
	provider, err := auth0jwks.NewCachingProvider(auth0jwks.WithIssuerURL(u), auth0jwks.WithCacheTTL(time.Hour))
	if err != nil {
		return nil, err
	}
	algs := make([]jwtmw.SignatureAlgorithm, len(Algs))
	for i, a := range Algs {
		algs[i] = jwtmw.SignatureAlgorithm(a)
	}
	return jwtmw.New(
		jwtmw.WithKeyFunc(provider.KeyFunc),
		jwtmw.WithAlgorithms(algs),
		jwtmw.WithIssuer(iss.URL),
		jwtmw.WithAudience(iss.Audience),
		jwtmw.WithAllowedClockSkew(Leeway),
		jwtmw.WithRegisteredClaimsValidator(func(c jwtmw.RegisteredClaims) error {
			if c.Expiry == 0 {
				return errors.New("exp is required")
			}
			return nil
		}),
		jwtmw.WithCustomClaims(func() *serviceClaims { return &serviceClaims{} }),
	)
}

// Auth0Subject returns the subject of what the auth0 validator returned.
func Auth0Subject(c any) (string, error) {
	vc, ok := c.(*jwtmw.ValidatedClaims)
	if !ok {
		return "", fmt.Errorf("auth0: unexpected claims type %T", c)
	}
	return vc.RegisteredClaims.Subject, nil
}

func newAuth0(_ context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
	v, err := NewAuth0(iss)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, token string) (string, error) {
		c, err := v.ValidateToken(ctx, token)
		if err != nil {
			return "", err
		}
		return Auth0Subject(c)
	}, func() {}, nil
}

// newGoOIDC configures coreos/go-oidc/v3: discovery, then a verifier of the
// provider's remote key set with the API's audience as client ID and the
// algorithms of [Algs]. The key set is fetched on the first verification and
// kept until a token has an unknown kid.
func newGoOIDC(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
	p, err := oidc.NewProvider(ctx, iss.URL)
	if err != nil {
		return nil, nil, err
	}
	v := p.Verifier(&oidc.Config{ClientID: iss.Audience, SupportedSigningAlgs: Algs})
	return func(ctx context.Context, token string) (string, error) {
		t, err := v.Verify(ctx, token)
		if err != nil {
			return "", err
		}
		var c serviceClaims
		if err := t.Claims(&c); err != nil {
			return "", err
		}
		return t.Subject, nil
	}, func() {}, nil
}

// newJWX configures lestrrat-go/jwx/v3: a jwk.Cache that fetches the JWKS
// (whitelisted) and refreshes it in the background, and jwt.Parse with the
// cached set, issuer, audience and exp required.
func newJWX(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	client := httprc.NewClient(httprc.WithWhitelist(httprc.NewMapWhitelist().Add(iss.JWKSURL())))
	cache, err := jwk.NewCache(ctx, client)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if err := cache.Register(ctx, iss.JWKSURL()); err != nil {
		cancel()
		return nil, nil, err
	}
	set, err := cache.CachedSet(iss.JWKSURL())
	if err != nil {
		cancel()
		return nil, nil, err
	}
	opts := []jwxjwt.ParseOption{
		jwxjwt.WithKeySet(set),
		jwxjwt.WithIssuer(iss.URL),
		jwxjwt.WithAudience(iss.Audience),
		jwxjwt.WithRequiredClaim(jwxjwt.ExpirationKey),
		jwxjwt.WithAcceptableSkew(Leeway),
	}
	return func(_ context.Context, token string) (string, error) {
		t, err := jwxjwt.ParseString(token, opts...)
		if err != nil {
			return "", err
		}
		var c serviceClaims
		if err := t.Get("client_id", &c.ClientID); err != nil {
			return "", err
		}
		if err := t.Get("scope", &c.Scope); err != nil {
			return "", err
		}
		sub, ok := t.Subject()
		if !ok {
			return "", errors.New("jwx: no sub")
		}
		return sub, nil
	}, func() { _ = cache.Shutdown(context.Background()); cancel() }, nil
}
