package grpcjwt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// issuerIntrospection configures the Validator to introspect opaque
// tokens at iss, by the endpoint its discovery names, as the client "rs".
func issuerIntrospection(iss *grpcjwttest.Issuer, mod ...func(*grpcjwt.IntrospectionConfig)) func(*grpcjwt.Config) {
	iss.AddClient("rs", "rs-secret")
	return func(c *grpcjwt.Config) {
		ic := &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret"}
		for _, m := range mod {
			m(ic)
		}
		c.Introspection, c.OpaqueTokenIssuer = ic, iss.URL
	}
}

// clientToken gets a token from iss's token endpoint as the client
// id/secret.
func clientToken(t *testing.T, iss *grpcjwttest.Issuer, id, secret, scope string) string {
	t.Helper()
	resp, err := http.PostForm(iss.URL+"/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint: %s, %v", resp.Status, err)
	}
	return body.AccessToken
}

// TestOpaqueTokensOverGRPC: the local issuer's opaque tokens, from its
// token endpoint, introspected at the endpoint its discovery names, over
// real gRPC through the policy: accepted on every kind of call; a revoked
// token refused once the cache's CacheTTL has passed; the endpoint failing
// makes a new token's call Unavailable, and the cached one still works.
func TestOpaqueTokensOverGRPC(t *testing.T) {
	iss := newIssuer(t, grpcjwttest.WithOpaqueTokens())
	iss.AddClient("app", "app-secret")
	clk := newTestClock()
	v := newValidator(t, iss, clk.config, issuerIntrospection(iss, func(ic *grpcjwt.IntrospectionConfig) { ic.CacheTTL = time.Minute }))
	client := protected(t, v)

	tok := clientToken(t, iss, "app", "app-secret", "greet:read greet:write")
	for name, call := range calls {
		if sub, err := call(withAuth("Bearer "+tok), client); err != nil || sub != "app" {
			t.Errorf("%s: %q, %v", name, sub, err)
		}
	}
	if n := iss.IntrospectionRequests(); n != 1 {
		t.Errorf("%d introspection requests for three calls, want 1", n)
	}
	narrow := clientToken(t, iss, "app", "app-secret", "greet:other")
	_, err := calls["unary"](withAuth("Bearer "+narrow), client)
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)

	iss.Revoke(tok)
	if _, err := calls["unary"](withAuth("Bearer "+tok), client); err != nil {
		t.Errorf("revoked, within CacheTTL (the documented staleness): %v", err)
	}
	clk.Add(time.Minute + time.Second)
	_, err = calls["unary"](withAuth("Bearer "+tok), client)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)

	kept := clientToken(t, iss, "app", "app-secret", "greet:read")
	if _, err := calls["unary"](withAuth("Bearer "+kept), client); err != nil {
		t.Fatal(err)
	}
	iss.SetIntrospectionMode(grpcjwttest.Fail)
	_, err = calls["unary"](withAuth("Bearer "+clientToken(t, iss, "app", "app-secret", "greet:read")), client)
	wantStatus(t, err, codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable)
	if _, err := calls["unary"](withAuth("Bearer "+kept), client); err != nil {
		t.Errorf("a cached token while the endpoint fails: %v", err)
	}
	iss.SetIntrospectionMode(grpcjwttest.Hang)
	ctx, cancel := context.WithTimeout(withAuth("Bearer "+clientToken(t, iss, "app", "app-secret", "greet:read")), 200*time.Millisecond)
	defer cancel()
	_, err = calls["unary"](ctx, client)
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Errorf("the endpoint hanging: %v, want Unavailable or DeadlineExceeded", err)
	}
}

// TestDiscoveredIntrospectionEndpoint: without IntrospectionConfig.Endpoint
// the discovery document's introspection_endpoint is used, followed when
// it moves; NewValidator fails, naming it, when the document has none or
// one that cannot be used.
func TestDiscoveredIntrospectionEndpoint(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		iss := newIssuer(t)
		iss.SetIntrospectionURI("")
		cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience}
		issuerIntrospection(iss)(&cfg)
		_, err := grpcjwt.NewValidator(t.Context(), cfg)
		if !errors.Is(err, grpcjwt.ErrDiscovery) || !strings.Contains(err.Error(), "introspection_endpoint") {
			t.Errorf("NewValidator: %v, want ErrDiscovery naming introspection_endpoint", err)
		}
	})
	t.Run("http for an https issuer", func(t *testing.T) {
		iss := newIssuer(t, grpcjwttest.WithTLS())
		iss.SetIntrospectionURI("http://127.0.0.1:1/introspect")
		cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, HTTPClient: iss.Client()}
		issuerIntrospection(iss)(&cfg)
		_, err := grpcjwt.NewValidator(t.Context(), cfg)
		if !errors.Is(err, grpcjwt.ErrDiscovery) {
			t.Errorf("NewValidator: %v, want ErrDiscovery", err)
		}
	})
	t.Run("moved", func(t *testing.T) {
		iss := newIssuer(t)
		ep := newEndpoint(t)
		ep.check = func(r *http.Request) bool { id, _, ok := r.BasicAuth(); return ok && id == "rs" }
		clk := newTestClock()
		v := newValidator(t, iss, clk.config, issuerIntrospection(iss), func(c *grpcjwt.Config) { c.RefreshInterval = time.Hour })
		tok := iss.OpaqueToken(nil)
		if _, err := v.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		iss.SetIntrospectionURI(ep.URL)
		clk.Add(2 * time.Hour)
		fetches := iss.DiscoveryFetches()
		if _, err := v.Validate(t.Context(), iss.Token(map[string]any{"exp": clk.Now().Add(time.Hour).Unix()})); err != nil { // a JWT starts the periodic refresh
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return iss.DiscoveryFetches() > fetches && v.State().Issuers[0].LastSuccess.Equal(clk.Now())
		})
		other := opaqueToken()
		ep.answer(other, activeAnswer(t, iss, clk.Now(), map[string]any{"sub": "moved"}))
		if c, err := v.Validate(t.Context(), other); err != nil || c.Subject != "moved" {
			t.Errorf("after the move: %v, %v", c, err)
		}
	})
}

// TestOpaqueTokensOverHTTP: the net/http door takes opaque tokens as the
// gRPC doors do: 200 with the claims in the handler's context, 401
// invalid_token once revoked, 503 while the endpoint fails.
func TestOpaqueTokensOverHTTP(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, issuerIntrospection(iss, func(ic *grpcjwt.IntrospectionConfig) { ic.CacheTTL = -1 }))
	p := policyOf(t, v)
	srv := httptest.NewServer(p.HTTPHandler("/reports.v1.Reports/Export", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := grpcjwt.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "%s %v", c.Subject, c.Introspected())
	})))
	t.Cleanup(srv.Close)
	get := func(token string) (int, string, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}
	tok := iss.OpaqueToken(map[string]any{"sub": "alice"})
	if code, _, body := get(tok); code != http.StatusOK || body != "alice true" {
		t.Errorf("opaque token: %d %q", code, body)
	}
	iss.Revoke(tok)
	if code, challenge, _ := get(tok); code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("revoked: %d %q", code, challenge)
	}
	iss.SetIntrospectionMode(grpcjwttest.Fail)
	if code, _, _ := get(iss.OpaqueToken(nil)); code != http.StatusServiceUnavailable {
		t.Errorf("endpoint failing: %d, want 503", code)
	}
}
