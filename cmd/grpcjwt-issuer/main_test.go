package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// deadline bounds every wait on a process: a start, a run, an exit.
const deadline = 30 * time.Second

const audience = "https://api.example.com"

// TestCommand builds grpcjwt-issuer and runs it as processes: serve, and
// mint against it and with its key file, checking every token with
// grpcjwt's validator.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "grpcjwt-issuer")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the command: %v", err)
	}
	if out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("serve -opaque", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, bin, "-addr", "127.0.0.1:0", "-opaque", "-client", "m2m:s3cret", "-client", "api:api-secret")
		cfg := grpcjwt.Config{Issuer: s.url, Audience: audience, OpaqueTokenIssuer: s.url,
			Introspection: &grpcjwt.IntrospectionConfig{ClientID: "api", ClientSecret: "api-secret", CacheTTL: -1}}
		v, err := grpcjwt.NewValidator(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		tok := postJSON(t, s.url+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"m2m"}, "client_secret": {"s3cret"}, "scope": {"greet:read"}})
		at, _ := tok["access_token"].(string)
		if strings.Contains(at, ".") {
			t.Fatalf("token %q, want an opaque one", at)
		}
		c, err := v.Validate(t.Context(), at)
		if err != nil || !c.Introspected() || c.Subject != "m2m" {
			t.Fatalf("Validate: %+v, %v", c, err)
		}
		postJSON(t, s.url+"/revoke", url.Values{"token": {at}, "client_id": {"m2m"}, "client_secret": {"s3cret"}})
		if _, err := v.Validate(t.Context(), at); !errors.Is(err, grpcjwt.ErrTokenInactive) {
			t.Errorf("after revocation: %v, want ErrTokenInactive", err)
		}
	})

	t.Run("serve and mint", func(t *testing.T) {
		t.Parallel()
		keyFile := filepath.Join(t.TempDir(), "issuer-key.json")
		s := startServe(t, bin, "-addr", "127.0.0.1:0", "-alg", "ES384", "-key-file", keyFile, "-client", "m2m:s3cret")
		if !strings.HasPrefix(s.url, "http://127.0.0.1:") || !strings.HasSuffix(s.url, "/oidc") || strings.HasSuffix(s.url, ":0/oidc") {
			t.Errorf("serve printed %q, want http://127.0.0.1:<port>/oidc", s.url)
		}
		fi, err := os.Stat(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
		}
		key := readKey(t, keyFile)
		if key.Alg != "ES384" {
			t.Errorf("key file alg %s, want ES384", key.Alg)
		}
		v := newValidator(t, s.url)

		sources := []struct {
			name string
			args []string
		}{
			{"by the issuer", []string{"-issuer", s.url}},
			{"with the key file", []string{"-key-file", keyFile, "-iss", s.url}},
		}
		for _, src := range sources {
			t.Run(src.name, func(t *testing.T) {
				for _, tc := range []struct {
					name  string
					args  []string
					ttl   time.Duration
					check func(t *testing.T, c *grpcjwt.Claims)
				}{
					{"scopes, organization claim and custom claims",
						[]string{"-sub", "alice", "-aud", audience, "-scope", "greet:read greet:write", "-org", "acme", "-ttl", "10m", "-claim", `roles=["admin"]`, "-claim", "level=3", "-claim", "team=blue"},
						10 * time.Minute,
						func(t *testing.T, c *grpcjwt.Claims) {
							want(t, "subject", c.Subject, "alice")
							want(t, "scopes", strings.Join(c.Scopes, " "), "greet:read greet:write")
							want(t, "organization", c.Organization, "acme")
							want(t, "matched audience", c.MatchedAudience, audience)
							want(t, "audience suffix", c.AudienceSuffix, "")
							want(t, "client ID", c.ClientID, "test-client")
							var custom struct {
								Roles []string `json:"roles"`
								Level int      `json:"level"`
								Team  string   `json:"team"`
							}
							if err := c.Decode(&custom); err != nil {
								t.Fatal(err)
							}
							if !slices.Equal(custom.Roles, []string{"admin"}) || custom.Level != 3 || custom.Team != "blue" {
								t.Errorf("custom claims %+v, want roles [admin], level 3, team blue", custom)
							}
						}},
					{"organization token",
						[]string{"-sub", "bob", "-org", "acme", "-org-audience"},
						time.Hour,
						func(t *testing.T, c *grpcjwt.Claims) {
							want(t, "subject", c.Subject, "bob")
							want(t, "audience suffix", c.AudienceSuffix, "acme")
							want(t, "matched audience", c.MatchedAudience, grpcjwt.DefaultOrganizationAudiencePrefix+"acme")
							want(t, "organization", c.Organization, "acme")
							if len(c.Scopes) != 0 {
								t.Errorf("scopes %q, want none", c.Scopes)
							}
						}},
					{"a claim removed",
						[]string{"-claim", "client_id=null", "-claim", "jti=fixed"},
						time.Hour,
						func(t *testing.T, c *grpcjwt.Claims) {
							want(t, "subject", c.Subject, "user-123")
							want(t, "client ID", c.ClientID, "")
							want(t, "jti", c.ID, "fixed")
						}},
				} {
					t.Run(tc.name, func(t *testing.T) {
						before := time.Now().Truncate(time.Second)
						token := mintToken(t, bin, append(src.args, tc.args...)...)
						after := time.Now()
						h := tokenHeader(t, token)
						if h["alg"] != "ES384" || h["kid"] != key.KID || h["typ"] != "at+jwt" {
							t.Errorf("header %v, want alg ES384, kid %s, typ at+jwt", h, key.KID)
						}
						c, err := v.Validate(context.Background(), token)
						if err != nil {
							t.Fatalf("Validate: %v", err)
						}
						want(t, "issuer", c.Issuer, s.url)
						if got := c.ExpiresAt.Sub(c.IssuedAt); got != tc.ttl {
							t.Errorf("exp - iat = %s, want %s", got, tc.ttl)
						}
						if c.IssuedAt.Before(before) || c.IssuedAt.After(after) {
							t.Errorf("iat %s, want between %s and %s", c.IssuedAt, before, after)
						}
						tc.check(t, c)
					})
				}
				t.Run("expired", func(t *testing.T) {
					token := mintToken(t, bin, append(src.args, "-ttl", "-1h")...)
					if _, err := v.Validate(context.Background(), token); !errors.Is(err, grpcjwt.ErrTokenExpired) {
						t.Errorf("Validate: %v, want %v", err, grpcjwt.ErrTokenExpired)
					}
				})
			})
		}

		t.Run("token endpoint", func(t *testing.T) {
			resp, err := http.PostForm(s.url+"/token", url.Values{
				"grant_type": {"client_credentials"}, "client_id": {"m2m"}, "client_secret": {"s3cret"},
				"resource": {audience}, "scope": {"greet:read"},
			})
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
			if h := tokenHeader(t, tr.AccessToken); h["alg"] != "ES384" || h["kid"] != key.KID {
				t.Errorf("header %v, want alg ES384 and kid %s", h, key.KID)
			}
			c, err := v.Validate(context.Background(), tr.AccessToken)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want(t, "subject", c.Subject, "m2m")
			want(t, "scopes", strings.Join(c.Scopes, " "), "greet:read")
		})

		t.Run("introspection", func(t *testing.T) {
			jwt := mintToken(t, bin, "-issuer", s.url, "-scope", "greet:read")
			form := url.Values{"token": {jwt}, "client_id": {"m2m"}, "client_secret": {"s3cret"}}
			if a := postJSON(t, s.url+"/introspect", form); a["active"] != true || a["scope"] != "greet:read" {
				t.Errorf("introspection: %v", a)
			}
			if a := postJSON(t, s.url+"/revoke", form); a != nil {
				t.Errorf("revocation answered %v", a)
			}
			if a := postJSON(t, s.url+"/introspect", form); a["active"] != false {
				t.Errorf("introspection after revocation: %v", a)
			}
		})

		t.Run("mint errors", func(t *testing.T) {
			r := runCmd(t, bin, "mint", "-issuer", strings.TrimSuffix(s.url, "/oidc")+"/other")
			r.wantExit(t, 1)
			r.wantStderr(t, "404 Not Found: is "+strings.TrimSuffix(s.url, "/oidc")+"/other a grpcjwt-issuer serve's URL?")
			resp, err := http.Post(s.url+"/mint", "application/json", strings.NewReader(`{"sub":"a"} {}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("POST /mint with two objects: %s, want 400", resp.Status)
			}
			// What a web page could send is refused (TestServeRefusesWebPages
			// has the cases): another name in Host, a body not JSON.
			u, err := url.Parse(s.url)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				host, contentType string
				status            int
			}{
				{"rebind.example:" + u.Port(), "application/json", http.StatusMisdirectedRequest},
				{u.Host, "text/plain", http.StatusUnsupportedMediaType},
			} {
				req, err := http.NewRequest(http.MethodPost, s.url+"/mint", strings.NewReader(`{"sub":"a"}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Host = tc.host
				req.Header.Set("Content-Type", tc.contentType)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Errorf("POST /mint, Host %s, Content-Type %s: %s, want %d", tc.host, tc.contentType, resp.Status, tc.status)
				}
			}
		})

		s.stop(t)
		s.wantStderr(t, "wrote a new ES384 key to "+keyFile, "signing with ES384 key "+key.KID, "clients m2m", "stopping")

		// Started again on the same file, serve signs with the same key.
		if err := os.Chmod(keyFile, 0o644); err != nil {
			t.Fatal(err)
		}
		again := startServe(t, bin, "-addr", "127.0.0.1:0", "-key-file", keyFile)
		v = newValidator(t, again.url)
		if _, err := v.Validate(context.Background(), mintToken(t, bin, "-issuer", again.url)); err != nil {
			t.Errorf("Validate a token of the restarted issuer: %v", err)
		}
		if _, err := v.Validate(context.Background(), mintToken(t, bin, "-key-file", keyFile, "-iss", again.url)); err != nil {
			t.Errorf("Validate a token of the key file against the restarted issuer: %v", err)
		}
		again.stop(t)
		again.wantStderr(t, "read the ES384 key in "+keyFile, "signing with ES384 key "+key.KID,
			"warning: the key file "+keyFile+" can be read by others (mode -rw-r--r--); chmod 600 it")

		r := runCmd(t, bin, "serve", "-addr", "127.0.0.1:0", "-key-file", keyFile, "-alg", "ES256")
		r.wantExit(t, 1)
		r.wantStderr(t, "grpcjwt-issuer serve: -alg ES256, but the key in "+keyFile+" is for ES384: drop -alg, or give another -key-file")
	})

	t.Run("serve on a path and an address in use", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, bin, "-addr", "127.0.0.1:0", "-alg", "RS256", "-path", "/tenant/")
		if !strings.HasSuffix(s.url, "/tenant") {
			t.Errorf("serve printed %q, want a URL ending in /tenant", s.url)
		}
		c, err := newValidator(t, s.url).Validate(context.Background(), mintToken(t, bin, "-issuer", s.url, "-sub", "carol"))
		if err != nil {
			t.Fatal(err)
		}
		want(t, "subject", c.Subject, "carol")

		addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/tenant")
		r := runCmd(t, bin, "serve", "-addr", addr)
		r.wantExit(t, 1)
		r.wantStderr(t, "grpcjwt-issuer serve: cannot listen on "+addr+": the address is already in use")
		s.stop(t)
	})

	t.Run("usage errors", func(t *testing.T) {
		t.Parallel()
		const u = "http://127.0.0.1:8081/oidc"
		for _, tc := range []struct {
			name   string
			args   []string
			stderr []string
		}{
			{"no command", nil, []string{"Usage: grpcjwt-issuer <command> [flags]"}},
			{"unknown command", []string{"launch"}, []string{`grpcjwt-issuer: unknown command "launch"`, "Usage: grpcjwt-issuer <command>"}},
			{"serve: unknown flag", []string{"serve", "-port", "1"}, []string{"flag provided but not defined: -port", "Usage: grpcjwt-issuer serve"}},
			{"serve: unknown alg", []string{"serve", "-alg", "HS256"}, []string{`grpcjwt-issuer serve: -alg "HS256": want one of RS256,`, `Run "grpcjwt-issuer serve -h" for usage.`}},
			{"serve: every interface", []string{"serve", "-addr", ":0"}, []string{"-addr :0 listens on every interface, so no URL follows from it: give -base-url"}},
			{"serve: unspecified IPv4", []string{"serve", "-addr", "0.0.0.0:8081"}, []string{"-addr 0.0.0.0:8081 listens on every interface"}},
			{"serve: not host:port", []string{"serve", "-addr", "8081"}, []string{`-addr "8081": want host:port`}},
			{"serve: client without secret", []string{"serve", "-client", "m2m"}, []string{`invalid value "m2m" for flag -client: want id:secret`}},
			{"serve: bad path", []string{"serve", "-path", "/a b"}, []string{`-path "/a b": want "" or /segments`}},
			{"serve: bad base URL", []string{"serve", "-base-url", "issuer:8081"}, []string{`-base-url "issuer:8081": want an http(s) URL`}},
			{"serve: arguments", []string{"serve", "now"}, []string{`grpcjwt-issuer serve: unexpected arguments ["now"]`}},
			{"mint: no source", []string{"mint"}, []string{"grpcjwt-issuer mint: give -issuer (a running serve signs) or -key-file (sign here)"}},
			{"mint: both sources", []string{"mint", "-issuer", u, "-key-file", "k.json"}, []string{"give -issuer or -key-file, not both"}},
			{"mint: key file without iss", []string{"mint", "-key-file", "k.json"}, []string{"-key-file needs -iss"}},
			{"mint: iss with issuer", []string{"mint", "-issuer", u, "-iss", u}, []string{"-iss is for -key-file"}},
			{"mint: issuer not a URL", []string{"mint", "-issuer", "127.0.0.1:8081"}, []string{`-issuer "127.0.0.1:8081": want the http(s) URL serve printed`}},
			{"mint: org audience without org", []string{"mint", "-issuer", u, "-org-audience"}, []string{"-org-audience needs -org"}},
			{"mint: org audience and aud", []string{"mint", "-issuer", u, "-org", "acme", "-org-audience", "-aud", audience}, []string{"-org-audience sets the audience; drop -aud"}},
			{"mint: bad claim", []string{"mint", "-issuer", u, "-claim", "=x"}, []string{`invalid value "=x" for flag -claim: want name=value`}},
			{"mint: bad ttl", []string{"mint", "-issuer", u, "-ttl", "10"}, []string{`invalid value "10" for flag -ttl`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := runCmd(t, bin, tc.args...)
				r.wantExit(t, 2)
				r.wantStderr(t, tc.stderr...)
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
			})
		}
	})

	t.Run("help", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-h"}, "Usage: grpcjwt-issuer <command> [flags]"},
			{[]string{"help"}, "Usage: grpcjwt-issuer <command> [flags]"},
			{[]string{"serve", "-h"}, "Usage: grpcjwt-issuer serve [-addr host:port]"},
			{[]string{"mint", "-help"}, "Usage: grpcjwt-issuer mint (-issuer URL | -key-file FILE -iss URL)"},
		} {
			r := runCmd(t, bin, tc.args...)
			r.wantExit(t, 0)
			r.wantStderr(t, tc.want)
		}
	})

	t.Run("runtime errors", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		notJWK := filepath.Join(dir, "key.pem")
		if err := os.WriteFile(notJWK, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String() + "/oidc"
		l.Close()
		for _, tc := range []struct {
			name   string
			args   []string
			stderr string
		}{
			{"mint: no key file", []string{"mint", "-key-file", filepath.Join(dir, "none.json"), "-iss", closed}, "grpcjwt-issuer mint: reading the key file: open "},
			{"mint: not a JWK", []string{"mint", "-key-file", notJWK, "-iss", closed}, "grpcjwt-issuer mint: key file " + notJWK + ": grpcjwttest: private JWK:"},
			{"mint: no issuer there", []string{"mint", "-issuer", closed}, "grpcjwt-issuer mint: is grpcjwt-issuer serve running at " + closed + "?"},
			{"serve: not a JWK", []string{"serve", "-addr", "127.0.0.1:0", "-key-file", notJWK}, "grpcjwt-issuer serve: key file " + notJWK + ": grpcjwttest: private JWK:"},
			{"serve: key file in no directory", []string{"serve", "-addr", "127.0.0.1:0", "-key-file", filepath.Join(dir, "none", "key.json")}, "grpcjwt-issuer serve: writing the key file: open "},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := runCmd(t, bin, tc.args...)
				r.wantExit(t, 1)
				r.wantStderr(t, tc.stderr)
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
			})
		}
	})
}

// TestMintHandler checks what the /mint endpoint refuses: a request from
// beyond loopback, a body of another type than JSON, one before the
// issuer is set, and a body that is not one JSON object.
func TestMintHandler(t *testing.T) {
	t.Parallel()
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	var current atomic.Pointer[grpcjwttest.Issuer]
	h := mintHandler(&current)
	const jsonType = "application/json"
	for _, tc := range []struct {
		name        string
		remote      string
		set         bool
		contentType string
		body        string
		status      int
	}{
		{"beyond loopback", "192.0.2.1:4321", true, jsonType, `{}`, http.StatusForbidden},
		{"text/plain", "127.0.0.1:4321", true, "text/plain", `{}`, http.StatusUnsupportedMediaType},
		{"a form", "127.0.0.1:4321", true, "application/x-www-form-urlencoded", `{}`, http.StatusUnsupportedMediaType},
		{"no Content-Type", "127.0.0.1:4321", true, "", `{}`, http.StatusUnsupportedMediaType},
		{"a bad Content-Type", "127.0.0.1:4321", true, "application/json; charset", `{}`, http.StatusUnsupportedMediaType},
		{"not started", "127.0.0.1:4321", false, jsonType, `{}`, http.StatusServiceUnavailable},
		{"an array", "127.0.0.1:4321", true, jsonType, `[]`, http.StatusBadRequest},
		{"null", "127.0.0.1:4321", true, jsonType, `null`, http.StatusBadRequest},
		{"trailing data", "[::1]:4321", true, jsonType, `{} x`, http.StatusBadRequest},
		{"too large", "127.0.0.1:4321", true, jsonType, `{"x":"` + strings.Repeat("a", maxMintRequest) + `"}`, http.StatusBadRequest},
		{"claims", "[::1]:4321", true, jsonType, `{"sub":"dave","n":12345678901234567890}`, http.StatusOK},
		{"claims, Content-Type with a charset", "127.0.0.1:4321", true, "Application/JSON; charset=utf-8", `{"sub":"dave","n":12345678901234567890}`, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current.Store(nil)
			if tc.set {
				current.Store(iss)
			}
			req, err := http.NewRequest(http.MethodPost, iss.URL+"/mint", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.RemoteAddr = tc.remote
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status != http.StatusOK {
				return
			}
			token := strings.TrimSuffix(w.Body.String(), "\n")
			b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			// Numbers keep their digits; defaults fill what is not given.
			for _, part := range []string{`"sub":"dave"`, `"n":12345678901234567890`, `"iss":"` + iss.URL + `"`} {
				if !strings.Contains(string(b), part) {
					t.Errorf("claims %s lack %s", b, part)
				}
			}
		})
	}
}

func want(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s %q, want %q", what, got, want)
	}
}

func readKey(t *testing.T, path string) *grpcjwttest.Key {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := grpcjwttest.ParsePrivateJWK(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newValidator returns a validator of the issuer at issuer's tokens for
// the audience and Logto organization tokens, closed with the test.
// postJSON posts form to u, wants 200, and returns the JSON object of the
// answer (nil for an empty body).
func postJSON(t *testing.T, u string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", u, resp.Status)
	}
	var a map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return a
}

func newValidator(t *testing.T, issuer string) *grpcjwt.Validator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            issuer,
		Audience:          audience,
		AudiencePrefixes:  []string{grpcjwt.DefaultOrganizationAudiencePrefix},
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func tokenHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatalf("token %q: %v", token, err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// mintToken runs mint with args and returns the token, checking that
// stdout is exactly the token and a newline.
func mintToken(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := runCmd(t, bin, append([]string{"mint"}, args...)...)
	r.wantExit(t, 0)
	token, ok := strings.CutSuffix(r.stdout, "\n")
	if !ok || strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \t\r\n") {
		t.Fatalf("mint printed %q, want a token and a newline; stderr:\n%s", r.stdout, r.stderr)
	}
	return token
}

// result is how a process ended.
type result struct {
	exit           int
	stdout, stderr string
}

// runCmd runs the command to its end.
func runCmd(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%q did not end within %s; stderr:\n%s", args, deadline, stderr.String())
	}
	return result{exit: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.exit != code {
		t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exit, code, r.stdout, r.stderr)
	}
}

func (r result) wantStderr(t *testing.T, parts ...string) {
	t.Helper()
	wantContains(t, "stderr", r.stderr, parts)
}

func wantContains(t *testing.T, name, s string, parts []string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s lacks %q:\n%s", name, p, s)
		}
	}
}

// serveProcess is a serve started by startServe.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	exited chan struct{} // closed when the process has ended
	err    error         // of Wait, once exited is closed
}

// startServe starts serve with args and waits for the line with its URL.
// It kills the process at the end of the test if it still runs.
func startServe(t *testing.T, bin string, args ...string) *serveProcess {
	t.Helper()
	s := &serveProcess{cmd: exec.Command(bin, append([]string{"serve"}, args...)...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
				t.Errorf("serve printed more than one line on stdout: %q", sc.Text())
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case s.url = <-lines:
	case <-s.exited:
		t.Fatalf("serve exited before it served: %v\n%s", s.err, s.stderr)
	case <-time.After(deadline):
		t.Fatalf("serve did not print its URL within %s:\n%s", deadline, s.stderr)
	}
	return s
}

// stop sends SIGTERM and checks that serve exits 0.
func (s *serveProcess) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(deadline):
		t.Fatalf("serve did not stop within %s of SIGTERM:\n%s", deadline, s.stderr)
	}
	if s.err != nil {
		t.Errorf("serve exited with %v after SIGTERM:\n%s", s.err, s.stderr)
	}
}

// wantStderr checks serve's stderr; call it after stop, when all of it
// has been read.
func (s *serveProcess) wantStderr(t *testing.T, parts ...string) {
	t.Helper()
	wantContains(t, "serve's stderr", s.stderr.String(), parts)
}

// syncBuffer is a bytes.Buffer safe to write from the exec package's
// copying goroutine while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
