package grpcjwt

import (
	"encoding/binary"
	"sync"
)

// refusalCacheSize bounds the refused introspected tokens a Validator
// remembers, in all: each costs about 170 bytes (its digest, its expiry,
// the error and a map slot; measured in bench/), so 700 KB at most.
const refusalCacheSize = 4096

const refusalShards = 16

// refusalCache remembers, for a short while, the introspected tokens
// refused for a reason of their own (inactive, or claims that fail a
// check), by their digests ([tokenDigest]), so that a client retrying one costs no
// request. It is sharded, bounded in entries, and evicts expired entries,
// then arbitrary ones, to make room. An error that is not the token's
// (the endpoint unavailable) is never remembered.
type refusalCache struct {
	shards [refusalShards]refusalShard
}

type refusalShard struct {
	mu  sync.Mutex
	m   map[tokenDigest]refusal
	max int
}

type refusal struct {
	until int64 // unix nanoseconds
	err   error
}

func newRefusalCache(entries int) *refusalCache {
	c := &refusalCache{}
	for i := range c.shards {
		c.shards[i] = refusalShard{m: make(map[tokenDigest]refusal), max: max(entries/refusalShards, 1)}
	}
	return c
}

// shard picks the shard of a digest, whose bytes are already uniform.
func (c *refusalCache) shard(sum *tokenDigest) *refusalShard {
	return &c.shards[binary.LittleEndian.Uint32(sum[:4])%refusalShards]
}

// get returns why the token of sum was refused, if it was less than its
// entry's lifetime ago.
func (c *refusalCache) get(sum *tokenDigest, now int64) error {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[*sum]
	if !ok {
		return nil
	}
	if now >= r.until {
		delete(s.m, *sum)
		return nil
	}
	return r.err
}

// put remembers that the token of sum was refused for err until until.
func (c *refusalCache) put(sum *tokenDigest, err error, until, now int64) {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*sum]; !ok && len(s.m) >= s.max {
		for k, r := range s.m {
			if now >= r.until {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < s.max {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[*sum] = refusal{until: until, err: err}
}

// len returns how many refusals the cache holds.
func (c *refusalCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
