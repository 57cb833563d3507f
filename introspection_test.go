package grpcjwt_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/codes"
)

// Test client credentials of the introspection endpoint: the id and the
// secret hold characters that Basic must form-encode.
const (
	rsID     = "rs:api"
	rsSecret = "s3cret/+%&"
)

// endpoint is an introspection endpoint on loopback for the tests. It
// answers a token with the body set for it by answer ({"active":false} for
// any other), after checking the client's credentials (basic rsID and
// rsSecret unless check says otherwise). status makes it answer that
// instead; gate, when set, holds every request until it receives a value
// or the request ends.
type endpoint struct {
	URL string
	srv *httptest.Server

	mu      sync.Mutex
	answers map[string]string
	status  int
	gate    chan struct{}
	check   func(r *http.Request) bool
	forms   []url.Values

	requests atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
	arrived  chan struct{} // a value per request that reaches the gate, when gate is set
}

func newEndpoint(t testing.TB) *endpoint {
	t.Helper()
	e := &endpoint{answers: map[string]string{}, arrived: make(chan struct{}, 1024)}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	e.URL = e.srv.URL + "/introspect"
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	n := e.inflight.Add(1)
	defer e.inflight.Add(-1)
	for {
		p := e.peak.Load()
		if n <= p || e.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.URL.Path != "/introspect" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.forms = append(e.forms, r.PostForm)
	body, ok := e.answers[r.PostForm.Get("token")]
	status, gate, check := e.status, e.gate, e.check
	e.mu.Unlock()
	if gate != nil {
		e.arrived <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if check == nil {
		check = func(r *http.Request) bool {
			id, secret, ok := r.BasicAuth()
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
			return ok && id == rsID && secret == rsSecret
		}
	}
	if !check(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if !ok {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// answer makes the endpoint answer token with body.
func (e *endpoint) answer(token, body string) {
	e.mu.Lock()
	e.answers[token] = body
	e.mu.Unlock()
}

func (e *endpoint) setStatus(s int) { e.mu.Lock(); e.status = s; e.mu.Unlock() }

func (e *endpoint) setGate(g chan struct{}) { e.mu.Lock(); e.gate = g; e.mu.Unlock() }

func (e *endpoint) lastForm() url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.forms) == 0 {
		return nil
	}
	return e.forms[len(e.forms)-1]
}

// activeAnswer is an answer for a token of iss: active, with iss, the
// audience, sub, client_id, a scope and exp in an hour from now, merged
// with claims (a nil value removes one).
func activeAnswer(t testing.TB, iss *grpcjwttest.Issuer, now time.Time, claims map[string]any) string {
	t.Helper()
	c := map[string]any{
		"active": true, "iss": iss.URL, "aud": iss.Audience, "sub": "user-123", "client_id": "test-client",
		"scope": "greet:read", "token_type": "Bearer", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return mustJSON(t, c)
}

// opaqueToken returns a random opaque token of 43 base64url characters.
func opaqueToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// introspecting configures the Validator's Config.Issuer (iss) with ep as
// its introspection endpoint, for its opaque tokens.
func introspecting(iss *grpcjwttest.Issuer, ep *endpoint, mod ...func(*grpcjwt.IntrospectionConfig)) func(*grpcjwt.Config) {
	return func(c *grpcjwt.Config) {
		ic := &grpcjwt.IntrospectionConfig{Endpoint: ep.URL, ClientID: rsID, ClientSecret: rsSecret}
		for _, m := range mod {
			m(ic)
		}
		c.Introspection = ic
		c.OpaqueTokenIssuer = iss.URL
	}
}

// testClock is a settable clock for Config.Now.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *testClock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Add(d time.Duration)        { c.ns.Add(int64(d)) }
func (c *testClock) config(cfg *grpcjwt.Config) { cfg.Now = c.Now }

// wantCause asserts that err matches want (and ErrInvalidToken when want
// is one of its causes).
func wantCause(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if grpcjwt.Status(want).Message() == grpcjwt.CodeInvalidToken && !errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Fatalf("err = %v, does not match ErrInvalidToken", err)
	}
}

// TestIntrospectionClaims: an opaque token's claims come from the answer,
// filled as a JWT's with the same claims are; a handler tells them apart
// by Introspected alone.
func TestIntrospectionClaims(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep), func(c *grpcjwt.Config) {
		c.ScopeClaims = []string{"permissions"}
		c.OrganizationClaim = "organization_id"
	})
	now := time.Now()
	claims := map[string]any{
		"sub": "alice", "client_id": "app", "scope": "greet:read greet:write", "permissions": []string{"admin"},
		"jti": "j-1", "organization_id": "acme", "cnf": map[string]any{"x5t#S256": b64(strings.Repeat("x", 32))},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	jwt, err := v.Validate(t.Context(), iss.Token(claims))
	if err != nil {
		t.Fatal(err)
	}
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, now, claims))
	got, err := v.Validate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Introspected() || jwt.Introspected() {
		t.Errorf("Introspected: opaque %v, JWT %v; want true, false", got.Introspected(), jwt.Introspected())
	}
	if got.Issuer != jwt.Issuer || got.Subject != jwt.Subject || got.ClientID != jwt.ClientID || got.ID != jwt.ID ||
		!got.ExpiresAt.Equal(jwt.ExpiresAt) || !got.NotBefore.Equal(jwt.NotBefore) || !got.IssuedAt.Equal(jwt.IssuedAt) ||
		strings.Join(got.Scopes, " ") != strings.Join(jwt.Scopes, " ") || strings.Join(got.Audience, " ") != strings.Join(jwt.Audience, " ") ||
		got.MatchedAudience != jwt.MatchedAudience || got.Organization != jwt.Organization || got.Confirmation != jwt.Confirmation {
		t.Errorf("introspected claims\n%+v\ndiffer from the JWT's\n%+v", *got, *jwt)
	}
	var org string
	if ok, err := got.Get("organization_id", &org); !ok || err != nil || org != "acme" {
		t.Errorf(`Get("organization_id") = %v, %v, %q`, ok, err, org)
	}
	if !strings.Contains(string(got.Raw()), `"active":true`) {
		t.Errorf("Raw = %s, want the answer", got.Raw())
	}
	f := ep.lastForm()
	if f.Get("token") != tok || f.Get("token_type_hint") != "access_token" || f.Has("client_secret") {
		t.Errorf("request form %v", f)
	}
	// An answer without iss speaks for the endpoint's issuer.
	tok2 := opaqueToken()
	ep.answer(tok2, activeAnswer(t, iss, now, map[string]any{"iss": nil}))
	if c, err := v.Validate(t.Context(), tok2); err != nil || c.Issuer != iss.URL {
		t.Errorf("answer without iss: %v, %v", c, err)
	}
}

// TestIntrospectionAnswerChecks: the answer is read as strictly as a JWT's
// payload, and its claims checked by the same rules.
func TestIntrospectionAnswerChecks(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	clk := newTestClock()
	v := newValidator(t, iss, introspecting(iss, ep), clk.config)
	now := clk.Now()
	active := func(claims map[string]any) string { return activeAnswer(t, iss, now, claims) }
	for _, tc := range []struct {
		name, body string
		cause      error
	}{
		{"inactive", `{"active":false}`, grpcjwt.ErrTokenInactive},
		{"inactive with claims", `{"active":false,"iss":"` + iss.URL + `","exp":9999999999}`, grpcjwt.ErrTokenInactive},
		{"no active", active(map[string]any{"active": nil}), grpcjwt.ErrTokenMalformed},
		{"active a string", active(map[string]any{"active": "true"}), grpcjwt.ErrTokenMalformed},
		{"active 1", active(map[string]any{"active": 1}), grpcjwt.ErrTokenMalformed},
		{"active twice", `{"active":false,"active":true,"iss":"` + iss.URL + `"}`, grpcjwt.ErrDuplicateMember},
		{"Active", strings.Replace(active(nil), `"active"`, `"Active"`, 1), grpcjwt.ErrTokenMalformed},
		{"duplicate sub", strings.Replace(active(nil), `{`, `{"sub":"mallory",`, 1), grpcjwt.ErrDuplicateMember},
		{"duplicate nested", active(map[string]any{"cnf": json.RawMessage(`{"jkt":"a","jkt":"b"}`)}), grpcjwt.ErrDuplicateMember},
		{"other issuer", active(map[string]any{"iss": "https://evil.example"}), grpcjwt.ErrUntrustedIssuer},
		{"issuer with a slash", active(map[string]any{"iss": iss.URL + "/"}), grpcjwt.ErrUntrustedIssuer},
		{"other audience", active(map[string]any{"aud": "https://other.example"}), grpcjwt.ErrAudienceMismatch},
		{"no audience", active(map[string]any{"aud": nil}), grpcjwt.ErrMissingClaim},
		{"no exp", active(map[string]any{"exp": nil}), grpcjwt.ErrMissingClaim},
		{"expired", active(map[string]any{"exp": now.Add(-time.Hour).Unix()}), grpcjwt.ErrTokenExpired},
		{"exp a string", active(map[string]any{"exp": "9999999999"}), grpcjwt.ErrTokenMalformed},
		{"nbf ahead", active(map[string]any{"nbf": now.Add(time.Hour).Unix()}), grpcjwt.ErrTokenNotYetValid},
		{"iat ahead", active(map[string]any{"iat": now.Add(time.Hour).Unix()}), grpcjwt.ErrIssuedInFuture},
		{"scope an array", active(map[string]any{"scope": []string{"greet:read"}}), grpcjwt.ErrTokenMalformed},
		{"sub a number", active(map[string]any{"sub": 7}), grpcjwt.ErrTokenMalformed},
		{"refresh token", active(map[string]any{"token_type": "refresh_token"}), grpcjwt.ErrTokenMalformed},
		{"token_type a number", active(map[string]any{"token_type": 1}), grpcjwt.ErrTokenMalformed},
		{"Hydra refresh token", active(map[string]any{"token_use": "refresh_token"}), grpcjwt.ErrTokenMalformed},
		{"DPoP without jkt", active(map[string]any{"token_type": "DPoP"}), grpcjwt.ErrTokenMalformed},
		{"cnf a string", active(map[string]any{"cnf": "x"}), grpcjwt.ErrTokenMalformed},
		{"bad x5t#S256", active(map[string]any{"cnf": map[string]any{"x5t#S256": "short"}}), grpcjwt.ErrTokenMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := opaqueToken()
			ep.answer(tok, tc.body)
			c, err := v.Validate(t.Context(), tok)
			if c != nil {
				t.Errorf("claims returned: %+v", c)
			}
			wantCause(t, err, tc.cause)
			if s := grpcjwt.Status(err); s.Code() != codes.Unauthenticated || s.Message() != grpcjwt.CodeInvalidToken {
				t.Errorf("status %v", s)
			}
		})
	}
	for _, tc := range []struct{ name, claim string }{
		{"DPoP", "DPoP"}, {"bearer", "bearer"}, {"no token_type", ""},
	} {
		t.Run("accepted "+tc.name, func(t *testing.T) {
			tok := opaqueToken()
			claims := map[string]any{"cnf": map[string]any{"jkt": "thumb"}, "token_type": tc.claim}
			if tc.claim == "" {
				claims["token_type"] = nil
			}
			ep.answer(tok, active(claims))
			if _, err := v.Validate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestIntrospectionEndpointFailures: an endpoint that cannot say whether a
// token is active makes the call Unavailable temporarily_unavailable,
// never invalid_token, and nothing of it is cached.
func TestIntrospectionEndpointFailures(t *testing.T) {
	iss := newIssuer(t)
	redirect := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/introspect", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	for _, tc := range []struct {
		name  string
		setup func(ep *endpoint, ic *grpcjwt.IntrospectionConfig, tok string)
	}{
		{"500", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, _ string) {
			ep.setStatus(http.StatusInternalServerError)
		}},
		{"503", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, _ string) {
			ep.setStatus(http.StatusServiceUnavailable)
		}},
		{"wrong client secret", func(_ *endpoint, ic *grpcjwt.IntrospectionConfig, _ string) { ic.ClientSecret = "wrong-secret-value" }},
		{"not JSON", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, tok string) { ep.answer(tok, "<html>login</html>") }},
		{"truncated JSON", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, tok string) { ep.answer(tok, `{"active":true,`) }},
		{"an array", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, tok string) { ep.answer(tok, `[{"active":true}]`) }},
		{"too large", func(ep *endpoint, _ *grpcjwt.IntrospectionConfig, tok string) {
			ep.answer(tok, `{"active":true,"pad":"`+strings.Repeat("x", grpcjwt.DefaultMaxTokenSize)+`"}`)
		}},
		{"redirect", func(_ *endpoint, ic *grpcjwt.IntrospectionConfig, _ string) {
			ic.Endpoint = redirect.URL + "/introspect"
		}},
		{"down", func(_ *endpoint, ic *grpcjwt.IntrospectionConfig, _ string) {
			ic.Endpoint = "http://127.0.0.1:1/introspect"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t)
			tok := opaqueToken()
			ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
			var cfg *grpcjwt.IntrospectionConfig
			v := newValidator(t, iss, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
				tc.setup(ep, ic, tok)
				cfg = ic
			}))
			for range 2 {
				c, err := v.Validate(t.Context(), tok)
				if c != nil || !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) || errors.Is(err, grpcjwt.ErrInvalidToken) {
					t.Fatalf("Validate = %v, %v; want ErrIntrospectionUnavailable alone", c, err)
				}
				if s := grpcjwt.Status(err); s.Code() != codes.Unavailable || s.Message() != grpcjwt.CodeTemporarilyUnavailable {
					t.Errorf("status %v", s)
				}
				if grpcjwt.CauseOf(err) != "introspection_unavailable" {
					t.Errorf("CauseOf = %q", grpcjwt.CauseOf(err))
				}
				if strings.Contains(err.Error(), string(cfg.ClientSecret)) || strings.Contains(err.Error(), tok) {
					t.Errorf("the error quotes the secret or the token: %v", err)
				}
			}
			if n := ep.requests.Load(); cfg.Endpoint == ep.URL && n != 2 {
				t.Errorf("%d requests for two calls, want 2: a failure is never cached", n)
			}
		})
	}
}

// TestIntrospectionShape: tokens that cannot be opaque access tokens are
// refused without a request, and a JWT is never introspected.
func TestIntrospectionShape(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep))
	for _, tc := range []struct {
		name, token string
		cause       error
	}{
		{"short", "abc123", grpcjwt.ErrTokenMalformed},
		{"15 bytes", strings.Repeat("a", 15), grpcjwt.ErrTokenMalformed},
		{"a space", strings.Repeat("a", 20) + " b", grpcjwt.ErrTokenMalformed},
		{"a quote", strings.Repeat("a", 20) + `"`, grpcjwt.ErrTokenMalformed},
		{"non-ASCII", strings.Repeat("a", 20) + "é", grpcjwt.ErrTokenMalformed},
		{"NUL", strings.Repeat("a", 20) + "\x00", grpcjwt.ErrTokenMalformed},
		{"= inside", strings.Repeat("a", 20) + "=a", grpcjwt.ErrTokenMalformed},
		{"only =", strings.Repeat("=", 20), grpcjwt.ErrTokenMalformed},
		{"too large", strings.Repeat("a", grpcjwt.DefaultMaxTokenSize+1), grpcjwt.ErrTokenTooLarge},
		{"a JWS of junk", strings.Repeat("a", 20) + "." + strings.Repeat("b", 20) + ".c", grpcjwt.ErrTokenMalformed},
		{"a JWT of another issuer", grpcjwttest.NewIssuer().Token(nil), grpcjwt.ErrUntrustedIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Validate(t.Context(), tc.token)
			wantCause(t, err, tc.cause)
		})
	}
	if _, err := v.Validate(t.Context(), iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
	if n := ep.requests.Load(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	for _, tok := range []string{strings.Repeat("a", 16), "ory_at_" + opaqueToken() + "." + opaqueToken(), opaqueToken() + "==", "a-b.c_d~e+f/g.h.i.j"} {
		if _, err := v.Validate(t.Context(), tok); !errors.Is(err, grpcjwt.ErrTokenInactive) {
			t.Errorf("%q: %v, want it introspected (inactive)", tok, err)
		}
	}
}

// TestOpaqueTokensWithoutAnIssuer: without OpaqueTokenIssuer, an opaque
// token is refused as malformed, and no request is made, even when an
// issuer has an introspection endpoint.
func TestOpaqueTokensWithoutAnIssuer(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep), func(c *grpcjwt.Config) { c.OpaqueTokenIssuer = "" })
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
	_, err := v.Validate(t.Context(), tok)
	wantCause(t, err, grpcjwt.ErrTokenMalformed)
	if n := ep.requests.Load(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// TestOpaqueTokensGoToOneIssuer: with two trusted issuers, each with an
// endpoint, an opaque token is sent to OpaqueTokenIssuer's alone, and the
// other's answer is never asked.
func TestOpaqueTokensGoToOneIssuer(t *testing.T) {
	a, b := newIssuer(t), newIssuer(t)
	epA, epB := newEndpoint(t), newEndpoint(t)
	v := newValidator(t, a, introspecting(a, epA), func(c *grpcjwt.Config) {
		c.Issuers = []grpcjwt.IssuerConfig{{Issuer: b.URL, Audience: b.Audience,
			Introspection: &grpcjwt.IntrospectionConfig{Endpoint: epB.URL, ClientID: rsID, ClientSecret: rsSecret}}}
		c.OpaqueTokenIssuer = b.URL
	})
	tok := opaqueToken()
	epA.answer(tok, activeAnswer(t, a, time.Now(), nil))
	epB.answer(tok, activeAnswer(t, b, time.Now(), map[string]any{"sub": "at-b"}))
	c, err := v.Validate(t.Context(), tok)
	if err != nil || c.Issuer != b.URL || c.Subject != "at-b" {
		t.Fatalf("Validate = %+v, %v", c, err)
	}
	if epA.requests.Load() != 0 || epB.requests.Load() != 1 {
		t.Errorf("requests: %d at A, %d at B; want 0, 1", epA.requests.Load(), epB.requests.Load())
	}
	// B's endpoint cannot speak for A.
	tok2 := opaqueToken()
	epB.answer(tok2, activeAnswer(t, a, time.Now(), nil))
	_, err = v.Validate(t.Context(), tok2)
	wantCause(t, err, grpcjwt.ErrUntrustedIssuer)
}

// TestIntrospectionConfig: NewValidator refuses introspection settings
// that cannot work or would leak, naming the field, and never quoting a
// secret.
func TestIntrospectionConfig(t *testing.T) {
	iss := newIssuer(t)
	tlsIss := newIssuer(t, grpcjwttest.WithTLS())
	const secret = "do-not-print-me"
	for _, tc := range []struct {
		name string
		cfg  func(c *grpcjwt.Config)
		want string
	}{
		{"opaque issuer unknown", func(c *grpcjwt.Config) { c.OpaqueTokenIssuer = "https://other.example" }, "OpaqueTokenIssuer"},
		{"opaque issuer without introspection", func(c *grpcjwt.Config) { c.Introspection = nil }, "no Introspection"},
		{"no client id", func(c *grpcjwt.Config) { c.Introspection.ClientID = "" }, "ClientID is required"},
		{"no secret", func(c *grpcjwt.Config) { c.Introspection.ClientSecret = "" }, "ClientSecret is required"},
		{"post without secret", func(c *grpcjwt.Config) {
			c.Introspection.AuthMethod, c.Introspection.ClientSecret = grpcjwt.ClientSecretPost, ""
		}, "ClientSecret is required"},
		{"secret never sent", func(c *grpcjwt.Config) { c.Introspection.AuthMethod = grpcjwt.AuthNone }, "never sends it"},
		{"unknown method", func(c *grpcjwt.Config) { c.Introspection.AuthMethod = "client_secret_jwt" }, "is not one of"},
		{"private_key_jwt without key", func(c *grpcjwt.Config) {
			c.Introspection.AuthMethod, c.Introspection.ClientSecret = grpcjwt.PrivateKeyJWT, ""
		}, "needs a PrivateKey"},
		{"private_key_jwt wrong alg", func(c *grpcjwt.Config) {
			c.Introspection.AuthMethod, c.Introspection.ClientSecret = grpcjwt.PrivateKeyJWT, ""
			c.Introspection.PrivateKey, c.Introspection.SigningAlgorithm = grpcjwttest.MustKey("ES256").Signer(), "RS256"
		}, "cannot sign"},
		{"private_key_jwt HS256", func(c *grpcjwt.Config) {
			c.Introspection.AuthMethod, c.Introspection.ClientSecret = grpcjwt.PrivateKeyJWT, ""
			c.Introspection.PrivateKey, c.Introspection.SigningAlgorithm = grpcjwttest.MustKey("ES256").Signer(), "HS256"
		}, "not an asymmetric"},
		{"tls_client_auth without client", func(c *grpcjwt.Config) {
			c.Introspection.AuthMethod, c.Introspection.ClientSecret = grpcjwt.TLSClientAuth, ""
		}, "needs an HTTPClient"},
		{"not a URL", func(c *grpcjwt.Config) { c.Introspection.Endpoint = "introspect" }, "Introspection.Endpoint"},
		{"user info", func(c *grpcjwt.Config) { c.Introspection.Endpoint = "http://rs:" + secret + "@127.0.0.1/introspect" }, "user information"},
		{"JWKSURL without endpoint", func(c *grpcjwt.Config) { c.JWKSURL, c.Introspection.Endpoint = iss.JWKSURL(), "" }, "Endpoint is required"},
		{"negative bound", func(c *grpcjwt.Config) { c.Introspection.MaxConcurrent = -1 }, "must not be negative"},
		{"http endpoint for an https issuer", func(c *grpcjwt.Config) {
			c.Issuer, c.OpaqueTokenIssuer, c.HTTPClient = tlsIss.URL, tlsIss.URL, tlsIss.Client()
		}, "not https"},
		{"introspection without Config.Issuer", func(c *grpcjwt.Config) {
			c.Issuers = []grpcjwt.IssuerConfig{{Issuer: c.Issuer, Audience: c.Audience}}
			c.Issuer, c.Audience, c.OpaqueTokenIssuer = "", "", ""
		}, "belong to Config.Issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, OpaqueTokenIssuer: iss.URL,
				Introspection: &grpcjwt.IntrospectionConfig{Endpoint: iss.URL + "/introspect", ClientID: rsID, ClientSecret: secret}}
			tc.cfg(&cfg)
			v, err := grpcjwt.NewValidator(t.Context(), cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewValidator succeeded")
			}
			if !errors.Is(err, grpcjwt.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrConfig naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestSecretNeverPrinted: a Config printed or logged whole keeps its
// client secret.
func TestSecretNeverPrinted(t *testing.T) {
	const secret = "do-not-print-me"
	cfg := grpcjwt.Config{Issuer: "https://a.example", Introspection: &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: secret}}
	ic := *cfg.Introspection
	b, err := json.Marshal(map[string]any{"secret": ic.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for _, s := range []string{
		fmtAll(ic), fmtAll(&ic), fmtAll(cfg.Introspection.ClientSecret), string(b), slogJSON(&log, "config", ic),
	} {
		if strings.Contains(s, secret) || !strings.Contains(s, "[redacted]") {
			t.Errorf("printed: %s", s)
		}
	}
	if string(ic.ClientSecret) != secret {
		t.Error("the secret itself changed")
	}
}

// fmtAll prints v with every verb a log line might use.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s %q %x", v, v, v, v, v, v)
}

// slogJSON logs v under key as JSON into b and returns what it wrote.
func slogJSON(b *strings.Builder, key string, v any) string {
	slog.New(slog.NewJSONHandler(b, nil)).Info("x", key, v)
	return b.String()
}
