package grpcjwtotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// An Option configures [New].
type Option func(*options)

type options struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
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
