package grpcjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// newValidator starts a validator against iss and closes it with the test.
func newValidator(t testing.TB, iss *grpcjwttest.Issuer, mod ...func(*grpcjwt.Config)) *grpcjwt.Validator {
	t.Helper()
	cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, cfg)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func newIssuer(t testing.TB, opts ...grpcjwttest.Option) *grpcjwttest.Issuer {
	t.Helper()
	iss := grpcjwttest.NewIssuer(opts...)
	t.Cleanup(iss.Close)
	return iss
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// splitToken returns the three parts of a compact JWS.
func splitToken(t testing.TB, tok string) (h, p, s string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// wantReject asserts that tok is rejected with cause.
func wantReject(t *testing.T, v *grpcjwt.Validator, tok string, cause error) {
	t.Helper()
	c, err := v.Validate(context.Background(), tok)
	if err == nil {
		t.Fatalf("accepted (sub %q), want %v", c.Subject, cause)
	}
	if c != nil {
		t.Errorf("claims returned with error %v", err)
	}
	if !errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Errorf("error %v does not match ErrInvalidToken", err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("error %v, want cause %v", err, cause)
	}
}

func TestValidateAcceptsEveryAlgorithm(t *testing.T) {
	iss := newIssuer(t, grpcjwttest.WithAlgorithms(grpcjwttest.Algorithms()...))
	v := newValidator(t, iss)
	for _, alg := range grpcjwttest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			tok := iss.Token(map[string]any{"sub": "alice", "scope": "a b"}, grpcjwttest.WithKeyFor(alg))
			c, err := v.Validate(context.Background(), tok)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.Subject != "alice" || c.ClientID != "test-client" || c.Issuer != iss.URL {
				t.Errorf("claims = %+v", c)
			}
			if !c.HasScope("a") || !c.HasScope("b") || c.HasScope("a b") {
				t.Errorf("scopes = %q", c.Scopes)
			}
		})
	}
}

// TestHostileTokens is the catalogue of attacks on JWT verifiers; every
// one must be refused, and none may cause a fetch of a URL it names.
func TestHostileTokens(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	rsaKey := iss.SigningKey("RS256")
	good := iss.Token(nil)
	gh, gp, gs := splitToken(t, good)
	claims := gp

	// A server the token points at: it must receive no request.
	var lured atomic.Int64
	lure := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lured.Add(1)
		w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(lure.Close)

	hdr := func(fields map[string]any) string { return b64(mustJSON(t, fields)) }
	signWith := func(h map[string]any, k *grpcjwttest.Key) string {
		tok, err := k.Sign(h, map[string]any{"iss": iss.URL, "aud": iss.Audience, "exp": time.Now().Add(time.Hour).Unix(), "sub": "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs256 := func(secret []byte) string {
		input := hdr(map[string]any{"alg": "HS256", "kid": rsaKey.KID, "typ": "JWT"}) + "." + claims
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	pub := rsaKey.Public().(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := rsaKey.JWK()
	attacker := grpcjwttest.MustKey("RS256")
	attackerJWK, _ := attacker.JWK()
	ecKey := iss.SigningKey("ES256")

	cases := []struct {
		name  string
		tok   string
		cause error
	}{
		{"alg none unsigned", hdr(map[string]any{"alg": "none"}) + "." + claims + ".", grpcjwt.ErrTokenMalformed},
		{"alg none with signature", hdr(map[string]any{"alg": "none", "kid": rsaKey.KID}) + "." + claims + "." + gs, grpcjwt.ErrAlgorithmNotAllowed},
		{"alg None", hdr(map[string]any{"alg": "None", "kid": rsaKey.KID}) + "." + claims + "." + gs, grpcjwt.ErrAlgorithmNotAllowed},
		{"alg NONE", hdr(map[string]any{"alg": "NONE", "kid": rsaKey.KID}) + "." + claims + "." + gs, grpcjwt.ErrAlgorithmNotAllowed},
		{"HS256 keyed with PEM public key", hs256(pemBytes), grpcjwt.ErrAlgorithmNotAllowed},
		{"HS256 keyed with DER public key", hs256(der), grpcjwt.ErrAlgorithmNotAllowed},
		{"HS256 keyed with JWK JSON", hs256(jwkJSON), grpcjwt.ErrAlgorithmNotAllowed},
		// Without kid the issuer's only RS256 key is tried, and fails.
		{"embedded jwk", signWith(map[string]any{"alg": "RS256", "jwk": json.RawMessage(attackerJWK)}, attacker), grpcjwt.ErrBadSignature},
		{"embedded jwk with known kid", signWith(map[string]any{"alg": "RS256", "kid": rsaKey.KID, "jwk": json.RawMessage(attackerJWK)}, attacker), grpcjwt.ErrBadSignature},
		{"jku to live server", signWith(map[string]any{"alg": "RS256", "kid": attacker.KID, "jku": lure.URL}, attacker), grpcjwt.ErrUnknownKey},
		{"x5u to live server", signWith(map[string]any{"alg": "RS256", "kid": attacker.KID, "x5u": lure.URL}, attacker), grpcjwt.ErrUnknownKey},
		{"x5c", signWith(map[string]any{"alg": "RS256", "kid": attacker.KID, "x5c": []string{base64.StdEncoding.EncodeToString(der)}}, attacker), grpcjwt.ErrUnknownKey},
		{"known kid, foreign key", signWith(map[string]any{"alg": "RS256", "kid": rsaKey.KID}, attacker), grpcjwt.ErrBadSignature},
		{"kid path traversal", signWith(map[string]any{"alg": "RS256", "kid": "../../../../etc/passwd"}, attacker), grpcjwt.ErrUnknownKey},
		{"alg RS384 on an RS256 JWK", signWith(map[string]any{"alg": "RS384", "kid": rsaKey.KID}, rsaKey), grpcjwt.ErrUnknownKey},
		{"alg PS256 on an RS256 JWK", signWith(map[string]any{"alg": "PS256", "kid": rsaKey.KID}, rsaKey), grpcjwt.ErrUnknownKey},
		{"alg ES256 on an RSA key", hdr(map[string]any{"alg": "ES256", "kid": rsaKey.KID}) + "." + claims + "." + gs, grpcjwt.ErrUnknownKey},
		{"alg RS256 on an EC key", hdr(map[string]any{"alg": "RS256", "kid": ecKey.KID}) + "." + claims + "." + gs, grpcjwt.ErrUnknownKey},
		{"ECDSA r=s=0", hdr(map[string]any{"alg": "ES256", "kid": ecKey.KID}) + "." + claims + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), grpcjwt.ErrBadSignature},
		{"JWE", hdr(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM"}) + ".a.b.c.d", grpcjwt.ErrTokenMalformed},
		{"JWS JSON serialization", mustJSON(t, map[string]any{"payload": claims, "protected": gh, "signature": gs}), grpcjwt.ErrTokenMalformed},
		{"JWS flattened JSON in base64", b64(mustJSON(t, map[string]any{"payload": claims})) + "." + claims + "." + gs, grpcjwt.ErrAlgorithmNotAllowed},
		{"unknown crit", signWith(map[string]any{"alg": "RS256", "kid": rsaKey.KID, "crit": []string{"exp"}, "exp": 1}, rsaKey), grpcjwt.ErrUnsupportedHeader},
		{"b64 false", signWith(map[string]any{"alg": "RS256", "kid": rsaKey.KID, "b64": false}, rsaKey), grpcjwt.ErrUnsupportedHeader},
		{"zip", signWith(map[string]any{"alg": "RS256", "kid": rsaKey.KID, "zip": "DEF"}, rsaKey), grpcjwt.ErrUnsupportedHeader},
		{"tampered payload", gh + "." + b64(strings.Replace(mustJSON(t, map[string]any{"iss": iss.URL, "aud": iss.Audience, "exp": time.Now().Add(time.Hour).Unix(), "sub": "admin"}), "a", "a", 1)) + "." + gs, grpcjwt.ErrBadSignature},
		{"stripped signature", gh + "." + gp + ".", grpcjwt.ErrTokenMalformed},
		{"two parts", gh + "." + gp, grpcjwt.ErrTokenMalformed},
		{"padded base64", gh + "=." + gp + "." + gs, grpcjwt.ErrTokenMalformed},
		{"standard base64 alphabet", gh + "." + gp + "." + strings.NewReplacer("-", "+", "_", "/").Replace(gs) + "+", grpcjwt.ErrTokenMalformed},
		{"header not an object", b64(`"RS256"`) + "." + gp + "." + gs, grpcjwt.ErrTokenMalformed},
		{"alg not a string", b64(`{"alg":256}`) + "." + gp + "." + gs, grpcjwt.ErrTokenMalformed},
		{"50,000 dots", strings.Repeat(".", 50000), grpcjwt.ErrTokenMalformed},
		{"200 KB", gh + "." + strings.Repeat("A", 200<<10) + "." + gs, grpcjwt.ErrTokenTooLarge},
		{"empty", "", grpcjwt.ErrTokenMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantReject(t, v, tc.tok, tc.cause)
		})
	}
	if n := lured.Load(); n != 0 {
		t.Errorf("the URL named by a token received %d requests", n)
	}
	// The good token still works: nothing above poisoned the key set.
	if _, err := v.Validate(context.Background(), good); err != nil {
		t.Errorf("good token: %v", err)
	}
}

// TestUnusableJWKs: keys marked for encryption, without verify in key_ops,
// or with an alg that differs from the header's are never used.
func TestUnusableJWKs(t *testing.T) {
	iss := newIssuer(t)
	enc := grpcjwttest.MustKey("RS256")
	enc.Use = "enc"
	noVerify := grpcjwttest.MustKey("RS256")
	noVerify.KeyOps = []string{"encrypt"}
	noAlg := grpcjwttest.MustKey("ES384")
	noAlg.JWKAlg = ""
	wrongCurve := grpcjwttest.MustKey("ES256")
	wrongCurve.JWKAlg = ""
	for _, k := range []*grpcjwttest.Key{enc, noVerify, noAlg, wrongCurve} {
		iss.Publish(k)
	}
	v := newValidator(t, iss)
	wantReject(t, v, iss.Token(nil, grpcjwttest.WithKey(enc)), grpcjwt.ErrUnknownKey)
	wantReject(t, v, iss.Token(nil, grpcjwttest.WithKey(noVerify)), grpcjwt.ErrUnknownKey)
	// Without a JWK alg the key type and curve decide: ES384 needs P-384.
	if _, err := v.Validate(context.Background(), iss.Token(nil, grpcjwttest.WithKey(noAlg))); err != nil {
		t.Errorf("ES384 key without alg: %v", err)
	}
	forged := *wrongCurve
	forged.Alg = "ES384"
	// A P-256 key cannot verify ES384; Sign refuses too, so build by hand.
	h, p, _ := splitToken(t, iss.Token(nil, grpcjwttest.WithKey(wrongCurve)))
	hdr := b64(mustJSON(t, map[string]any{"alg": "ES384", "kid": wrongCurve.KID}))
	_ = h
	wantReject(t, v, hdr+"."+p+"."+base64.RawURLEncoding.EncodeToString(make([]byte, 96)), grpcjwt.ErrUnknownKey)
	if _, ok := wrongCurve.Public().(*ecdsa.PublicKey); !ok {
		t.Fatal("ES256 key is not ECDSA")
	}
}

func TestClaimChecks(t *testing.T) {
	iss := newIssuer(t)
	now := time.Now()
	v := newValidator(t, iss)
	strict := newValidator(t, iss, func(c *grpcjwt.Config) { c.RequireATJWT = true })
	accept := func(t *testing.T, v *grpcjwt.Validator, tok string) *grpcjwt.Claims {
		t.Helper()
		c, err := v.Validate(context.Background(), tok)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return c
	}
	hdr := func(name string, val any) grpcjwttest.TokenOption { return grpcjwttest.WithHeader(name, val) }
	sec := func(d time.Duration) int64 { return now.Add(d).Unix() }

	rejects := []struct {
		name   string
		claims map[string]any
		opts   []grpcjwttest.TokenOption
		cause  error
	}{
		{"expired", map[string]any{"exp": sec(-time.Hour)}, nil, grpcjwt.ErrTokenExpired},
		{"expired beyond leeway", map[string]any{"exp": sec(-40 * time.Second)}, nil, grpcjwt.ErrTokenExpired},
		{"nbf ahead", map[string]any{"nbf": sec(time.Hour)}, nil, grpcjwt.ErrTokenNotYetValid},
		{"nbf beyond leeway", map[string]any{"nbf": sec(40 * time.Second)}, nil, grpcjwt.ErrTokenNotYetValid},
		{"missing exp", map[string]any{"exp": nil}, nil, grpcjwt.ErrMissingClaim},
		{"exp null", map[string]any{"exp": json.RawMessage("null")}, nil, grpcjwt.ErrMissingClaim},
		{"exp as string", map[string]any{"exp": "9999999999"}, nil, grpcjwt.ErrTokenMalformed},
		{"nbf as string", map[string]any{"nbf": "0"}, nil, grpcjwt.ErrTokenMalformed},
		{"exp as RFC 3339", map[string]any{"exp": now.Add(time.Hour).Format(time.RFC3339)}, nil, grpcjwt.ErrTokenMalformed},
		{"exp as bool", map[string]any{"exp": true}, nil, grpcjwt.ErrTokenMalformed},
		{"exp huge", map[string]any{"exp": 1e300}, nil, grpcjwt.ErrTokenMalformed},
		{"wrong issuer", map[string]any{"iss": "https://evil.example/oidc"}, nil, grpcjwt.ErrUntrustedIssuer},
		{"issuer with trailing slash", map[string]any{"iss": iss.URL + "/"}, nil, grpcjwt.ErrUntrustedIssuer},
		{"issuer in other case", map[string]any{"iss": strings.ToUpper(iss.URL)}, nil, grpcjwt.ErrUntrustedIssuer},
		{"missing issuer", map[string]any{"iss": nil}, nil, grpcjwt.ErrMissingClaim},
		{"issuer not a string", map[string]any{"iss": 1}, nil, grpcjwt.ErrTokenMalformed},
		{"wrong audience", map[string]any{"aud": "https://other.example.com"}, nil, grpcjwt.ErrAudienceMismatch},
		{"audience array without ours", map[string]any{"aud": []string{"a", "b"}}, nil, grpcjwt.ErrAudienceMismatch},
		{"audience prefix", map[string]any{"aud": iss.Audience + "/x"}, nil, grpcjwt.ErrAudienceMismatch},
		{"missing audience", map[string]any{"aud": nil}, nil, grpcjwt.ErrMissingClaim},
		{"empty audience array", map[string]any{"aud": []string{}}, nil, grpcjwt.ErrMissingClaim},
		{"audience number", map[string]any{"aud": 5}, nil, grpcjwt.ErrTokenMalformed},
		{"typ id token", nil, []grpcjwttest.TokenOption{hdr("typ", "id+jwt")}, grpcjwt.ErrJWTTypeNotAllowed},
		{"typ logout", nil, []grpcjwttest.TokenOption{hdr("typ", "logout+jwt")}, grpcjwt.ErrJWTTypeNotAllowed},
		{"typ empty", nil, []grpcjwttest.TokenOption{hdr("typ", "")}, grpcjwt.ErrJWTTypeNotAllowed},
		{"typ not a string", nil, []grpcjwttest.TokenOption{hdr("typ", 1)}, grpcjwt.ErrTokenMalformed},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			wantReject(t, v, iss.Token(tc.claims, tc.opts...), tc.cause)
		})
	}

	accepts := []struct {
		name   string
		claims map[string]any
		opts   []grpcjwttest.TokenOption
	}{
		{"expired within leeway", map[string]any{"exp": sec(-20 * time.Second)}, nil},
		{"nbf within leeway", map[string]any{"nbf": sec(20 * time.Second)}, nil},
		{"nbf past", map[string]any{"nbf": sec(-time.Minute)}, nil},
		{"fractional exp", map[string]any{"exp": float64(sec(time.Hour)) + 0.5}, nil},
		{"audience array", map[string]any{"aud": []string{"other", iss.Audience}}, nil},
		{"audience with JSON escapes", map[string]any{"aud": json.RawMessage(`"` + strings.ReplaceAll(iss.Audience, "/", `\/`) + `"`)}, nil},
		{"exp in exponent form", map[string]any{"exp": json.RawMessage("9.9e9")}, nil},
		{"typ absent", nil, []grpcjwttest.TokenOption{hdr("typ", nil)}},
		{"typ JWT", nil, []grpcjwttest.TokenOption{hdr("typ", "JWT")}},
		{"typ jwt", nil, []grpcjwttest.TokenOption{hdr("typ", "jwt")}},
		{"typ application/at+jwt", nil, []grpcjwttest.TokenOption{hdr("typ", "application/at+jwt")}},
		{"typ AT+JWT", nil, []grpcjwttest.TokenOption{hdr("typ", "AT+JWT")}},
		{"no kid, one RS256 key", nil, []grpcjwttest.TokenOption{hdr("kid", nil)}},
	}
	for _, tc := range accepts {
		t.Run(tc.name, func(t *testing.T) { accept(t, v, iss.Token(tc.claims, tc.opts...)) })
	}

	t.Run("strict at+jwt", func(t *testing.T) {
		accept(t, strict, iss.Token(nil))
		accept(t, strict, iss.Token(nil, hdr("typ", "application/at+jwt")))
		wantReject(t, strict, iss.Token(nil, hdr("typ", "JWT")), grpcjwt.ErrJWTTypeNotAllowed)
		wantReject(t, strict, iss.Token(nil, hdr("typ", nil)), grpcjwt.ErrJWTTypeNotAllowed)
	})
	t.Run("no leeway", func(t *testing.T) {
		nl := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway = -1 })
		wantReject(t, nl, iss.Token(map[string]any{"exp": sec(-5 * time.Second)}), grpcjwt.ErrTokenExpired)
	})
	t.Run("claims", func(t *testing.T) {
		c := accept(t, v, iss.Token(map[string]any{
			"sub": "alice", "client_id": nil, "azp": "app-1", "scp": []string{"x", "y"},
			"organization_id": "org-7", "nbf": sec(-time.Minute),
		}))
		if c.ClientID != "app-1" || len(c.Scopes) != 2 || !c.HasScope("y") || c.NotBefore.IsZero() || c.ExpiresAt.Before(now) {
			t.Errorf("claims = %+v", c)
		}
		var org string
		if ok, err := c.Get("organization_id", &org); !ok || err != nil || org != "org-7" {
			t.Errorf("Get(organization_id) = %v, %v, %q", ok, err, org)
		}
		if ok, _ := c.Get("absent", &org); ok {
			t.Error("Get(absent) reported true")
		}
		c = accept(t, v, iss.Token(map[string]any{"scp": "p q", "scope": "r"}))
		if len(c.Scopes) != 1 || c.Scopes[0] != "r" {
			t.Errorf("scope should win over scp: %q", c.Scopes)
		}
	})
}

func TestNoKIDAmbiguous(t *testing.T) {
	iss := newIssuer(t)
	iss.RotateKey("RS256") // two RS256 keys published
	v := newValidator(t, iss)
	wantReject(t, v, iss.Token(nil, grpcjwttest.WithHeader("kid", nil)), grpcjwt.ErrUnknownKey)
}

func TestKeyPublishedAfterStartup(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	before := iss.JWKSFetches()
	iss.RotateKey("RS256")
	tok := iss.Token(map[string]any{"sub": "new-key"})

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := v.Validate(context.Background(), tok)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	if got := iss.JWKSFetches() - before; got != 1 {
		t.Errorf("JWKS fetches = %d, want 1", got)
	}
}

func TestUnknownKIDsAreRateLimited(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	before := iss.JWKSFetches()
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := grpcjwttest.MustKey("EdDSA")
			if _, err := v.Validate(context.Background(), iss.Token(nil, grpcjwttest.WithKey(k))); !errors.Is(err, grpcjwt.ErrUnknownKey) {
				t.Errorf("err = %v, want ErrUnknownKey", err)
			}
		}()
	}
	wg.Wait()
	if got := iss.JWKSFetches() - before; got > 2 {
		t.Errorf("200 unknown kids caused %d JWKS fetches, want at most 2", got)
	}
}

func TestKnownKIDBadSignatureNeverRefreshes(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	before := iss.JWKSFetches()
	forger := grpcjwttest.MustKey("RS256")
	forger.KID = iss.SigningKey("RS256").KID
	for range 10 {
		wantReject(t, v, iss.Token(nil, grpcjwttest.WithKey(forger)), grpcjwt.ErrBadSignature)
	}
	if got := iss.JWKSFetches() - before; got != 0 {
		t.Errorf("JWKS fetches = %d, want 0", got)
	}
}

func TestProviderDownKeepsKnownKeys(t *testing.T) {
	iss := newIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Now = clock
		c.RefreshInterval = time.Minute
		c.MinRefreshInterval = time.Second
		c.HTTPTimeout = 200 * time.Millisecond
	})
	tok := iss.Token(map[string]any{"exp": time.Now().Add(24 * time.Hour).Unix()})
	for _, mode := range []grpcjwttest.Mode{grpcjwttest.Fail, grpcjwttest.Hang} {
		iss.SetJWKSMode(mode)
		before := iss.JWKSFetches()
		now.Add(int64(2 * time.Minute)) // a periodic refresh is due
		// Requests start the refresh in the background (once the previous
		// one has ended) and meanwhile keep verifying with the keys known.
		waitFor(t, func() bool {
			now.Add(int64(2 * time.Second))
			if _, err := v.Validate(context.Background(), tok); err != nil {
				t.Fatalf("mode %d: %v", mode, err)
			}
			return iss.JWKSFetches() > before
		})
	}
	iss.SetJWKSMode(grpcjwttest.Serve)
	iss.SetJWKSBody([]byte(`{"keys":[]}`))
	before := iss.JWKSFetches()
	// The hanging refresh may still be in flight; requests start the next
	// one once it has given up.
	waitFor(t, func() bool {
		now.Add(int64(2 * time.Second))
		if _, err := v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		return iss.JWKSFetches() > before
	})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("an empty JWKS replaced the good one: %v", err)
	}
}

func TestRemovedKeyStopsVerifying(t *testing.T) {
	iss := newIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Now = clock; c.RefreshInterval = time.Minute })
	old := iss.SigningKey("RS256")
	tok := iss.Token(map[string]any{"exp": time.Now().Add(24 * time.Hour).Unix()})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	iss.RotateKey("RS256")
	iss.Unpublish(old.KID)
	before := iss.JWKSFetches()
	now.Add(int64(2 * time.Minute))
	v.Validate(context.Background(), tok) // starts the refresh
	waitFor(t, func() bool { return iss.JWKSFetches() > before })
	waitFor(t, func() bool {
		_, err := v.Validate(context.Background(), tok)
		return errors.Is(err, grpcjwt.ErrUnknownKey)
	})
}

func TestCacheControlShortensRefresh(t *testing.T) {
	iss := newIssuer(t)
	iss.SetCacheControl("public, max-age=120")
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Now = clock })
	tok := iss.Token(nil)
	before := iss.JWKSFetches()
	now.Add(int64(60 * time.Second))
	v.Validate(context.Background(), tok)
	if got := iss.JWKSFetches(); got != before {
		t.Fatalf("refreshed after 60s with max-age=120")
	}
	now.Add(int64(61 * time.Second))
	v.Validate(context.Background(), tok)
	waitFor(t, func() bool { return iss.JWKSFetches() > before })
}

func TestNewValidatorFailures(t *testing.T) {
	t.Run("discovery names another issuer", func(t *testing.T) {
		iss := newIssuer(t)
		iss.SetDiscoveryIssuer(iss.URL + "/")
		_, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: "a"})
		if err == nil || !strings.Contains(err.Error(), "issuer mismatch") || !strings.Contains(err.Error(), iss.URL+"/") {
			t.Fatalf("err = %v", err)
		}
	})
	for _, mode := range []grpcjwttest.Mode{grpcjwttest.Fail, grpcjwttest.Hang} {
		for _, endpoint := range []string{"discovery", "jwks"} {
			t.Run(endpoint+map[grpcjwttest.Mode]string{grpcjwttest.Fail: " fails", grpcjwttest.Hang: " hangs"}[mode], func(t *testing.T) {
				iss := newIssuer(t)
				if endpoint == "discovery" {
					iss.SetDiscoveryMode(mode)
				} else {
					iss.SetJWKSMode(mode)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: "a"})
				if err == nil {
					v.Close()
					t.Fatal("NewValidator succeeded")
				}
			})
		}
	}
	t.Run("config", func(t *testing.T) {
		for _, cfg := range []grpcjwt.Config{
			{Audience: "a"},
			{Issuer: "https://x"},
			{Issuer: "not a url", Audience: "a"},
			{Issuer: "https://x", Audience: "a", Algorithms: []string{"HS256"}},
			{Issuer: "https://x", Audience: "a", Algorithms: []string{"none"}},
		} {
			if _, err := grpcjwt.NewValidator(context.Background(), cfg); err == nil {
				t.Errorf("NewValidator(%+v) succeeded", cfg)
			}
		}
	})
	t.Run("JWKS over the size limit", func(t *testing.T) {
		iss := newIssuer(t)
		iss.SetJWKSBody([]byte(`{"keys":[` + strings.Repeat(" ", 2<<20) + `]}`))
		if _, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: "a"}); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("JWKSURL skips discovery", func(t *testing.T) {
		iss := newIssuer(t)
		iss.SetDiscoveryMode(grpcjwttest.Fail)
		v := newValidator(t, iss, func(c *grpcjwt.Config) { c.JWKSURL = iss.JWKSURL() })
		if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
			t.Fatal(err)
		}
		if iss.DiscoveryFetches() != 0 {
			t.Error("discovery was fetched")
		}
	})
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	before := runtime.NumGoroutine()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
	// A refresh for an unknown kid that hangs: the caller gives up, the
	// refresh goes on in the background until Close stops it.
	iss.SetJWKSMode(grpcjwttest.Hang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = v.Validate(ctx, iss.Token(nil, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))))
	if !errors.Is(err, grpcjwt.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	v.Close()
	// Nothing of the validator's is left: no refresh, no connection.
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}
