package grpcjwttest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// newValidator returns a validator of iss's tokens, closed with the test.
func newValidator(t *testing.T, iss *grpcjwttest.Issuer) *grpcjwt.Validator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// validate verifies token with v and fails the test if it does not.
func validate(t *testing.T, v *grpcjwt.Validator, token string) *grpcjwt.Claims {
	t.Helper()
	c, err := v.Validate(context.Background(), token)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return c
}

// header decodes the JOSE header of a compact JWS.
func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// get fetches u and decodes its JSON body into v.
func get(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// publishedKIDs returns the kids of the keys in iss's JWKS, in order.
func publishedKIDs(t *testing.T, jwksURL string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	get(t, jwksURL, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func TestWithListener(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithListener(l))
	if want := "http://" + l.Addr().String() + "/oidc"; iss.URL != want {
		t.Errorf("URL %q, want %q", iss.URL, want)
	}
	validate(t, newValidator(t, iss), iss.Token(nil))
	iss.Close()
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the listener still accepts after Close")
	}
}

func TestWithBaseURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithListener(l), grpcjwttest.WithBaseURL("http://issuer.test:8081/"), grpcjwttest.WithPath("/tenant"))
	defer iss.Close()
	if want := "http://issuer.test:8081/tenant"; iss.URL != want {
		t.Errorf("URL %q, want %q", iss.URL, want)
	}
	// The server is still where it listens, and names itself by URL.
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(t, "http://"+l.Addr().String()+"/tenant/.well-known/openid-configuration", &doc)
	if doc.Issuer != iss.URL || doc.JWKSURI != iss.URL+"/jwks" {
		t.Errorf("discovery names issuer %q and jwks_uri %q, want %q and %q", doc.Issuer, doc.JWKSURI, iss.URL, iss.URL+"/jwks")
	}
}

func TestWithSigningKey(t *testing.T) {
	t.Parallel()
	old, current := grpcjwttest.MustKey("ES384"), grpcjwttest.MustKey("ES384")
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms("RS256", "ES384"), grpcjwttest.WithSigningKey(old), grpcjwttest.WithSigningKey(current))
	defer iss.Close()
	// Both given keys are published, after the generated RS256 key and
	// instead of a generated ES384 one.
	kids := publishedKIDs(t, iss.JWKSURL())
	if len(kids) != 3 || kids[1] != old.KID || kids[2] != current.KID {
		t.Errorf("published kids %q, want [<RS256 key> %s %s]", kids, old.KID, current.KID)
	}
	if k := iss.SigningKey("ES384"); k != current {
		t.Errorf("SigningKey(ES384) has kid %s, want the last given, %s", k.KID, current.KID)
	}
	v := newValidator(t, iss)
	token := iss.Token(nil, grpcjwttest.WithKeyFor("ES384"))
	if h := header(t, token); h["kid"] != current.KID || h["alg"] != "ES384" {
		t.Errorf("header %v, want kid %s and alg ES384", h, current.KID)
	}
	validate(t, v, token)
	// A token signed outside the issuer with a given key verifies.
	claims := map[string]any{"iss": iss.URL, "aud": iss.Audience, "sub": "offline", "exp": time.Now().Add(time.Minute).Unix()}
	offline, err := old.Sign(map[string]any{"alg": "ES384", "kid": old.KID}, claims)
	if err != nil {
		t.Fatal(err)
	}
	if c := validate(t, v, offline); c.Subject != "offline" {
		t.Errorf("subject %q, want offline", c.Subject)
	}
}

func TestWithDefaultAlgorithm(t *testing.T) {
	t.Parallel()
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms(), grpcjwttest.WithDefaultAlgorithm("EdDSA"))
	defer iss.Close()
	iss.AddClient("m2m", "s3cret")
	kids := publishedKIDs(t, iss.JWKSURL())
	if k := iss.SigningKey("EdDSA"); len(kids) != 1 || kids[0] != k.KID {
		t.Errorf("published kids %q, want only the EdDSA key %s, from the start", kids, k.KID)
	}
	v := newValidator(t, iss)
	token := iss.Token(nil)
	if alg := header(t, token)["alg"]; alg != "EdDSA" {
		t.Errorf("Token's alg %v, want EdDSA", alg)
	}
	validate(t, v, token)

	// The token endpoint signs with it too.
	resp, err := http.PostForm(iss.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"m2m"}, "client_secret": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	if alg := header(t, tr.AccessToken)["alg"]; alg != "EdDSA" {
		t.Errorf("the token endpoint's alg %v, want EdDSA", alg)
	}
	validate(t, v, tr.AccessToken)

	// Without the option, Token still signs with RS256.
	plain := grpcjwttest.NewIssuer()
	defer plain.Close()
	if alg := header(t, plain.Token(nil))["alg"]; alg != "RS256" {
		t.Errorf("default alg %v, want RS256", alg)
	}
}

func TestWithHandler(t *testing.T) {
	t.Parallel()
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithHandler("GET /oidc/hello", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})))
	defer iss.Close()
	resp, err := http.Get(iss.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Errorf("GET /oidc/hello: %q, want hello", b)
	}
	validate(t, newValidator(t, iss), iss.Token(nil))

	defer func() {
		if recover() == nil {
			t.Errorf("NewIssuer did not panic on a handler for its own JWKS route")
		}
	}()
	grpcjwttest.NewIssuer(grpcjwttest.WithHandler("GET /oidc/jwks", http.NotFoundHandler())).Close()
}

func TestWithMiddleware(t *testing.T) {
	t.Parallel()
	// Each middleware adds its name to a header of the response, so the
	// header lists them in the order they saw the request; the inner one
	// refuses a POST carrying a header the test sends.
	named := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("X-Seen-By", name)
				if name == "inner" && r.Header.Get("X-Refuse") != "" {
					http.Error(w, "refused", http.StatusTeapot)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	iss := grpcjwttest.NewIssuer(
		grpcjwttest.WithMiddleware(named("outer")),
		grpcjwttest.WithMiddleware(named("inner")),
		grpcjwttest.WithHandler("GET /oidc/hello", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello")
		})),
	)
	defer iss.Close()
	iss.AddClient("m2m", "s3cret")

	for _, tc := range []struct {
		name   string
		method string
		path   string
		refuse bool
		status int
	}{
		{"discovery", http.MethodGet, "/.well-known/openid-configuration", false, http.StatusOK},
		{"a handler of WithHandler", http.MethodGet, "/hello", false, http.StatusOK},
		{"token endpoint", http.MethodPost, "/token", false, http.StatusOK},
		{"token endpoint, refused by the middleware", http.MethodPost, "/token", true, http.StatusTeapot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.method == http.MethodPost {
				body = strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {"m2m"}, "client_secret": {"s3cret"}}.Encode())
			}
			req, err := http.NewRequest(tc.method, iss.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.refuse {
				req.Header.Set("X-Refuse", "yes")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if got := strings.Join(resp.Header.Values("X-Seen-By"), " "); got != "outer inner" {
				t.Errorf("seen by %q, want \"outer inner\"", got)
			}
		})
	}
	validate(t, newValidator(t, iss), iss.Token(nil))
}
