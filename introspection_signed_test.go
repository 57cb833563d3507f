package grpcjwt_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/codes"
)

// signedIssuer starts an issuer whose introspection endpoint signs its
// answers when asked (RFC 9701), and which knows the resource server's
// client. signed counts the answers it signs.
func signedIssuer(t *testing.T, opts ...grpcjwttest.Option) (iss *grpcjwttest.Issuer, signed *atomic.Int64) {
	t.Helper()
	iss = newIssuer(t, append([]grpcjwttest.Option{grpcjwttest.WithSignedIntrospection()}, opts...)...)
	iss.AddClient(rsID, rsSecret)
	signed = &atomic.Int64{}
	iss.SetIntrospectionJWT(func(map[string]any, map[string]any) { signed.Add(1) })
	return iss, signed
}

// discoveredIntrospection gives the Validator's Config.Issuer (iss) the
// introspection endpoint its discovery names, for its opaque tokens, and
// keeps no answer: every call is a request.
func discoveredIntrospection(iss *grpcjwttest.Issuer, mod ...func(*grpcjwt.IntrospectionConfig)) func(*grpcjwt.Config) {
	return func(c *grpcjwt.Config) {
		ic := &grpcjwt.IntrospectionConfig{ClientID: rsID, ClientSecret: rsSecret, CacheTTL: -1, NegativeCacheTTL: -1}
		for _, m := range mod {
			m(ic)
		}
		c.Introspection = ic
		c.OpaqueTokenIssuer = iss.URL
	}
}

// wantUnavailable asserts that err refuses the call as an endpoint that
// cannot answer does, for a reason whose text holds cause.
func wantUnavailable(t *testing.T, err error, cause string) {
	t.Helper()
	if !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) || errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrIntrospectionUnavailable alone", err)
	}
	if s := grpcjwt.Status(err); s.Code() != codes.Unavailable || s.Message() != grpcjwt.CodeTemporarilyUnavailable {
		t.Errorf("status %v", s)
	}
	if !strings.Contains(err.Error(), cause) {
		t.Errorf("err = %v, want it to say %q", err, cause)
	}
}

// TestSignedIntrospection: an issuer that offers signed answers is asked
// for them, and its answers, signed with its keys, verify and fill the
// same Claims as plain ones; an inactive answer, signed, is invalid_token.
func TestSignedIntrospection(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			iss, signed := signedIssuer(t, grpcjwttest.WithDefaultAlgorithm(alg))
			v := newValidator(t, iss, discoveredIntrospection(iss), func(c *grpcjwt.Config) { c.OrganizationClaim = "organization_id" })
			tok := iss.OpaqueToken(map[string]any{"sub": "alice", "scope": "greet:read", "organization_id": "acme"})
			c, err := v.Validate(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if n := signed.Load(); n != 1 {
				t.Fatalf("%d signed answers, want 1", n)
			}
			if !c.Introspected() || c.Subject != "alice" || c.Issuer != iss.URL || c.Organization != "acme" || strings.Join(c.Scopes, " ") != "greet:read" {
				t.Errorf("claims %+v", c)
			}
			if raw := string(c.Raw()); !strings.HasPrefix(raw, "{") || !strings.Contains(raw, `"active":true`) || strings.Contains(raw, "token_introspection") {
				t.Errorf("Raw = %s, want the token_introspection member", raw)
			}
			iss.Revoke(tok)
			_, err = v.Validate(t.Context(), tok)
			wantCause(t, err, grpcjwt.ErrTokenInactive)
			_, err = v.Validate(t.Context(), opaqueToken())
			wantCause(t, err, grpcjwt.ErrTokenInactive)
			if n := signed.Load(); n != 3 {
				t.Errorf("%d signed answers, want 3", n)
			}
		})
	}
}

// TestSignedIntrospectionNewKey: an answer signed with a key the Validator
// has not seen yet refreshes the issuer's JWKS, as a token's unknown kid
// does, and verifies.
func TestSignedIntrospectionNewKey(t *testing.T) {
	iss, signed := signedIssuer(t)
	v := newValidator(t, iss, discoveredIntrospection(iss))
	fetches := iss.JWKSFetches()
	iss.RotateKey("RS256")
	if _, err := v.Validate(t.Context(), iss.OpaqueToken(nil)); err != nil {
		t.Fatal(err)
	}
	if n := iss.JWKSFetches() - fetches; n != 1 || signed.Load() != 1 {
		t.Errorf("%d JWKS fetches and %d signed answers, want 1 and 1", n, signed.Load())
	}
}

// TestSignedIntrospectionChoice: SignedResponses decides whether answers
// are asked for signed; once asked, a plain one is refused.
func TestSignedIntrospectionChoice(t *testing.T) {
	plain := newIssuer(t) // offers no signed answers, and signs none
	plain.AddClient(rsID, rsSecret)
	for _, tc := range []struct {
		name   string
		plain  bool // the issuer offers nothing
		mod    func(iss *grpcjwttest.Issuer, c *grpcjwt.Config)
		signed bool   // answers are asked for signed
		refuse string // the call is refused as Unavailable, saying this
	}{
		{name: "offered", signed: true},
		{name: "offered, but off", mod: func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.Introspection.SignedResponses = grpcjwt.SignedResponsesOff
		}},
		{name: "offered, required", signed: true, mod: func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.Introspection.SignedResponses = grpcjwt.SignedResponsesRequired
		}},
		{name: "offered for the endpoint configured", signed: true, mod: func(iss *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.Introspection.Endpoint = iss.IntrospectionURL()
		}},
		{name: "offered for another endpoint", mod: func(iss *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.Introspection.Endpoint = iss.IntrospectionURL()
			iss.SetIntrospectionURI(iss.URL + "/elsewhere")
		}},
		{name: "no discovery", mod: func(iss *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.JWKSURL, c.Introspection.Endpoint = iss.JWKSURL(), iss.IntrospectionURL()
		}},
		{name: "no discovery, required", signed: true, mod: func(iss *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.JWKSURL, c.Introspection.Endpoint = iss.JWKSURL(), iss.IntrospectionURL()
			c.Introspection.SignedResponses = grpcjwt.SignedResponsesRequired
		}},
		{name: "not offered", plain: true},
		{name: "not offered, required: plain answers refused", plain: true, refuse: "a plain JSON answer", mod: func(_ *grpcjwttest.Issuer, c *grpcjwt.Config) {
			c.Introspection.SignedResponses = grpcjwt.SignedResponsesRequired
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, signed := signedIssuer(t)
			if tc.plain {
				iss, signed = plain, &atomic.Int64{}
			}
			v := newValidator(t, iss, discoveredIntrospection(iss), func(c *grpcjwt.Config) {
				if tc.mod != nil {
					tc.mod(iss, c)
				}
			})
			_, err := v.Validate(t.Context(), iss.OpaqueToken(nil))
			if tc.refuse != "" {
				wantUnavailable(t, err, tc.refuse)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := signed.Load() == 1; got != tc.signed {
				t.Errorf("signed %v, want %v", got, tc.signed)
			}
		})
	}
	t.Run("not a value", func(t *testing.T) {
		_, err := grpcjwt.NewValidator(t.Context(), grpcjwt.Config{Issuer: plain.URL, Audience: plain.Audience,
			Introspection: &grpcjwt.IntrospectionConfig{ClientID: rsID, ClientSecret: rsSecret, SignedResponses: "yes"}})
		if !errors.Is(err, grpcjwt.ErrConfig) || !strings.Contains(err.Error(), "Introspection.SignedResponses") {
			t.Errorf("err = %v, want ErrConfig naming Introspection.SignedResponses", err)
		}
	})
}

// TestSignedIntrospectionRefused: a signed answer with a defect says
// nothing about the token: the call is refused as Unavailable, never
// invalid_token, and the next call asks again.
func TestSignedIntrospectionRefused(t *testing.T) {
	iss, _ := signedIssuer(t)
	v := newValidator(t, iss, discoveredIntrospection(iss))
	tok := iss.OpaqueToken(nil)
	now := time.Now()
	for _, tc := range []struct {
		name, cause string
		edit        func(h, c map[string]any)
	}{
		{"typ JWT", "typ", func(h, _ map[string]any) { h["typ"] = "JWT" }},
		{"typ at+jwt: an access token", "typ", func(h, _ map[string]any) { h["typ"] = "at+jwt" }},
		{"no typ", "typ", func(h, _ map[string]any) { delete(h, "typ") }},
		{"typ token-introspection+jwt with a suffix", "typ", func(h, _ map[string]any) { h["typ"] = "token-introspection+jwt2" }},
		{"crit", "crit", func(h, _ map[string]any) { h["crit"] = []string{"exp"} }},
		{"a key the JWKS does not bind to RS384", "not in the key set", func(h, _ map[string]any) { h["alg"] = "RS384" }},
		{"unknown kid", "not in the key set", func(h, _ map[string]any) { h["kid"] = "nope" }},
		{"other iss", "iss", func(_, c map[string]any) { c["iss"] = "https://evil.example" }},
		{"iss with a slash", "iss", func(_, c map[string]any) { c["iss"] = iss.URL + "/" }},
		{"no iss", "no iss", func(_, c map[string]any) { delete(c, "iss") }},
		{"aud of another client", "aud", func(_, c map[string]any) { c["aud"] = "other-rs" }},
		{"aud of others", "aud", func(_, c map[string]any) { c["aud"] = []string{"a", "b"} }},
		{"no aud", "aud", func(_, c map[string]any) { delete(c, "aud") }},
		{"stale iat", "stale", func(_, c map[string]any) { c["iat"] = now.Add(-time.Hour).Unix() }},
		{"iat ahead", "ahead", func(_, c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }},
		{"no iat", "no iat", func(_, c map[string]any) { delete(c, "iat") }},
		{"iat a string", "wrong type", func(_, c map[string]any) { c["iat"] = fmt.Sprint(now.Unix()) }},
		{"exp past", "expired", func(_, c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }},
		{"nbf ahead", "not before", func(_, c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }},
		{"no token_introspection", "no token_introspection", func(_, c map[string]any) { delete(c, "token_introspection") }},
		{"token_introspection null", "no token_introspection", func(_, c map[string]any) { c["token_introspection"] = nil }},
		{"token_introspection a string", "not a JSON object", func(_, c map[string]any) { c["token_introspection"] = `{"active":true}` }},
		{"the answer at the top level", "no token_introspection", func(_, c map[string]any) {
			for k, val := range c["token_introspection"].(map[string]any) {
				c[k] = val
			}
			delete(c, "token_introspection")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss.SetIntrospectionJWT(tc.edit)
			t.Cleanup(func() { iss.SetIntrospectionJWT(nil) })
			before := iss.IntrospectionRequests()
			for range 2 {
				c, err := v.Validate(t.Context(), tok)
				if c != nil {
					t.Fatalf("claims returned: %+v", c)
				}
				wantUnavailable(t, err, tc.cause)
				if strings.Contains(err.Error(), tok) {
					t.Errorf("the error quotes the token: %v", err)
				}
			}
			if n := iss.IntrospectionRequests() - before; n != 2 {
				t.Errorf("%d requests for two calls, want 2: a defective answer is never cached", n)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		iss.SetIntrospectionMode(grpcjwttest.Unsigned)
		t.Cleanup(func() { iss.SetIntrospectionMode(grpcjwttest.Serve) })
		_, err := v.Validate(t.Context(), tok)
		wantUnavailable(t, err, "a plain JSON answer")
	})
	for _, tc := range []struct {
		name string
		edit func(h, c map[string]any)
	}{
		{"typ with application/", func(h, _ map[string]any) { h["typ"] = "application/token-introspection+jwt" }},
		{"typ in capitals", func(h, _ map[string]any) { h["typ"] = "Token-Introspection+JWT" }},
		{"aud the API", func(_, c map[string]any) { c["aud"] = iss.Audience }},
		{"aud an array", func(_, c map[string]any) { c["aud"] = []string{"other", rsID} }},
		{"iat within the leeway", func(_, c map[string]any) { c["iat"] = now.Add(-20 * time.Second).Unix() }},
		{"exp ahead", func(_, c map[string]any) { c["exp"] = now.Add(time.Minute).Unix() }},
		{"sub and jti", func(_, c map[string]any) { c["sub"], c["jti"] = "x", "y" }},
	} {
		t.Run("accepted "+tc.name, func(t *testing.T) {
			iss.SetIntrospectionJWT(tc.edit)
			t.Cleanup(func() { iss.SetIntrospectionJWT(nil) })
			if _, err := v.Validate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// fixedAnswer is an introspection endpoint on loopback that answers every
// request with the one body and Content-Type set last, and records the
// Accept header of the last request.
type fixedAnswer struct {
	URL string

	mu                  sync.Mutex
	body, ctype, accept string
}

func newFixedAnswer(t *testing.T) *fixedAnswer {
	t.Helper()
	f := &fixedAnswer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		body, ctype := f.body, f.ctype
		f.accept = r.Header.Get("Accept")
		f.mu.Unlock()
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fixedAnswer) set(ctype, body string) {
	f.mu.Lock()
	f.ctype, f.body = ctype, body
	f.mu.Unlock()
}

// TestSignedIntrospectionBytes: answers made byte by byte, signed with the
// issuer's key unless forged: only a compact JWS of the issuer's key and
// algorithms, of the signed answer's media type and of unique member
// names at every level, is read; what its token_introspection says of the
// token is read as a plain answer is.
func TestSignedIntrospectionBytes(t *testing.T) {
	iss := newIssuer(t)
	ep := newFixedAnswer(t)
	v := newValidator(t, iss, discoveredIntrospection(iss, func(ic *grpcjwt.IntrospectionConfig) {
		ic.Endpoint, ic.SignedResponses = ep.URL, grpcjwt.SignedResponsesRequired
	}))
	key := iss.SigningKey("RS256")
	header := fmt.Sprintf(`{"alg":"RS256","kid":%q,"typ":"token-introspection+jwt"}`, key.KID)
	inner := activeAnswer(t, iss, time.Now(), nil)
	claims := func(inner string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"token_introspection":%s}`, iss.URL, rsID, time.Now().Unix(), inner)
	}
	sign := func(k *grpcjwttest.Key, header, claims string) string {
		jwt, err := k.SignJSON([]byte(header), []byte(claims))
		if err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	good := sign(key, header, claims(inner))
	forger := grpcjwttest.MustKey("RS256")
	forger.KID = key.KID
	hmacJWT := func() string {
		input := b64(`{"alg":"HS256","kid":"`+key.KID+`","typ":"token-introspection+jwt"}`) + "." + b64(claims(inner))
		mac := hmac.New(sha256.New, []byte(rsSecret))
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	h, p, _ := splitToken(t, good)
	_, _, otherSig := splitToken(t, sign(key, header, claims(activeAnswer(t, iss, time.Now(), map[string]any{"sub": "mallory"}))))
	const jwtType = "application/token-introspection+jwt"
	for _, tc := range []struct {
		name, ctype, body, cause string
	}{
		{"another answer's signature", jwtType, h + "." + p + "." + otherSig, "bad signature"},
		{"forged with the kid of the issuer's key", jwtType, sign(forger, header, claims(inner)), "bad signature"},
		{"alg none", jwtType, b64(`{"alg":"none","typ":"token-introspection+jwt"}`) + "." + p + ".AAAA", `alg "none"`},
		{"HS256 with the client secret", jwtType, hmacJWT(), `alg "HS256"`},
		{"no signature", jwtType, h + "." + p + ".", "empty signature"},
		{"JWE", jwtType, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "encrypted"},
		{"JSON serialization", jwtType, `{"payload":"` + p + `","signatures":[]}`, "no '.'"},
		{"a trailing newline", jwtType, good + "\n", "base64url"},
		{"duplicate member", jwtType, sign(key, header, strings.Replace(claims(inner), `{`, `{"iss":"https://evil.example",`, 1)), "duplicate"},
		{"duplicate header member", jwtType, sign(key, strings.Replace(header, `{`, `{"typ":"JWT",`, 1), claims(inner)), "duplicate"},
		// Found before the signature is checked: an answer that may not be
		// the issuer's never refuses the token.
		{"duplicate inside token_introspection", jwtType, sign(key, header, claims(strings.Replace(inner, `{`, `{"sub":"mallory",`, 1))), `duplicate member name "sub"`},
		{"duplicate deep inside", jwtType, sign(key, header, claims(activeAnswer(t, iss, time.Now(), map[string]any{"cnf": json.RawMessage(`{"jkt":"a","jkt":"b"}`)}))), `duplicate member name "jkt"`},
		{"as JSON", "application/json", good, "a plain JSON answer"},
		{"plain JSON", "application/json; charset=utf-8", inner, "a plain JSON answer"},
		{"as text", "text/plain", good, "Content-Type"},
		{"as a JWT", "application/jwt", good, "Content-Type"},
		{"no Content-Type", "", good, "Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep.set(tc.ctype, tc.body)
			_, err := v.Validate(t.Context(), opaqueToken())
			wantUnavailable(t, err, tc.cause)
		})
	}
	ep.mu.Lock()
	accept := ep.accept
	ep.mu.Unlock()
	if accept != jwtType {
		t.Errorf("Accept: %q, want %q", accept, jwtType)
	}
	for _, tc := range []struct {
		name, inner string
		cause       error
	}{
		{"inactive", `{"active":false}`, grpcjwt.ErrTokenInactive},
		{"another issuer's token", activeAnswer(t, iss, time.Now(), map[string]any{"iss": "https://evil.example"}), grpcjwt.ErrUntrustedIssuer},
		{"expired", activeAnswer(t, iss, time.Now(), map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), grpcjwt.ErrTokenExpired},
		{"no active", activeAnswer(t, iss, time.Now(), map[string]any{"active": nil}), grpcjwt.ErrTokenMalformed},
	} {
		t.Run("the token: "+tc.name, func(t *testing.T) {
			ep.set(jwtType, sign(key, header, claims(tc.inner)))
			_, err := v.Validate(t.Context(), opaqueToken())
			wantCause(t, err, tc.cause)
		})
	}
	t.Run("accepted with a charset", func(t *testing.T) {
		ep.set("application/token-introspection+jwt; charset=utf-8", good)
		if _, err := v.Validate(t.Context(), opaqueToken()); err != nil {
			t.Fatal(err)
		}
	})
}
