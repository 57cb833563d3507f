package grpcjwt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/keycache"
)

// A key set's use of its key cache file ([Config.KeyCacheDir]), whose
// format is internal/keycache's: the file is written after every good
// fetch (keySet.fetch), read at startup (loadKeyCache), its keys used
// while the provider cannot be reached (useCached) and dropped when
// discovery names another jwks_uri (disownCached).

// cachedKeys are the keys of the key cache file. They are trusted only
// while the provider cannot be reached, and only for the jwks_uri they were
// fetched from: they serve after a fetch fails without keys to keep
// (useCached), unless discovery has named another jwks_uri (disownCached),
// and a successful fetch supersedes them (install).
type cachedKeys struct {
	jwksURI   string
	snap      *keySnapshot
	fetchedAt time.Time
}

// useCached makes the key cache file's keys the key set's, when it has no
// others and discovery has not disowned them.
func (ks *keySet) useCached() {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	c := ks.cached
	if c == nil || ks.snap.Load() != nil {
		return
	}
	ks.snap.Store(c.snap)
	ks.lastSuccess.Store(c.fetchedAt.UnixNano())
	ks.log.Info("grpcjwt: the provider cannot be reached; using keys from the key cache", "file", ks.cacheFile, "jwks_uri", c.jwksURI, "keys", len(c.snap.keys), "fetched_at", c.fetchedAt)
}

// disownCached discards the key cache file's keys when discovery names
// another jwks_uri than theirs: they stop verifying at once, tokens they
// verified included, even if the new jwks_uri then fails, and the file is
// deleted, so that no later start trusts it either.
func (ks *keySet) disownCached(jwksURI string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	c := ks.cached
	if c == nil || c.jwksURI == jwksURI {
		return
	}
	ks.cached = nil
	if ks.snap.Load() == c.snap {
		for _, k := range c.snap.keys {
			k.removed.Store(true)
		}
		ks.snap.Store(nil)
		ks.lastSuccess.Store(0)
		ks.staleSince.Store(0)
	}
	ks.log.Warn("grpcjwt: discovery names another jwks_uri than the key cache file; its keys are discarded and the file deleted",
		"file", ks.cacheFile, "file_jwks_uri", c.jwksURI, "jwks_uri", jwksURI)
	// Under mu, so that it cannot remove a file a successful fetch (which
	// clears ks.cached first, under mu) has written since.
	if err := os.Remove(ks.cacheFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		ks.log.Warn("grpcjwt: could not delete the key cache file", "file", ks.cacheFile, "error", err)
	}
}

// loadKeyCache reads the keys of the key cache file, to serve if the
// provider cannot be reached (see [cachedKeys]), when the file is this
// issuer's, no older than maxAge, for the configured JWKS URL if there is
// one, and holds a usable JWK Set. The file is read like anything fetched
// (see [keycache.Read]); its JWK Set is read as a fetched one is (a bad
// JWK is skipped alone).
func (ks *keySet) loadKeyCache(maxAge time.Duration) error {
	f, err := keycache.Read(ks.cacheFile, 2*ks.maxBody+4096)
	if err != nil {
		return err
	}
	now := ks.now()
	switch {
	case f.Issuer != ks.issuer:
		return fmt.Errorf("the file is for issuer %q", truncate(f.Issuer))
	case now.Sub(f.FetchedAt) > maxAge || f.FetchedAt.After(now.Add(time.Minute)):
		return fmt.Errorf("keys fetched at %s are older than %s", f.FetchedAt.UTC().Format(time.RFC3339), maxAge)
	case ks.configuredURL != "" && f.JWKSURI != ks.configuredURL:
		return fmt.Errorf("the keys come from %q, not the configured %q", truncate(f.JWKSURI), ks.configuredURL)
	}
	if err := checkHTTPURL(f.JWKSURI); err != nil {
		return err
	}
	if err := checkKeysURL(ks.issuer, f.JWKSURI); err != nil {
		return err
	}
	snap, err := ks.parse(f.JWKS)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	ks.cached = &cachedKeys{jwksURI: f.JWKSURI, snap: snap, fetchedAt: f.FetchedAt}
	ks.mu.Unlock()
	ks.log.Debug("grpcjwt: keys in the key cache, for when the provider cannot be reached", "file", ks.cacheFile, "keys", len(snap.keys), "fetched_at", f.FetchedAt)
	return nil
}
