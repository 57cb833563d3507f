package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
)

// otherIssuers returns n issuers besides the fixture's, started once.
func otherIssuers(tb testing.TB, n int) []*grpcjwttest.Issuer {
	return memoize(tb, fmt.Sprintf("other issuers %d", n), func() ([]*grpcjwttest.Issuer, error) {
		out := make([]*grpcjwttest.Issuer, n)
		for i := range out {
			out[i] = grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms("ES256"))
		}
		return out, nil
	})
}

// multiIssuerVerifier is grpcjwt trusting n issuers: n-1 others first and
// the fixture's issuer last, so that its tokens are routed through the map
// of issuers rather than the first-issuer shortcut.
func multiIssuerVerifier(tb testing.TB, iss *grpcjwttest.Issuer, n, cacheSize int) Verifier {
	others := otherIssuers(tb, n-1) // not inside the memoize below: it is not reentrant
	return memoize(tb, fmt.Sprintf("grpcjwt %d issuers cache %d", n, cacheSize), func() (Verifier, error) {
		cfg := grpcjwt.Config{Algorithms: Algs, Leeway: Leeway, CacheSize: cacheSize}
		for _, o := range others {
			cfg.Issuers = append(cfg.Issuers, grpcjwt.IssuerConfig{Issuer: o.URL, Audience: o.Audience, Algorithms: Algs})
		}
		cfg.Issuers = append(cfg.Issuers, grpcjwt.IssuerConfig{Issuer: iss.URL, Audience: iss.Audience, Algorithms: Algs})
		v, err := grpcjwt.NewValidator(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		return ValidatorVerifier(v), nil
	})
}

// BenchmarkIssuers is grpcjwt's row of BenchmarkVerify (RS256) with the
// validator trusting 1, 2 and 10 issuers: what routing a token by its iss
// costs, cache off (paired with the floor) and on a cache hit.
func BenchmarkIssuers(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	token := f.Tokens[alg]
	for _, n := range []int{1, 2, 10} {
		for _, mode := range []struct {
			name  string
			cache int
		}{{"grpcjwt-cacheoff", -1}, {"grpcjwt-cachehit", 0}} {
			b.Run(fmt.Sprintf("%s/%d-issuers/%s", alg, n, mode.name), func(b *testing.B) {
				v := multiIssuerVerifier(b, f.Issuer, n, mode.cache)
				var floor func()
				if mode.cache < 0 {
					floor = floorCall(b, f.Issuer, alg, token)
				}
				benchVerify(b, f.Issuer, v, token, floor, false)
			})
		}
	}
}

// BenchmarkOrganization calls the grpcjwt unary interceptor, cache hit, on
// two methods of the greeter: SayHello (scope greet:read) and
// GreetOrganization (the same scope and an organization rule, from its
// .proto option, comparing the request's parent with the token's
// organization_id). The difference is the organization check.
func BenchmarkOrganization(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	v := memoize(b, "organization validator", func() (*grpcjwt.Validator, error) {
		return NewValidator(context.Background(), f.Issuer, 0, 0)
	})
	claims := TokenClaims(time.Now())
	claims["organization_id"] = "org_5tR8wQ2xZ"
	token := f.Issuer.Token(claims, grpcjwttest.WithKeyFor(alg))
	icpt := mustPolicy(v).UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	for _, m := range []struct {
		name   string
		method string
		req    any
	}{
		{"sayhello", greeterv1.Greeter_SayHello_FullMethodName, &greeterv1.SayHelloRequest{Name: "bench"}},
		{"organization", greeterv1.Greeter_GreetOrganization_FullMethodName, &greeterv1.GreetOrganizationRequest{Parent: "organizations/org_5tR8wQ2xZ"}},
	} {
		b.Run(alg+"/interceptor-cachehit-"+m.name, func(b *testing.B) {
			ctx := CallContext(m.method, token)
			info := &grpc.UnaryServerInfo{FullMethod: m.method}
			if _, err := icpt(ctx, m.req, info, handler); err != nil {
				b.Fatalf("refused: %v", err)
			}
			benchPaired(b, f.Issuer, func() { _, _ = icpt(ctx, m.req, info, handler) }, nil, false)
		})
	}
}
