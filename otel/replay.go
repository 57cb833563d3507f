package grpcjwtotel

import (
	"context"
	"errors"

	"github.com/grpcjwt/grpcjwt"
	"go.opentelemetry.io/otel/metric"
)

// ErrNoReplayCacheState is returned by [Observer.RegisterReplayCache] for
// a replay cache that is not a [grpcjwt.ReplayCacheReporter].
var ErrNoReplayCacheState = errors.New("grpcjwtotel: the replay cache does not report its state (it is no grpcjwt.ReplayCacheReporter)")

// RegisterReplayCache reports c's [grpcjwt.ReplayCacheState] as gauges,
// read at each collection: grpcjwt.replay_cache.proofs, the unexpired
// DPoP proofs it remembers; grpcjwt.replay_cache.size, their memory in
// bytes; grpcjwt.replay_cache.keys, the keys they are of; and its bounds,
// grpcjwt.replay_cache.max_proofs and grpcjwt.replay_cache.max_size. c
// must be a [grpcjwt.ReplayCacheReporter], as the cache of
// [grpcjwt.NewMemoryReplayCache] is, else it returns
// [ErrNoReplayCacheState]: make the cache, and give it both to
// [grpcjwt.DPoPConfig] and to RegisterReplayCache.
//
// One replay cache at a time may be registered with an Observer; a
// second returns [ErrRegistered]. The function returned ends the reports.
func (o *Observer) RegisterReplayCache(c grpcjwt.ReplayCache) (unregister func() error, err error) {
	r, ok := c.(grpcjwt.ReplayCacheReporter)
	if !ok {
		return nil, ErrNoReplayCacheState
	}
	return register(&o.replays, func() (metric.Registration, error) { return o.registerReplayCache(r) })
}

// registerReplayCache makes the gauges of r's state and registers their
// callback.
func (o *Observer) registerReplayCache(r grpcjwt.ReplayCacheReporter) (metric.Registration, error) {
	gauges := [...]struct{ name, unit, description string }{
		{"grpcjwt.replay_cache.proofs", "{proof}", "Unexpired DPoP proofs the replay cache remembers."},
		{"grpcjwt.replay_cache.size", "By", "Memory of the proofs the replay cache remembers, as counted against its bound."},
		{"grpcjwt.replay_cache.keys", "{key}", "Keys whose proofs the replay cache remembers."},
		{"grpcjwt.replay_cache.max_proofs", "{proof}", "The most unexpired proofs the replay cache remembers; past it, new proofs are refused."},
		{"grpcjwt.replay_cache.max_size", "By", "The most memory the replay cache's proofs may take; past it, new proofs are refused."},
	}
	var (
		instruments [len(gauges)]metric.Int64ObservableGauge
		observables [len(gauges)]metric.Observable
		errs        [len(gauges)]error
	)
	for i, g := range gauges {
		instruments[i], errs[i] = o.meter.Int64ObservableGauge(g.name, metric.WithDescription(g.description), metric.WithUnit(g.unit))
		observables[i] = instruments[i]
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return o.meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		s := r.State()
		// In the order of gauges.
		for i, v := range [...]int64{int64(s.Proofs), s.Bytes, int64(s.Keys), int64(s.MaxProofs), s.MaxBytes} {
			obs.ObserveInt64(instruments[i], v)
		}
		return nil
	}, observables[:]...)
}
