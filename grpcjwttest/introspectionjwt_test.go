package grpcjwttest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// introspectAccepting asks iss's introspection endpoint about token as
// the client "rs" with an Accept header of accept (none when empty), and
// returns the answer's Content-Type and body.
func introspectAccepting(t *testing.T, iss *grpcjwttest.Issuer, token, accept string) (string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, iss.IntrospectionURL(), strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.SetBasicAuth("rs", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspection: %s, %v", resp.Status, err)
	}
	return resp.Header.Get("Content-Type"), string(body)
}

// discoveryDoc returns iss's discovery document.
func discoveryDoc(t *testing.T, iss *grpcjwttest.Issuer) map[string]any {
	t.Helper()
	resp, err := http.Get(iss.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestSignedIntrospectionEndpoint: an issuer WithSignedIntrospection
// offers signed answers in discovery and signs an answer when asked, with
// its signing key for its default algorithm, for the client that asked;
// SetIntrospectionJWT changes what it signs, and Unsigned makes it answer
// plain JSON. An issuer without the option offers and signs nothing.
func TestSignedIntrospectionEndpoint(t *testing.T) {
	const jwtType = "application/token-introspection+jwt"
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithSignedIntrospection(), grpcjwttest.WithDefaultAlgorithm("ES256"))
	defer iss.Close()
	iss.AddClient("rs", "s3cret")
	if algs, _ := discoveryDoc(t, iss)["introspection_signing_alg_values_supported"].([]any); len(algs) != len(grpcjwttest.Algorithms()) {
		t.Errorf("discovery lists %v as introspection_signing_alg_values_supported", algs)
	}
	tok := iss.OpaqueToken(map[string]any{"sub": "alice"})

	ctype, body := introspectAccepting(t, iss, tok, "application/json, "+jwtType+";q=0.9")
	parts := strings.Split(body, ".")
	if ctype != jwtType || len(parts) != 3 {
		t.Fatalf("answer of %q: %q, want a JWS of %s", ctype, body, jwtType)
	}
	var h struct{ Alg, Kid, Typ string }
	var c struct {
		Iss, Aud string
		Iat      int64
		Answer   struct {
			Active bool
			Sub    string
		} `json:"token_introspection"`
	}
	decode := func(part string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			t.Fatalf("%q: %v", part, err)
		}
	}
	decode(parts[0], &h)
	decode(parts[1], &c)
	key := iss.SigningKey("ES256")
	if h.Alg != "ES256" || h.Kid != key.KID || h.Typ != "token-introspection+jwt" {
		t.Errorf("header %+v", h)
	}
	if c.Iss != iss.URL || c.Aud != "rs" || time.Since(time.Unix(c.Iat, 0)).Abs() > time.Minute || !c.Answer.Active || c.Answer.Sub != "alice" {
		t.Errorf("claims %+v", c)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || jose.Lookup("ES256").Verify(key.Public(), []byte(parts[0]+"."+parts[1]), sig) != nil {
		t.Errorf("the signature does not verify with the signing key: %v", err)
	}

	if ctype, body := introspectAccepting(t, iss, tok, ""); !strings.HasPrefix(ctype, "application/json") || !strings.Contains(body, `"active":true`) {
		t.Errorf("not asked: %q %s, want plain JSON", ctype, body)
	}

	iss.SetIntrospectionJWT(func(h, c map[string]any) { h["typ"] = "at+jwt"; delete(c, "token_introspection") })
	_, body = introspectAccepting(t, iss, tok, jwtType)
	decode(strings.Split(body, ".")[0], &h)
	c.Answer.Sub = ""
	decode(strings.Split(body, ".")[1], &c)
	if h.Typ != "at+jwt" || c.Answer.Sub != "" {
		t.Errorf("edited: header %+v, claims %+v", h, c)
	}
	iss.SetIntrospectionJWT(nil)

	iss.SetIntrospectionMode(grpcjwttest.Unsigned)
	if ctype, body := introspectAccepting(t, iss, tok, jwtType); !strings.HasPrefix(ctype, "application/json") || !strings.Contains(body, `"active":true`) {
		t.Errorf("Unsigned: %q %s, want plain JSON", ctype, body)
	}
	iss.SetIntrospectionMode(grpcjwttest.Serve)

	plain := grpcjwttest.NewIssuer()
	defer plain.Close()
	plain.AddClient("rs", "s3cret")
	if _, ok := discoveryDoc(t, plain)["introspection_signing_alg_values_supported"]; ok {
		t.Error("an issuer without WithSignedIntrospection offers signed answers")
	}
	if ctype, _ := introspectAccepting(t, plain, plain.OpaqueToken(nil), jwtType); !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("an issuer without WithSignedIntrospection answers %q", ctype)
	}
}
