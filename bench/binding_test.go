package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// clientCert returns a self-signed client certificate, parsed.
func clientCert(b *testing.B) *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	return cert
}

// BenchmarkBinding calls the grpcjwt unary interceptor, cache hit, on
// SayHello from a TLS peer with a client certificate: with a plain bearer
// token, and with a token bound to that certificate (cnf x5t#S256, RFC
// 8705), whose binding is checked on every call. The difference is the
// certificate-binding check.
func BenchmarkBinding(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	v := memoize(b, "binding validator", func() (*grpcjwt.Validator, error) {
		return NewValidator(context.Background(), f.Issuer, 0, 0)
	})
	cert := clientCert(b)
	sum := sha256.Sum256(cert.Raw)
	plain := f.Tokens[alg]
	claims := TokenClaims(time.Now())
	claims["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	bound := f.Issuer.Token(claims, grpcjwttest.WithKeyFor(alg))
	icpt := mustPolicy(v).UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	info := &grpc.UnaryServerInfo{FullMethod: sayHello}
	for _, tc := range []struct{ name, token string }{{"bearer", plain}, {"certificate-bound", bound}} {
		b.Run(alg+"/interceptor-cachehit-"+tc.name, func(b *testing.B) {
			ctx := peer.NewContext(CallContext(sayHello, tc.token), &peer.Peer{
				AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}},
			})
			if _, err := icpt(ctx, req, info, handler); err != nil {
				b.Fatalf("refused: %v", err)
			}
			benchPaired(b, f.Issuer, func() { _, _ = icpt(ctx, req, info, handler) }, nil, false)
		})
	}
}
