package greeterhttp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

func TestParseRESTMode(t *testing.T) {
	for _, m := range []RESTMode{Proxy, InProcess} {
		if got, err := ParseRESTMode(m.String()); err != nil || got != m {
			t.Errorf("ParseRESTMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseRESTMode("both"); err == nil {
		t.Error("ParseRESTMode(both) succeeded")
	}
}

func TestNewNeedsPolicyAndServer(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a policy and a server succeeded")
	}
}

// TestCORS checks the CORS answers of the handler: a preflight from an
// allowed origin is answered without a token, and the answer to its call
// may be read by the page, challenge included; another origin's preflight
// is refused, and the answers to its calls carry no CORS header.
func TestCORS(t *testing.T) {
	const allowed = "https://app.example.com"
	srv := serve(t, Config{Origins: []string{allowed}})
	for _, tc := range []struct {
		name, method, origin           string
		status                         int
		allowOrigin, allowHeaders      string
		exposeHeaders, wwwAuthenticate string
	}{
		{"preflight, allowed", http.MethodOptions, allowed, http.StatusNoContent, allowed, corsRequestHeaders, "", ""},
		{"preflight, another origin", http.MethodOptions, "https://evil.example", http.StatusForbidden, "", "", "", ""},
		{"call, allowed", http.MethodPost, allowed, http.StatusUnauthorized, allowed, "", corsExposedHeaders, "Bearer"},
		{"call, another origin", http.MethodPost, "https://evil.example", http.StatusUnauthorized, "", "", "", "Bearer"},
		{"call, no origin", http.MethodPost, "", http.StatusUnauthorized, "", "", "", "Bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+"/greeter.v1.Greeter/SayHello", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", http.MethodPost)
				req.Header.Set("Access-Control-Request-Headers", "authorization")
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			h := res.Header
			if res.StatusCode != tc.status || h.Get("Access-Control-Allow-Origin") != tc.allowOrigin ||
				h.Get("Access-Control-Allow-Headers") != tc.allowHeaders || h.Get("Access-Control-Expose-Headers") != tc.exposeHeaders ||
				h.Get("WWW-Authenticate") != tc.wwwAuthenticate {
				t.Errorf("%s, headers %v", res.Status, h)
			}
		})
	}
}

// serve serves New(cfg), with a policy and a gRPC server of a local
// issuer's tokens, on loopback until the test ends.
func serve(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	gs, policy, err := greeter.NewServerAndPolicy(v, greeter.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.Stop)
	cfg.Policy, cfg.GRPC = policy, gs
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}
