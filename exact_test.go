package grpcjwt_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// signJSON mints a token of exact header and payload text with the issuer's
// RS256 key: duplicates and case variants that no Go map can hold.
func signJSON(t *testing.T, iss *grpcjwttest.Issuer, header, payload string) string {
	t.Helper()
	k := iss.SigningKey("RS256")
	if header == "" {
		header = fmt.Sprintf(`{"alg":"RS256","kid":%q,"typ":"at+jwt"}`, k.KID)
	}
	tok, err := k.SignJSON([]byte(header), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsJSON is a valid payload for iss with extra members appended as
// they are written.
func claimsJSON(iss *grpcjwttest.Issuer, extra string) string {
	base := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"alice","exp":%d,"iat":%d`,
		iss.URL, iss.Audience, time.Now().Add(time.Hour).Unix(), time.Now().Unix())
	if extra != "" {
		base += "," + extra
	}
	return base + "}"
}

// TestClaimNamesAreExact: claims are read by their exact names (RFC 7519
// §4); names that differ in case or by Unicode folding are other claims.
func TestClaimNamesAreExact(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	now := time.Now()
	yesterday, tomorrow := now.Add(-24*time.Hour).Unix(), now.Add(24*time.Hour).Unix()

	rejects := []struct {
		name, payload string
		cause         error
	}{
		{"Exp does not revive an expired token",
			fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"Exp":%d}`, iss.URL, iss.Audience, yesterday, tomorrow), grpcjwt.ErrTokenExpired},
		{"AUD is not aud",
			fmt.Sprintf(`{"iss":%q,"aud":"https://other-api","AUD":%q,"exp":%d}`, iss.URL, iss.Audience, tomorrow), grpcjwt.ErrAudienceMismatch},
		{"ISS, Aud and EXP are not iss, aud and exp",
			fmt.Sprintf(`{"ISS":%q,"Aud":%q,"EXP":%d}`, iss.URL, iss.Audience, tomorrow), grpcjwt.ErrMissingClaim},
		{"Kelvin sign is not k", // U+212A folds to k in encoding/json
			fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"e\u212Ap":%d}`, iss.URL, iss.Audience, yesterday, tomorrow), grpcjwt.ErrTokenExpired},
		{"duplicate exp", claimsJSON(iss, fmt.Sprintf(`"exp":%d`, tomorrow)), grpcjwt.ErrDuplicateMember},
		{"duplicate escaped name", claimsJSON(iss, `"\u0073ub":"mallory"`), grpcjwt.ErrDuplicateMember},
		{"duplicate custom claim", claimsJSON(iss, `"role":"user","role":"admin"`), grpcjwt.ErrDuplicateMember},
		{"duplicate inside a custom claim", claimsJSON(iss, `"org":{"id":"a","id":"b"}`), grpcjwt.ErrDuplicateMember},
		{"invalid UTF-8", claimsJSON(iss, "\"name\":\"\xff\""), grpcjwt.ErrTokenMalformed},
		{"lone surrogate", claimsJSON(iss, `"name":"\ud800"`), grpcjwt.ErrTokenMalformed},
		{"trailing data", claimsJSON(iss, "") + "{}", grpcjwt.ErrTokenMalformed},
		{"iat in the future", fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"iat":%d}`, iss.URL, iss.Audience, tomorrow, now.Add(time.Hour).Unix()), grpcjwt.ErrIssuedInFuture},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			wantReject(t, v, signJSON(t, iss, "", tc.payload), tc.cause)
		})
	}

	t.Run("iat within leeway", func(t *testing.T) {
		p := fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"iat":%d}`, iss.URL, iss.Audience, tomorrow, now.Add(10*time.Second).Unix())
		if _, err := v.Validate(context.Background(), signJSON(t, iss, "", p)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Scope and ſcope grant nothing; Get and Decode agree", func(t *testing.T) {
		for _, other := range []string{"Scope", "SCOPE", "\u017Fcope"} {
			tok := signJSON(t, iss, "", claimsJSON(iss, fmt.Sprintf(`"scope":"read",%q:"admin","\u017Fub":"mallory"`, other)))
			c, err := v.Validate(context.Background(), tok)
			if err != nil {
				t.Fatalf("%s: %v", other, err)
			}
			if c.HasScope("admin") || !c.HasScope("read") {
				t.Errorf("%s: scopes %q", other, c.Scopes)
			}
			if c.Subject != "alice" {
				t.Errorf("ſub replaced the subject: %q", c.Subject)
			}
			var scope, odd string
			if ok, err := c.Get("scope", &scope); !ok || err != nil || scope != "read" {
				t.Errorf("Get(scope) = %q, %v, %v", scope, ok, err)
			}
			if ok, err := c.Get(other, &odd); !ok || err != nil || odd != "admin" {
				t.Errorf("Get(%s) = %q, %v, %v", other, odd, ok, err)
			}
			var d struct {
				Sub   string `json:"sub"`
				Scope string `json:"scope"`
				Exp   int64  `json:"exp"`
			}
			if err := c.Decode(&d); err != nil || d.Scope != "read" || d.Sub != "alice" || d.Exp != c.ExpiresAt.Unix() {
				t.Errorf("Decode = %+v, %v", d, err)
			}
		}
	})

	t.Run("Decode leaves a field empty when only a case variant is present", func(t *testing.T) {
		tok := signJSON(t, iss, "", claimsJSON(iss, `"Organization_ID":"org-b","nested":{"Roles":["admin"],"roles":["user"]},"list":[{"ID":"x"}]`))
		c, err := v.Validate(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			OrgID  string `json:"organization_id"`
			Nested struct {
				Roles []string `json:"roles"`
			} `json:"nested"`
			List []struct {
				ID string `json:"id"`
			} `json:"list"`
			Untagged string // encoding/json would fill it from "untagged" too
		}
		if err := c.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if d.OrgID != "" || len(d.Nested.Roles) != 1 || d.Nested.Roles[0] != "user" || len(d.List) != 1 || d.List[0].ID != "" {
			t.Errorf("Decode matched names ignoring case: %+v", d)
		}
		var org string
		if ok, _ := c.Get("organization_id", &org); ok {
			t.Errorf("Get(organization_id) found %q", org)
		}
		var nested struct {
			Roles []string `json:"roles"`
		}
		if ok, err := c.Get("nested", &nested); !ok || err != nil || len(nested.Roles) != 1 || nested.Roles[0] != "user" {
			t.Errorf("Get(nested) = %+v, %v, %v", nested, ok, err)
		}
		var m map[string]any
		if err := c.Decode(&m); err != nil || m["Organization_ID"] != "org-b" {
			t.Errorf("Decode into a map: %v, %v", m, err)
		}
	})

	t.Run("a copy of Claims works", func(t *testing.T) {
		c, err := v.Validate(context.Background(), iss.Token(map[string]any{"organization_id": "org-7"}))
		if err != nil {
			t.Fatal(err)
		}
		cp := *c // go vet's copylocks check fails here if Claims holds a lock
		var org string
		if ok, err := cp.Get("organization_id", &org); !ok || err != nil || org != "org-7" {
			t.Errorf("Get on a copy = %q, %v, %v", org, ok, err)
		}
	})
}

// TestHeaderNamesAreExact: the JOSE header is read by exact names, and a
// header with a duplicate member is refused.
func TestHeaderNamesAreExact(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	kid := iss.SigningKey("RS256").KID
	payload := claimsJSON(iss, "")
	cases := []struct {
		name, header string
		cause        error
	}{
		{"ALG is not alg", fmt.Sprintf(`{"ALG":"RS256","kid":%q}`, kid), grpcjwt.ErrAlgorithmNotAllowed},
		{"duplicate alg", fmt.Sprintf(`{"alg":"RS256","alg":"RS256","kid":%q}`, kid), grpcjwt.ErrDuplicateMember},
		{"duplicate kid", fmt.Sprintf(`{"alg":"RS256","kid":%q,"kid":"other"}`, kid), grpcjwt.ErrDuplicateMember},
		{"duplicate typ", fmt.Sprintf(`{"alg":"RS256","kid":%q,"typ":"JWT","typ":"id+jwt"}`, kid), grpcjwt.ErrDuplicateMember},
		{"crit refused", fmt.Sprintf(`{"alg":"RS256","kid":%q,"crit":["exp"]}`, kid), grpcjwt.ErrUnsupportedHeader},
		{"alg not a string", fmt.Sprintf(`{"alg":["RS256"],"kid":%q}`, kid), grpcjwt.ErrTokenMalformed},
		{"not an object", `["RS256"]`, grpcjwt.ErrTokenMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantReject(t, v, signJSON(t, iss, tc.header, payload), tc.cause)
		})
	}
	// A header member that differs from kid only in case is another member.
	tok := signJSON(t, iss, fmt.Sprintf(`{"alg":"RS256","kid":%q,"KID":"other","Typ":"id+jwt"}`, kid), payload)
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Errorf("KID and Typ beside kid: %v", err)
	}
}

// TestJWKNamesAreExact: JWK members are read by their exact names, and a
// JWK with a duplicate member is skipped like any unusable key.
func TestJWKNamesAreExact(t *testing.T) {
	iss := newIssuer(t)
	good := iss.SigningKey("RS256")
	goodJWK, err := good.JWK()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(jwk string) string{
		"USE does not override use":         func(j string) string { return insert(j, `"use":"enc","USE":"sig"`) },
		"KEY_OPS does not override key_ops": func(j string) string { return insert(j, `"key_ops":["encrypt"],"KEY_OPS":["verify"]`) },
		"duplicate kty":                     func(j string) string { return insert(j, `"kty":"RSA"`) },
		"duplicate n":                       func(j string) string { return insert(j, `"n":"AQAB"`) },
		"private member":                    func(j string) string { return insert(j, `"d":"AQAB"`) },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			k := grpcjwttest.MustKey("RS256")
			k.Use = ""
			j, err := k.JWK()
			if err != nil {
				t.Fatal(err)
			}
			// The bad JWK before the good one, and after it: each JWK
			// stands or falls alone.
			for _, body := range []string{
				fmt.Sprintf(`{"keys":[%s,%s]}`, mutate(string(j)), goodJWK),
				fmt.Sprintf(`{"keys":[%s,%s]}`, goodJWK, mutate(string(j))),
			} {
				iss.SetJWKSBody([]byte(body))
				var logs syncBuffer
				v := newValidator(t, iss, func(c *grpcjwt.Config) {
					c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				})
				if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
					t.Fatalf("the good key, in %s: %v", body, err)
				}
				wantReject(t, v, iss.Token(nil, grpcjwttest.WithKey(k)), grpcjwt.ErrUnknownKey)
				if !strings.Contains(logs.String(), `msg="grpcjwt: skipping JWK"`) {
					t.Errorf("the bad JWK is not logged as skipped; logs:\n%s", logs.String())
				}
			}
		})
	}
	t.Run("duplicate keys member refuses the set", func(t *testing.T) {
		iss.SetJWKSBody([]byte(fmt.Sprintf(`{"keys":[%s],"keys":[]}`, goodJWK)))
		_, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
		if err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Fatalf("NewValidator = %v, want a duplicate-member error", err)
		}
	})
	t.Run("KEYS is not keys", func(t *testing.T) {
		iss.SetJWKSBody([]byte(fmt.Sprintf(`{"KEYS":[%s]}`, goodJWK)))
		if _, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience}); err == nil {
			t.Fatal("NewValidator accepted a set whose keys are under KEYS")
		}
	})
}

// insert adds members at the start of a JSON object.
func insert(obj, members string) string { return "{" + members + "," + obj[1:] }

// TestDiscoveryNamesAreExact: the discovery document is read by exact
// names; a duplicate member makes NewValidator fail.
func TestDiscoveryNamesAreExact(t *testing.T) {
	iss := newIssuer(t)
	jwks := iss.JWKSURL()
	// serveAt serves the discovery document doc(its own URL) and starts a
	// validator on it.
	serveAt := func(t *testing.T, doc func(issuer string) string) error {
		var url string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, doc(url))
		}))
		t.Cleanup(srv.Close)
		url = srv.URL
		v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: url, Audience: iss.Audience})
		if err == nil {
			v.Close()
		}
		return err
	}
	if err := serveAt(t, func(u string) string {
		return fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q,"JWKS_URI":"http://127.0.0.1:1/none","Issuer":"x"}`, u, jwks)
	}); err != nil {
		t.Errorf("case variants beside the real members: %v", err)
	}
	if err := serveAt(t, func(u string) string {
		return fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q,"jwks_uri":%q}`, u, jwks, jwks)
	}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate jwks_uri: %v", err)
	}
	if err := serveAt(t, func(u string) string {
		return fmt.Sprintf(`{"ISSUER":%q,"JWKS_URI":%q}`, u, jwks)
	}); err == nil {
		t.Error("ISSUER and JWKS_URI were taken for issuer and jwks_uri")
	}
}

func TestScopesSplitOnSpaceOnly(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	cases := []struct {
		scope any
		want  []string
	}{
		{"read:all\u00a0x", nil},
		{"read:all\tx", nil},
		{"read:all\nx", nil},
		{"read:all\u3000x write", []string{"write"}},
		{"read:all\u2028x", nil},
		{"a  b ", []string{"a", "b"}},
		{`a "b" c\d`, []string{"a"}},
		{"read:all", []string{"read:all"}},
	}
	for _, tc := range cases {
		for _, claim := range []string{"scope", "scp"} {
			c, err := v.Validate(context.Background(), iss.Token(map[string]any{claim: tc.scope}))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c.Scopes) != fmt.Sprint(tc.want) || c.HasScope("read:all") != (fmt.Sprint(tc.want) == "[read:all]") {
				t.Errorf("%s %q: scopes %q, want %q", claim, tc.scope, c.Scopes, tc.want)
			}
		}
	}
	c, err := v.Validate(context.Background(), iss.Token(map[string]any{"scp": []string{"read:all x", "write", "", "read:all\u00a0"}}))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Scopes) != "[write]" {
		t.Errorf("scp array: %q, want [write]", c.Scopes)
	}
}

// TestNonBase64URLBytesRefused: CR, LF and any other byte outside the
// base64url alphabet, in any part, refuse the token before decoding, so
// one signed token cannot be presented as many different strings.
func TestNonBase64URLBytesRefused(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	tok := iss.Token(nil)
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	h, p, s := splitToken(t, tok)
	variants := map[string]string{
		"LF in signature":      h + "." + p + "." + s[:10] + "\n" + s[10:],
		"CR in signature":      h + "." + p + "." + s[:10] + "\r" + s[10:],
		"CRLF ending":          tok + "\r\n",
		"LF in header":         h[:5] + "\n" + h[5:] + "." + p + "." + s,
		"CR in payload":        h + "." + p[:5] + "\r" + p[5:] + "." + s,
		"padding":              tok + "==",
		"space":                h + "." + p + "." + s[:4] + " " + s[4:],
		"standard alphabet +/": h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s),
	}
	for name, tok := range variants {
		if tok == iss.Token(nil) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tok)
			if !errors.Is(err, grpcjwt.ErrTokenMalformed) {
				t.Fatalf("Validate = %v, want %v", err, grpcjwt.ErrTokenMalformed)
			}
		})
	}
}

func TestDefaultAlgorithmsCannotBeChanged(t *testing.T) {
	a := grpcjwt.DefaultAlgorithms()
	a[0] = "HS256"
	_ = append(a, "none")
	if got := grpcjwt.DefaultAlgorithms(); got[0] != "RS256" || len(got) != 10 {
		t.Fatalf("DefaultAlgorithms() = %v after a caller changed its copy", got)
	}
	iss := newIssuer(t)
	v := newValidator(t, iss)
	if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
		t.Fatal(err)
	}
}
