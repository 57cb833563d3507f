package grpcjwtotel

import (
	"math/rand/v2"
	"sync/atomic"
)

// counterShards spreads a counter over cache lines, so that cores adding
// at once do not take turns owning one.
const counterShards = 8

// counter is a cumulative count, cheap to add to from many goroutines.
type counter struct {
	shards [counterShards]struct {
		n atomic.Int64
		_ [56]byte // to the next cache line
	}
}

// add adds one to a shard chosen by math/rand/v2's per-thread generator.
func (c *counter) add() {
	c.shards[rand.Uint32()%counterShards].n.Add(1)
}

// load returns the count.
func (c *counter) load() int64 {
	var n int64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}
