package grpcjwttest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// introspect asks iss's introspection endpoint about token as the client
// id, secret (by HTTP Basic), and returns the status and the answer.
func introspect(t *testing.T, iss *grpcjwttest.Issuer, id, secret, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, iss.IntrospectionURL(), strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer
}

// postForm posts form to u and returns the status.
func postForm(t *testing.T, u string, form url.Values) int {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestIntrospectionEndpoint: the issuer answers introspection for its
// opaque tokens and its JWTs, until they expire or are revoked, to its
// clients only; discovery names the endpoints.
func TestIntrospectionEndpoint(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	iss.AddClient("rs", "s3cret/+")

	var doc map[string]any
	resp, err := http.Get(iss.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["introspection_endpoint"] != iss.IntrospectionURL() || doc["revocation_endpoint"] != iss.RevocationURL() {
		t.Errorf("discovery: %v", doc)
	}

	opaque := iss.OpaqueToken(map[string]any{"sub": "alice", "scope": "greet:read"})
	if strings.Contains(opaque, ".") || len(opaque) != 43 {
		t.Errorf("opaque token %q", opaque)
	}
	status, a := introspect(t, iss, "rs", "s3cret/+", opaque)
	if status != http.StatusOK || a["active"] != true || a["sub"] != "alice" || a["scope"] != "greet:read" || a["iss"] != iss.URL ||
		a["aud"] != iss.Audience || a["token_type"] != "Bearer" || a["exp"] == nil {
		t.Errorf("opaque token: %d %v", status, a)
	}
	jwt := iss.Token(map[string]any{"sub": "bob"})
	if _, a := introspect(t, iss, "rs", "s3cret/+", jwt); a["active"] != true || a["sub"] != "bob" {
		t.Errorf("JWT: %v", a)
	}
	bound := iss.OpaqueToken(nil, grpcjwttest.WithDPoPBinding("thumb"))
	if _, a := introspect(t, iss, "rs", "s3cret/+", bound); a["token_type"] != "DPoP" || a["cnf"].(map[string]any)["jkt"] != "thumb" {
		t.Errorf("DPoP-bound opaque token: %v", a)
	}

	other := grpcjwttest.NewIssuer()
	defer other.Close()
	for name, tok := range map[string]string{
		"unknown":                  "no-such-token-at-all",
		"expired opaque":           iss.OpaqueToken(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
		"expired JWT":              iss.Token(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
		"another's JWT":            other.Token(nil),
		"an unpublished key's JWT": iss.Token(nil, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))),
	} {
		if status, a := introspect(t, iss, "rs", "s3cret/+", tok); status != http.StatusOK || len(a) != 1 || a["active"] != false {
			t.Errorf("%s: %d %v", name, status, a)
		}
	}
	if status, _ := introspect(t, iss, "rs", "wrong", opaque); status != http.StatusUnauthorized {
		t.Errorf("a wrong secret: %d", status)
	}
	if status := postForm(t, iss.IntrospectionURL(), url.Values{"token": {opaque}}); status != http.StatusUnauthorized {
		t.Errorf("no client: %d", status)
	}
	if status := postForm(t, iss.IntrospectionURL(), url.Values{"token": {opaque}, "client_id": {"rs"}, "client_secret": {"s3cret/+"}}); status != http.StatusOK {
		t.Errorf("client_secret_post: %d", status)
	}

	// Revocation, by the endpoint (RFC 7009) and by Revoke.
	if status := postForm(t, iss.RevocationURL(), url.Values{"token": {opaque}}); status != http.StatusUnauthorized {
		t.Errorf("revocation without a client: %d", status)
	}
	if status := postForm(t, iss.RevocationURL(), url.Values{"token": {opaque}, "client_id": {"rs"}, "client_secret": {"s3cret/+"}}); status != http.StatusOK {
		t.Errorf("revocation: %d", status)
	}
	iss.Revoke(jwt)
	for name, tok := range map[string]string{"opaque": opaque, "JWT": jwt} {
		if _, a := introspect(t, iss, "rs", "s3cret/+", tok); a["active"] != false {
			t.Errorf("revoked %s: %v", name, a)
		}
	}
	if n := iss.IntrospectionRequests(); n != 13 {
		t.Errorf("IntrospectionRequests = %d, want 13", n)
	}
	iss.SetIntrospectionMode(grpcjwttest.Fail)
	if status, _ := introspect(t, iss, "rs", "s3cret/+", bound); status != http.StatusInternalServerError {
		t.Errorf("Fail mode: %d", status)
	}
}

// TestOpaqueTokenEndpoint: WithOpaqueTokens makes the token endpoint issue
// opaque tokens, which introspection answers with the grant's claims.
func TestOpaqueTokenEndpoint(t *testing.T) {
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithOpaqueTokens())
	defer iss.Close()
	iss.AddClient("app", "app-secret")
	iss.AddClient("rs", "rs-secret")
	resp, err := http.PostForm(iss.URL+"/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "scope": {"greet:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if strings.Count(body.AccessToken, ".") == 2 || body.AccessToken == "" {
		t.Fatalf("token %q, want an opaque one", body.AccessToken)
	}
	if _, a := introspect(t, iss, "rs", "rs-secret", body.AccessToken); a["active"] != true || a["client_id"] != "app" || a["scope"] != "greet:read" {
		t.Errorf("answer %v", a)
	}
}
