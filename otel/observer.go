package grpcjwtotel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/grpcjwt/grpcjwt/otel"

// The attribute keys. Every value is bounded: methods the server knows or
// "unknown", the results and causes of package grpcjwt, configured
// issuers, and the fixed values below.
const (
	AttrMethod  = attribute.Key("rpc.method") // the full gRPC method, "/greeter.v1.Greeter/SayHello", or "unknown"
	AttrResult  = attribute.Key("result")     // a [grpcjwt.Result]; for validations "ok" or "refused"
	AttrCause   = attribute.Key("cause")      // a [grpcjwt.Cause]: [grpcjwt.CauseOf] the refusal, such as "expired"
	AttrCache   = attribute.Key("cache")      // "hit" or "miss"
	AttrIssuer  = attribute.Key("issuer")     // a trusted issuer, as configured
	AttrReason  = attribute.Key("reason")     // a [grpcjwt.FetchReason], or for an introspection a [grpcjwt.IntrospectionReason]
	AttrOutcome = attribute.Key("outcome")    // "success" or "failure"; for an introspection "active", "refused" or "unavailable"
	AttrKeys    = attribute.Key("keys")       // on a key fetch span: usable keys fetched
)

// maxDecisionSets bounds the combinations of decision attributes kept,
// below the metric SDK's default cardinality limit (2000). The core reports
// only methods the server knows, so this is a backstop: past it, further
// combinations are counted as one, rpc.method "unknown", result and cause
// "other".
const maxDecisionSets = 1500

// Observer implements [grpcjwt.Observer] with OpenTelemetry metrics and
// traces. Make one with [New], set it in [grpcjwt.Config.Observer], and
// [Observer.Register] the Validator for the gauges of its keys and cache.
// Its methods are safe for concurrent use.
//
// Decisions and cache hits and misses are counted in memory (an atomic
// addition, no allocation) and reported at each collection as
// cumulative counters: the metric SDK's synchronous Add costs over 100 ns,
// as much as a cache hit. Latencies go to the SDK's histogram, for every
// miss and for the sample of hits the Validator times.
type Observer struct {
	tracer trace.Tracer
	meter  metric.Meter

	validation    metric.Float64Histogram
	fetches       metric.Int64Counter
	fetchDuration metric.Float64Histogram

	introspections        metric.Int64Counter
	introspectionDuration metric.Float64Histogram

	// validationOpts are the options of a validation: [cache hit][refused].
	validationOpts [2][2][]metric.RecordOption
	hits, misses   atomic.Int64

	mu        sync.Mutex // serializes additions to decisions
	decisions atomic.Pointer[map[grpcjwt.Decision]*decisionCount]
	overflow  decisionCount // past maxDecisionSets

	maxStale   time.Duration // of WithMaxStale
	registered atomic.Bool   // a Validator is registered
	replays    atomic.Bool   // a replay cache is registered
}

// decisionCount counts the decisions of one combination of attributes.
type decisionCount struct {
	attrs metric.ObserveOption
	n     atomic.Int64
}

var (
	_ grpcjwt.Observer              = (*Observer)(nil)
	_ grpcjwt.IntrospectionObserver = (*Observer)(nil)
)

// Buckets of the duration histograms, in seconds. A validation takes
// about a microsecond on a cache hit and tens to hundreds on a miss; a
// key fetch is a round trip or two to the provider.
var (
	validationBuckets = []float64{1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 0.1, 1}
	fetchBuckets      = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// New returns an Observer that records into the meter and tracer of the
// providers the options name (default: the global ones). It fails only
// when the meter provider refuses an instrument or a callback.
func New(opts ...Option) (*Observer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	ob := &Observer{
		tracer:   o.tracerProvider.Tracer(ScopeName),
		meter:    o.meterProvider.Meter(ScopeName),
		maxStale: o.maxStale,
	}
	var errs [8]error
	var decisions, hits, misses metric.Int64ObservableCounter
	decisions, errs[0] = ob.meter.Int64ObservableCounter("grpcjwt.decisions",
		metric.WithDescription("Calls the interceptors decided, by method, result and cause."),
		metric.WithUnit("{call}"))
	hits, errs[1] = ob.meter.Int64ObservableCounter("grpcjwt.cache.hits",
		metric.WithDescription("Validations answered from the verified-token cache."),
		metric.WithUnit("{validation}"))
	misses, errs[2] = ob.meter.Int64ObservableCounter("grpcjwt.cache.misses",
		metric.WithDescription("Validations not answered from the verified-token cache, whatever their result."),
		metric.WithUnit("{validation}"))
	ob.validation, errs[3] = ob.meter.Float64Histogram("grpcjwt.validation.duration",
		metric.WithDescription("Time spent in Validator.Validate, by cache (hit: answered from the verified-token cache) and result: every miss, and one hit in 64."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(validationBuckets...))
	ob.fetches, errs[4] = ob.meter.Int64Counter("grpcjwt.key_fetches",
		metric.WithDescription("Fetches of a trusted issuer's keys (with discovery when it is part of one), by issuer, reason and outcome."),
		metric.WithUnit("{fetch}"))
	ob.fetchDuration, errs[5] = ob.meter.Float64Histogram("grpcjwt.key_fetch.duration",
		metric.WithDescription("Time a fetch of a trusted issuer's keys took, by issuer, reason and outcome."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(fetchBuckets...))
	ob.introspections, errs[6] = ob.meter.Int64Counter("grpcjwt.introspections",
		metric.WithDescription("Requests to a trusted issuer's introspection endpoint (RFC 7662), by issuer, reason and outcome."),
		metric.WithUnit("{request}"))
	ob.introspectionDuration, errs[7] = ob.meter.Float64Histogram("grpcjwt.introspection.duration",
		metric.WithDescription("Time a request to a trusted issuer's introspection endpoint took, answer read, by issuer, reason and outcome."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(fetchBuckets...))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for hit, cache := range []string{"miss", "hit"} {
		for refused, result := range []string{"ok", "refused"} {
			set := attribute.NewSet(AttrCache.String(cache), AttrResult.String(result))
			ob.validationOpts[hit][refused] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	ob.decisions.Store(&map[grpcjwt.Decision]*decisionCount{})
	ob.overflow.attrs = decisionAttrs(grpcjwt.Decision{Method: grpcjwt.UnknownMethod, Result: "other", Cause: grpcjwt.CauseOther})
	_, err := ob.meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		for _, d := range *ob.decisions.Load() {
			obs.ObserveInt64(decisions, d.n.Load(), d.attrs)
		}
		if n := ob.overflow.n.Load(); n > 0 {
			obs.ObserveInt64(decisions, n, ob.overflow.attrs)
		}
		obs.ObserveInt64(hits, ob.hits.Load())
		obs.ObserveInt64(misses, ob.misses.Load())
		return nil
	}, decisions, hits, misses)
	if err != nil {
		return nil, err
	}
	return ob, nil
}

func decisionAttrs(d grpcjwt.Decision) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(
		AttrMethod.String(d.Method), AttrResult.String(string(d.Result)), AttrCause.String(string(d.Cause))))
}

// ObserveDecision counts the call in grpcjwt.decisions.
func (o *Observer) ObserveDecision(_ context.Context, d grpcjwt.Decision) {
	o.decisionCount(d).n.Add(1)
}

// decisionCount returns the count of d's combination, made on first use.
func (o *Observer) decisionCount(d grpcjwt.Decision) *decisionCount {
	if c, ok := (*o.decisions.Load())[d]; ok {
		return c
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	m := *o.decisions.Load()
	if c, ok := m[d]; ok {
		return c
	}
	if len(m) >= maxDecisionSets {
		return &o.overflow
	}
	c := &decisionCount{attrs: decisionAttrs(d)}
	next := make(map[grpcjwt.Decision]*decisionCount, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[d] = c
	o.decisions.Store(&next)
	return c
}

// ObserveValidation counts a cache hit or miss, and records the time a
// timed validation took in grpcjwt.validation.duration.
func (o *Observer) ObserveValidation(ctx context.Context, v grpcjwt.Validation) {
	hit, refused := 0, 0
	if v.CacheHit {
		hit = 1
		o.hits.Add(1)
	} else {
		o.misses.Add(1)
	}
	if !v.Timed {
		return
	}
	if v.Cause != grpcjwt.CauseNone {
		refused = 1
	}
	o.validation.Record(ctx, v.Duration.Seconds(), o.validationOpts[hit][refused]...)
}

// StartKeyFetch starts the span grpcjwt.key_fetch, with the issuer and the
// reason, as a child of any span in ctx. The function it returns ends the
// span with the outcome (the number of keys, or an error status with the
// error's message) and counts the fetch in grpcjwt.key_fetches and
// grpcjwt.key_fetch.duration.
func (o *Observer) StartKeyFetch(ctx context.Context, f grpcjwt.KeyFetch) (context.Context, func(grpcjwt.KeyFetchResult)) {
	issuer, reason := AttrIssuer.String(f.Issuer), AttrReason.String(string(f.Reason))
	ctx, span := o.tracer.Start(ctx, "grpcjwt.key_fetch",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(issuer, reason))
	return ctx, func(r grpcjwt.KeyFetchResult) {
		outcome := "success"
		if r.Err != nil {
			outcome = "failure"
			span.RecordError(r.Err)
			span.SetStatus(codes.Error, r.Err.Error())
		} else {
			span.SetAttributes(AttrKeys.Int(r.Keys))
		}
		span.SetAttributes(AttrOutcome.String(outcome))
		span.End()
		set := metric.WithAttributeSet(attribute.NewSet(issuer, reason, AttrOutcome.String(outcome)))
		o.fetches.Add(ctx, 1, set)
		o.fetchDuration.Record(ctx, r.Duration.Seconds(), set)
	}
}

// StartIntrospection starts the span grpcjwt.introspection, with the issuer
// and the reason, as a child of any span in ctx. The function it returns
// ends the span with the outcome: "active" (the token was accepted),
// "refused" (inactive, or active with claims that fail a check: the token's
// fault) or "unavailable" (the endpoint could not say; an error status
// with the error's message, which names neither the token nor a secret),
// and counts the request in grpcjwt.introspections and
// grpcjwt.introspection.duration.
func (o *Observer) StartIntrospection(ctx context.Context, r grpcjwt.IntrospectionRequest) (context.Context, func(grpcjwt.IntrospectionResult)) {
	issuer, reason := AttrIssuer.String(r.Issuer), AttrReason.String(string(r.Reason))
	ctx, span := o.tracer.Start(ctx, "grpcjwt.introspection",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(issuer, reason))
	return ctx, func(res grpcjwt.IntrospectionResult) {
		outcome := "active"
		switch {
		case errors.Is(res.Err, grpcjwt.ErrIntrospectionUnavailable):
			outcome = "unavailable"
			span.RecordError(res.Err)
			span.SetStatus(codes.Error, res.Err.Error())
		case res.Err != nil:
			outcome = "refused"
			span.SetAttributes(AttrCause.String(string(grpcjwt.CauseOf(res.Err))))
		}
		span.SetAttributes(AttrOutcome.String(outcome))
		span.End()
		set := metric.WithAttributeSet(attribute.NewSet(issuer, reason, AttrOutcome.String(outcome)))
		o.introspections.Add(ctx, 1, set)
		o.introspectionDuration.Record(ctx, res.Duration.Seconds(), set)
	}
}
