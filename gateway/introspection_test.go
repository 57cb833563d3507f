package grpcjwtgateway_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// deleteMethod checks revocation in TestIntrospection.
const deleteMethod = "/reports.v1.Reports/DeleteReport"

// TestIntrospection: opaque tokens and revocation checks through the
// gateway, in proxy mode (decided by the server's interceptors) and
// in-process (by Protect), with the same answers: an opaque token is
// introspected at its issuer and reaches the service; revoked there, it is
// refused with 401 invalid_token, and so is a revoked JWT on a method that
// checks revocation, while one that does not still takes it. The
// introspection endpoint failing is 503 temporarily_unavailable, with no
// WWW-Authenticate, for an opaque token and on the revocation-checked
// method; a JWT elsewhere never notices. The proxy's mux answers with
// ErrorHandler, so that the challenges are the same in both modes.
func TestIntrospection(t *testing.T) {
	var mu sync.Mutex
	var last error
	f := newFixtureWith(t, func(c *grpcjwt.Config) {
		// No answer is kept, so that a revocation shows on the next call.
		c.Introspection = &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret", CacheTTL: -1}
		c.OpaqueTokenIssuer = c.Issuer
	},
		// A Go rule replaces the method's .proto rule: it names the scope
		// again.
		grpcjwt.WithScopes(deleteMethod, "reports:delete"),
		grpcjwt.WithRevocationCheck(deleteMethod),
		grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
			mu.Lock()
			last = err
			mu.Unlock()
		}),
	)
	f.iss.AddClient("rs", "rs-secret")
	cause := func() error {
		mu.Lock()
		defer mu.Unlock()
		err := last
		last = nil
		return err
	}
	svc := &reports{}
	servers := map[string]*httptest.Server{"proxy": f.proxy(t, svc, f.withChallenges())}
	servers["in-process"], _ = f.inProcess(t, svc)

	claims := map[string]any{"sub": "alice", "scope": "reports:read reports:delete"}
	invalid := refusal{401, 16, grpcjwt.CodeInvalidToken, `Bearer error="invalid_token", DPoP algs="ES256"`, nil}
	unavailable := refusal{503, 14, grpcjwt.CodeTemporarilyUnavailable, "", nil}
	for _, mode := range []string{"proxy", "in-process"} {
		srv := servers[mode]
		opaque, jwt := f.iss.OpaqueToken(claims), f.iss.Token(claims)
		for _, step := range []struct {
			name         string
			before       func()
			method, path string
			token        string
			refused      *refusal // nil: admitted, and the service sees alice
			cause        error
		}{
			{"opaque token", nil, "GET", "/v1/reports", opaque, nil, nil},
			{"JWT, revocation check", nil, "DELETE", "/v1/reports/r1", jwt, nil, nil},
			{"JWT revoked, revocation check", func() { f.iss.Revoke(jwt) }, "DELETE", "/v1/reports/r1", jwt, &invalid, grpcjwt.ErrTokenInactive},
			{"JWT revoked, no revocation check", nil, "GET", "/v1/reports", jwt, nil, nil},
			{"opaque token revoked", func() { f.iss.Revoke(opaque) }, "GET", "/v1/reports", opaque, &invalid, grpcjwt.ErrTokenInactive},
			{"endpoint failing, opaque token", func() { f.iss.SetIntrospectionMode(grpcjwttest.Fail) }, "GET", "/v1/reports", f.iss.OpaqueToken(claims), &unavailable, grpcjwt.ErrIntrospectionUnavailable},
			{"endpoint failing, JWT, revocation check", nil, "DELETE", "/v1/reports/r1", f.iss.Token(claims), &unavailable, grpcjwt.ErrIntrospectionUnavailable},
			{"endpoint failing, JWT, no revocation check", nil, "GET", "/v1/reports", f.iss.Token(claims), nil, nil},
		} {
			t.Run(mode+"/"+step.name, func(t *testing.T) {
				if step.before != nil {
					step.before()
				}
				before := svc.calls.Load()
				got := send(t, srv, step.method, step.path, "", bearer(step.token))
				why := cause()
				switch {
				case step.cause == nil && why != nil, step.cause != nil && !errors.Is(why, step.cause):
					t.Errorf("the reject hook saw %v, want %v", why, step.cause)
				}
				if step.refused == nil {
					if got.code != http.StatusOK || got.body["subject"] != "alice" {
						t.Fatalf("got %d %s, want 200 with subject alice", got.code, got.raw)
					}
					return
				}
				want := *step.refused
				e := got.rpcError(t)
				if got.code != want.code || e.Code != want.grpcCode || e.Message != want.message {
					t.Errorf("got %d %s, want %d, code %d, message %q", got.code, got.raw, want.code, want.grpcCode, want.message)
				}
				if len(e.Details) != 1 || e.Details[0].Domain != grpcjwt.ErrorDomain || !maps.Equal(e.Details[0].Metadata, map[string]string{"code": want.message}) {
					t.Errorf("details %+v, want an ErrorInfo with code %s", e.Details, want.message)
				}
				if got.challenge != want.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got.challenge, want.challenge)
				}
				if n := svc.calls.Load() - before; n != 0 {
					t.Errorf("the service ran %d times for a refused call", n)
				}
			})
		}
		f.iss.SetIntrospectionMode(grpcjwttest.Serve)
	}
}
