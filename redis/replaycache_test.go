package grpcjwtredis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	grpcjwtredis "github.com/grpcjwt/grpcjwt/redis"
	"github.com/redis/go-redis/v9"
)

// hashed is the hex SHA-256 of s: the cache's keys are a prefix and the
// hash of a thumbprint, its members the hash of a jti.
func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// seenFunc calls c.Seen and fails the test on an error.
func seenFunc(t *testing.T) func(c *grpcjwtredis.ReplayCache, jkt, jti string, expiry time.Time) bool {
	return func(c *grpcjwtredis.ReplayCache, jkt, jti string, expiry time.Time) bool {
		t.Helper()
		got, err := c.Seen(context.Background(), jkt, jti, expiry)
		if err != nil {
			t.Fatalf("Seen(%q, %q): %v", jkt, jti, err)
		}
		return got
	}
}

func TestSeen(t *testing.T) {
	s := startRedis(t)
	client := s.Client(t)
	cache := grpcjwtredis.New(client)
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)
	seen := seenFunc(t)

	t.Run("first false, then true", func(t *testing.T) {
		if seen(cache, "jkt", "jti-1", hour) {
			t.Fatal("a new proof was seen")
		}
		for i := range 2 {
			if !seen(cache, "jkt", "jti-1", hour) {
				t.Fatalf("repeat %d: a recorded proof was not seen", i)
			}
		}
		if seen(cache, "jkt", "jti-2", hour) {
			t.Fatal("another jti was seen")
		}
		if seen(cache, "other-jkt", "jti-1", hour) {
			t.Fatal("the same jti under another key was seen")
		}
	})

	t.Run("one sorted set per key, of hashed jtis, for as long as the expiry is ahead", func(t *testing.T) {
		jti := string(make([]byte, 300))
		if seen(cache, "jkt-z", jti, time.Now().Add(time.Hour)) {
			t.Fatal("a new proof was seen")
		}
		rk := grpcjwtredis.DefaultPrefix + hashed("jkt-z")
		members, err := client.ZRangeWithScores(ctx, rk, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 1 || members[0].Member != hashed(jti) {
			t.Fatalf("%s holds %v, want the hex SHA-256 of the jti", rk, members)
		}
		redisNow, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if at := time.UnixMilli(int64(members[0].Score)); at.Before(redisNow.Add(59*time.Minute)) || at.After(redisNow.Add(time.Hour+time.Second)) {
			t.Fatalf("the proof expires at %s by Redis's clock, %s; want an hour on", at, redisNow)
		}
		ttl, err := client.PTTL(ctx, rk).Result()
		if err != nil || ttl < 59*time.Minute || ttl > time.Hour {
			t.Fatalf("PTTL %s = %s, %v; want about an hour", rk, ttl, err)
		}
	})

	t.Run("prefixes keep caches apart", func(t *testing.T) {
		other := grpcjwtredis.New(client, grpcjwtredis.WithPrefix("other-api:"))
		if seen(other, "jkt", "jti-1", hour) {
			t.Fatal("a proof recorded under the default prefix was seen under another")
		}
		if n, err := client.Exists(ctx, "other-api:"+hashed("jkt")).Result(); err != nil || n != 1 {
			t.Fatalf("EXISTS under the prefix: %d, %v", n, err)
		}
		if !seen(other, "jkt", "jti-1", hour) {
			t.Fatal("a recorded proof was not seen")
		}
	})

	t.Run("expiry is honoured", func(t *testing.T) {
		// A proof of the same key outlives it, and so does their set: the
		// short one must leave by its own score.
		if seen(cache, "jkt", "long", hour) || seen(cache, "jkt", "short", time.Now().Add(50*time.Millisecond)) {
			t.Fatal("a new proof was seen")
		}
		deadline := time.Now().Add(5 * time.Second)
		for seen(cache, "jkt", "short", hour) {
			if time.Now().After(deadline) {
				t.Fatal("a proof recorded for 50ms is still seen after 5s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !seen(cache, "jkt", "short", hour) {
			t.Fatal("an expired proof, recorded again, was not seen")
		}
	})

	t.Run("an expiry in the past records nothing", func(t *testing.T) {
		past := time.Now().Add(-time.Minute)
		for i := range 2 {
			if seen(cache, "jkt", "past", past) {
				t.Fatalf("call %d: a proof recorded with a past expiry was seen", i)
			}
		}
	})

	t.Run("concurrent replays: exactly one wins", func(t *testing.T) {
		const n = 32
		var wg sync.WaitGroup
		results := make(chan bool, n)
		for range n {
			wg.Go(func() {
				got, err := cache.Seen(ctx, "jkt", "raced", hour)
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
			t.Fatalf("%d of %d concurrent calls stored the proof, want exactly 1", fresh, n)
		}
	})
}

// TestSeenClocksDisagree: proofs are remembered for as long as the server
// says, timed by Redis's clock, however far the server's clock is from
// Redis's: here the server's (the cache's clock) is five minutes behind,
// then five minutes ahead.
func TestSeenClocksDisagree(t *testing.T) {
	s := startRedis(t)
	client := s.Client(t)
	ctx := context.Background()
	seen := seenFunc(t)
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		t.Run(fmt.Sprintf("server clock %s from Redis's", skew), func(t *testing.T) {
			serverNow := func() time.Time { return time.Now().Add(skew) }
			cache := grpcjwtredis.New(client, grpcjwtredis.WithClock(serverNow), grpcjwtredis.WithPrefix(fmt.Sprintf("skew%s:", skew)))
			expiry := serverNow().Add(time.Minute) // a proof's issued now, with the default lifetime
			if seen(cache, "jkt", "jti", expiry) {
				t.Fatal("a new proof was seen")
			}
			if !seen(cache, "jkt", "jti", expiry) {
				t.Fatal("the proof, replayed at once, was not seen: it was forgotten")
			}
			ttl, err := client.PTTL(ctx, fmt.Sprintf("skew%s:", skew)+hashed("jkt")).Result()
			if err != nil || ttl < time.Minute-5*time.Second || ttl > time.Minute {
				t.Fatalf("PTTL = %s, %v; want the minute the server asked for", ttl, err)
			}
		})
	}
}

// TestSeenKeyShare: a key at its share has its new proofs refused, and
// only it; its refused proofs are not recorded, and its share frees up as
// its proofs expire.
func TestSeenKeyShare(t *testing.T) {
	s := startRedis(t)
	cache := grpcjwtredis.New(s.Client(t), grpcjwtredis.WithMaxPerKey(3))
	ctx := context.Background()
	seen := seenFunc(t)
	soon, hour := time.Now().Add(200*time.Millisecond), time.Now().Add(time.Hour)
	for i := range 3 {
		if seen(cache, "flooder", fmt.Sprint(i), soon) {
			t.Fatalf("proof %d was seen", i)
		}
	}
	for _, jti := range []string{"3", "4"} {
		if got, err := cache.Seen(ctx, "flooder", jti, hour); err == nil || !strings.Contains(err.Error(), "its share") {
			t.Fatalf("proof %s over the share: Seen = %v, %v; want an error", jti, got, err)
		}
	}
	if got, err := cache.Seen(ctx, "flooder", "0", hour); err != nil || !got {
		t.Fatalf("a replay at the share: Seen = %v, %v; want true: a replay is a replay", got, err)
	}
	for i := range 3 {
		if seen(cache, "other", fmt.Sprint(i), hour) {
			t.Fatalf("another key's proof %d was seen", i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := cache.Seen(ctx, "flooder", "3", hour)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the share is still full 5s after its proofs expired: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if seen(cache, "flooder", "4", hour) {
		t.Fatal("a proof refused at the share was recorded")
	}
}

// TestSeenFailsClosed: when Redis cannot answer, Seen returns an error
// (grpcjwt then refuses the proof), never "not seen".
func TestSeenFailsClosed(t *testing.T) {
	s := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { client.Close() })
	cache := grpcjwtredis.New(client)
	ctx := context.Background()
	if _, err := cache.Seen(ctx, "jkt", "before", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Redis up: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if seen, err := cache.Seen(cancelled, "jkt", "cancelled", time.Now().Add(time.Hour)); err == nil {
		t.Fatalf("a cancelled call: Seen = %v, nil; want an error", seen)
	}
	if seen, err := cache.Seen(ctx, "jkt", "zero", time.Time{}); err == nil {
		t.Fatalf("the zero expiry: Seen = %v, nil; want an error", seen)
	}

	if err := client.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if seen, err := cache.Seen(ctx, "jkt", "out of memory", time.Now().Add(time.Hour)); err == nil {
		t.Fatalf("Redis out of memory under noeviction: Seen = %v, nil; want an error", seen)
	}
	if err := client.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	for _, jti := range []string{"before", "after"} {
		if seen, err := cache.Seen(ctx, "jkt", jti, time.Now().Add(time.Hour)); err == nil {
			t.Fatalf("Redis down, %q: Seen = %v, nil; want an error", jti, seen)
		}
	}
}
