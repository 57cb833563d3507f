package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// tokenSizes are the sizes of BenchmarkTokenSize, 1 KB to 16 KB.
var tokenSizes = []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10}

// BenchmarkTokenSize runs RS256 tokens padded with a "groups" claim to each
// of tokenSizes through the floor, grpcjwt and the peers.
func BenchmarkTokenSize(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	for _, size := range tokenSizes {
		token := memoize(b, fmt.Sprintf("token %s %d", alg, size), func() (string, error) {
			c, err := PaddedClaims(f.Issuer, alg, time.Now(), size)
			if err != nil {
				return "", err
			}
			return f.Issuer.Token(c, grpcjwttest.WithKeyFor(alg)), nil
		})
		b.Run(alg+"/"+SizeLabel(size), func(b *testing.B) {
			for _, im := range verifyImpls {
				b.Run(im.Name, func(b *testing.B) {
					benchImpl(b, f.Issuer, im, alg, token, false)
				})
			}
			b.Run("grpcjwt-cachehit-copies", func(b *testing.B) { benchHitCopies(b, f.Issuer, alg, token) })
		})
	}
}

// keyCounts are the JWKS sizes of BenchmarkKeys.
var keyCounts = []int{1, 10, 100}

// keysFixture is an issuer whose JWKS holds n keys, the RS256 signing key
// last, and a benchmark token it signed.
type keysFixture struct {
	iss   *grpcjwttest.Issuer
	token string
}

// BenchmarkKeys runs an RS256 token through grpcjwt (cache off) and the
// peers against JWKSs of 1 to 100 keys, the token's key last. The floor
// they are paired with knows the key.
func BenchmarkKeys(b *testing.B) {
	const alg = "RS256"
	for _, n := range keyCounts {
		kf := memoize(b, fmt.Sprintf("keys issuer %d", n), func() (keysFixture, error) {
			iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms())
			for _, k := range FillerKeys(n - 1) {
				iss.Publish(k)
			}
			iss.SigningKey(alg)
			return keysFixture{iss, iss.Token(TokenClaims(time.Now()), grpcjwttest.WithKeyFor(alg))}, nil
		})
		b.Run(fmt.Sprintf("%s/keys=%d", alg, n), func(b *testing.B) {
			for _, im := range append([]Impl{ImplGRPCJWTCacheOff}, Peers...) {
				b.Run(im.Name, func(b *testing.B) {
					benchImpl(b, kf.iss, im, alg, kf.token, false)
				})
			}
		})
	}
}

// cachedCounts are the numbers of distinct tokens of BenchmarkCachedTokens.
var cachedCounts = []int{1, 100, 10_000, 100_000}

// BenchmarkCachedTokens measures grpcjwt's cache hit with 1 to 100,000
// distinct tokens cached, calling them in turn. The cache is sized to hold
// them all. The tokens are EdDSA, the quickest to mint; a hit does not
// depend on the algorithm.
func BenchmarkCachedTokens(b *testing.B) {
	f := fixture(b)
	const alg = "EdDSA"
	all := memoize(b, "distinct tokens", func() ([]string, error) {
		return mintDistinct(f.Issuer, alg, cachedCounts[len(cachedCounts)-1]), nil
	})
	for _, n := range cachedCounts {
		b.Run(fmt.Sprintf("%s/tokens=%d/grpcjwt-cachehit", alg, n), func(b *testing.B) {
			tokens := all[:n]
			v := memoize(b, fmt.Sprintf("cached validator %d", n), func() (*grpcjwt.Validator, error) {
				size := max(grpcjwt.DefaultCacheSize, 4*n)
				v, err := NewValidator(context.Background(), f.Issuer, size, int64(size)<<11)
				if err != nil {
					return nil, err
				}
				return v, fill(v, tokens)
			})
			ctx := context.Background()
			i := 0
			benchPaired(b, f.Issuer, func() {
				_, _ = v.Validate(ctx, tokens[i])
				if i++; i == n {
					i = 0
				}
			}, floors(b, f.Issuer, alg, f.Tokens[alg], Impl{}), false)
		})
	}
}

// mintDistinct mints n tokens with the benchmark claims and distinct jti,
// on all cores.
func mintDistinct(iss *grpcjwttest.Issuer, alg string, n int) []string {
	tokens := make([]string, n)
	now := time.Now()
	parallel(n, func(i int) {
		c := TokenClaims(now)
		c["jti"] = fmt.Sprintf("jti-%08d", i)
		tokens[i] = iss.Token(c, grpcjwttest.WithKeyFor(alg))
	})
	return tokens
}

// fill validates every token once, on all cores, so that each is cached.
func fill(v *grpcjwt.Validator, tokens []string) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	parallel(len(tokens), func(i int) {
		c, err := v.Validate(context.Background(), tokens[i])
		if err == nil && c.Subject != Subject {
			err = fmt.Errorf("subject %q", c.Subject)
		}
		if err != nil {
			mu.Lock()
			firstErr = err
			mu.Unlock()
		}
	})
	return firstErr
}

// parallel calls do for 0 to n-1 on GOMAXPROCS goroutines.
func parallel(n int, do func(i int)) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				do(i)
			}
		})
	}
	wg.Wait()
}

// benchHitCopies times grpcjwt's cache hit on token presented as one of
// 16 copies of its own, in turn, as each request's header is a string of
// its own: Go compares two strings that share their bytes without reading
// them, so the plain cachehit rows, which present the cached string
// itself, never pay for the whole-token comparison a hit makes.
func benchHitCopies(b *testing.B, iss *grpcjwttest.Issuer, alg, token string) {
	v := verifier(b, iss, ImplGRPCJWTCache, alg)
	mustAccept(b, v, token, ImplGRPCJWTCache.Subject())
	copies := make([]string, 16)
	for i := range copies {
		copies[i] = strings.Clone(token)
	}
	ctx := context.Background()
	i := 0
	benchPaired(b, iss, func() {
		_, _ = v(ctx, copies[i%len(copies)])
		i++
	}, nil, false)
}
