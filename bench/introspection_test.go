package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"github.com/grpcjwt/grpcjwt/internal/siphash"
)

// The resource server's client at the fixture's issuer, for introspection.
const (
	rsClient = "bench-rs"
	rsSecret = "bench-rs-secret"
)

// introspectingValidator returns a Validator of the fixture's issuer that
// introspects opaque tokens there (its endpoint from discovery), with
// answers kept for ttl (none when negative); built once per ttl.
func introspectingValidator(b *testing.B, f *Fixture, ttl time.Duration) *grpcjwt.Validator {
	return memoize(b, "introspecting validator "+ttl.String(), func() (*grpcjwt.Validator, error) {
		f.Issuer.AddClient(rsClient, rsSecret)
		return grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
			Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway,
			OpaqueTokenIssuer: f.Issuer.URL,
			Introspection:     &grpcjwt.IntrospectionConfig{ClientID: rsClient, ClientSecret: rsSecret, CacheTTL: ttl},
		})
	})
}

// signedIntrospection returns an issuer that signs its introspection
// answers with ES256 when asked (RFC 9701), an opaque token of it with the
// benchmark token's claims, and a Validator of it that keeps no answer
// and asks for answers as mode says; each built once.
func signedIntrospection(b *testing.B, mode grpcjwt.SignedResponses) (*grpcjwttest.Issuer, string, *grpcjwt.Validator) {
	iss := memoize(b, "signing issuer", func() (*grpcjwttest.Issuer, error) {
		iss := grpcjwttest.NewIssuer(grpcjwttest.WithDefaultAlgorithm("ES256"), grpcjwttest.WithSignedIntrospection())
		iss.AddClient(rsClient, rsSecret)
		return iss, nil
	})
	token := memoize(b, "signing issuer's opaque token", func() (string, error) {
		return iss.OpaqueToken(TokenClaims(time.Now())), nil
	})
	v := memoize(b, "signing issuer's validator "+string(mode), func() (*grpcjwt.Validator, error) {
		return grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
			Issuer: iss.URL, Audience: iss.Audience, Algorithms: Algs, Leeway: Leeway,
			OpaqueTokenIssuer: iss.URL,
			Introspection: &grpcjwt.IntrospectionConfig{ClientID: rsClient, ClientSecret: rsSecret, CacheTTL: -1,
				SignedResponses: mode},
		})
	})
	return iss, token, v
}

// opaqueBenchToken is an opaque token of the fixture's issuer with the
// benchmark token's claims.
func opaqueBenchToken(b *testing.B, f *Fixture) string {
	return memoize(b, "opaque token", func() (string, error) {
		return f.Issuer.OpaqueToken(TokenClaims(time.Now())), nil
	})
}

// validate returns a call of v.Validate on token, checked once to accept it.
func validate(b *testing.B, v *grpcjwt.Validator, token string) func() {
	ctx := context.Background()
	if c, err := v.Validate(ctx, token); err != nil || c.Subject != Subject {
		b.Fatalf("Validate: %v, %v", c, err)
	}
	return func() { _, _ = v.Validate(ctx, token) }
}

// BenchmarkIntrospection prices verifying opaque tokens by introspection
// (RFC 7662) at the fixture's issuer, grpcjwttest's endpoint over loopback
// HTTP, with the benchmark token's claims:
//
//   - hit/jwt: Validate of the RS256 JWT, cached: the JWT cache hit;
//   - hit/opaque: Validate of the opaque token, its answer cached, paired
//     with the JWT hit (x-jwt-hit);
//   - hit/digest: the digest of the opaque token alone (SipHash-2-4-128
//     under a random key), the key an answer is cached by (never the
//     token itself); hit/sha256, the SHA-256 it replaced, for comparison;
//   - miss/opaque: Validate of the opaque token with no answer kept
//     (CacheTTL < 0), so that every call is a request, paired with the
//     bare round trip (x-roundtrip: the same POST, form and client
//     authentication by net/http, its answer read, nothing checked);
//   - miss/signed: the same miss at an issuer that signs its answers
//     with ES256 (RFC 9701), asked for them, paired with the plain miss
//     at that issuer (x-plain: asked for JSON) and the bare round trip
//     that asks for a signed answer (x-roundtrip: the issuer signs it);
//   - flood/random and flood/endpoint-down: a new random opaque token per
//     call, as an attacker sends them, to an endpoint that answers
//     {"active": false} or fails: requests/op is the requests made per
//     refused call (at most 1: no amplification), retained-B the heap the
//     flood left behind after a GC (the bounded refusal cache, nothing
//     per token beyond it).
func BenchmarkIntrospection(b *testing.B) {
	f := fixture(b)
	cached := introspectingValidator(b, f, time.Hour)
	uncached := introspectingValidator(b, f, -1)
	opaque := opaqueBenchToken(b, f)
	jwtHit := validate(b, cached, f.Tokens["RS256"])
	opaqueHit := validate(b, cached, opaque)

	b.Run("hit/jwt", func(b *testing.B) { benchPaired(b, f.Issuer, jwtHit, nil, false) })
	b.Run("hit/opaque", func(b *testing.B) {
		benchPaired(b, f.Issuer, opaqueHit, []floor{{"x-jwt-hit", jwtHit}}, false)
	})
	b.Run("hit/digest", func(b *testing.B) {
		k := siphash.RandomKey()
		benchPaired(b, f.Issuer, func() { _ = k.Sum128(opaque) }, nil, false)
	})
	b.Run("hit/sha256", func(b *testing.B) {
		ob := []byte(opaque)
		benchPaired(b, f.Issuer, func() { _ = sha256.Sum256(ob) }, nil, false)
	})
	b.Run("miss/opaque", func(b *testing.B) {
		miss := validate(b, uncached, opaque)
		rt, _ := roundTrip(b, f.Issuer, opaque, "application/json")
		benchPaired(b, f.Issuer, miss, []floor{{"x-roundtrip", rt}}, false)
	})
	b.Run("miss/signed", func(b *testing.B) {
		iss, token, signed := signedIntrospection(b, grpcjwt.SignedResponsesIfOffered)
		_, _, plain := signedIntrospection(b, grpcjwt.SignedResponsesOff)
		rt, answer := roundTrip(b, iss, token, "application/token-introspection+jwt")
		benchPaired(b, iss, validate(b, signed, token), []floor{
			{"x-plain", validate(b, plain, token)},
			{"x-roundtrip", rt},
			{"x-verify", verifyES256(b, iss.SigningKey("ES256").Public().(*ecdsa.PublicKey), string(answer))},
		}, false)
	})
	b.Run("flood/random", func(b *testing.B) { floodOpaque(b, f.Issuer, cached, grpcjwttest.Serve) })
	b.Run("flood/endpoint-down", func(b *testing.B) { floodOpaque(b, f.Issuer, cached, grpcjwttest.Fail) })
}

// roundTrip returns the bare introspection request for token: the POST,
// its form and Basic credentials, accept, the answer read whole; and its
// first answer, checked (an active one, or a JWS).
func roundTrip(b *testing.B, iss *grpcjwttest.Issuer, token, accept string) (func(), []byte) {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	body := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	do := func() ([]byte, error) {
		req, err := http.NewRequest(http.MethodPost, iss.IntrospectionURL(), strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", accept)
		req.SetBasicAuth(rsClient, rsSecret)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	a, err := do()
	if err != nil || !strings.Contains(string(a), `"active":true`) && strings.Count(string(a), ".") != 2 {
		b.Fatalf("the round trip: %s, %v", a, err)
	}
	return func() { _, _ = do() }, a
}

// verifyES256 returns the check of jws's ES256 signature with pub by
// crypto/ecdsa alone: its hash and verification, nothing parsed; checked
// once.
func verifyES256(b *testing.B, pub *ecdsa.PublicKey, jws string) func() {
	dot := strings.LastIndexByte(jws, '.')
	sig, err := base64.RawURLEncoding.DecodeString(jws[dot+1:])
	if err != nil || len(sig) != 64 {
		b.Fatalf("the answer's signature: %d bytes, %v", len(sig), err)
	}
	input := []byte(jws[:dot])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	verify := func() bool {
		h := sha256.Sum256(input)
		return ecdsa.Verify(pub, h[:], r, s)
	}
	if !verify() {
		b.Fatal("the answer's signature does not verify")
	}
	return func() { _ = verify() }
}

// floodOpaque validates a new random opaque token per call against iss's
// endpoint in mode m, and reports the requests per call and the heap left
// behind.
func floodOpaque(b *testing.B, iss *grpcjwttest.Issuer, v *grpcjwt.Validator, m grpcjwttest.Mode) {
	iss.SetIntrospectionMode(m)
	defer iss.SetIntrospectionMode(grpcjwttest.Serve)
	ctx := context.Background()
	raw := make([]byte, 32)
	token := func() string {
		_, _ = rand.Read(raw)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	want := grpcjwt.ErrTokenInactive
	if m != grpcjwttest.Serve {
		want = grpcjwt.ErrIntrospectionUnavailable
	}
	if _, err := v.Validate(ctx, token()); !errors.Is(err, want) {
		b.Fatalf("a random token: %v, want %v", err, want)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	requests := iss.IntrospectionRequests()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		_, _ = v.Validate(ctx, token())
		n++
	}
	b.StopTimer()
	b.ReportMetric(float64(iss.IntrospectionRequests()-requests)/float64(n), "requests/op")
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "retained-B")
}
