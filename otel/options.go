package grpcjwtotel

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// An Option configures [New].
type Option func(*options)

type options struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	maxStale       time.Duration
}

// defaultOptions are the options before any Option applies: the global
// providers, read when New is called.
func defaultOptions() options {
	return options{
		meterProvider:  otel.GetMeterProvider(),
		tracerProvider: otel.GetTracerProvider(),
	}
}

// WithMeterProvider sets where the metrics go; default: the global
// provider (otel.GetMeterProvider) when [New] is called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) {
		if mp != nil {
			o.meterProvider = mp
		}
	}
}

// WithTracerProvider sets where the key fetch spans go; default: the
// global provider (otel.GetTracerProvider) when [New] is called.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) {
		if tp != nil {
			o.tracerProvider = tp
		}
	}
}

// WithMaxStale sets the bound past which an issuer's stale keys (fetches
// failing since its last success) make it not ready: the maxStale given to
// [grpcjwt.ServeHealth] and [grpcjwt.State.Ready], so that
// grpcjwt.issuer.ready says what the health service says. It is reported
// as grpcjwt.keys.max_stale, for alerts to compare grpcjwt.keys.stale_duration
// with. Default 0: stale keys alone never make an issuer unready, and
// grpcjwt.keys.max_stale is not reported.
func WithMaxStale(d time.Duration) Option {
	return func(o *options) { o.maxStale = max(d, 0) }
}
