package grpcjwtotel_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	grpcjwtotel "github.com/grpcjwt/grpcjwt/otel"
)

// TestReplayCacheGauges: the gauges of a registered replay cache say how
// many proofs it remembers, of how many keys, their memory, and its
// bounds; they end with unregister.
func TestReplayCacheGauges(t *testing.T) {
	tm := newTelemetry(t)
	c := grpcjwt.NewMemoryReplayCache(1000, 0, 0)
	unregister, err := tm.obs.RegisterReplayCache(c)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	want := func(proofs, keys float64) {
		t.Helper()
		got := tm.collect(t)
		wantPoints(t, got, "grpcjwt.replay_cache.proofs", map[string]float64{"": proofs})
		wantPoints(t, got, "grpcjwt.replay_cache.keys", map[string]float64{"": keys})
		wantPoints(t, got, "grpcjwt.replay_cache.max_proofs", map[string]float64{"": 1000})
		wantPoints(t, got, "grpcjwt.replay_cache.max_size", map[string]float64{"": grpcjwt.DefaultReplayBytes})
		size := got["grpcjwt.replay_cache.size"]
		// A proof counts at least 272 bytes beyond its strings.
		if len(size) != 1 || size[0].value < 272*proofs || (proofs == 0) != (size[0].value == 0) {
			t.Errorf("grpcjwt.replay_cache.size: %v for %v proofs", size, proofs)
		}
	}
	want(0, 0)
	expiry := time.Now().Add(time.Hour)
	for i := range 5 {
		if seen, err := c.Seen(context.Background(), "key-"+strconv.Itoa(i%2), "jti-"+strconv.Itoa(i), expiry); seen || err != nil {
			t.Fatalf("Seen: %v, %v", seen, err)
		}
	}
	want(5, 2)

	if _, err := tm.obs.RegisterReplayCache(c); err != grpcjwtotel.ErrRegistered {
		t.Fatalf("second RegisterReplayCache: %v, want ErrRegistered", err)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	if p := tm.collect(t)["grpcjwt.replay_cache.proofs"]; len(p) != 0 {
		t.Errorf("grpcjwt.replay_cache.proofs after unregister: %v", p)
	}
	again, err := tm.obs.RegisterReplayCache(c)
	if err != nil {
		t.Fatalf("RegisterReplayCache after unregister: %v", err)
	}
	if err := again(); err != nil {
		t.Fatal(err)
	}
}

// opaqueCache is a ReplayCache that cannot say how it stands.
type opaqueCache struct{ grpcjwt.ReplayCache }

func TestReplayCacheWithoutState(t *testing.T) {
	tm := newTelemetry(t)
	if _, err := tm.obs.RegisterReplayCache(opaqueCache{grpcjwt.NewMemoryReplayCache(0, 0, 0)}); err != grpcjwtotel.ErrNoReplayCacheState {
		t.Fatalf("RegisterReplayCache of a cache without State: %v, want ErrNoReplayCacheState", err)
	}
	// It left nothing registered.
	unregister, err := tm.obs.RegisterReplayCache(grpcjwt.NewMemoryReplayCache(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
}
