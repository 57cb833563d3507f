package grpcjwt

import (
	"hash/maphash"
	"sync"
	"time"
)

// Defaults of the verified-token cache.
const (
	DefaultCacheSize  = 10_000
	DefaultCacheBytes = 16 << 20
)

const cacheShards = 32

// tokenCache remembers tokens that passed every check, keyed by the whole
// token, so that only the exact same token can hit. It is sharded: calls
// with different tokens rarely share a lock, and a hit takes only a read
// lock. A hit still checks exp and nbf against the clock, and that the key
// which verified the token is still published.
type tokenCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu         sync.RWMutex
	m          map[string]*cacheEntry
	bytes      int64
	maxEntries int
	maxBytes   int64
}

type cacheEntry struct {
	claims *Claims
	key    *verifyKey
	exp    int64 // unix nanoseconds, leeway included
	nbf    int64 // unix nanoseconds, leeway included; 0 when absent
	size   int64
}

func newTokenCache(maxEntries int, maxBytes int64) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[string]*cacheEntry)
		s.maxEntries = max(maxEntries/cacheShards, 1)
		s.maxBytes = max(maxBytes/cacheShards, 1)
	}
	return c
}

func (c *tokenCache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)%cacheShards]
}

// get returns the cached claims of token if they are still valid at now.
func (c *tokenCache) get(token string, now int64) *Claims {
	s := c.shard(token)
	s.mu.RLock()
	e := s.m[token]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	if now > e.exp || now < e.nbf || e.key.removed.Load() {
		s.mu.Lock()
		if s.m[token] == e {
			s.remove(token, e)
		}
		s.mu.Unlock()
		return nil
	}
	return e.claims
}

// put caches a verified token. A token too large for a shard is not cached.
func (c *tokenCache) put(token string, claims *Claims, key *verifyKey, leeway time.Duration, now int64) {
	e := &cacheEntry{
		claims: claims,
		key:    key,
		exp:    claims.ExpiresAt.Add(leeway).UnixNano(),
		size:   int64(len(token)) + int64(len(claims.raw)) + 256,
	}
	if !claims.NotBefore.IsZero() {
		e.nbf = claims.NotBefore.Add(-leeway).UnixNano()
	}
	s := c.shard(token)
	if e.size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[token]; old != nil {
		s.remove(token, old)
	}
	if len(s.m) >= s.maxEntries || s.bytes+e.size > s.maxBytes {
		s.evict(now, e.size)
	}
	s.m[token] = e
	s.bytes += e.size
}

func (s *cacheShard) remove(token string, e *cacheEntry) {
	delete(s.m, token)
	s.bytes -= e.size
}

// evict makes room for one entry of size bytes: first every entry that
// expired or whose key was dropped, then arbitrary ones (Go's map order is
// random, which makes this random eviction). s.mu must be held.
func (s *cacheShard) evict(now, size int64) {
	for t, e := range s.m {
		if now > e.exp || e.key.removed.Load() {
			s.remove(t, e)
		}
	}
	for t, e := range s.m {
		if len(s.m) < s.maxEntries && s.bytes+size <= s.maxBytes {
			return
		}
		s.remove(t, e)
	}
}
