package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// BenchmarkDPoPNonce prices server-issued DPoP nonces (DPoPConfig.Nonce) in
// grpcjwt's gRPC adapter, RS256, on the "dpop" call of BenchmarkPolicy: a
// DPoP-bound token, cached, and an ES256 proof verified on every call (the
// replay cache a no-op, so that one proof serves every call):
//
//   - no-nonces: nonces off, the proof without one;
//   - nonce: nonces on, the proof carrying the server's nonce, signed by
//     the first of its secrets (one HMAC-SHA256 to check it);
//   - nonce-second-secret: the nonce signed by the second secret, as
//     during a rotation (two HMACs);
//   - refused-without-nonce: nonces on, the proof without one: the
//     use_dpop_nonce refusal, its status and the nonce it sends.
//
// Each is paired with the least a proof check must do (proofFloor,
// x-proof), and the last three with the no-nonces call too (x-no-nonces):
// that ratio is the price of nonces. issue times Policy.DPoPNonce, the
// nonce a door sends with each answer.
func BenchmarkDPoPNonce(b *testing.B) {
	f := fixture(b)
	v := memoize(b, "dpop nonce validator", func() (*grpcjwt.Validator, error) {
		return grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
			Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway,
		})
	})
	key := grpcjwttest.MustKey("ES256")
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", nil)
	if err != nil {
		b.Fatal(err)
	}
	claims := TokenClaims(time.Now())
	claims["cnf"] = map[string]any{"jkt": creds.Thumbprint()}
	token := f.Issuer.Token(claims, grpcjwttest.WithKeyFor("RS256"))

	policy := func(secrets ...[]byte) *grpcjwt.Policy {
		c := grpcjwt.DPoPConfig{ReplayCache: noReplay{}, ProofLifetime: time.Hour}
		if len(secrets) > 0 {
			c.Nonce = &grpcjwt.DPoPNonceConfig{Secrets: secrets, Lifetime: time.Hour}
		}
		return mustPolicy(v, grpcjwt.WithDPoP(c))
	}
	first, second := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	plain, nonces := policy(), policy(first, second)
	rotated := policy(second, first) // hands out nonces of the second secret
	const authority = "bench.local"
	method := greeterv1.Greeter_SayHello_FullMethodName
	call := grpcjwt.Call{Method: method, Authorization: []string{"DPoP " + token}}
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	info := &grpc.UnaryServerInfo{FullMethod: method}

	// interceptor returns a call of p's gRPC adapter with a proof of nonce,
	// checked once to be refused or not as refused says, and the proof's
	// floor.
	interceptor := func(p *grpcjwt.Policy, nonce string, refused bool) (func(), floor) {
		proof, err := creds.ProofWithNonce("POST", "http://"+authority+method, token, nonce)
		if err != nil {
			b.Fatal(err)
		}
		ctx := metadata.NewIncomingContext(CallContext(method, ""), metadata.MD{
			"authorization": {"DPoP " + token}, "dpop": {proof}, ":authority": {authority},
		})
		icpt := p.UnaryServerInterceptor()
		if _, err := icpt(ctx, req, info, handler); (err != nil) != refused {
			b.Fatalf("a proof of nonce %q: %v", nonce, err)
		}
		pf := proofFloor(key.Public().(*ecdsa.PublicKey), proof)
		if err := pf(); err != nil {
			b.Fatal(err)
		}
		return func() { _, _ = icpt(ctx, req, info, handler) }, floor{"x-proof", func() { _ = pf() }}
	}
	withoutNonces, proof := interceptor(plain, "", false)
	withNonce, nonceProof := interceptor(nonces, nonces.DPoPNonce(&call), false)
	secondSecret, secondProof := interceptor(nonces, rotated.DPoPNonce(&call), false)
	refused, refusedProof := interceptor(nonces, "", true)
	noNonces := floor{"x-no-nonces", withoutNonces}

	for _, tc := range []struct {
		name   string
		op     func()
		floors []floor
	}{
		{"no-nonces", withoutNonces, []floor{proof}},
		{"nonce", withNonce, []floor{nonceProof, noNonces}},
		{"nonce-second-secret", secondSecret, []floor{secondProof, noNonces}},
		{"refused-without-nonce", refused, []floor{refusedProof, noNonces}},
	} {
		b.Run("RS256/interceptor/dpop/"+tc.name, func(b *testing.B) {
			benchPaired(b, f.Issuer, tc.op, tc.floors, false)
		})
	}
	b.Run("issue", func(b *testing.B) {
		benchPaired(b, f.Issuer, func() { _ = nonces.DPoPNonce(&call) }, nil, false)
	})
}
