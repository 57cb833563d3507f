package grpcjwt

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Defaults of the verified-token cache.
const (
	DefaultCacheSize  = 10_000
	DefaultCacheBytes = 16 << 20
)

const (
	cacheShards = 32
	shardBits   = 5 // log2(cacheShards): a hash's low bits pick its shard, the bits above its slot
	minSlots    = 16
)

// tokenCache remembers tokens that passed every check, keyed by the whole
// token, so that only the exact same token can hit. It is sharded, and a
// lookup takes no lock and writes nothing: it loads atomic pointers and
// reads immutable entries (see cacheTable). Writers, who have just
// verified a signature, take their shard's mutex. A hit still checks exp
// and nbf against the clock, and that the key which verified the token is
// still published.
type tokenCache struct {
	seed      maphash.Seed
	shards    [cacheShards]cacheShard
	evictions atomic.Int64
}

// size returns the entries and bytes the cache holds.
func (c *tokenCache) size() (entries int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += s.entries
		bytes += s.bytes
		s.mu.Unlock()
	}
	return entries, bytes
}

type cacheShard struct {
	table atomic.Pointer[cacheTable] // loaded by lookups; replaced, under mu, to grow

	mu         sync.Mutex // held to change the table or the counts
	entries    int
	bytes      int64
	maxEntries int
	maxBytes   int64
}

type cacheEntry struct {
	token  string // the token; for an introspected one, its digest (tokenDigest)
	hash   uint64 // of the token's tail (see shard)
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
		s.table.Store(newCacheTable(minSlots))
		s.maxEntries = max(maxEntries/cacheShards, 1)
		s.maxBytes = max(maxBytes/cacheShards, 1)
	}
	return c
}

// hashedTail is how many bytes of a token, at its end, the cache hashes.
const hashedTail = 32

// shard hashes token once: the hash picks the shard and the slot in it.
// Only the token's last 32 bytes are hashed: those of a JWT are its
// signature's, which differ from one token to the next, and the key of an
// introspected token is 16 random-looking bytes. Tokens that share their
// last 32 bytes share a hash, and a lookup compares the whole token, so
// that only the exact same token can hit: a token forged to share a
// cached one's tail only misses, and is verified as any other. Hashing the
// whole token, 800 bytes and more, was a third of a cache hit.
func (c *tokenCache) shard(token string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, token[max(len(token)-hashedTail, 0):])
	return &c.shards[h%cacheShards], h
}

// get returns the cached claims of token, and the key that verified them,
// if they are still valid at now. A hit takes no lock; a stale entry is
// removed under the shard's.
func (c *tokenCache) get(token string, now int64) (*Claims, *verifyKey) {
	s, h := c.shard(token)
	_, e := s.table.Load().probe(h)
	if e == nil || e.token != token {
		return nil, nil
	}
	if now > e.exp || now < e.nbf || e.key.dropped() {
		s.mu.Lock()
		if i, cur := s.table.Load().probe(h); cur == e {
			s.remove(i)
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
	s, h := c.shard(token)
	e := &cacheEntry{
		token:  token,
		hash:   h,
		claims: claims,
		key:    key,
		exp:    exp,
		nbf:    nbf,
		size:   entrySize(token, claims),
	}
	if e.size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table.Load()
	i, old := t.probe(h)
	if old != nil {
		// A token whose hash collides with another's replaces it, in
		// one store: a lookup of a token that replaces itself (two
		// calls verified it at once) never misses meanwhile.
		t.slots[i].Store(e)
		s.bytes += e.size - old.size
	} else {
		s.add(i, e)
	}
	if s.over() {
		c.evictions.Add(int64(s.evict(now, e)))
	}
}

// entryOverhead is what an entry costs beyond its strings and slices: its
// table slots, the entry and the Claims struct, with allocator rounding.
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

// over reports whether the shard holds more than its bounds allow.
func (s *cacheShard) over() bool {
	return s.entries > s.maxEntries || s.bytes > s.maxBytes
}

// add puts e in slot i, the empty slot that ends the run of e's hash,
// after growing the table if e would fill it past half. s.mu must be held.
func (s *cacheShard) add(i uint64, e *cacheEntry) {
	t := s.table.Load()
	if 2*(s.entries+1) > len(t.slots) {
		t = s.grow(t)
		i, _ = t.probe(e.hash)
	}
	t.slots[i].Store(e)
	s.entries++
	s.bytes += e.size
}

// grow replaces the shard's table with one twice the size of old, then
// empties old, so that a lookup still reading old finds no entry there
// that is removed later. s.mu must be held.
func (s *cacheShard) grow(old *cacheTable) *cacheTable {
	t := newCacheTable(2 * len(old.slots))
	for i := range old.slots {
		if e := old.slots[i].Load(); e != nil {
			j, _ := t.probe(e.hash)
			t.slots[j].Store(e)
		}
	}
	s.table.Store(t)
	for i := range old.slots {
		old.slots[i].Store(nil)
	}
	return t
}

// remove removes the entry in slot i. s.mu must be held.
func (s *cacheShard) remove(i uint64) {
	t := s.table.Load()
	e := t.slots[i].Load()
	t.empty(i)
	s.entries--
	s.bytes -= e.size
}

// evict removes entries other than keep until the shard is within its
// bounds again, and returns how many it removed: first every entry that
// expired or whose key was dropped, then arbitrary ones, in table order
// from a random slot (entries sit in the order of their keyed hashes,
// which makes this random eviction). It ends: keep alone is within the
// bounds (putUntil caches no entry larger than a shard). s.mu must be
// held.
func (s *cacheShard) evict(now int64, keep *cacheEntry) (removed int) {
	t := s.table.Load()
	// A removal moves entries of the run after slot i back, maybe into
	// slot i, never before it: slot i is read again, and no entry is
	// passed over.
	for i := range uint64(len(t.slots)) {
		for e := t.slots[i].Load(); e != nil && e != keep && (now > e.exp || e.key.dropped()); e = t.slots[i].Load() {
			s.remove(i)
			removed++
		}
	}
	mask := uint64(len(t.slots) - 1)
	for i := rand.Uint64() & mask; s.over(); {
		if e := t.slots[i].Load(); e != nil && e != keep {
			s.remove(i)
			removed++
			continue
		}
		i = (i + 1) & mask
	}
	return removed
}

// cacheTable is a shard's entries: an open-addressing hash table with
// linear probing, whose slots are atomic pointers to immutable entries,
// and which is never more than half full. An entry's home slot is given by
// the bits of its hash above the shard's; it sits there or in the first
// empty slot after, and no empty slot lies between its home and it.
//
// A lookup loads slots from the home of its hash until it finds that hash
// or an empty slot, without a lock. Writers hold the shard's mutex, and:
//   - store an entry in a slot only once it is complete;
//   - replace an entry of the same hash by one store;
//   - remove an entry by overwriting its one slot, moving back later
//     entries of its run to keep them reachable (empty), each stored in its
//     new slot before its old one is overwritten: once a removal returns,
//     no slot holds the entry, so no lookup that starts after it can find
//     it. A lookup racing the move of the entry it looks for may miss it:
//     the token is then verified and cached again, as any miss is;
//   - grow into a new table and empty the old one (grow).
//
// So a lookup finds only entries whose removal it started before, and
// compares their hash and whole token.
type cacheTable struct {
	slots []atomic.Pointer[cacheEntry] // a power of two of them
}

func newCacheTable(n int) *cacheTable {
	return &cacheTable{slots: make([]atomic.Pointer[cacheEntry], n)}
}

// home returns the slot where the run of hash h starts.
func (t *cacheTable) home(h uint64) uint64 {
	return h >> shardBits & uint64(len(t.slots)-1)
}

// probe returns the slot of the entry of hash h and the entry, or the
// empty slot that ends h's run and nil. Without the shard's lock, only the entry counts;
// it may be nil for an entry being moved.
func (t *cacheTable) probe(h uint64) (uint64, *cacheEntry) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(h)
	for range len(t.slots) { // an empty slot ends every run; the bound is for lookups racing writers
		e := t.slots[i].Load()
		if e == nil || e.hash == h {
			return i, e
		}
		i = (i + 1) & mask
	}
	return i, nil
}

// empty empties slot i, and moves back each later entry of its run that
// the hole would cut off from its home (backward-shift deletion, Knuth's
// algorithm R): the table needs no tombstones, and runs stay as short as
// if the removed entry had never been. The shard's mutex must be held.
func (t *cacheTable) empty(i uint64) {
	mask := uint64(len(t.slots) - 1)
	hole := i
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := t.slots[j].Load()
		if e == nil {
			break
		}
		// e may fill the hole if the hole lies between e's home and j.
		if home := t.home(e.hash); (j-home)&mask >= (j-hole)&mask {
			t.slots[hole].Store(e)
			hole = j
		}
	}
	t.slots[hole].Store(nil)
}
