package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// ReplayCache remembers the DPoP proofs a server has accepted, so that a
// proof is used once, and bounds how many one key may have remembered at
// a time, so that one client cannot fill it for all. Replicas that share
// one (the module github.com/grpcjwt/grpcjwt/redis has a Redis-backed one)
// refuse a proof replayed at any of them, provided their clocks agree: a
// proof is remembered until its expiry on the clock of the replica that
// accepted it, so that a replica whose clock is behind that one's by d
// would accept a replay of it in the last d of its lifetime.
type ReplayCache interface {
	// Seen records the proof jti of the key whose RFC 7638 thumbprint is
	// jkt until expiry, and reports whether it was already recorded and
	// not yet expired. grpcjwt calls it last, once every other check of
	// the call has passed.
	//
	// expiry is a time on the server's clock ([Config.Now]), the instant
	// from which the proof's iat refuses it: a cache that keeps time
	// elsewhere turns it into a duration on that clock first, so that
	// clocks need not agree. An expiry that is not after now records
	// nothing (grpcjwt, reading its clock after Seen, then refuses the
	// proof itself); the zero time is an error.
	//
	// An error refuses the proof (fail closed): the cache returns one
	// when it cannot answer, when it is full of unexpired proofs, and when
	// the key jkt already has its share of them — which refuses that key
	// alone.
	Seen(ctx context.Context, jkt, jti string, expiry time.Time) (bool, error)
}

// ReplayCacheState is how a replay cache stands: the unexpired proofs it
// remembers, and its bounds.
type ReplayCacheState struct {
	Proofs    int   // unexpired proofs remembered
	Bytes     int64 // their memory, as counted against MaxBytes
	Keys      int   // the keys they are of
	MaxProofs int   // the bounds of [NewMemoryReplayCache]: maxEntries, maxBytes and maxPerKey
	MaxBytes  int64
	MaxPerKey int
}

// ReplayCacheReporter is a [ReplayCache] that can say how it stands, as
// the one of [NewMemoryReplayCache] can: type-assert a ReplayCache to it.
// The module github.com/grpcjwt/grpcjwt/otel reports it as gauges.
type ReplayCacheReporter interface {
	ReplayCache
	// State reports how the cache stands now. It is safe for concurrent
	// use with Seen, and takes the cache's lock as Seen does: call it for
	// metrics, not per request.
	State() ReplayCacheState
}

// Defaults of [NewMemoryReplayCache].
const (
	DefaultReplayEntries = 100_000
	DefaultReplayBytes   = 40 << 20
	DefaultReplayPerKey  = 5_000
)

// replayProofOverhead is what a proof costs the memory cache beyond the
// allocation of its thumbprint and jti, measured (TestMemoryReplayCacheHeap)
// and rounded up: its map slot, its heap slot, and, when it is its key's
// only proof, its key's count and thumbprint, each at the worst fill a
// growing map or slice has.
const replayProofOverhead = 272

// NewMemoryReplayCache returns an in-memory ReplayCache that remembers at
// most maxEntries unexpired proofs, of at most maxBytes, and at most
// maxPerKey of them for any one key; values ≤ 0 take the defaults
// [DefaultReplayEntries], [DefaultReplayBytes] and [DefaultReplayPerKey].
//
// The bounds are exact: a proof is refused only when remembering it would
// exceed one of them with unexpired proofs alone. A proof counts 272 bytes
// plus its thumbprint and jti together, rounded up as Go's allocator does
// (to a multiple of 8 up to 128 bytes): the memory it holds, map and heap
// slots included, so that the cache never holds much more than maxBytes.
// At a bound, new proofs are refused rather than unexpired ones forgotten,
// since forgetting one would let it be replayed; a key at its share is
// refused alone.
//
// Capacity: grpcjwt remembers a proof until [DPoPConfig.ProofLifetime]
// (L) after its iat, the instant from which its iat refuses it anyway,
// and iat is within L of the server's clock. A key can therefore have
// maxPerKey proofs accepted at once and, after that, as many as expire:
// maxPerKey/L a second for a client whose clock agrees with the server's,
// and at least maxPerKey/(2L) for any. The cache as a whole takes
// maxEntries/L a second from such clients, and at least maxEntries/(2L)
// (fewer when maxBytes binds first). With the defaults and L of one
// minute: 5,000 proofs at once and 83.3 a second per key (41.7 at least);
// 100,000 at once and 1,667 a second in all (833 at least). A key's rate
// holds while the cache has room: 20 keys at their full share fill it,
// each with a valid token bound to it that carries the method's scopes,
// since a proof is recorded only once every other check of its call has
// passed. (With grpcjwt's 43-byte thumbprints, a proof whose jti has up
// to 85 bytes counts at most 400 bytes, so that the default maxBytes
// binds only after 100,000 of them.)
//
// It is safe for concurrent use: one lock, held for a map and a heap
// operation per proof, which costs far less than the proof's signature.
// It is a [ReplayCacheReporter].
func NewMemoryReplayCache(maxEntries int, maxBytes int64, maxPerKey int) ReplayCache {
	return newMemoryReplayCache(maxEntries, maxBytes, maxPerKey, time.Now)
}

func newMemoryReplayCache(maxEntries int, maxBytes int64, maxPerKey int, now func() time.Time) *memoryReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultReplayBytes
	}
	if maxPerKey <= 0 {
		maxPerKey = DefaultReplayPerKey
	}
	return &memoryReplayCache{
		proofs:     make(map[replayKey]struct{}),
		perKey:     make(map[string]int),
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		maxPerKey:  maxPerKey,
		now:        now,
	}
}

// memoryReplayCache is the [ReplayCache] of [NewMemoryReplayCache]. It
// holds only unexpired proofs: each Seen first drops those that expired,
// soonest first from a heap, so that the bounds count exactly what must
// still be remembered, and no call scans the cache.
type memoryReplayCache struct {
	now func() time.Time

	mu       sync.Mutex
	proofs   map[replayKey]struct{}
	byExpiry []replayItem   // the same proofs, a min-heap on expiry
	perKey   map[string]int // proofs per key thumbprint; no zero counts
	bytes    int64          // counted as replayProofSize

	maxEntries, maxPerKey int
	maxBytes              int64
}

// replayKey is one proof: its key's thumbprint and its jti, which share
// one allocation.
type replayKey struct{ jkt, jti string }

type replayItem struct {
	key    replayKey
	expiry int64 // unix nanoseconds
}

var _ ReplayCacheReporter = (*memoryReplayCache)(nil)

var errReplayFull = errors.New("the replay cache is full of unexpired proofs")

// replayProofSize is the memory a proof counts for.
func replayProofSize(jkt, jti string) int64 {
	return replayProofOverhead + alloc(len(jkt)+len(jti))
}

func (c *memoryReplayCache) Seen(_ context.Context, jkt, jti string, expiry time.Time) (bool, error) {
	if expiry.IsZero() {
		return false, errors.New("the zero expiry")
	}
	t := c.now()
	now := t.UnixNano()
	k := replayKey{jkt, jti}
	size := replayProofSize(jkt, jti)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.proofs[k]; ok {
		return true, nil
	}
	ttl := expiry.Sub(t)
	switch n := c.perKey[jkt]; {
	case ttl <= 0:
		return false, nil // past the time it had to be remembered
	case n >= c.maxPerKey:
		return false, fmt.Errorf("the key has %d unexpired proofs, its share", n)
	case len(c.proofs) >= c.maxEntries || c.bytes+size > c.maxBytes:
		return false, errReplayFull
	}
	c.add(k, now+min(int64(ttl), math.MaxInt64-now), size)
	return false, nil
}

// State drops the proofs that have expired, as Seen does first, and
// reports those left and the bounds.
func (c *memoryReplayCache) State() ReplayCacheState {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	return ReplayCacheState{
		Proofs:    len(c.proofs),
		Bytes:     c.bytes,
		Keys:      len(c.perKey),
		MaxProofs: c.maxEntries,
		MaxBytes:  c.maxBytes,
		MaxPerKey: c.maxPerKey,
	}
}

// add remembers k until expiry, with its strings copied into one
// allocation of their own. c.mu must be held.
func (c *memoryReplayCache) add(k replayKey, expiry, size int64) {
	var b strings.Builder
	b.Grow(len(k.jkt) + len(k.jti))
	b.WriteString(k.jkt)
	b.WriteString(k.jti)
	s := b.String()
	k = replayKey{jkt: s[:len(k.jkt)], jti: s[len(k.jkt):]}
	c.proofs[k] = struct{}{}
	c.push(replayItem{key: k, expiry: expiry})
	if n, ok := c.perKey[k.jkt]; ok {
		c.perKey[k.jkt] = n + 1
	} else {
		c.perKey[strings.Clone(k.jkt)] = 1 // not pinning this proof's allocation
	}
	c.bytes += size
}

// expire drops every proof whose expiry is not after now. c.mu must be
// held.
func (c *memoryReplayCache) expire(now int64) {
	for len(c.byExpiry) > 0 && c.byExpiry[0].expiry <= now {
		k := c.pop().key
		delete(c.proofs, k)
		if n := c.perKey[k.jkt]; n > 1 {
			c.perKey[k.jkt] = n - 1
		} else {
			delete(c.perKey, k.jkt)
		}
		c.bytes -= replayProofSize(k.jkt, k.jti)
	}
}

// push adds it to the heap.
func (c *memoryReplayCache) push(it replayItem) {
	h := append(c.byExpiry, it)
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].expiry <= h[i].expiry {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
	c.byExpiry = h
}

// pop removes and returns the item of the soonest expiry.
func (c *memoryReplayCache) pop() replayItem {
	h := c.byExpiry
	top, last := h[0], len(h)-1
	h[0] = h[last]
	h[last] = replayItem{} // no longer pins the proof's strings
	h = h[:last]
	for i := 0; ; {
		least := i
		for _, child := range [2]int{2*i + 1, 2*i + 2} {
			if child < len(h) && h[child].expiry < h[least].expiry {
				least = child
			}
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	c.byExpiry = h
	return top
}
