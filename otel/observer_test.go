package grpcjwtotel_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	grpcjwtotel "github.com/grpcjwt/grpcjwt/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// telemetry is an Observer with an SDK meter provider read by a manual
// reader, and a tracer provider whose spans a recorder keeps.
type telemetry struct {
	obs    *grpcjwtotel.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
}

func newTelemetry(t testing.TB, opts ...grpcjwtotel.Option) *telemetry {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	obs, err := grpcjwtotel.New(append([]grpcjwtotel.Option{grpcjwtotel.WithMeterProvider(mp), grpcjwtotel.WithTracerProvider(tp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry{obs: obs, reader: reader, spans: spans}
}

// point is one data point: its attributes, as "k=v" joined by commas in
// key order, and its value (a histogram's count).
type point struct {
	attrs string
	value float64
}

// collect returns the data points of every metric, by name.
func (tm *telemetry) collect(t testing.TB) map[string][]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]point)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != grpcjwtotel.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, grpcjwtotel.ScopeName)
		}
		for _, m := range sm.Metrics {
			var ps []point
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{attrString(dp.Attributes), float64(dp.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{attrString(dp.Attributes), float64(dp.Value)})
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{attrString(dp.Attributes), dp.Value})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					ps = append(ps, point{attrString(dp.Attributes), float64(dp.Count)})
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = ps
		}
	}
	return out
}

func attrString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// wantPoints checks that metric name has exactly the points want (in any
// order).
func wantPoints(t *testing.T, got map[string][]point, name string, want map[string]float64) {
	t.Helper()
	have := make(map[string]float64)
	for _, p := range got[name] {
		have[p.attrs] = p.value
	}
	for a, v := range want {
		if hv, ok := have[a]; !ok || hv != v {
			t.Errorf("%s{%s} = %v (present: %v), want %v", name, a, hv, ok, v)
		}
	}
	for a, v := range have {
		if _, ok := want[a]; !ok {
			t.Errorf("%s{%s} = %v, not expected", name, a, v)
		}
	}
}

func newIssuer(t testing.TB) *grpcjwttest.Issuer {
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	return iss
}

func newValidator(t testing.TB, iss *grpcjwttest.Issuer, obs grpcjwt.Observer) *grpcjwt.Validator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// healthClient serves the health service behind grpcjwt's interceptors
// (every method needs a token), with a handler for unknown services, and
// returns a connection to it.
func healthClient(t *testing.T, v *grpcjwt.Validator) *grpc.ClientConn {
	t.Helper()
	policy, err := grpcjwt.NewPolicy(v)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.StreamInterceptor(policy.StreamServerInterceptor()),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error { return status.Error(codes.Unimplemented, "no such method") }))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

const checkMethod = "/grpc.health.v1.Health/Check"

func TestMetrics(t *testing.T) {
	iss := newIssuer(t)
	tm := newTelemetry(t)
	v := newValidator(t, iss, tm.obs)
	unregister, err := tm.obs.Register(v)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	conn := healthClient(t, v)
	good := iss.Token(map[string]any{"sub": "alice"})
	expired := iss.Token(map[string]any{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()})
	for _, tc := range []struct {
		method, auth string
		code         codes.Code
	}{
		{checkMethod, "Bearer " + good, codes.OK}, // a cache miss
		{checkMethod, "Bearer " + good, codes.OK}, // a hit
		{checkMethod, "Bearer " + good, codes.OK}, // a hit
		{checkMethod, "", codes.Unauthenticated},
		{checkMethod, "Bearer " + expired, codes.Unauthenticated},
		// Names the server does not have are one value, whatever they are.
		{"/attacker.Chosen/Name1", "", codes.Unauthenticated},
		{"/attacker.Chosen/Name2", "", codes.Unauthenticated},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if tc.auth != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.auth)
		}
		err := conn.Invoke(ctx, tc.method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		cancel()
		if status.Code(err) != tc.code {
			t.Fatalf("%s: %v, want %v", tc.method, err, tc.code)
		}
	}

	got := tm.collect(t)
	wantPoints(t, got, "grpcjwt.decisions", map[string]float64{
		"cause=none,result=ok,rpc.method=" + checkMethod:                                  3,
		"cause=header_missing,result=unauthenticated,rpc.method=" + checkMethod:           1,
		"cause=expired,result=unauthenticated,rpc.method=" + checkMethod:                  1,
		"cause=header_missing,result=unauthenticated,rpc.method=" + grpcjwt.UnknownMethod: 2,
	})
	wantPoints(t, got, "grpcjwt.cache.hits", map[string]float64{"": 2})
	wantPoints(t, got, "grpcjwt.cache.misses", map[string]float64{"": 2})
	// Every miss is timed, and a sample of the hits (none, one or both).
	hist := map[string]float64{"cache=miss,result=ok": 1, "cache=miss,result=refused": 1}
	for _, p := range got["grpcjwt.validation.duration"] {
		if p.attrs == "cache=hit,result=ok" {
			hist[p.attrs] = p.value
		}
	}
	wantPoints(t, got, "grpcjwt.validation.duration", hist)
	wantPoints(t, got, "grpcjwt.key_fetches", map[string]float64{
		"issuer=" + iss.URL + ",outcome=success,reason=startup": 1,
	})
	wantPoints(t, got, "grpcjwt.key_fetch.duration", map[string]float64{
		"issuer=" + iss.URL + ",outcome=success,reason=startup": 1,
	})
	wantPoints(t, got, "grpcjwt.cache.entries", map[string]float64{"": 1})
	wantPoints(t, got, "grpcjwt.cache.evictions", map[string]float64{"": 0})
	if p := got["grpcjwt.cache.size"]; len(p) != 1 || p[0].value < float64(len(good)) {
		t.Errorf("grpcjwt.cache.size: %v, want one point of at least the token's length %d", p, len(good))
	}
	keys := float64(v.State().Issuers[0].Keys)
	if keys == 0 {
		t.Fatal("the validator holds no keys")
	}
	wantPoints(t, got, "grpcjwt.keys", map[string]float64{"issuer=" + iss.URL: keys})
	wantPoints(t, got, "grpcjwt.keys.stale", map[string]float64{"issuer=" + iss.URL: 0})
	wantPoints(t, got, "grpcjwt.keys.stale_duration", map[string]float64{"issuer=" + iss.URL: 0})
	wantPoints(t, got, "grpcjwt.issuer.ready", map[string]float64{"issuer=" + iss.URL: 1})
	if p := got["grpcjwt.keys.max_stale"]; len(p) != 0 {
		t.Errorf("grpcjwt.keys.max_stale without WithMaxStale: %v, want none", p)
	}
	if p := got["grpcjwt.keys.age"]; len(p) != 1 || p[0].attrs != "issuer="+iss.URL || p[0].value < 0 || p[0].value > 60 {
		t.Errorf("grpcjwt.keys.age: %v, want one point for the issuer, between 0 and 60 seconds", p)
	}

	// A token signed by a key the JWKS lacks, while the JWKS fails: the
	// unknown kid's refresh fails, and the old keys are stale.
	iss.SetJWKSMode(grpcjwttest.Fail)
	iss.RotateKey("RS256")
	if _, err := v.Validate(context.Background(), iss.Token(map[string]any{"sub": "alice"})); err == nil {
		t.Fatal("a token signed by an unpublished key was accepted")
	}
	got = tm.collect(t)
	wantPoints(t, got, "grpcjwt.key_fetches", map[string]float64{
		"issuer=" + iss.URL + ",outcome=success,reason=startup":     1,
		"issuer=" + iss.URL + ",outcome=failure,reason=unknown_kid": 1,
	})
	wantPoints(t, got, "grpcjwt.keys.stale", map[string]float64{"issuer=" + iss.URL: 1})
	wantPoints(t, got, "grpcjwt.keys", map[string]float64{"issuer=" + iss.URL: keys})
	if p := got["grpcjwt.keys.stale_duration"]; len(p) != 1 || p[0].attrs != "issuer="+iss.URL || p[0].value <= 0 || p[0].value > 60 {
		t.Errorf("grpcjwt.keys.stale_duration: %v, want one point for the issuer, above 0 and at most 60 seconds", p)
	}
	// Without a bound, stale keys leave the issuer ready.
	wantPoints(t, got, "grpcjwt.issuer.ready", map[string]float64{"issuer=" + iss.URL: 1})

	// The gauges end with unregister.
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	got = tm.collect(t)
	for _, name := range []string{"grpcjwt.keys", "grpcjwt.cache.entries"} {
		if len(got[name]) != 0 {
			t.Errorf("%s after unregister: %v", name, got[name])
		}
	}
}

// TestReadiness: grpcjwt.issuer.ready follows the bound of WithMaxStale,
// reported as grpcjwt.keys.max_stale, as the health service does.
func TestReadiness(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxStale time.Duration
		ready    float64 // once the keys are stale
	}{
		{"stale within the bound", time.Hour, 1},
		{"stale past the bound", time.Nanosecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := newIssuer(t)
			tm := newTelemetry(t, grpcjwtotel.WithMaxStale(tc.maxStale))
			v := newValidator(t, iss, tm.obs)
			unregister, err := tm.obs.Register(v)
			if err != nil {
				t.Fatal(err)
			}
			defer unregister()
			got := tm.collect(t)
			wantPoints(t, got, "grpcjwt.issuer.ready", map[string]float64{"issuer=" + iss.URL: 1})
			wantPoints(t, got, "grpcjwt.keys.max_stale", map[string]float64{"": tc.maxStale.Seconds()})

			// An unknown kid's refresh fails: the keys are stale.
			iss.SetJWKSMode(grpcjwttest.Fail)
			if _, err := v.Validate(context.Background(), iss.Token(map[string]any{"sub": "alice"}, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256")))); err == nil {
				t.Fatal("a token signed by an unpublished key was accepted")
			}
			st := v.State()
			got = tm.collect(t)
			wantPoints(t, got, "grpcjwt.keys.stale", map[string]float64{"issuer=" + iss.URL: 1})
			wantPoints(t, got, "grpcjwt.issuer.ready", map[string]float64{"issuer=" + iss.URL: tc.ready})
			if st.Issuers[0].Ready(time.Now(), tc.maxStale) != (tc.ready == 1) {
				t.Errorf("the gauge says ready=%v, State says otherwise", tc.ready)
			}
		})
	}
}

func TestRegisterOnce(t *testing.T) {
	iss := newIssuer(t)
	tm := newTelemetry(t)
	v := newValidator(t, iss, tm.obs)
	unregister, err := tm.obs.Register(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.obs.Register(v); err != grpcjwtotel.ErrRegistered {
		t.Fatalf("second Register: %v, want ErrRegistered", err)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	unregister2, err := tm.obs.Register(v)
	if err != nil {
		t.Fatalf("Register after unregister: %v", err)
	}
	// A second call of the first unregister must not undo the new one.
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.obs.Register(v); err != grpcjwtotel.ErrRegistered {
		t.Fatalf("Register while registered again: %v, want ErrRegistered", err)
	}
	if err := unregister2(); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFetchSpans(t *testing.T) {
	iss := newIssuer(t)
	tm := newTelemetry(t)
	v := newValidator(t, iss, tm.obs)

	iss.SetJWKSMode(grpcjwttest.Fail)
	iss.RotateKey("RS256")
	token := iss.Token(map[string]any{"sub": "alice"})
	if _, err := v.Validate(context.Background(), token); err == nil {
		t.Fatal("a token signed by an unpublished key was accepted")
	}

	spans := tm.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (startup, unknown_kid)", len(spans))
	}
	for i, want := range []struct {
		reason string
		status otelcodes.Code
	}{{"startup", otelcodes.Unset}, {"unknown_kid", otelcodes.Error}} {
		s := spans[i]
		if s.Name() != "grpcjwt.key_fetch" {
			t.Errorf("span %d: name %q", i, s.Name())
		}
		attrs := attribute.NewSet(s.Attributes()...)
		if got, _ := attrs.Value(grpcjwtotel.AttrIssuer); got.AsString() != iss.URL {
			t.Errorf("span %d: issuer %q, want %q", i, got.AsString(), iss.URL)
		}
		if got, _ := attrs.Value(grpcjwtotel.AttrReason); got.AsString() != want.reason {
			t.Errorf("span %d: reason %q, want %q", i, got.AsString(), want.reason)
		}
		if s.Status().Code != want.status {
			t.Errorf("span %d: status %v, want %v", i, s.Status(), want.status)
		}
		outcome, _ := attrs.Value(grpcjwtotel.AttrOutcome)
		keys, hasKeys := attrs.Value(grpcjwtotel.AttrKeys)
		switch want.status {
		case otelcodes.Error:
			if outcome.AsString() != "failure" || hasKeys {
				t.Errorf("span %d: outcome %q, keys %v, want failure and no keys", i, outcome.AsString(), keys)
			}
			if !strings.Contains(s.Status().Description, "500") {
				t.Errorf("span %d: status description %q does not say what failed", i, s.Status().Description)
			}
		default:
			if outcome.AsString() != "success" || keys.AsInt64() < 1 {
				t.Errorf("span %d: outcome %q, keys %v, want success and the keys", i, outcome.AsString(), keys)
			}
		}
		// Nothing of the token: none of its parts.
		for _, kv := range s.Attributes() {
			for _, part := range strings.Split(token, ".") {
				if strings.Contains(kv.Value.String(), part) {
					t.Errorf("span %d: attribute %s=%q holds part of the token", i, kv.Key, kv.Value.String())
				}
			}
		}
	}
}

// TestNoAllocations checks that recording a decision, a validation, and a
// whole Validate cache hit allocate nothing with the SDK behind the
// observer, once each combination of attributes has been seen.
func TestNoAllocations(t *testing.T) {
	iss := newIssuer(t)
	tm := newTelemetry(t)
	v := newValidator(t, iss, tm.obs)
	token := iss.Token(map[string]any{"sub": "alice"})
	ctx := context.Background()
	if _, err := v.Validate(ctx, token); err != nil {
		t.Fatal(err)
	}
	d := grpcjwt.Decision{Method: checkMethod, Result: grpcjwt.ResultOK, Cause: grpcjwt.CauseNone}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"ObserveDecision", func() { tm.obs.ObserveDecision(ctx, d) }},
		{"ObserveValidation", func() {
			tm.obs.ObserveValidation(ctx, grpcjwt.Validation{Issuer: iss.URL, CacheHit: true, Duration: time.Microsecond, Timed: true, Cause: grpcjwt.CauseNone})
		}},
		{"Validate cache hit", func() {
			if _, err := v.Validate(ctx, token); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		tc.f() // the first of its combination builds the attributes
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}

// TestDecisionsBounded: past its bound, the Observer counts further
// combinations as one, and loses no call.
func TestDecisionsBounded(t *testing.T) {
	tm := newTelemetry(t)
	const n = 1600
	for i := range n {
		tm.obs.ObserveDecision(context.Background(), grpcjwt.Decision{Method: "/m/" + strconv.Itoa(i), Result: grpcjwt.ResultOK, Cause: grpcjwt.CauseNone})
	}
	points := tm.collect(t)["grpcjwt.decisions"]
	total := 0.0
	for _, p := range points {
		total += p.value
	}
	if len(points) != 1501 || total != n {
		t.Errorf("%d points counting %v decisions, want 1501 (1500 and the overflow) counting %d", len(points), total, n)
	}
}
