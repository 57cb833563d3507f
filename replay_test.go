package grpcjwt

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// jkt returns a thumbprint-sized (43 bytes) name for key i.
func jkt(i int) string { return fmt.Sprintf("key-%039d", i) }

// jti returns a 21-byte jti, so that a proof of jkt(i) and jti(j) counts
// 272 + 64 = 336 bytes, as NewMemoryReplayCache documents.
func jti(j int) string { return fmt.Sprintf("jti-%017d", j) }

// TestMemoryReplayCacheKeepsItsBounds: a cache holds exactly as many
// unexpired proofs as its bounds say, not more and not fewer, and refuses
// the next one rather than forget one it holds.
func TestMemoryReplayCacheKeepsItsBounds(t *testing.T) {
	ctx := context.Background()
	expiry := time.Now().Add(time.Hour)
	cases := []struct {
		name      string
		entries   int
		bytes     int64
		perKey    int
		keys      int // the proofs come from this many keys, in turn
		holds     int
		refusedBy string
	}{
		{"3 entries", 3, 0, 0, 7, 3, "full"},
		{"100 entries", 100, 0, 0, 7, 100, "full"},
		{"1,000 entries", 1000, 0, 0, 500, 1000, "full"},
		{"1,500 bytes: 4 proofs of 336", 0, 1500, 0, 7, 4, "full"},
		{"336 bytes: 1 proof", 0, 336, 0, 7, 1, "full"},
		{"335 bytes: none", 0, 335, 0, 7, 0, "full"},
		{"a share of 5 for the one key", 100, 0, 5, 1, 5, "its share"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewMemoryReplayCache(tc.entries, tc.bytes, tc.perKey)
			for i := range tc.holds {
				seen, err := c.Seen(ctx, jkt(i%tc.keys), jti(i), expiry)
				if seen || err != nil {
					t.Fatalf("proof %d of %d: Seen = %v, %v; want false, nil", i+1, tc.holds, seen, err)
				}
			}
			for i := tc.holds; i < tc.holds+3; i++ {
				seen, err := c.Seen(ctx, jkt(i%tc.keys), jti(i), expiry)
				if seen || err == nil || !strings.Contains(err.Error(), tc.refusedBy) {
					t.Fatalf("proof %d over the bound: Seen = %v, %v; want an error saying %q", i+1, seen, err, tc.refusedBy)
				}
			}
			for i := range tc.holds {
				if seen, err := c.Seen(ctx, jkt(i%tc.keys), jti(i), expiry); !seen || err != nil {
					t.Fatalf("proof %d, replayed: Seen = %v, %v; want true, nil", i+1, seen, err)
				}
			}
		})
	}
}

// clock is a settable clock for the cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestMemoryReplayCacheShare: a key at its share is refused alone, and
// only its unexpired proofs count; refused proofs are not remembered.
func TestMemoryReplayCacheShare(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c := newMemoryReplayCache(10, 0, 4, clk.Now)
	seen := func(key, id int, expiry time.Time) (bool, error) { return c.Seen(ctx, jkt(key), jti(id), expiry) }
	soon, later := clk.Now().Add(time.Minute), clk.Now().Add(2*time.Minute)

	for i := range 4 {
		if s, err := seen(1, i, soon); s || err != nil {
			t.Fatalf("key 1, proof %d: %v, %v", i, s, err)
		}
	}
	if _, err := seen(1, 4, later); err == nil || !strings.Contains(err.Error(), "4 unexpired proofs, its share") {
		t.Fatalf("key 1 over its share: %v", err)
	}
	for i := range 6 {
		if s, err := seen(2+i%2, 100+i, later); s || err != nil {
			t.Fatalf("keys 2 and 3, proof %d, with key 1 at its share: %v, %v", i, s, err)
		}
	}
	if _, err := seen(4, 200, later); err != errReplayFull {
		t.Fatalf("a full cache: %v, want %v", err, errReplayFull)
	}

	clk.Add(time.Minute) // key 1's four proofs expire, exactly now
	if s, err := seen(1, 3, later); s || err != nil {
		t.Fatalf("key 1's expired proof again: %v, %v; want recorded anew", s, err)
	}
	if s, err := seen(1, 4, later); s || err != nil {
		t.Fatalf("key 1's refused proof: %v, %v; it was not remembered, so it is new", s, err)
	}
	if s, err := seen(1, 4, later); !s || err != nil {
		t.Fatalf("key 1's proof replayed: %v, %v", s, err)
	}
	if n, want := len(c.proofs), 8; n != want || c.perKey[jkt(1)] != 2 || len(c.byExpiry) != want || c.bytes != int64(want)*336 {
		t.Fatalf("%d proofs, %d in the heap, %d of key 1, %d bytes; want %d, %d, 2, %d", n, len(c.byExpiry), c.perKey[jkt(1)], c.bytes, want, want, want*336)
	}
}

// TestMemoryReplayCacheExpiry: a proof is remembered until its expiry and
// no longer; a past expiry records nothing; the zero one is an error.
func TestMemoryReplayCacheExpiry(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c := newMemoryReplayCache(0, 0, 0, clk.Now)
	expiry := clk.Now().Add(time.Minute)
	if s, err := c.Seen(ctx, "k", "a", expiry); s || err != nil {
		t.Fatalf("new: %v, %v", s, err)
	}
	clk.Add(time.Minute - time.Nanosecond)
	if s, _ := c.Seen(ctx, "k", "a", expiry); !s {
		t.Fatal("forgotten a nanosecond before its expiry")
	}
	clk.Add(time.Nanosecond)
	if s, _ := c.Seen(ctx, "k", "a", expiry); s {
		t.Fatal("remembered at its expiry")
	}
	if len(c.proofs) != 0 || len(c.perKey) != 0 || c.bytes != 0 {
		t.Fatalf("an expired proof left %d proofs, %d keys, %d bytes", len(c.proofs), len(c.perKey), c.bytes)
	}
	for range 2 {
		if s, err := c.Seen(ctx, "k", "b", clk.Now().Add(-time.Second)); s || err != nil {
			t.Fatalf("a past expiry: %v, %v; want false, nil", s, err)
		}
	}
	if _, err := c.Seen(ctx, "k", "c", time.Time{}); err == nil {
		t.Fatal("the zero expiry was accepted")
	}
	// Proofs leave in the order of their expiries, whatever the order they
	// came in.
	for i, d := range []time.Duration{5, 1, 4, 2, 3} {
		if _, err := c.Seen(ctx, "k", jti(i), clk.Now().Add(d*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for left := 4; left >= 0; left-- {
		clk.Add(time.Second)
		if _, err := c.Seen(ctx, "other", "x", clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := c.perKey["k"]; n != left {
			t.Fatalf("%d proofs of k left, want %d", n, left)
		}
	}
}

// TestMemoryReplayCacheConcurrentReplays: of concurrent calls with one
// proof, exactly one records it.
func TestMemoryReplayCacheConcurrentReplays(t *testing.T) {
	c := NewMemoryReplayCache(0, 0, 0)
	const n = 32
	var wg sync.WaitGroup
	fresh := make(chan bool, n)
	for range n {
		wg.Go(func() {
			seen, err := c.Seen(context.Background(), "k", "raced", time.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			fresh <- !seen
		})
	}
	wg.Wait()
	close(fresh)
	count := 0
	for f := range fresh {
		if f {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d of %d concurrent calls recorded the proof, want 1", count, n)
	}
}

// TestMemoryReplayCacheHeap: what the cache counts is what it holds, map
// and heap growth included, at every size, each proof of its own key (the
// worst case: every proof pays for its key's count).
func TestMemoryReplayCacheHeap(t *testing.T) {
	for _, n := range []int{64, 1000, 7705, 30234, 120000} {
		c := newMemoryReplayCache(n, 1<<40, 0, time.Now)
		keys, ids := make([]string, n), make([]string, n)
		for i := range n {
			keys[i], ids[i] = jkt(i), jti(i)
		}
		expiry := time.Now().Add(time.Hour)
		before := heapAlloc()
		for i := range n {
			if _, err := c.Seen(context.Background(), keys[i], ids[i], expiry); err != nil {
				t.Fatal(err)
			}
		}
		grown := heapAlloc() - before
		t.Logf("%d proofs: the heap grew %d bytes (%.0f a proof), %d counted", n, grown, float64(grown)/float64(n), c.bytes)
		if grown > c.bytes+16<<10 {
			t.Errorf("%d proofs hold %d bytes, over the %d counted and 16 KiB", n, grown, c.bytes)
		}
		runtime.KeepAlive(keys)
		runtime.KeepAlive(ids)
		runtime.KeepAlive(c)
	}
}

// TestReplayDefaultsDocumented checks the sums NewMemoryReplayCache's doc
// states: a proof with a 43-byte thumbprint and a jti of up to 85 bytes
// counts at most 400 bytes, so that DefaultReplayBytes holds
// DefaultReplayEntries of them; and its capacity with the defaults and the
// default proof lifetime L, as the doc and docs/sender-constrained.md
// write it.
func TestReplayDefaultsDocumented(t *testing.T) {
	l := DefaultDPoPProofLifetime.Seconds()
	for _, c := range []struct {
		what, format, doc string
		value             float64
	}{
		{"proofs a second per key, clocks agreeing: maxPerKey/L", "%.1f", "83.3", DefaultReplayPerKey / l},
		{"proofs a second per key, at least: maxPerKey/2L", "%.1f", "41.7", DefaultReplayPerKey / (2 * l)},
		{"proofs a second in all, clocks agreeing: maxEntries/L", "%.0f", "1667", DefaultReplayEntries / l},
		{"proofs a second in all, at least: maxEntries/2L", "%.0f", "833", DefaultReplayEntries / (2 * l)},
		{"keys at their full share that fill the cache", "%.0f", "20", DefaultReplayEntries / DefaultReplayPerKey},
	} {
		if got := fmt.Sprintf(c.format, c.value); got != c.doc {
			t.Errorf("%s: %s, the docs say %s", c.what, got, c.doc)
		}
	}
	if got := replayProofSize(jkt(0), strings.Repeat("j", 85)); got != 400 {
		t.Errorf("a proof with an 85-byte jti counts %d bytes, the doc says 400", got)
	}
	if got := replayProofSize(jkt(0), strings.Repeat("j", 86)); got <= 400 {
		t.Errorf("a proof with an 86-byte jti counts %d bytes: the doc could say more", got)
	}
	if DefaultReplayEntries*400 > DefaultReplayBytes {
		t.Errorf("%d proofs of 400 bytes do not fit in DefaultReplayBytes (%d)", DefaultReplayEntries, DefaultReplayBytes)
	}
	if got := replayProofSize(jkt(0), jti(0)); got != 336 {
		t.Errorf("a proof with a 21-byte jti counts %d bytes, the tests say 336", got)
	}
}

// TestMemoryReplayCacheState: State counts the unexpired proofs, their
// bytes and keys, drops the expired ones as Seen does, and gives the
// bounds, the defaults for values ≤ 0.
func TestMemoryReplayCacheState(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c := newMemoryReplayCache(10, 0, 3, clk.Now)
	var r ReplayCacheReporter = c
	want := ReplayCacheState{MaxProofs: 10, MaxBytes: DefaultReplayBytes, MaxPerKey: 3}
	if got := r.State(); got != want {
		t.Fatalf("empty: %+v, want %+v", got, want)
	}
	for i, d := range []time.Duration{time.Second, time.Minute, time.Minute} {
		if _, err := c.Seen(ctx, jkt(i%2), jti(i), clk.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	want.Proofs, want.Bytes, want.Keys = 3, 3*336, 2
	if got := r.State(); got != want {
		t.Fatalf("3 proofs of 2 keys: %+v, want %+v", got, want)
	}
	clk.Add(time.Second) // the first proof, key 0's only one, expires
	want.Proofs, want.Bytes, want.Keys = 2, 2*336, 2
	if got := r.State(); got != want {
		t.Fatalf("after the first expired: %+v, want %+v", got, want)
	}
	if len(c.byExpiry) != 2 {
		t.Fatalf("State left %d proofs in the heap, want 2", len(c.byExpiry))
	}
	clk.Add(time.Minute)
	want.Proofs, want.Bytes, want.Keys = 0, 0, 0
	if got := r.State(); got != want {
		t.Fatalf("after all expired: %+v, want %+v", got, want)
	}
	d := NewMemoryReplayCache(0, 0, 0).(ReplayCacheReporter).State()
	if d != (ReplayCacheState{MaxProofs: DefaultReplayEntries, MaxBytes: DefaultReplayBytes, MaxPerKey: DefaultReplayPerKey}) {
		t.Fatalf("defaults: %+v", d)
	}
}
