package grpcjwtconnect_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// dpopProofs is a client interceptor that sends "Authorization: DPoP
// token" and a fresh proof of creds for every call: htm the HTTP method the
// Connect transport uses (GET for a side-effect-free unary call, with
// connecthttp.WithHTTPGet in the Connect protocol), htu base (the scheme
// and host the client dials) followed by the procedure.
func dpopProofs(t *testing.T, pr protocol, creds *grpcjwt.DPoPCredentials, token, base string) connect.ClientInterceptor {
	return nonceProofs(t, pr, creds, token, base, nil)
}

// nonceProofs is dpopProofs with, in every proof, the nonce that nonce
// holds when it holds one (nonce may be nil).
func nonceProofs(t *testing.T, pr protocol, creds *grpcjwt.DPoPCredentials, token, base string, nonce *atomic.Value) connect.ClientInterceptor {
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			htm := http.MethodPost
			if pr.name == "connect" && spec.StreamType == connect.StreamTypeUnary && spec.IdempotencyLevel == connect.IdempotencyNoSideEffects {
				htm = http.MethodGet
			}
			var n string
			if nonce != nil {
				n, _ = nonce.Load().(string)
			}
			proof, err := creds.ProofWithNonce(htm, base+spec.Procedure, token, n)
			if err != nil {
				t.Error(err)
			}
			info, _ := connect.CallInfoForClientContext(ctx)
			info.RequestHeader().Set("Authorization", "DPoP "+token)
			info.RequestHeader().Set("DPoP", proof)
			return next(ctx, spec)
		}
	}
}

// DPoP-bound tokens through the Connect door: the proof's htm is the
// request's method, its htu the request's scheme (http on HTTP/1.1 and
// h2c), host and path; a proof is recorded once, whether the middleware or
// the interceptor decided the call.
func TestDPoP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := grpcjwt.NewDPoPCredentials(key, "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.token("greet:read", grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			for _, tr := range transports(pr) {
				t.Run(m.name+"/"+pr.name+"/"+tr, func(t *testing.T) {
					t.Parallel()
					c := dpopClient(httpClient(tr == "h2c"), srv.URL, pr, dpopProofs(t, pr, creds, tok, srv.URL))
					if res, err := c.SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"}); err != nil || res.GetSubject() != "alice" {
						t.Fatalf("SayHello: %v, %v", res, err)
					}
					if _, err := c.GetOrganization(t.Context(), &demov1.GetOrganizationRequest{Name: "organizations/acme"}); err != nil {
						t.Fatalf("GetOrganization: %v", err)
					}
					ws, err := c.Watch(t.Context(), &demov1.WatchRequest{})
					if err != nil {
						t.Fatal(err)
					}
					defer ws.Close()
					if err := ws.Receive(&demov1.WatchResponse{}); err != nil {
						t.Fatalf("Watch: %v", err)
					}

					// A proof for another URL, and the bound token as a bearer
					// token.
					other := dpopClient(httpClient(tr == "h2c"), srv.URL, pr, dpopProofs(t, pr, creds, tok, "https://"+srv.Listener.Addr().String()))
					_, err = other.SayHello(t.Context(), &demov1.SayHelloRequest{})
					wantRefusal(t, err, grpcjwt.ErrInvalidDPoPProof, grpcjwt.AlgsKey, algs())
					bearer := client(httpClient(tr == "h2c"), srv.URL, pr, "Authorization", "Bearer "+tok)
					_, err = bearer.SayHello(t.Context(), &demov1.SayHelloRequest{})
					wantRefusal(t, err, grpcjwt.ErrInvalidToken)
				})
			}
		}
		t.Run(m.name+"/replay and challenge", func(t *testing.T) {
			t.Parallel()
			proof, err := creds.Proof(http.MethodPost, srv.URL+demo.SayHello, tok)
			if err != nil {
				t.Fatal(err)
			}
			hc := httpClient(false)
			res, body := post(t, hc, srv.URL, demo.SayHello, `{}`, "Authorization", "DPoP "+tok, "DPoP", proof)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("first use: %d %s", res.StatusCode, body)
			}
			res, _ = post(t, hc, srv.URL, demo.SayHello, `{}`, "Authorization", "DPoP "+tok, "DPoP", proof)
			want := `Bearer, DPoP error="invalid_dpop_proof", algs="` + algs() + `"`
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != want[len("Bearer, "):] {
				t.Fatalf("replay: %d, WWW-Authenticate %q, want 401 %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), want[len("Bearer, "):])
			}
		})
	}
}

// algs is the accepted DPoP algorithms, as a challenge lists them.
func algs() string {
	s := ""
	for i, a := range grpcjwt.DefaultAlgorithms() {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}

// dpopClient is a greeter client whose calls carry DPoP credentials.
func dpopClient(hc *http.Client, url string, pr protocol, ic connect.ClientInterceptor) *demo.Client {
	return demo.NewClient(connect.NewClient(transport(hc, url, pr), ic))
}

// A certificate-bound token works over TLS with its client certificate,
// taken from the connection, and with no other.
func TestCertificateBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pki := newPKI(t)
	alice, mallory := pki.issue(t, "alice"), pki.issue(t, "mallory")
	tok := e.token("greet:read", grpcjwttest.WithCertificateBinding(alice.Certificate[0]))
	for _, m := range modes {
		srv := e.serve(t, m, &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool})
		servers := x509.NewCertPool()
		servers.AddCert(srv.Certificate())
		tlsClient := func(certs ...tls.Certificate) *http.Client {
			return &http.Client{Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: servers, Certificates: certs},
				ForceAttemptHTTP2: true,
			}}
		}
		for _, pr := range protocols {
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				t.Parallel()
				res, err := client(tlsClient(alice), srv.URL, pr, "Authorization", "Bearer "+tok).SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"})
				if err != nil || res.GetSubject() != "alice" {
					t.Fatalf("with its certificate: %v, %v", res, err)
				}
				_, err = client(tlsClient(mallory), srv.URL, pr, "Authorization", "Bearer "+tok).SayHello(t.Context(), &demov1.SayHelloRequest{})
				wantRefusal(t, err, grpcjwt.ErrInvalidToken)
				_, err = client(tlsClient(), srv.URL, pr, "Authorization", "Bearer "+tok).SayHello(t.Context(), &demov1.SayHelloRequest{})
				wantRefusal(t, err, grpcjwt.ErrInvalidToken)
			})
		}
	}
	t.Cleanup(func() {
		var mismatch, none int
		for _, err := range e.rejected() {
			switch {
			case errors.Is(err, grpcjwt.ErrCertificateMismatch):
				mismatch++
			case errors.Is(err, grpcjwt.ErrNoClientCertificate):
				none++
			}
		}
		if want := len(modes) * len(protocols); mismatch != want || none != want {
			t.Errorf("causes: %d certificate mismatches, %d without a certificate; want %d of each", mismatch, none, want)
		}
	})
}

// testPKI is a CA and what it signs: client certificates.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

// issue signs a client certificate for cn.
func (p *testPKI) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
