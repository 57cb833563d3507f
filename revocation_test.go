package grpcjwt_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	ledgerv1 "github.com/grpcjwt/grpcjwt/internal/testpb/ledger/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// ledger answers with the subject of the claims it sees, and whether they
// were introspected.
type ledger struct {
	ledgerv1.UnimplementedLedgerServer
}

func (ledger) Transfer(ctx context.Context, _ *ledgerv1.TransferRequest) (*ledgerv1.TransferResponse, error) {
	c, _ := grpcjwt.ClaimsFromContext(ctx)
	sub := c.Subject
	if c.Introspected() {
		sub += " (introspected)"
	}
	return &ledgerv1.TransferResponse{Subject: sub}, nil
}

func (ledger) Read(ctx context.Context, _ *ledgerv1.ReadRequest) (*ledgerv1.ReadResponse, error) {
	c, _ := grpcjwt.ClaimsFromContext(ctx)
	return &ledgerv1.ReadResponse{Subject: c.Subject}, nil
}

// serveLedger serves the ledger on loopback behind the interceptors of v's
// policy of opts, and returns a client and the server (for Audit).
func serveLedger(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) (ledgerv1.LedgerClient, *grpc.Server, *grpcjwt.Policy) {
	t.Helper()
	p := policyOf(t, v, opts...)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
	ledgerv1.RegisterLedgerServer(srv, ledger{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return ledgerv1.NewLedgerClient(dialConn(t, lis.Addr().String())), srv, p
}

// dialConn is a plaintext connection to addr, closed with the test.
func dialConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRevocationCheck: a JWT on a method whose .proto rule checks
// revocation is confirmed active at its issuer's introspection endpoint,
// once per CacheTTL; revoked at the issuer, it is refused there once the
// answer has aged out, and still accepted where revocation is not
// checked; the endpoint failing makes the checked method Unavailable.
func TestRevocationCheck(t *testing.T) {
	iss := newIssuer(t)
	clk := newTestClock()
	v := newValidator(t, iss, clk.config, func(c *grpcjwt.Config) {
		iss.AddClient("rs", "rs-secret")
		c.Introspection = &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret", CacheTTL: time.Minute}
	})
	client, srv, p := serveLedger(t, v)
	rules, err := p.Audit(srv)
	if err != nil {
		t.Fatal(err)
	}
	if got := rules[1].String(); got != "/ledger.v1.Ledger/Transfer required scopes=ledger:write revocation-checked (proto:method)" {
		t.Errorf("Audit: %s", got)
	}
	transfer := func(tok string) (string, error) {
		r, err := client.Transfer(withAuth("Bearer "+tok), &ledgerv1.TransferRequest{})
		return r.GetSubject(), err
	}
	read := func(tok string) error {
		_, err := client.Read(withAuth("Bearer "+tok), &ledgerv1.ReadRequest{})
		return err
	}
	exp := map[string]any{"exp": clk.Now().Add(time.Hour).Unix(), "iat": clk.Now().Unix(), "scope": "ledger:write"}
	tok := iss.Token(exp)
	for range 3 {
		if sub, err := transfer(tok); err != nil || sub != "user-123" {
			t.Fatalf("Transfer: %q, %v (a JWT's claims are the JWT's)", sub, err)
		}
	}
	if err := read(tok); err != nil {
		t.Fatal(err)
	}
	if n := iss.IntrospectionRequests(); n != 1 {
		t.Errorf("%d introspection requests, want 1: one for the checked method, then the cache", n)
	}

	iss.Revoke(tok)
	if _, err := transfer(tok); err != nil {
		t.Errorf("revoked, within CacheTTL: %v", err)
	}
	clk.Add(time.Minute + time.Second)
	_, err = transfer(tok)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if err := read(tok); err != nil {
		t.Errorf("Read, which checks no revocation: %v", err)
	}

	iss.SetIntrospectionMode(grpcjwttest.Fail)
	fresh := iss.Token(exp)
	_, err = transfer(fresh)
	wantStatus(t, err, codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable)
	if err := read(fresh); err != nil {
		t.Errorf("Read while the endpoint fails: %v", err)
	}
	_, err = transfer(iss.Token(map[string]any{"exp": clk.Now().Add(time.Hour).Unix(), "iat": clk.Now().Unix()}))
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope) // scopes first: no request
}

// TestRevocationCheckGoOption: WithRevocationCheck does for a method what
// the .proto field does; an opaque token costs no second request; a JWT of
// an issuer without an introspection endpoint is refused there, and
// Audit says so, as it does of a public method that checks revocation.
func TestRevocationCheckGoOption(t *testing.T) {
	iss, other := newIssuer(t), newIssuer(t)
	iss.AddClient("rs", "rs-secret")
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Introspection = &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret"}
		c.OpaqueTokenIssuer = iss.URL
		c.Issuers = []grpcjwt.IssuerConfig{{Issuer: other.URL, Audience: other.Audience}}
	})
	const read = "/ledger.v1.Ledger/Read"
	client, srv, p := serveLedger(t, v, grpcjwt.WithRevocationCheck(read))
	_, err := p.Audit(srv)
	if err == nil || !strings.Contains(err.Error(), "checks revocation") || !strings.Contains(err.Error(), other.URL) || !strings.Contains(err.Error(), read) {
		t.Errorf("Audit: %v, want the issuer without an endpoint named for both methods", err)
	}
	if _, err := client.Read(withAuth("Bearer "+iss.Token(nil)), &ledgerv1.ReadRequest{}); err != nil {
		t.Fatal(err)
	}
	before := iss.IntrospectionRequests()
	if _, err := client.Read(withAuth("Bearer "+iss.OpaqueToken(nil)), &ledgerv1.ReadRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := iss.IntrospectionRequests() - before; n != 1 {
		t.Errorf("an opaque token cost %d requests, want 1", n)
	}
	_, err = client.Read(withAuth("Bearer "+other.Token(nil)), &ledgerv1.ReadRequest{})
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)

	_, srv2, p2 := serveLedger(t, v, grpcjwt.WithPublic(read), grpcjwt.WithRevocationCheck(read))
	if _, err := p2.Audit(srv2); err == nil || !strings.Contains(err.Error(), "is public and has a revocation check") {
		t.Errorf("Audit of a public method that checks revocation: %v", err)
	}
	if _, err := v.Validate(t.Context(), other.Token(nil)); err != nil {
		t.Errorf("the other issuer's token, without a revocation check: %v", err)
	}
	_, srv3, p3 := serveLedger(t, v, grpcjwt.WithIssuers("/ledger.v1.Ledger/", iss.URL))
	if _, err := p3.Audit(srv3); err != nil {
		t.Errorf("Audit, with the service narrowed to the introspecting issuer: %v", err)
	}
	if _, err := p.Check(t.Context(), &grpcjwt.Call{Method: read, Authorization: []string{"Bearer " + other.Token(nil)}}, nil); !errors.Is(err, grpcjwt.ErrUntrustedIssuer) {
		t.Errorf("Check: %v, want ErrUntrustedIssuer", err)
	}
}
