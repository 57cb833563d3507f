package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	auth0jwks "github.com/auth0/go-jwt-middleware/v2/jwks"
	jwtmw "github.com/auth0/go-jwt-middleware/v2/validator"
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
}

// The verifiers under test.
var (
	ImplFloor = Impl{"floor", newFloor}
	// ImplGRPCJWTCacheOff is grpcjwt with its verified-token cache off:
	// every call verifies.
	ImplGRPCJWTCacheOff = Impl{"grpcjwt-cacheoff", func(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
		return newGRPCJWT(ctx, iss, -1, 0)
	}}
	// ImplGRPCJWTCache is grpcjwt with the cache at its defaults. Calls
	// after the first with the same token are cache hits.
	ImplGRPCJWTCache = Impl{"grpcjwt-cachehit", func(ctx context.Context, iss *grpcjwttest.Issuer, _ string) (Verifier, func(), error) {
		return newGRPCJWT(ctx, iss, 0, 0)
	}}
	ImplGolangJWT = Impl{"golangjwt-keyfunc", newGolangJWT}
	ImplAuth0     = Impl{"auth0-validator", newAuth0}
	ImplGoOIDC    = Impl{"go-oidc", newGoOIDC}
	ImplJWX       = Impl{"jwx", newJWX}

	// Peers are the other libraries.
	Peers = []Impl{ImplGolangJWT, ImplAuth0, ImplGoOIDC, ImplJWX}
)

func newFloor(_ context.Context, iss *grpcjwttest.Issuer, alg string) (Verifier, func(), error) {
	v, err := Floor(alg, iss.SigningKey(alg).Public(), iss.URL, iss.Audience)
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

// newAuth0 configures auth0/go-jwt-middleware/v2's validator for alg (it
// takes exactly one) with its caching JWKS provider, which finds the JWKS
// by discovery and keeps it an hour.
func newAuth0(_ context.Context, iss *grpcjwttest.Issuer, alg string) (Verifier, func(), error) {
	u, err := url.Parse(iss.URL)
	if err != nil {
		return nil, nil, err
	}
	provider := auth0jwks.NewCachingProvider(u, time.Hour)
	v, err := jwtmw.New(provider.KeyFunc, jwtmw.SignatureAlgorithm(alg), iss.URL, []string{iss.Audience},
		jwtmw.WithCustomClaims(func() jwtmw.CustomClaims { return &serviceClaims{} }),
		jwtmw.WithAllowedClockSkew(Leeway),
	)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, token string) (string, error) {
		c, err := v.ValidateToken(ctx, token)
		if err != nil {
			return "", err
		}
		vc, ok := c.(*jwtmw.ValidatedClaims)
		if !ok {
			return "", fmt.Errorf("auth0: unexpected claims type %T", c)
		}
		return vc.RegisteredClaims.Subject, nil
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
