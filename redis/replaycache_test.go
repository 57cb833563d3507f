package grpcjwtredis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	grpcjwtredis "github.com/grpcjwt/grpcjwt/redis"
	"github.com/redis/go-redis/v9"
)

// hashed is the Redis key the cache documents for key under prefix.
func hashed(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(sum[:])
}

func TestSeen(t *testing.T) {
	s := startRedis(t)
	client := s.Client(t)
	cache := grpcjwtredis.New(client)
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)

	seen := func(c *grpcjwtredis.ReplayCache, key string, expiry time.Time) bool {
		t.Helper()
		got, err := c.Seen(ctx, key, expiry)
		if err != nil {
			t.Fatalf("Seen(%q): %v", key, err)
		}
		return got
	}

	t.Run("first false, then true", func(t *testing.T) {
		if seen(cache, "jkt jti-1", hour) {
			t.Fatal("a new key was seen")
		}
		for i := range 2 {
			if !seen(cache, "jkt jti-1", hour) {
				t.Fatalf("repeat %d: a recorded key was not seen", i)
			}
		}
		if seen(cache, "jkt jti-2", hour) {
			t.Fatal("another jti was seen")
		}
		if seen(cache, "other-jkt jti-1", hour) {
			t.Fatal("the same jti under another key was seen")
		}
	})

	t.Run("one hashed key per proof, expiring at expiry", func(t *testing.T) {
		key := "jkt " + string(make([]byte, 300))
		expiry := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		if seen(cache, key, expiry) {
			t.Fatal("a new key was seen")
		}
		rk := hashed(grpcjwtredis.DefaultPrefix, key)
		if len(rk) != len(grpcjwtredis.DefaultPrefix)+64 {
			t.Fatalf("key %q is not the prefix and a hex SHA-256", rk)
		}
		at, err := client.PExpireTime(ctx, rk).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := time.UnixMilli(int64(at / time.Millisecond)); !got.Equal(expiry) {
			t.Fatalf("%s expires at %s, want %s", rk, got, expiry)
		}
	})

	t.Run("prefixes keep caches apart", func(t *testing.T) {
		other := grpcjwtredis.New(client, grpcjwtredis.WithPrefix("other-api:"))
		if seen(other, "jkt jti-1", hour) {
			t.Fatal("a key recorded under the default prefix was seen under another")
		}
		if n, err := client.Exists(ctx, hashed("other-api:", "jkt jti-1")).Result(); err != nil || n != 1 {
			t.Fatalf("EXISTS under the prefix: %d, %v", n, err)
		}
		if !seen(other, "jkt jti-1", hour) {
			t.Fatal("a recorded key was not seen")
		}
	})

	t.Run("expiry is honoured", func(t *testing.T) {
		if seen(cache, "jkt short", time.Now().Add(50*time.Millisecond)) {
			t.Fatal("a new key was seen")
		}
		deadline := time.Now().Add(5 * time.Second)
		for seen(cache, "jkt short", hour) {
			if time.Now().After(deadline) {
				t.Fatal("a key recorded for 50ms is still seen after 5s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !seen(cache, "jkt short", hour) {
			t.Fatal("an expired key, recorded again, was not seen")
		}
	})

	t.Run("an expiry in the past records nothing", func(t *testing.T) {
		past := time.Now().Add(-time.Minute)
		for i := range 2 {
			if seen(cache, "jkt past", past) {
				t.Fatalf("call %d: a key recorded with a past expiry was seen", i)
			}
		}
	})

	t.Run("concurrent replays: exactly one wins", func(t *testing.T) {
		const n = 32
		var wg sync.WaitGroup
		results := make(chan bool, n)
		for range n {
			wg.Go(func() {
				got, err := cache.Seen(ctx, "jkt raced", hour)
				if err != nil {
					t.Error(err)
				}
				results <- got
			})
		}
		wg.Wait()
		close(results)
		fresh := 0
		for got := range results {
			if !got {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d of %d concurrent calls stored the key, want exactly 1", fresh, n)
		}
	})
}

// TestSeenFailsClosed: when Redis cannot answer, Seen returns an error
// (grpcjwt then refuses the proof), never "not seen".
func TestSeenFailsClosed(t *testing.T) {
	s := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { client.Close() })
	cache := grpcjwtredis.New(client)
	ctx := context.Background()
	if _, err := cache.Seen(ctx, "jkt before", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Redis up: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if seen, err := cache.Seen(cancelled, "jkt cancelled", time.Now().Add(time.Hour)); err == nil {
		t.Fatalf("a cancelled call: Seen = %v, nil; want an error", seen)
	}
	if seen, err := cache.Seen(ctx, "jkt zero", time.Time{}); err == nil {
		t.Fatalf("the zero expiry: Seen = %v, nil; want an error", seen)
	}

	s.Kill()
	for _, key := range []string{"jkt before", "jkt after"} {
		if seen, err := cache.Seen(ctx, key, time.Now().Add(time.Hour)); err == nil {
			t.Fatalf("Redis down, %q: Seen = %v, nil; want an error", key, seen)
		}
	}
}
