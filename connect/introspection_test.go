package grpcjwtconnect_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// newIntrospectingEnv is newEnv whose Validator verifies opaque tokens at
// the issuer's introspection endpoint (the one its discovery names),
// keeping no answer, so that a revocation shows on the next call; Watch,
// which has no .proto rule, checks revocation.
func newIntrospectingEnv(t *testing.T, opts ...grpcjwt.Option) *env {
	t.Helper()
	e := newEnv(t, func(c *grpcjwt.Config) {
		c.Introspection = &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret", CacheTTL: -1}
		c.OpaqueTokenIssuer = c.Issuer
	}, append(opts, grpcjwt.WithRevocationCheck(demo.Watch))...)
	e.iss.AddClient("rs", "rs-secret")
	return e
}

// watch opens a Watch stream with c and receives its first message.
func watch(t *testing.T, c *demo.Client) (*demov1.WatchResponse, error) {
	t.Helper()
	s, err := c.Watch(t.Context(), &demov1.WatchRequest{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var w demov1.WatchResponse
	if err := s.Receive(&w); err != nil {
		return nil, err
	}
	return &w, nil
}

// wantUnread checks that call is refused for sentinel, as wantRefusal
// does, before the server reads the request's body.
func wantUnread(t *testing.T, srv *server, call func() error, sentinel error) {
	t.Helper()
	before := srv.bodyReads.Load()
	wantRefusal(t, call(), sentinel)
	if n := srv.bodyReads.Load() - before; n != 0 {
		t.Errorf("the request body was read %d times before the refusal", n)
	}
}

// countCauses counts the refusals among errs that match each of causes.
func countCauses(errs []error, causes ...error) []int {
	n := make([]int, len(causes))
	for _, err := range errs {
		for i, c := range causes {
			if errors.Is(err, c) {
				n[i]++
			}
		}
	}
	return n
}

// Opaque tokens through the Connect door, for every protocol and mode: an
// opaque token is introspected and reaches the handler; revoked at the
// issuer, it is refused with invalid_token before the request's body is
// read, and so is a revoked JWT on a procedure that checks revocation,
// while one that does not still takes it. A DPoP-bound opaque token
// (cnf.jkt in the answer) needs a proof of its key.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	e := newIntrospectingEnv(t, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "scope": "greet:read"}
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			// Not in parallel: wantUnread counts the server's body reads.
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				hc := httpClient(true)
				opaque, jwt := e.iss.OpaqueToken(claims), e.token("greet:read")
				withOpaque := client(hc, srv.URL, pr, "Authorization", "Bearer "+opaque)
				if res, err := withOpaque.SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"}); err != nil || res.GetSubject() != "alice" {
					t.Fatalf("opaque token: %v, %v", res, err)
				}
				if w, err := watch(t, withOpaque); err != nil || w.GetSubject() != "alice" {
					t.Fatalf("opaque token, Watch: %v, %v", w, err)
				}

				withJWT := client(hc, srv.URL, pr, "Authorization", "Bearer "+jwt)
				if _, err := watch(t, withJWT); err != nil {
					t.Fatalf("JWT, Watch (revocation check): %v", err)
				}
				e.iss.Revoke(jwt)
				wantUnread(t, srv, func() error { _, err := watch(t, withJWT); return err }, grpcjwt.ErrInvalidToken)
				if res, err := withJWT.SayHello(t.Context(), &demov1.SayHelloRequest{}); err != nil || res.GetSubject() != "alice" {
					t.Fatalf("revoked JWT, SayHello (no revocation check): %v, %v", res, err)
				}
				e.iss.Revoke(opaque)
				wantUnread(t, srv, func() error {
					_, err := withOpaque.SayHello(t.Context(), &demov1.SayHelloRequest{})
					return err
				}, grpcjwt.ErrInvalidToken)

				bound := e.iss.OpaqueToken(claims, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
				withProof := dpopClient(hc, srv.URL, pr, dpopProofs(t, pr, creds, bound, srv.URL))
				if res, err := withProof.SayHello(t.Context(), &demov1.SayHelloRequest{}); err != nil || res.GetSubject() != "alice" {
					t.Fatalf("DPoP-bound opaque token with its proof: %v, %v", res, err)
				}
				_, err := client(hc, srv.URL, pr, "Authorization", "Bearer "+bound).SayHello(t.Context(), &demov1.SayHelloRequest{})
				wantRefusal(t, err, grpcjwt.ErrInvalidToken)
			})
		}
	}
	got := countCauses(e.rejected(), grpcjwt.ErrTokenInactive, grpcjwt.ErrDPoPBoundToken)
	if n := len(modes) * len(protocols); got[0] != 2*n || got[1] != n {
		t.Errorf("the reject hook saw %d inactive tokens and %d DPoP-bound tokens sent as bearer; want %d and %d", got[0], got[1], 2*n, n)
	}
}

// The introspection endpoint failing, through the Connect door: an opaque
// token, and a JWT on a procedure that checks revocation, are refused
// with Unavailable "temporarily_unavailable" and its ErrorInfo in every
// protocol (a Connect unary call: 503, with no challenge, since the token
// may well be good); a JWT elsewhere never notices.
func TestIntrospectionUnavailable(t *testing.T) {
	t.Parallel()
	e := newIntrospectingEnv(t)
	e.iss.SetIntrospectionMode(grpcjwttest.Fail)
	opaque, jwt := e.iss.OpaqueToken(map[string]any{"sub": "alice", "scope": "greet:read"}), e.token("greet:read")
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				hc := httpClient(true)
				wantUnread(t, srv, func() error {
					_, err := client(hc, srv.URL, pr, "Authorization", "Bearer "+opaque).SayHello(t.Context(), &demov1.SayHelloRequest{})
					return err
				}, grpcjwt.ErrIntrospectionUnavailable)
				withJWT := client(hc, srv.URL, pr, "Authorization", "Bearer "+jwt)
				wantUnread(t, srv, func() error { _, err := watch(t, withJWT); return err }, grpcjwt.ErrIntrospectionUnavailable)
				if res, err := withJWT.SayHello(t.Context(), &demov1.SayHelloRequest{}); err != nil || res.GetSubject() != "alice" {
					t.Fatalf("JWT, SayHello (no revocation check): %v, %v", res, err)
				}
			})
		}
		t.Run(m.name+"/HTTP status", func(t *testing.T) {
			res, body := post(t, httpClient(false), srv.URL, demo.SayHello, `{"name":"Alice"}`, "Authorization", "Bearer "+opaque)
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Values("WWW-Authenticate") != nil {
				t.Errorf("%d, WWW-Authenticate %q; want 503 and none", res.StatusCode, res.Header.Values("WWW-Authenticate"))
			}
			if !strings.Contains(body, `"code":"unavailable","message":"temporarily_unavailable"`) {
				t.Errorf("body %s", body)
			}
		})
	}
	got := countCauses(e.rejected(), grpcjwt.ErrIntrospectionUnavailable)
	if want := len(modes) * (2*len(protocols) + 1); got[0] != want {
		t.Errorf("the reject hook saw %d refusals for the endpoint, want %d", got[0], want)
	}
}
