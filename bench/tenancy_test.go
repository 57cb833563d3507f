package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
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
				var fl []floor
				if mode.cache < 0 {
					fl = floors(b, f.Issuer, alg, token, Impl{})
				}
				benchVerify(b, f.Issuer, v, token, fl, false)
			})
		}
	}
}
