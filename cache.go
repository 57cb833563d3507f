package grpcjwt

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
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
	seed      maphash.Seed
	shards    [cacheShards]cacheShard
	evictions atomic.Int64
}

// size returns the entries and bytes the cache holds.
func (c *tokenCache) size() (entries int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		entries += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}

type cacheShard struct {
	mu         sync.RWMutex
	m          map[uint64]*cacheEntry // by the token's hash; the entry holds the token
	bytes      int64
	maxEntries int
	maxBytes   int64
}

type cacheEntry struct {
	token  string // the token; for an introspected one, its digest (tokenDigest)
	claims *Claims
	key    *verifyKey // nil for an introspected token
	exp    int64      // cache time (see Validator.cacheClock): the entry serves until then (a JWT's exp with the leeway)
	nbf    int64      // cache time, leeway included; math.MinInt64 when absent
	size   int64
}

func newTokenCache(maxEntries int, maxBytes int64) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[uint64]*cacheEntry)
		s.maxEntries = max(maxEntries/cacheShards, 1)
		s.maxBytes = max(maxBytes/cacheShards, 1)
	}
	return c
}

// hashedTail is how many bytes of a token, at its end, the cache hashes.
const hashedTail = 32

// shard hashes token once: the hash picks the shard and is the key in it.
// Only the token's last 32 bytes are hashed: those of a JWT are its
// signature's, which differ from one token to the next, and the key of an
// introspected token is 16 random-looking bytes. Tokens that share their
// last 32 bytes share a slot, and a lookup compares the whole token, so
// that only the exact same token can hit: a token forged to share a
// cached one's tail only misses, and is verified as any other. Hashing the
// whole token, 800 bytes and more, was a third of a cache hit.
func (c *tokenCache) shard(token string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, token[max(len(token)-hashedTail, 0):])
	return &c.shards[h%cacheShards], h
}

// get returns the cached claims of token, and the key that verified them,
// if they are still valid at now.
func (c *tokenCache) get(token string, now int64) (*Claims, *verifyKey) {
	s, h := c.shard(token)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != token {
		return nil, nil
	}
	if now > e.exp || now < e.nbf || e.key.dropped() {
		s.mu.Lock()
		if s.m[h] == e {
			s.remove(h, e)
			c.evictions.Add(1)
		}
		s.mu.Unlock()
		return nil, nil
	}
	return e.claims, e.key
}

// putUntil caches a verified token until exp, not before nbf
// (math.MinInt64: none), both in the cache's time, as now is (see
// [Validator.cacheClock]). A token too large for a shard is not cached.
func (c *tokenCache) putUntil(token string, claims *Claims, key *verifyKey, exp, nbf, now int64) {
	e := &cacheEntry{
		token:  token,
		claims: claims,
		key:    key,
		exp:    exp,
		nbf:    nbf,
		size:   entrySize(token, claims),
	}
	s, h := c.shard(token)
	if e.size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A token whose hash collides with another's replaces it.
	if old := s.m[h]; old != nil {
		s.remove(h, old)
	}
	if len(s.m) >= s.maxEntries || s.bytes+e.size > s.maxBytes {
		c.evictions.Add(int64(s.evict(now, e.size)))
	}
	s.m[h] = e
	s.bytes += e.size
}

// entryOverhead is what an entry costs beyond its strings and slices: the
// map slot, the entry and the Claims struct, with allocator rounding.
const entryOverhead = 448

// entrySize is the memory an entry holds: the token, the payload, and every
// string and slice of the claims, each rounded up as the allocator does
// (every string is an allocation of its own, every slice element a string
// header), so that a token with thousands of tiny scopes is charged for
// what it really costs.
func entrySize(token string, c *Claims) int64 {
	n := entryOverhead + int64(len(token)) + alloc(cap(c.raw))
	for _, s := range [...]string{c.Issuer, c.Subject, c.ID, c.ClientID, c.orgByClaim, c.Confirmation.X5TS256, c.Confirmation.JKT, c.ACR} {
		n += alloc(len(s))
	}
	for _, list := range [...][]string{c.Audience, c.Scopes, c.AMR} {
		n += alloc(16 * cap(list))
		for _, s := range list {
			n += alloc(len(s))
		}
	}
	return n
}

// alloc rounds a request of n bytes up as Go's allocator does, roughly:
// to 8 bytes for small objects, to 1/8 of its size class above that.
func alloc(n int) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 128:
		return int64(n+7) &^ 7
	default:
		step := 1 << (bits.Len(uint(n)) - 3)
		return int64((n + step - 1) &^ (step - 1))
	}
}

func (s *cacheShard) remove(h uint64, e *cacheEntry) {
	delete(s.m, h)
	s.bytes -= e.size
}

// evict makes room for one entry of size bytes, and returns how many entries
// it removed: first every entry that
// expired or whose key was dropped, then arbitrary ones (Go's map order is
// random, which makes this random eviction). s.mu must be held.
func (s *cacheShard) evict(now, size int64) (removed int) {
	for h, e := range s.m {
		if now > e.exp || e.key.dropped() {
			s.remove(h, e)
			removed++
		}
	}
	for h, e := range s.m {
		if len(s.m) < s.maxEntries && s.bytes+size <= s.maxBytes {
			return removed
		}
		s.remove(h, e)
		removed++
	}
	return removed
}
