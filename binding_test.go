package grpcjwt_test

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
	"net"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// testPKI is a CA and what it signed: certificates for loopback servers
// and clients.
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
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

func (p *testPKI) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// x5t is the RFC 8705 thumbprint of a certificate.
func x5t(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestCertificateBoundTokens: a token bound to a client certificate works
// only over TLS with that certificate, checked on every call, cached token
// or not; a DPoP-bound token is refused as a bearer token.
func TestCertificateBoundTokens(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	pki := newPKI(t)
	alice, mallory := pki.issue(t, "alice", false), pki.issue(t, "mallory", false)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := policyOf(t, v)
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{pki.issue(t, "server", true)},
			ClientAuth:   tls.VerifyClientCertIfGiven, ClientCAs: pki.pool, MinVersion: tls.VersionTLS13,
		})),
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	connect := func(cert *tls.Certificate) greeterv1.GreeterClient {
		cfg := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS13}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return greeterv1.NewGreeterClient(conn)
	}
	asAlice, asMallory, anonymous := connect(&alice), connect(&mallory), connect(nil)

	bound := iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithCertificateBinding(alice.Certificate[0]))
	if c, err := v.Validate(context.Background(), bound); err != nil || c.Confirmation.X5TS256 != x5t(alice) {
		t.Fatalf("the bound token's cnf: %+v, %v", c, err)
	}
	for i := range 3 { // the first verifies, the others hit the cache: each is checked
		if _, err := calls["unary"](withAuth("Bearer "+bound), asAlice); err != nil {
			t.Fatalf("call %d with alice's certificate: %v", i, err)
		}
		_, err := calls["unary"](withAuth("Bearer "+bound), asMallory)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		_, err = calls["unary"](withAuth("Bearer "+bound), anonymous)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	}
	if _, err := calls["server-stream"](withAuth("Bearer "+bound), asAlice); err != nil {
		t.Fatalf("a stream with alice's certificate: %v", err)
	}
	_, err = calls["server-stream"](withAuth("Bearer "+bound), asMallory)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)

	// Causes, through the same check the interceptors run.
	rec := &recorder{}
	v2 := newValidator(t, iss, func(c *grpcjwt.Config) { c.Observer = rec })
	lis2, _ := net.Listen("tcp", "127.0.0.1:0")
	srv2 := grpc.NewServer(grpc.ChainUnaryInterceptor(policyOf(t, v2).UnaryServerInterceptor()))
	greeterv1.RegisterGreeterServer(srv2, greeter{})
	go srv2.Serve(lis2)
	t.Cleanup(srv2.Stop)
	conn, err := grpc.NewClient(lis2.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	plain := greeterv1.NewGreeterClient(conn)
	_, err = calls["unary"](withAuth("Bearer "+bound), plain)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	dpop := iss.Token(map[string]any{"scope": "greet:read", "cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
	_, err = calls["unary"](withAuth("Bearer "+dpop), plain)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	decisions, _, _ := rec.snapshot()
	if len(decisions) != 2 || decisions[0].Cause != "no_client_certificate" || decisions[1].Cause != "dpop_bound_token" {
		t.Errorf("decisions %+v", decisions)
	}
	for _, bad := range []any{"x", map[string]any{"x5t#S256": "not base64!"}, map[string]any{"x5t#S256": "AAAA"}, map[string]any{"jkt": 5}} {
		wantReject(t, v, iss.Token(map[string]any{"cnf": bad}), grpcjwt.ErrTokenMalformed)
	}
}

// TestSenderConstrainedRules: a method whose rule requires a
// sender-constrained token, from Go or .proto, or a policy that requires it
// everywhere, refuses a plain bearer token and accepts a bound one.
func TestSenderConstrainedRules(t *testing.T) {
	iss := newIssuer(t)
	pki := newPKI(t)
	alice := pki.issue(t, "alice", false)
	serveTLS := func(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) (greeterv1.GreeterClient, tenantv1.ProjectsClient) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(
			grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.issue(t, "server", true)}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool})),
			grpc.ChainUnaryInterceptor(policyOf(t, v, opts...).UnaryServerInterceptor()))
		greeterv1.RegisterGreeterServer(srv, greeter{})
		tenantv1.RegisterProjectsServer(srv, &projects{})
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		if _, err := auditOf(t, srv, opts...); err != nil {
			t.Fatalf("Audit: %v", err)
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{alice}})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return greeterv1.NewGreeterClient(conn), tenantv1.NewProjectsClient(conn)
	}
	plain := withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:read"}))
	bound := withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithCertificateBinding(alice.Certificate[0])))

	v := newValidator(t, iss)
	greet, projectsClient := serveTLS(t, v, grpcjwt.WithSenderConstrained("/greeter.v1.Greeter/SayHello"))
	_, err := calls["unary"](plain, greet)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if _, err := calls["unary"](bound, greet); err != nil {
		t.Fatalf("a bound token on a Go rule: %v", err)
	}
	_, err = projectsClient.DeleteProject(plain, &tenantv1.GetProjectRequest{Name: "p"})
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if _, err := projectsClient.DeleteProject(bound, &tenantv1.GetProjectRequest{Name: "p"}); err != nil {
		t.Fatalf("a bound token on a .proto rule: %v", err)
	}
	if _, err := calls["server-stream"](plain, greet); err != nil {
		t.Fatalf("a bearer token where no rule requires binding: %v", err)
	}

	greet, _ = serveTLS(t, v, grpcjwt.WithSenderConstrainedEverywhere())
	_, err = calls["unary"](plain, greet)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if _, err := calls["unary"](bound, greet); err != nil {
		t.Fatalf("a bound token with WithSenderConstrainedEverywhere: %v", err)
	}

	srv := grpc.NewServer()
	tenantv1.RegisterProjectsServer(srv, &projects{})
	rules, err := auditOf(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.FullMethod == "/tenant.v1.Projects/DeleteProject" && !r.SenderConstrained {
			t.Errorf("Audit: %s", r)
		}
	}
	// Audit sees the requirement everywhere, as calls meet it.
	rules, err = auditOf(t, srv, grpcjwt.WithSenderConstrainedEverywhere(), grpcjwt.WithPublic("/tenant.v1.Projects/DescribeProject"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if want := r.Access != grpcjwt.AccessPublic; r.SenderConstrained != want {
			t.Errorf("Audit with WithSenderConstrainedEverywhere: %s", r)
		}
	}
	if _, err := auditOf(t, srv, grpcjwt.WithPublic("/tenant.v1.Projects/DescribeProject"), grpcjwt.WithSenderConstrained("/tenant.v1.Projects/DescribeProject")); err == nil {
		t.Error("Audit accepted a public method that requires a sender-constrained token")
	}
}
