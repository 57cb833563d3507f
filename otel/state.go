package grpcjwtotel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"go.opentelemetry.io/otel/metric"
)

// ErrRegistered is returned by [Observer.Register] while another Validator
// is registered, and by [Observer.RegisterReplayCache] while another
// replay cache is: the gauges have no attribute to tell two apart.
var ErrRegistered = errors.New("grpcjwtotel: one is already registered with this Observer; unregister it first")

// Register reports v's [grpcjwt.State] as gauges, read at each collection:
//
//   - grpcjwt.cache.entries, grpcjwt.cache.size (bytes) and
//     grpcjwt.cache.evictions (a counter): the verified-token cache;
//   - per issuer: grpcjwt.keys, the usable keys held; grpcjwt.keys.age,
//     the seconds since the last successful fetch (or since the cached
//     keys were fetched), absent until there is one; grpcjwt.keys.stale,
//     1 while fetches have failed since then and the old keys are served,
//     else 0; grpcjwt.keys.stale_duration, the seconds since they began
//     failing, 0 while fresh; grpcjwt.issuer.ready, 1 when the issuer has
//     keys and they have not been stale for longer than [WithMaxStale]
//     ([grpcjwt.IssuerState.Ready]), else 0;
//   - grpcjwt.keys.max_stale, that bound in seconds, when it is set.
//
// One Validator at a time may be registered with an Observer; a second
// Register returns [ErrRegistered]. The function returned ends the
// reports; call it when v is closed.
func (o *Observer) Register(v *grpcjwt.Validator) (unregister func() error, err error) {
	return register(&o.registered, func() (metric.Registration, error) { return o.registerState(v) })
}

// registerState makes the gauges of v's state and registers their
// callback.
func (o *Observer) registerState(v *grpcjwt.Validator) (metric.Registration, error) {
	var (
		errs                       [9]error
		entries, size, keys, ready metric.Int64ObservableGauge
		stale                      metric.Int64ObservableGauge
		evictions                  metric.Int64ObservableCounter
		age, staleFor, maxStale    metric.Float64ObservableGauge
	)
	entries, errs[0] = o.meter.Int64ObservableGauge("grpcjwt.cache.entries",
		metric.WithDescription("Tokens in the verified-token cache."),
		metric.WithUnit("{entry}"))
	size, errs[1] = o.meter.Int64ObservableGauge("grpcjwt.cache.size",
		metric.WithDescription("Memory of the verified-token cache, as counted against Config.CacheBytes."),
		metric.WithUnit("By"))
	evictions, errs[2] = o.meter.Int64ObservableCounter("grpcjwt.cache.evictions",
		metric.WithDescription("Entries removed from the verified-token cache to make room, or because they expired or their key went away."),
		metric.WithUnit("{entry}"))
	keys, errs[3] = o.meter.Int64ObservableGauge("grpcjwt.keys",
		metric.WithDescription("Usable keys held for a trusted issuer."),
		metric.WithUnit("{key}"))
	age, errs[4] = o.meter.Float64ObservableGauge("grpcjwt.keys.age",
		metric.WithDescription("Time since the last successful fetch of a trusted issuer's keys."),
		metric.WithUnit("s"))
	stale, errs[5] = o.meter.Int64ObservableGauge("grpcjwt.keys.stale",
		metric.WithDescription("1 while fetches of a trusted issuer's keys have failed since the last success and its old keys are served, else 0."))
	staleFor, errs[6] = o.meter.Float64ObservableGauge("grpcjwt.keys.stale_duration",
		metric.WithDescription("Time since fetches of a trusted issuer's keys began failing, while its old keys are served; 0 while they are fresh."),
		metric.WithUnit("s"))
	ready, errs[7] = o.meter.Int64ObservableGauge("grpcjwt.issuer.ready",
		metric.WithDescription("1 when a trusted issuer has keys and they have not been stale for longer than the bound (grpcjwt.keys.max_stale), as the health service judges, else 0."))
	maxStale, errs[8] = o.meter.Float64ObservableGauge("grpcjwt.keys.max_stale",
		metric.WithDescription("The bound past which stale keys make an issuer not ready; absent when there is none."),
		metric.WithUnit("s"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return o.meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		s := v.State()
		now := time.Now()
		obs.ObserveInt64(entries, int64(s.CacheEntries))
		obs.ObserveInt64(size, s.CacheBytes)
		obs.ObserveInt64(evictions, s.CacheEvictions)
		if o.maxStale > 0 {
			obs.ObserveFloat64(maxStale, o.maxStale.Seconds())
		}
		for _, is := range s.Issuers {
			issuer := metric.WithAttributes(AttrIssuer.String(is.Issuer))
			obs.ObserveInt64(keys, int64(is.Keys), issuer)
			if !is.LastSuccess.IsZero() {
				obs.ObserveFloat64(age, now.Sub(is.LastSuccess).Seconds(), issuer)
			}
			var st int64
			var stFor float64
			if !is.StaleSince.IsZero() {
				st, stFor = 1, max(now.Sub(is.StaleSince).Seconds(), 0)
			}
			obs.ObserveInt64(stale, st, issuer)
			obs.ObserveFloat64(staleFor, stFor, issuer)
			obs.ObserveInt64(ready, bit(is.Ready(now, o.maxStale)), issuer)
		}
		return nil
	}, entries, size, evictions, keys, age, stale, staleFor, ready, maxStale)
}

// bit is 1 for true, 0 for false.
func bit(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// register sets flag, which says that a registration of its kind is in
// force, and calls add for it: one at a time, else ErrRegistered. The flag
// is cleared when add fails, and by the function returned, which
// unregisters what add registered the first time it is called; later calls
// do nothing and return the first one's error.
func register(flag *atomic.Bool, add func() (metric.Registration, error)) (func() error, error) {
	if !flag.CompareAndSwap(false, true) {
		return nil, ErrRegistered
	}
	reg, err := add()
	if err != nil {
		flag.Store(false)
		return nil, err
	}
	var (
		once   sync.Once
		regErr error
	)
	return func() error {
		once.Do(func() {
			regErr = reg.Unregister()
			flag.Store(false)
		})
		return regErr
	}, nil
}
