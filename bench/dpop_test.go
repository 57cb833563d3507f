package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// noReplay is a ReplayCache that never saw anything: it lets a benchmark
// present one proof again and again, so that what is timed is the proof's
// verification, not the signing of a new one per call.
type noReplay struct{}

func (noReplay) Seen(context.Context, string, string, time.Time) (bool, error) { return false, nil }

// proofFloor is the least a DPoP check must do: decode the proof, verify
// its ES256 signature against the public key, and decode its claims.
func proofFloor(pub *ecdsa.PublicKey, proof string) func() error {
	return func() error {
		dot1 := strings.IndexByte(proof, '.')
		dot2 := strings.LastIndexByte(proof, '.')
		payload, err := base64.RawURLEncoding.DecodeString(proof[dot1+1 : dot2])
		if err != nil {
			return err
		}
		sig, err := base64.RawURLEncoding.DecodeString(proof[dot2+1:])
		if err != nil || len(sig) != 64 {
			return errors.New("bad signature encoding")
		}
		h := sha256.Sum256([]byte(proof[:dot2]))
		if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("bad signature")
		}
		var c struct {
			JTI string  `json:"jti"`
			HTM string  `json:"htm"`
			HTU string  `json:"htu"`
			IAT float64 `json:"iat"`
			ATH string  `json:"ath"`
		}
		return json.Unmarshal(payload, &c)
	}
}

// BenchmarkDPoP calls the grpcjwt unary interceptor with a DPoP-bound
// token, cached, and a proof signed with an ES256 key (verified on every
// call), paired with the floor of that proof check: its signature and one
// JSON decode. The replay cache is a no-op here, so that one proof serves
// every call; the in-memory one adds a map insertion.
func BenchmarkDPoP(b *testing.B) {
	f := fixture(b)
	v := memoize(b, "dpop validator", func() (*grpcjwt.Validator, error) {
		return grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
			Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway,
		})
	})
	key := grpcjwttest.MustKey("ES256")
	var token string
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", func(context.Context) (string, error) { return token, nil })
	if err != nil {
		b.Fatal(err)
	}
	claims := TokenClaims(time.Now())
	claims["cnf"] = map[string]any{"jkt": creds.Thumbprint()}
	token = f.Issuer.Token(claims, grpcjwttest.WithKeyFor("RS256"))
	proof, err := creds.Proof("POST", "http://bench.local"+sayHello, token)
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(CallContext(sayHello, ""), metadata.MD{
		"authorization": {"DPoP " + token}, "dpop": {proof}, ":authority": {"bench.local"},
	})
	icpt := mustPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: noReplay{}, ProofLifetime: time.Hour})).UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	info := &grpc.UnaryServerInfo{FullMethod: sayHello}
	if _, err := icpt(ctx, req, info, handler); err != nil {
		b.Fatalf("refused: %v", err)
	}
	floor := proofFloor(key.Public().(*ecdsa.PublicKey), proof)
	if err := floor(); err != nil {
		b.Fatal(err)
	}
	b.Run("ES256-proof/interceptor-cachehit", func(b *testing.B) {
		benchPaired(b, f.Issuer, func() { _, _ = icpt(ctx, req, info, handler) }, func() { _ = floor() }, false)
	})
}
