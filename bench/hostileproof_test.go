package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// hugeRSAProof is a DPoP proof whose jwk is an RSA public key of bits
// bits (a random odd modulus: nothing checks that it has two prime
// factors, and a verification costs the same either way), signed with a
// random signature, as someone holding a leaked DPoP-bound token sends it
// to make the server spend a modular exponentiation of that size. It also
// returns that key, for the cost of the verification the server used to
// run.
func hugeRSAProof(tb testing.TB, bits int, token string) (string, *rsa.PublicKey) {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		tb.Fatal(err)
	}
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	pub := &rsa.PublicKey{N: n, E: 65537}
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]any{
		"typ": "dpop+jwt", "alg": "RS256",
		"jwk": map[string]string{"kty": "RSA", "n": b64(n.Bytes()), "e": "AQAB"},
	})
	ath := sha256.Sum256([]byte(token))
	payload, _ := json.Marshal(map[string]any{
		"jti": "hostile", "htm": "POST", "htu": "http://bench.local" + sayHello,
		"iat": time.Now().Unix(), "ath": b64(ath[:]),
	})
	sig := make([]byte, bits/8)
	if _, err := rand.Read(sig); err != nil {
		tb.Fatal(err)
	}
	return b64(header) + "." + b64(payload) + "." + b64(sig), pub
}

// BenchmarkDPoPHostileProof prices what a leaked DPoP-bound token lets its
// holder make the server spend per call (issue 16, item 8): a proof whose
// jwk is an RSA key of 16,384 bits, and a proof by another key than the
// token's. Both are refused before any signature is verified: the first
// by the key size rule (RSA of 2048 to 8192 bits, as for JWKS keys), the
// second by comparing the jwk's thumbprint with the token's cnf.jkt.
// "verify-16384" is what the server spent on the first before: one RSA
// verification with that key.
func BenchmarkDPoPHostileProof(b *testing.B) {
	f := fixture(b)
	v := memoize(b, "dpop validator", func() (*grpcjwt.Validator, error) {
		return grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
			Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway,
		})
	})
	key, thief := grpcjwttest.MustKey("ES256"), grpcjwttest.MustKey("ES256")
	var token string
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", func(context.Context) (string, error) { return token, nil })
	if err != nil {
		b.Fatal(err)
	}
	stolen, err := grpcjwt.NewDPoPCredentials(thief.Signer(), "ES256", func(context.Context) (string, error) { return token, nil })
	if err != nil {
		b.Fatal(err)
	}
	claims := TokenClaims(time.Now())
	claims["cnf"] = map[string]any{"jkt": creds.Thumbprint()}
	token = f.Issuer.Token(claims, grpcjwttest.WithKeyFor("RS256"))
	huge, hugeKey := hugeRSAProof(b, 16384, token)
	other, err := stolen.Proof("POST", "http://bench.local"+sayHello, token)
	if err != nil {
		b.Fatal(err)
	}
	icpt := mustPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: noReplay{}, ProofLifetime: time.Hour})).UnaryServerInterceptor()
	handler := func(context.Context, any) (any, error) { return nil, nil }
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	info := &grpc.UnaryServerInfo{FullMethod: sayHello}
	call := func(proof string) func() error {
		ctx := metadata.NewIncomingContext(CallContext(sayHello, ""), metadata.MD{
			"authorization": {"DPoP " + token}, "dpop": {proof}, ":authority": {"bench.local"},
		})
		return func() error { _, err := icpt(ctx, req, info, handler); return err }
	}
	for name, proof := range map[string]string{"rsa-16384-jwk": huge, "another-key": other} {
		refuse := call(proof)
		if refuse() == nil {
			b.Fatalf("%s: accepted", name)
		}
		b.Run(name+"/interceptor", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = refuse()
			}
		})
	}
	b.Run("verify-16384", func(b *testing.B) {
		h := sha256.Sum256([]byte("input"))
		sig := make([]byte, 2048)
		sig[len(sig)-1] = 1
		b.ReportAllocs()
		for b.Loop() {
			_ = rsa.VerifyPKCS1v15(hugeKey, crypto.SHA256, h[:], sig)
		}
	})
}
