// Package keycache reads and writes grpcjwt's key cache file: one issuer's
// last good JWK Set, with where and when it was fetched, kept so that a
// restart survives a provider outage. The file is read like anything
// fetched: bounded, by exact member names, and refused whole on any doubt
// about its own members. The JWK Set inside is its reader's to check.
package keycache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// File is what a key cache file holds.
type File struct {
	Issuer    string    // whose keys they are
	JWKSURI   string    // where they were fetched from
	FetchedAt time.Time // when, to the second
	JWKS      []byte    // the JWK Set, as fetched
}

// onDisk is the file's JSON form.
type onDisk struct {
	Issuer    string          `json:"issuer"`
	JWKSURI   string          `json:"jwks_uri"`
	FetchedAt int64           `json:"fetched_at"` // unix seconds
	JWKS      json.RawMessage `json:"jwks"`
}

// Name returns the name of issuer's key cache file in dir.
func Name(dir, issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return filepath.Join(dir, "grpcjwt-keys-"+hex.EncodeToString(sum[:8])+".json")
}

// Write keeps f in the file name: written to a temporary file in the same
// directory first and renamed, so that a reader never sees half of it.
// f.JWKS must be a JSON object.
func Write(name string, f File) error {
	data, err := json.Marshal(onDisk{Issuer: f.Issuer, JWKSURI: f.JWKSURI, FetchedAt: f.FetchedAt.Unix(), JWKS: f.JWKS})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".grpcjwt-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// Read reads the file name, of at most limit bytes (a longer one is cut,
// and so refused): one JSON object whose members issuer, jwks_uri (strings),
// fetched_at (a number) and jwks (an object) are read by their exact names,
// each once; fetched_at and jwks must be there. Other members are ignored.
func Read(name string, limit int64) (File, error) {
	var f File
	fd, err := os.Open(name)
	if err != nil {
		return f, err
	}
	defer fd.Close()
	data, err := io.ReadAll(io.LimitReader(fd, limit))
	if err != nil {
		return f, err
	}
	var hasAt bool
	err = exactjson.OuterObject(data, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "issuer":
			f.Issuer, ok = exactjson.String(value)
		case "jwks_uri":
			f.JWKSURI, ok = exactjson.String(value)
		case "fetched_at":
			var at float64
			at, ok = exactjson.Number(value)
			f.FetchedAt, hasAt = time.Unix(int64(at), 0), ok
		case "jwks":
			f.JWKS, ok = value, value[0] == '{'
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("%q has the wrong type", name)
		}
		return nil
	})
	switch {
	case err != nil:
		return File{}, err
	case !hasAt:
		return File{}, errors.New("no fetched_at")
	case f.JWKS == nil:
		return File{}, errors.New("no jwks")
	}
	return f, nil
}
