package grpcjwt_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestKeyCache: keys kept in KeyCacheDir let a restart with the provider
// down verify tokens at once; too old a file, or one for another issuer,
// is not used.
func TestKeyCache(t *testing.T) {
	iss := newIssuer(t)
	dir := t.TempDir()
	cfg := func(c *grpcjwt.Config) { c.KeyCacheDir = dir; c.StartRetry = 20 * time.Millisecond }
	v := newValidator(t, iss, cfg)
	tok := iss.Token(nil)
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "grpcjwt-keys-*.json"))
	if len(files) != 1 {
		t.Fatalf("key cache files %v", files)
	}
	v.Close()

	iss.SetDiscoveryMode(grpcjwttest.Fail)
	iss.SetJWKSMode(grpcjwttest.Fail)
	restarted := newValidator(t, iss, cfg) // would fail without the cache
	if _, err := restarted.Validate(context.Background(), tok); err != nil {
		t.Fatalf("with cached keys: %v", err)
	}
	if st := restarted.State(); st.Issuers[0].Keys == 0 || st.Issuers[0].LastError == nil {
		t.Errorf("state %+v", st)
	}

	ctx := context.Background()
	if _, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, KeyCacheDir: dir, KeyCacheMaxAge: time.Nanosecond}); err == nil {
		t.Error("keys older than KeyCacheMaxAge were used")
	}
	other := newIssuer(t)
	other.SetDiscoveryMode(grpcjwttest.Fail)
	data, _ := os.ReadFile(files[0])
	// The file, renamed to what other's would be, still names iss.
	_ = os.WriteFile(filepath.Join(dir, "copy"), data, 0o600)
	if _, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: other.URL, Audience: other.Audience, KeyCacheDir: dir}); err == nil {
		t.Error("the other issuer started without a provider or a cache of its own")
	}
	for name, body := range map[string]string{
		"corrupt":        `{"issuer":`,
		"duplicate":      strings.Replace(string(data), `{"issuer"`, `{"jwks":{"keys":[]},"issuer"`, 1),
		"another issuer": strings.Replace(string(data), iss.URL, "https://elsewhere.example", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(files[0], []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, KeyCacheDir: dir}); err == nil {
				t.Error("started on a bad key cache file with the provider down")
			}
		})
	}
}

// TestKeyCacheSkipsBadJWK: a JWK with a duplicate member in the key cache
// file is skipped alone, as in a fetched JWKS; the file's other keys serve
// while the provider is down.
func TestKeyCacheSkipsBadJWK(t *testing.T) {
	iss := newIssuer(t)
	dir := t.TempDir()
	cfg := func(c *grpcjwt.Config) { c.KeyCacheDir = dir; c.StartRetry = 20 * time.Millisecond }
	newValidator(t, iss, cfg).Close()
	files, _ := filepath.Glob(filepath.Join(dir, "grpcjwt-keys-*.json"))
	if len(files) != 1 {
		t.Fatalf("key cache files %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"kty":"RSA","kty":"EC","kid":"dup","n":"AQAB","e":"AQAB"}`
	edited := strings.Replace(string(data), `"keys":[`, `"keys":[`+bad+`,`, 1)
	if edited == string(data) {
		t.Fatalf("no keys array in %s", data)
	}
	if err := os.WriteFile(files[0], []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	iss.SetDiscoveryMode(grpcjwttest.Fail)
	v := newValidator(t, iss, cfg)
	if _, err := v.Validate(context.Background(), iss.Token(nil)); err != nil {
		t.Fatalf("with the file's good keys: %v", err)
	}
}

// keyCacheFile returns the one key cache file in dir.
func keyCacheFile(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "grpcjwt-keys-*.json"))
	if len(files) != 1 {
		t.Fatalf("key cache files %v, want one", files)
	}
	return files[0]
}

// keyCacheURI returns the jwks_uri the key cache file names; "" when there
// is no file.
func keyCacheURI(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	var c struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err != nil || json.Unmarshal(data, &c) != nil {
		t.Fatalf("key cache file %s: %v, %s", file, err, data)
	}
	return c.JWKSURI
}

// pointKeyCacheAt edits the key cache file as an attacker who can write it
// would: its jwks_uri and keys become evil's; it stays fresh and for the
// same issuer.
func pointKeyCacheAt(t *testing.T, file string, evil *grpcjwttest.Issuer) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(evil.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	jwks, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	c["jwks"] = jwks
	c["jwks_uri"], _ = json.Marshal(evil.JWKSURL())
	data, _ = json.Marshal(c)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKeyCacheAtStartup: what a restart takes from the key cache file, by
// what the file says and how the provider answers. The file serves only
// while the provider cannot be reached, and only for the jwks_uri discovery
// names: a file pointed at an attacker's JWKS is discarded as soon as
// discovery answers, before NewValidator returns, without a request to the
// attacker's JWKS.
func TestKeyCacheAtStartup(t *testing.T) {
	t.Parallel()
	type want int
	const (
		fails      want = iota // NewValidator fails
		realKeys               // the provider's keys verify, the attacker's do not
		attackKeys             // the attacker's keys verify, the provider's do not
	)
	for _, tc := range []struct {
		name                string
		tampered            bool // the file points at the attacker's JWKS
		discoveryUp, jwksUp bool
		want                want
		fileURI             string // after NewValidator: "real", "attacker" or "" (deleted)
	}{
		{"provider down", false, false, false, realKeys, "real"},
		{"JWKS down", false, true, false, realKeys, "real"},
		{"provider up", false, true, true, realKeys, "real"},
		{"tampered, provider down", true, false, false, attackKeys, "attacker"},
		{"tampered, JWKS down", true, true, false, fails, ""},
		{"tampered, provider up", true, true, true, realKeys, "real"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss, evil := newIssuer(t), newIssuer(t)
			dir := t.TempDir()
			cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, KeyCacheDir: dir, StartRetry: time.Hour}
			v, err := grpcjwt.NewValidator(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			v.Close()
			file := keyCacheFile(t, dir)
			if tc.tampered {
				pointKeyCacheAt(t, file, evil)
			}
			evilFetches := evil.JWKSFetches()
			if !tc.discoveryUp {
				iss.SetDiscoveryMode(grpcjwttest.Fail)
			}
			if !tc.jwksUp {
				iss.SetJWKSMode(grpcjwttest.Fail)
			}
			genuine := iss.Token(nil)
			forged := evil.Token(map[string]any{"iss": iss.URL, "aud": iss.Audience})

			v, err = grpcjwt.NewValidator(context.Background(), cfg)
			if err == nil {
				defer v.Close()
			}
			switch {
			case tc.want == fails:
				wantStartupError(t, err, grpcjwt.ErrKeySet)
			case err != nil:
				t.Fatalf("NewValidator: %v", err)
			default:
				good, bad := genuine, forged
				if tc.want == attackKeys {
					good, bad = forged, genuine
				}
				if _, err := v.Validate(context.Background(), good); err != nil {
					t.Errorf("Validate: %v", err)
				}
				wantReject(t, v, bad, grpcjwt.ErrUnknownKey)
			}
			if n := evil.JWKSFetches() - evilFetches; tc.discoveryUp && n != 0 {
				t.Errorf("the attacker's JWKS was fetched %d times with discovery up", n)
			}
			wantURI := map[string]string{"real": iss.JWKSURL(), "attacker": evil.JWKSURL(), "": ""}[tc.fileURI]
			if got := keyCacheURI(t, file); got != wantURI {
				t.Errorf("the key cache file names jwks_uri %q, want %q", got, wantURI)
			}
		})
	}
}

// TestKeyCacheDroppedWhenDiscoveryAnswers: keys from a key cache file that
// points at an attacker's JWKS serve while the provider is down, which is
// what the file is trusted for; the moment discovery answers with another
// jwks_uri they stop verifying, a token they verified included, even while
// the provider's JWKS still fails, and the file is deleted.
func TestKeyCacheDroppedWhenDiscoveryAnswers(t *testing.T) {
	iss, evil := newIssuer(t), newIssuer(t)
	dir := t.TempDir()
	cfg := func(c *grpcjwt.Config) {
		c.KeyCacheDir = dir
		c.StartRetry = 10 * time.Millisecond
		c.MinRefreshInterval = 50 * time.Millisecond
	}
	newValidator(t, iss, cfg).Close()
	file := keyCacheFile(t, dir)
	pointKeyCacheAt(t, file, evil)
	evilFetches := evil.JWKSFetches()
	iss.SetDiscoveryMode(grpcjwttest.Fail)
	iss.SetJWKSMode(grpcjwttest.Fail)
	v := newValidator(t, iss, cfg)
	forged := evil.Token(map[string]any{"iss": iss.URL, "aud": iss.Audience})
	if _, err := v.Validate(context.Background(), forged); err != nil {
		t.Fatalf("the file's keys while the provider is down: %v", err)
	}

	iss.SetDiscoveryMode(grpcjwttest.Serve)
	var err error
	waitFor(t, func() bool {
		_, err = v.Validate(context.Background(), forged)
		return err != nil
	})
	if !errors.Is(err, grpcjwt.ErrKeysUnavailable) {
		t.Errorf("after discovery answered: %v, want ErrKeysUnavailable", err)
	}
	if st := v.State(); st.Issuers[0].Keys != 0 {
		t.Errorf("state %+v, want no keys", st)
	}
	if u := keyCacheURI(t, file); u != "" {
		t.Errorf("the discarded key cache file is still there, naming %q", u)
	}

	iss.SetJWKSMode(grpcjwttest.Serve)
	waitFor(t, func() bool {
		_, err := v.Validate(context.Background(), iss.Token(nil))
		return err == nil
	})
	wantReject(t, v, forged, grpcjwt.ErrUnknownKey)
	if u := keyCacheURI(t, file); u != iss.JWKSURL() {
		t.Errorf("the key cache file names %q, want %q", u, iss.JWKSURL())
	}
	if n := evil.JWKSFetches() - evilFetches; n != 0 {
		t.Errorf("the attacker's JWKS was fetched %d times", n)
	}
}

// TestKeyCacheBackgroundStart: with a background start, the file's keys
// are not used before an attempt to reach the provider has failed, so that
// a file pointed at an attacker's JWKS never verifies a token while the
// provider answers; with the provider down, they serve once the first
// attempt has failed.
func TestKeyCacheBackgroundStart(t *testing.T) {
	iss, evil := newIssuer(t), newIssuer(t)
	dir := t.TempDir()
	cfg := func(c *grpcjwt.Config) { c.KeyCacheDir = dir; c.BackgroundStart = true; c.StartRetry = time.Hour }
	v := newValidator(t, iss, cfg)
	waitFor(t, func() bool { return v.State().Issuers[0].Keys > 0 })
	v.Close()
	file := keyCacheFile(t, dir)
	genuine := iss.Token(nil)

	iss.SetDiscoveryMode(grpcjwttest.Fail)
	v = newValidator(t, iss, cfg)
	waitFor(t, func() bool {
		_, err := v.Validate(context.Background(), genuine)
		return err == nil
	})
	v.Close()

	pointKeyCacheAt(t, file, evil)
	iss.SetDiscoveryMode(grpcjwttest.Serve)
	forged := evil.Token(map[string]any{"iss": iss.URL, "aud": iss.Audience})
	v = newValidator(t, iss, cfg)
	// Right after NewValidator, and until the provider's keys are in.
	waitFor(t, func() bool {
		if _, err := v.Validate(context.Background(), forged); err == nil {
			t.Fatal("a token signed by the attacker's key was accepted")
		}
		return v.State().Issuers[0].Keys > 0
	})
	if _, err := v.Validate(context.Background(), genuine); err != nil {
		t.Fatalf("the provider's keys: %v", err)
	}
	wantReject(t, v, forged, grpcjwt.ErrUnknownKey)
}
