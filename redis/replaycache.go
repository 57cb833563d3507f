package grpcjwtredis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/redis/go-redis/v9"
)

// ReplayCache is a [grpcjwt.ReplayCache] kept in Redis. Use it as
// [grpcjwt.DPoPConfig.ReplayCache] on every replica. It is safe for
// concurrent use.
type ReplayCache struct {
	client redis.UniversalClient
	o      options
}

var _ grpcjwt.ReplayCache = (*ReplayCache)(nil)

// New returns a ReplayCache that stores proofs through client: a
// *redis.Client, a *redis.ClusterClient or a failover client (New panics
// when it is nil). The cache does not close client. Timeouts are the
// client's (ReadTimeout, WriteTimeout) and the call's deadline.
func New(client redis.UniversalClient, opts ...Option) *ReplayCache {
	if client == nil {
		panic("grpcjwtredis: New with a nil client")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &ReplayCache{client: client, o: o}
}

// seen is the one script Seen runs, atomically, on the sorted set of one
// key's proofs (KEYS[1]): each member a proof, scored by the time it
// expires on Redis's own clock (TIME), in milliseconds. It answers 1 when
// ARGV[1] is there unexpired, 2 when the key has ARGV[3] unexpired proofs,
// its share, and otherwise adds ARGV[1] for ARGV[2] ms, drops the key's
// expired proofs, keeps the set at least as long, and answers 0. It reads
// before it writes and writes ZADD first, so that Redis out of memory
// (maxmemory, noeviction) refuses the script rather than let it in after a
// write that frees nothing.
var seen = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expires and tonumber(expires) > now then
	return 1
end
if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') >= tonumber(ARGV[3]) then
	return 2
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 0
`)

// Seen records the proof jti of the key jkt for as long as expiry is
// ahead on the cache's clock ([WithClock]), timed by Redis's own clock, so
// that the clocks of Redis and of the servers need not agree; an expiry
// not ahead records nothing. It runs one script, atomically, so that
// concurrent replays at different replicas cannot both win, and it
// returns true when the proof was already recorded, false when this call
// recorded it, and an error, which makes grpcjwt refuse the proof, when
// the key already has its share of unexpired proofs ([WithMaxPerKey]) or
// Redis fails (down, timed out, out of memory under noeviction).
func (c *ReplayCache) Seen(ctx context.Context, jkt, jti string, expiry time.Time) (bool, error) {
	if expiry.IsZero() {
		return false, errors.New("grpcjwtredis: Seen with the zero expiry")
	}
	ttl := expiry.Sub(c.o.now())
	if ttl <= 0 {
		return false, nil
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	res, err := seen.Run(ctx, c.client, []string{c.redisKey(jkt)}, member(jti), int64(ms), c.o.maxPerKey).Int()
	if err != nil {
		return false, fmt.Errorf("grpcjwtredis: %w", err)
	}
	switch res {
	case 0:
		return false, nil
	case 1:
		return true, nil
	case 2:
		return false, fmt.Errorf("grpcjwtredis: the key has %d unexpired proofs, its share", c.o.maxPerKey)
	}
	return false, fmt.Errorf("grpcjwtredis: the script answered %d", res)
}

// redisKey is the Redis key of the sorted set of jkt's proofs: the prefix
// and the hex SHA-256 of jkt.
func (c *ReplayCache) redisKey(jkt string) string {
	sum := sha256.Sum256([]byte(jkt))
	return c.o.prefix + hex.EncodeToString(sum[:])
}

// member is a proof's member in its key's sorted set: the hex SHA-256 of
// its jti, of one size whatever the client sent.
func member(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return hex.EncodeToString(sum[:])
}
