package grpcjwtredis_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	grpcjwtredis "github.com/grpcjwt/grpcjwt/redis"
)

// BenchmarkSeen records fresh proofs, of 1,000 keys in turn, in a
// redis-server on loopback, beside its floor: one SET NX PX a proof, the
// least a shared cache can do (and what it did before it bounded keys).
// It reports the memory Redis gives a proof (MEMORY USAGE of a key's
// sorted set over its members) at 10, 1,000 and the default share
// (grpcjwt.DefaultReplayPerKey, 5,000) proofs a key: maxmemory over that
// is how many proofs a Redis can hold.
func BenchmarkSeen(b *testing.B) {
	s := startRedis(b)
	client := s.Client(b)
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)

	b.Run("script", func(b *testing.B) {
		cache := grpcjwtredis.New(client, grpcjwtredis.WithMaxPerKey(1<<30))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := cache.Seen(ctx, strconv.Itoa(i%1000), strconv.Itoa(i), hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
		for _, perKey := range []int{10, 1000, grpcjwt.DefaultReplayPerKey} {
			jkt := fmt.Sprintf("memory-%d", perKey)
			for i := range perKey {
				if _, err := cache.Seen(ctx, jkt, strconv.Itoa(i), hour); err != nil {
					b.Fatal(err)
				}
			}
			n, err := client.MemoryUsage(ctx, grpcjwtredis.DefaultPrefix+hashed(jkt), 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/float64(perKey), fmt.Sprintf("bytes/proof@%d", perKey))
		}
	})
	b.Run("floor-set-nx-px", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			key := "floor:" + hashed(strconv.Itoa(i%1000)+" "+strconv.Itoa(i))
			if err := client.SetNX(ctx, key, "1", time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
