package grpcjwttest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// requestToken asks iss's token endpoint for a client_credentials token
// for client m2m, sending each of proofs as a DPoP header.
func requestToken(t *testing.T, iss *grpcjwttest.Issuer, proofs ...string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"greet:read"}}
	req, err := http.NewRequest(http.MethodPost, iss.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("m2m", "s3cret")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := tokenResponse{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// dpopCredentials returns DPoP credentials with a new key for alg.
func dpopCredentials(t *testing.T, alg string) *grpcjwt.DPoPCredentials {
	t.Helper()
	d, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey(alg).Signer(), alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTokenEndpointDPoP: a token request with a valid DPoP proof gets a
// token bound to the proof's key, token_type DPoP; one without gets a
// bearer token; the same proof twice is refused.
func TestTokenEndpointDPoP(t *testing.T) {
	t.Parallel()
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	iss.AddClient("m2m", "s3cret")
	v := newValidator(t, iss)

	bearer := requestToken(t, iss)
	if bearer.status != http.StatusOK || bearer.TokenType != "Bearer" {
		t.Fatalf("without a proof: %d %+v, want 200 Bearer", bearer.status, bearer)
	}
	if c := validate(t, v, bearer.AccessToken); c.Confirmation.JKT != "" {
		t.Errorf("without a proof: cnf jkt %q, want none", c.Confirmation.JKT)
	}

	for _, alg := range []string{"ES256", "EdDSA", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			d := dpopCredentials(t, alg)
			proof, err := d.Proof("POST", iss.URL+"/token", "")
			if err != nil {
				t.Fatal(err)
			}
			tr := requestToken(t, iss, proof)
			if tr.status != http.StatusOK || tr.TokenType != "DPoP" {
				t.Fatalf("with a proof: %d %+v, want 200 DPoP", tr.status, tr)
			}
			c := validate(t, v, tr.AccessToken)
			if c.Confirmation.JKT != d.Thumbprint() || c.Subject != "m2m" || len(c.Scopes) != 1 || c.Scopes[0] != "greet:read" {
				t.Errorf("claims: cnf jkt %q, sub %q, scopes %q; want jkt %q, sub m2m, scopes [greet:read]", c.Confirmation.JKT, c.Subject, c.Scopes, d.Thumbprint())
			}
			again := requestToken(t, iss, proof)
			if again.status != http.StatusBadRequest || again.Error != "invalid_dpop_proof" || !strings.Contains(again.Description, "used before") {
				t.Errorf("the same proof again: %d %+v, want 400 invalid_dpop_proof, used before", again.status, again)
			}
		})
	}
}

// TestTokenEndpointBadDPoPProof: every way a token request's proof can be
// wrong gets 400 invalid_dpop_proof, with a description naming what.
func TestTokenEndpointBadDPoPProof(t *testing.T) {
	t.Parallel()
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	iss.AddClient("m2m", "s3cret")
	key := grpcjwttest.MustKey("ES256")
	other := grpcjwttest.MustKey("ES256")
	publicJWK := func(k *grpcjwttest.Key) json.RawMessage {
		j, err := k.JWK()
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	privateJWK, err := key.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	// sign signs a proof with key under ES256, from a good header and
	// claims changed by change.
	sign := func(change func(h, c map[string]any)) string {
		h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(key)}
		c := map[string]any{"jti": time.Now().String(), "htm": "POST", "htu": iss.URL + "/token", "iat": time.Now().Unix()}
		change(h, c)
		hj, _ := json.Marshal(h)
		cj, _ := json.Marshal(c)
		p, err := key.SignJSON(hj, cj) // under ES256, whatever alg says
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := sign(func(h, c map[string]any) {})
	for _, tc := range []struct {
		name   string
		proofs []string
		want   string // in error_description
	}{
		{"not a JWS", []string{"a.b"}, "not a compact JWS"},
		{"two DPoP headers", []string{good, good}, "2 DPoP headers"},
		{"typ JWT", []string{sign(func(h, c map[string]any) { h["typ"] = "JWT" })}, `typ "JWT"`},
		{"no typ", []string{sign(func(h, c map[string]any) { delete(h, "typ") })}, `typ ""`},
		{"alg none", []string{sign(func(h, c map[string]any) { h["alg"] = "none" })}, `alg "none"`},
		{"alg HS256", []string{sign(func(h, c map[string]any) { h["alg"] = "HS256" })}, `alg "HS256"`},
		{"no jwk", []string{sign(func(h, c map[string]any) { delete(h, "jwk") })}, "no jwk"},
		{"private jwk", []string{sign(func(h, c map[string]any) { h["jwk"] = json.RawMessage(privateJWK) })}, "not a public key"},
		{"jwk of another key", []string{sign(func(h, c map[string]any) { h["jwk"] = publicJWK(other) })}, "signature does not verify"},
		{"jwk that does not fit alg", []string{sign(func(h, c map[string]any) { h["jwk"] = publicJWK(grpcjwttest.MustKey("EdDSA")) })}, "does not fit alg ES256"},
		{"htm GET", []string{sign(func(h, c map[string]any) { c["htm"] = "GET" })}, `htm "GET"`},
		{"htu of another endpoint", []string{sign(func(h, c map[string]any) { c["htu"] = iss.URL + "/jwks" })}, `htu "` + iss.URL + `/jwks"`},
		{"no jti", []string{sign(func(h, c map[string]any) { delete(c, "jti") })}, "no jti"},
		{"no iat", []string{sign(func(h, c map[string]any) { delete(c, "iat") })}, "no iat"},
		{"iat too old", []string{sign(func(h, c map[string]any) { c["iat"] = time.Now().Add(-2 * time.Minute).Unix() })}, "not within 1m0s of now"},
		{"iat ahead", []string{sign(func(h, c map[string]any) { c["iat"] = time.Now().Add(2 * time.Minute).Unix() })}, "not within 1m0s of now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := requestToken(t, iss, tc.proofs...)
			if tr.status != http.StatusBadRequest || tr.Error != "invalid_dpop_proof" || !strings.Contains(tr.Description, tc.want) {
				t.Errorf("got %d %+v, want 400 invalid_dpop_proof with %q", tr.status, tr, tc.want)
			}
		})
	}
	// Every refused proof left the good one unused.
	if tr := requestToken(t, iss, good); tr.status != http.StatusOK || tr.TokenType != "DPoP" {
		t.Errorf("the good proof: %d %+v, want 200 DPoP", tr.status, tr)
	}
}
