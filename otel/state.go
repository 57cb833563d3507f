package grpcjwtotel

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"go.opentelemetry.io/otel/metric"
)

// ErrRegistered is returned by [Observer.Register] while another Validator
// is registered: the gauges have no attribute to tell two apart.
var ErrRegistered = errors.New("grpcjwtotel: a Validator is already registered with this Observer")

// Register reports v's [grpcjwt.State] as gauges, read at each collection:
//
//   - grpcjwt.cache.entries, grpcjwt.cache.size (bytes) and
//     grpcjwt.cache.evictions (a counter): the verified-token cache;
//   - per issuer: grpcjwt.keys, the usable keys held; grpcjwt.keys.age,
//     the seconds since the last successful fetch (or since the cached
//     keys were fetched), absent until there is one; grpcjwt.keys.stale,
//     1 while fetches have failed since then and the old keys are served,
//     else 0.
//
// One Validator at a time may be registered with an Observer; a second
// Register returns [ErrRegistered]. The function returned ends the
// reports; call it when v is closed.
func (o *Observer) Register(v *grpcjwt.Validator) (unregister func() error, err error) {
	if !o.registered.CompareAndSwap(false, true) {
		return nil, ErrRegistered
	}
	defer func() {
		if err != nil {
			o.registered.Store(false)
		}
	}()
	var (
		errs                [6]error
		entries, size, keys metric.Int64ObservableGauge
		stale               metric.Int64ObservableGauge
		evictions           metric.Int64ObservableCounter
		age                 metric.Float64ObservableGauge
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
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	reg, err := o.meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		s := v.State()
		now := time.Now()
		obs.ObserveInt64(entries, int64(s.CacheEntries))
		obs.ObserveInt64(size, s.CacheBytes)
		obs.ObserveInt64(evictions, s.CacheEvictions)
		for _, is := range s.Issuers {
			issuer := metric.WithAttributes(AttrIssuer.String(is.Issuer))
			obs.ObserveInt64(keys, int64(is.Keys), issuer)
			if !is.LastSuccess.IsZero() {
				obs.ObserveFloat64(age, now.Sub(is.LastSuccess).Seconds(), issuer)
			}
			var st int64
			if !is.StaleSince.IsZero() {
				st = 1
			}
			obs.ObserveInt64(stale, st, issuer)
		}
		return nil
	}, entries, size, evictions, keys, age, stale)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() error {
		once.Do(func() {
			err = reg.Unregister()
			o.registered.Store(false)
		})
		return err
	}, nil
}
