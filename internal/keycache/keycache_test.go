package keycache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	name := Name(dir, "https://issuer.example/")
	if Name(dir, "https://issuer.example") == name {
		t.Fatal("two issuers share a file name")
	}
	want := File{Issuer: "https://issuer.example/", JWKSURI: "https://issuer.example/jwks", FetchedAt: time.Unix(1700000000, 0), JWKS: []byte(`{"keys":[]}`)}
	if err := Write(name, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(name, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != want.Issuer || got.JWKSURI != want.JWKSURI || !got.FetchedAt.Equal(want.FetchedAt) || string(got.JWKS) != string(want.JWKS) {
		t.Fatalf("Read = %+v, want %+v", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d files in the directory, want the key cache file alone", len(entries))
	}
}

func TestReadRefuses(t *testing.T) {
	cases := []struct {
		name, data string
		says       string
	}{
		{"not JSON", `{"issuer":`, ""},
		{"not an object", `[]`, "not a JSON object"},
		{"duplicate member", `{"issuer":"a","issuer":"b","fetched_at":1,"jwks":{}}`, "duplicate"},
		{"issuer not a string", `{"issuer":1,"fetched_at":1,"jwks":{}}`, `"issuer" has the wrong type`},
		{"fetched_at a string", `{"issuer":"a","fetched_at":"1","jwks":{}}`, `"fetched_at" has the wrong type`},
		{"jwks not an object", `{"issuer":"a","fetched_at":1,"jwks":"{}"}`, `"jwks" has the wrong type`},
		{"no fetched_at", `{"issuer":"a","jwks":{}}`, "no fetched_at"},
		{"no jwks", `{"issuer":"a","fetched_at":1}`, "no jwks"},
		{"names are exact", `{"issuer":"a","Fetched_at":1,"jwks":{}}`, "no fetched_at"},
		{"over the limit", `{"issuer":"` + strings.Repeat("a", 64) + `","fetched_at":1,"jwks":{}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f.json")
			if err := os.WriteFile(name, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(name, 64)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Read: %v, want an error saying %q", err, tc.says)
			}
		})
	}
	// The JWK Set is its reader's to check: a duplicate inside it is not
	// the file's.
	name := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(name, []byte(`{"issuer":"a","fetched_at":1,"jwks":{"keys":[],"keys":[]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := Read(name, 1<<10); err != nil || exactjson.Object(f.JWKS, nil) == nil {
		t.Fatalf("Read: %v; its JWK Set should be left as it is, duplicate and all", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "absent.json"), 1<<10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read of no file: %v", err)
	}
}
