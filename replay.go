package grpcjwt

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ReplayCache remembers the DPoP proofs a server has accepted, so that a
// proof is used once. Replicas that share one (the module
// github.com/grpcjwt/grpcjwt/redis has a Redis-backed one) refuse a proof
// replayed at any of them.
type ReplayCache interface {
	// Seen records key until expiry and reports whether it was already
	// recorded and not yet expired. An error refuses the proof (fail
	// closed).
	Seen(ctx context.Context, key string, expiry time.Time) (bool, error)
}

// Defaults of [NewMemoryReplayCache].
const (
	DefaultReplayEntries = 100_000
	DefaultReplayBytes   = 16 << 20
)

// errReplayFull: every entry is still needed to catch a replay.
var errReplayFull = errors.New("the replay cache is full of unexpired proofs")

const replayShards = 16

// memoryReplayCache is a sharded, bounded in-memory [ReplayCache].
type memoryReplayCache struct {
	seed   maphash.Seed
	shards [replayShards]replayShard
	now    func() time.Time
}

type replayShard struct {
	mu         sync.Mutex
	m          map[string]int64 // key -> expiry, unix nanoseconds
	bytes      int64
	maxEntries int
	maxBytes   int64
}

// NewMemoryReplayCache returns an in-memory ReplayCache bounded to
// maxEntries keys and maxBytes of them (defaults [DefaultReplayEntries] and
// [DefaultReplayBytes] for values ≤ 0). Expired keys are dropped to make
// room; when every key is still unexpired, new proofs are refused rather
// than old ones forgotten, since forgetting one would let it be replayed.
// It is safe for concurrent use.
func NewMemoryReplayCache(maxEntries int, maxBytes int64) ReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultReplayBytes
	}
	c := &memoryReplayCache{seed: maphash.MakeSeed(), now: time.Now}
	for i := range c.shards {
		c.shards[i] = replayShard{
			m:          make(map[string]int64),
			maxEntries: max(maxEntries/replayShards, 1),
			maxBytes:   max(maxBytes/replayShards, 1),
		}
	}
	return c
}

// replayEntryOverhead is a map entry's cost beyond its key.
const replayEntryOverhead = 64

func (c *memoryReplayCache) Seen(_ context.Context, key string, expiry time.Time) (bool, error) {
	s := &c.shards[maphash.String(c.seed, key)%replayShards]
	now := c.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.m[key]; ok && exp > now {
		return true, nil
	}
	size := int64(len(key)) + replayEntryOverhead
	if len(s.m) >= s.maxEntries || s.bytes+size > s.maxBytes {
		for k, exp := range s.m {
			if exp <= now {
				delete(s.m, k)
				s.bytes -= int64(len(k)) + replayEntryOverhead
			}
		}
		if len(s.m) >= s.maxEntries || s.bytes+size > s.maxBytes {
			return false, errReplayFull
		}
	}
	if _, ok := s.m[key]; !ok {
		s.bytes += size
	}
	s.m[key] = expiry.UnixNano()
	return false, nil
}
