package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Algs are the signature algorithms benchmarked, each with its own key.
var Algs = []string{"RS256", "ES256", "EdDSA"}

// Subject is the "sub" of every benchmark token; verifiers return it, and
// the benchmarks check it before timing.
const Subject = "user-7f3c2a91"

// Scopes are the scopes of the benchmark token. SayHello needs greet:read.
const Scopes = "greet:read greet:write profile"

// Leeway is the clock skew every verifier is configured with.
const Leeway = 30 * time.Second

// Verifier verifies an access token and returns its subject. Each one stands
// for a library configured as a correct user would configure it; it decodes
// the claims a gRPC service needs (subject, client, scopes) even where it
// returns only the subject.
type Verifier func(ctx context.Context, token string) (string, error)

// Fixture is an issuer and the tokens it minted: the same claims signed
// with each of [Algs].
type Fixture struct {
	Issuer *grpcjwttest.Issuer
	Tokens map[string]string // by alg
}

// NewFixture starts an issuer with a key for each of [Algs] and mints the
// benchmark token with each. Close it when done.
func NewFixture() *Fixture {
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms(Algs...))
	f := &Fixture{Issuer: iss, Tokens: make(map[string]string)}
	claims := TokenClaims(time.Now())
	for _, alg := range Algs {
		f.Tokens[alg] = iss.Token(claims, grpcjwttest.WithKeyFor(alg))
	}
	return f
}

// Close stops the issuer.
func (f *Fixture) Close() { f.Issuer.Close() }

// TokenClaims returns the claims of the benchmark token, besides the iss and
// aud the issuer adds: eleven in all, the registered ones, RFC 9068's
// client_id and scope, and two custom claims. It never expires within a
// benchmark: exp is ten years after now.
func TokenClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub":       Subject,
		"iat":       now.Unix(),
		"nbf":       now.Add(-time.Minute).Unix(),
		"exp":       now.AddDate(10, 0, 0).Unix(),
		"jti":       "01JD8XH6Q2V9K3M5N7P8R0S2T4",
		"client_id": "bench-client",
		"scope":     Scopes,
		"org_id":    "org_5tR8wQ2xZ",
		"roles":     []string{"admin", "billing"},
	}
}

// PaddedClaims returns [TokenClaims] plus a "groups" claim of identifiers,
// as providers that put group memberships in tokens do, with as many
// entries as make a token signed with alg about size bytes long.
func PaddedClaims(iss *grpcjwttest.Issuer, alg string, now time.Time, size int) (map[string]any, error) {
	base := len(iss.Token(TokenClaims(now), grpcjwttest.WithKeyFor(alg)))
	if size < base {
		return nil, fmt.Errorf("a %s token is %d bytes without padding, more than %d", alg, base, size)
	}
	// Each group costs its JSON text (36 characters, quotes and a comma)
	// times 4/3 for base64url.
	const perGroup = (36 + 3) * 4 / 3
	n := (size - base) / perGroup
	groups := make([]string, n)
	for i := range groups {
		groups[i] = fmt.Sprintf("3f1c9a7e-%04x-4b2d-9e8f-%012x", i&0xffff, i)
	}
	c := TokenClaims(now)
	c["groups"] = groups
	return c, nil
}

// SizeLabel names a token size for benchmark names: "4KB".
func SizeLabel(size int) string {
	return fmt.Sprintf("%dKB", size>>10)
}

// FillerKeys returns n keys to publish next to the signing key, so that the
// JWKS holds many: copies of one RSA key under distinct kids. A verifier
// looks keys up by kid, so copies cost it as much as distinct keys would,
// without seconds of RSA key generation.
func FillerKeys(n int) []*grpcjwttest.Key {
	if n <= 0 {
		return nil
	}
	proto := grpcjwttest.MustKey("RS256")
	keys := make([]*grpcjwttest.Key, n)
	for i := range keys {
		k := *proto
		k.KID = fmt.Sprintf("filler-%03d", i)
		keys[i] = &k
	}
	return keys
}
