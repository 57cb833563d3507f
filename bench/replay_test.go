package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
)

// BenchmarkReplayCache measures grpcjwt's in-memory DPoP replay cache
// (NewMemoryReplayCache) on its own, with fresh proofs of 43-byte key
// thumbprints and 22-byte jtis:
//
//   - record: the steady state, proofs of 10,000 keys in turn, each
//     remembered for 10 ms, so that each call records one proof and drops,
//     on average, one that expired;
//   - refuse-at-share: a key at its share (the default, 5,000), whose every
//     new proof is refused;
//   - flood: one key sends proofs as fast as one core can while 100 other
//     keys send one for every 100 of the flooder's, all remembered for
//     50 ms, as grpcjwt remembers the proofs of a client whose clock
//     agrees with the server's under a proof lifetime L of 50 ms (until
//     iat+L, iat being now). It reports the flooder's accepted proofs a
//     second against the bound the cache's doc states: DefaultReplayPerKey
//     in any L, that is DefaultReplayPerKey/L a second sustained, plus one
//     share at the start, over the time the run took; and the other keys'
//     refused proofs, which must be none.
func BenchmarkReplayCache(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("%043d", i)
	}
	jtis := make([]string, 1<<18)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("%022d", i)
	}

	b.Run("record", func(b *testing.B) {
		c := grpcjwt.NewMemoryReplayCache(0, 0, 0)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			seen, err := c.Seen(ctx, keys[i%len(keys)], jtis[i%len(jtis)], time.Now().Add(10*time.Millisecond))
			if seen || err != nil {
				b.Fatalf("proof %d: %v, %v", i, seen, err)
			}
			i++
		}
	})

	b.Run("refuse-at-share", func(b *testing.B) {
		c := grpcjwt.NewMemoryReplayCache(0, 0, 0)
		hour := time.Now().Add(time.Hour)
		for i := range grpcjwt.DefaultReplayPerKey {
			if _, err := c.Seen(ctx, keys[0], jtis[i], hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		fresh := jtis[grpcjwt.DefaultReplayPerKey:]
		i := 0
		for b.Loop() {
			if seen, err := c.Seen(ctx, keys[0], fresh[i%len(fresh)], hour); seen || err == nil {
				b.Fatalf("proof %d over the share: %v, %v; want refused", i, seen, err)
			}
			i++
		}
	})

	b.Run("flood", func(b *testing.B) {
		const lifetime = 50 * time.Millisecond
		c := grpcjwt.NewMemoryReplayCache(0, 0, 0)
		var accepted, others, refused int
		start := time.Now()
		i := 0
		for b.Loop() {
			expiry := time.Now().Add(lifetime)
			if _, err := c.Seen(ctx, keys[0], strconv.Itoa(i), expiry); err == nil {
				accepted++
			}
			if i%100 == 0 {
				others++
				if _, err := c.Seen(ctx, keys[1+others%100], "other-"+strconv.Itoa(i), expiry); err != nil {
					refused++
				}
			}
			i++
		}
		elapsed := time.Since(start).Seconds()
		b.ReportMetric(float64(accepted)/elapsed, "flood-accepted/s")
		b.ReportMetric(float64(grpcjwt.DefaultReplayPerKey)/lifetime.Seconds()+grpcjwt.DefaultReplayPerKey/elapsed, "bound/s")
		b.ReportMetric(float64(others)/elapsed, "others/s")
		b.ReportMetric(float64(refused), "others-refused")
		if refused > 0 {
			b.Errorf("%d of the other keys' %d proofs were refused while one key flooded the cache", refused, others)
		}
	})
}
