package grpcjwt_test

import (
	"context"
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
