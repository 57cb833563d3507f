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
	prefix string
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
	return &ReplayCache{client: client, prefix: o.prefix}
}

// Seen records key until expiry and reports whether it was already
// recorded and not yet expired, with one SET NX PXAT: true when the key
// existed, false when this call stored it. Any error from Redis (down,
// timed out, out of memory under noeviction) is returned, and grpcjwt
// refuses the proof.
func (c *ReplayCache) Seen(ctx context.Context, key string, expiry time.Time) (bool, error) {
	res, err := c.client.Do(ctx, "set", c.redisKey(key), "1", "nx", "pxat", expiry.UnixMilli()).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("grpcjwtredis: %w", err)
	case res != "OK":
		return false, fmt.Errorf("grpcjwtredis: SET NX replied %v, want OK or nil", res)
	}
	return false, nil
}

// redisKey is the Redis key under which Seen records key: the prefix and
// the hex SHA-256 of key.
func (c *ReplayCache) redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return c.prefix + hex.EncodeToString(sum[:])
}
