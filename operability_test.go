package grpcjwt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu          sync.Mutex
	decisions   []grpcjwt.Decision
	validations []grpcjwt.Validation
	fetches     []string // issuer reason outcome
}

func (r *recorder) ObserveDecision(_ context.Context, d grpcjwt.Decision) {
	r.mu.Lock()
	r.decisions = append(r.decisions, d)
	r.mu.Unlock()
}

func (r *recorder) ObserveValidation(_ context.Context, v grpcjwt.Validation) {
	r.mu.Lock()
	r.validations = append(r.validations, v)
	r.mu.Unlock()
}

func (r *recorder) StartKeyFetch(ctx context.Context, f grpcjwt.KeyFetch) (context.Context, func(grpcjwt.KeyFetchResult)) {
	return ctx, func(res grpcjwt.KeyFetchResult) {
		outcome := "ok"
		if res.Err != nil {
			outcome = "error"
		}
		r.mu.Lock()
		r.fetches = append(r.fetches, string(f.Reason)+" "+outcome)
		r.mu.Unlock()
	}
}

func (r *recorder) snapshot() ([]grpcjwt.Decision, []grpcjwt.Validation, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]grpcjwt.Decision(nil), r.decisions...), append([]grpcjwt.Validation(nil), r.validations...), append([]string(nil), r.fetches...)
}

func TestObserver(t *testing.T) {
	iss := newIssuer(t)
	rec := &recorder{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Observer = rec })
	client := protected(t, v)
	tok := iss.Token(map[string]any{"scope": "greet:read"})
	for range 2 { // a miss, then a hit
		if _, err := calls["unary"](withAuth("Bearer "+tok), client); err != nil {
			t.Fatal(err)
		}
	}
	_, err := calls["unary"](withAuth("Bearer "+iss.Token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), client)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	_, err = calls["unary"](withAuth("Bearer "+iss.Token(nil)), client) // no greet:read
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
	iss.RotateKey("RS256")
	if _, err := calls["unary"](withAuth("Bearer "+iss.Token(map[string]any{"scope": "greet:read"})), client); err != nil {
		t.Fatal(err)
	}

	decisions, validations, fetches := rec.snapshot()
	want := []grpcjwt.Decision{
		{Method: "/greeter.v1.Greeter/SayHello", Result: grpcjwt.ResultOK, Cause: grpcjwt.CauseNone},
		{Method: "/greeter.v1.Greeter/SayHello", Result: grpcjwt.ResultOK, Cause: grpcjwt.CauseNone},
		{Method: "/greeter.v1.Greeter/SayHello", Result: grpcjwt.ResultUnauthenticated, Cause: "expired"},
		{Method: "/greeter.v1.Greeter/SayHello", Result: grpcjwt.ResultPermissionDenied, Cause: "insufficient_scope"},
		{Method: "/greeter.v1.Greeter/SayHello", Result: grpcjwt.ResultOK, Cause: grpcjwt.CauseNone},
	}
	if len(decisions) != len(want) {
		t.Fatalf("decisions %+v, want %+v", decisions, want)
	}
	for i := range want {
		if decisions[i] != want[i] {
			t.Errorf("decision %d: %+v, want %+v", i, decisions[i], want[i])
		}
	}
	hits := 0
	for _, v := range validations {
		if v.CacheHit {
			hits++
		}
		if v.Timed != (v.Duration > 0) || !v.CacheHit && !v.Timed {
			t.Errorf("validation without a duration: %+v", v)
		}
	}
	if len(validations) != 5 || hits != 1 || validations[0].Issuer != iss.URL || validations[2].Cause != "expired" {
		t.Errorf("validations %+v", validations)
	}
	if strings.Join(fetches, ",") != "startup ok,unknown_kid ok" {
		t.Errorf("key fetches %q", fetches)
	}
}

// TestObserverLabelsAreBounded: a method name or an issuer chosen by the
// caller never reaches the observer.
func TestObserverLabelsAreBounded(t *testing.T) {
	iss, stranger := newIssuer(t), newIssuer(t)
	rec := &recorder{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Observer = rec })
	f := policyOf(t, v).AuthFunc()
	for _, m := range []string{"/evil.Service/" + strings.Repeat("x", 5000), "/greeter.v1.Greeter/NoSuchMethod"} {
		ctx := withIncomingAuth("Bearer " + stranger.Token(nil))
		ctx = grpcContext(ctx, m)
		_, _ = f(ctx)
	}
	decisions, validations, _ := rec.snapshot()
	for _, d := range decisions {
		if d.Method != grpcjwt.UnknownMethod || d.Cause != "untrusted_issuer" {
			t.Errorf("decision %+v", d)
		}
	}
	for _, v := range validations {
		if v.Issuer != "" {
			t.Errorf("a validation names the caller's issuer: %+v", v)
		}
	}
	if len(decisions) != 2 {
		t.Errorf("%d decisions", len(decisions))
	}
}

// TestCauseOf: the labels are the documented strings (TestReasons checks
// every one against its declaration).
func TestCauseOf(t *testing.T) {
	for err, want := range map[error]grpcjwt.Cause{
		nil:                      grpcjwt.CauseNone,
		grpcjwt.ErrHeaderMissing: "header_missing",
		&grpcjwt.TokenError{Cause: grpcjwt.ErrBadSignature}:    "bad_signature",
		&grpcjwt.TokenError{Cause: grpcjwt.ErrUntrustedIssuer}: "untrusted_issuer",
		errors.New("something else"):                           grpcjwt.CauseOther,
		status.Error(codes.FailedPrecondition, "suspended"):    grpcjwt.CauseOther,
		grpcjwt.ErrKeysUnavailable:                             "keys_unavailable",
	} {
		if got := grpcjwt.CauseOf(err); got != want {
			t.Errorf("CauseOf(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestBackgroundStart: with the provider down, NewValidator returns at
// once; calls get Unavailable temporarily_unavailable; health is
// NOT_SERVING; attempts back off; when the provider comes back, keys
// arrive, calls pass and health turns SERVING.
func TestBackgroundStart(t *testing.T) {
	iss := newIssuer(t)
	iss.SetDiscoveryMode(grpcjwttest.Fail)
	rec := &recorder{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.BackgroundStart = true
		c.StartRetry = 20 * time.Millisecond
		c.MinRefreshInterval = 80 * time.Millisecond
		c.Observer = rec
	})
	h := health.NewServer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grpcjwt.ServeHealth(ctx, v, h, "", 0)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if s := status(); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health %v before any keys", s)
	}
	client := protected(t, v)
	tok := iss.Token(map[string]any{"scope": "greet:read"})
	_, err := calls["unary"](withAuth("Bearer "+tok), client)
	wantStatus(t, err, codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable)
	if _, err := v.Validate(context.Background(), tok); !errors.Is(err, grpcjwt.ErrKeysUnavailable) || errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Fatalf("Validate = %v, want ErrKeysUnavailable and not ErrInvalidToken (the token may be good)", err)
	}
	waitFor(t, func() bool { return iss.DiscoveryFetches() >= 4 })
	st := v.State()
	if len(st.Issuers) != 1 || st.Issuers[0].Keys != 0 || st.Issuers[0].LastError == nil || st.Ready(time.Now(), 0) {
		t.Fatalf("state %+v", st)
	}
	iss.SetDiscoveryMode(grpcjwttest.Serve)
	waitFor(t, func() bool { return status() == healthpb.HealthCheckResponse_SERVING })
	if _, err := calls["unary"](withAuth("Bearer "+tok), client); err != nil {
		t.Fatalf("after the keys arrived: %v", err)
	}
	if st := v.State(); st.Issuers[0].Keys == 0 || st.Issuers[0].LastError != nil || st.Issuers[0].LastSuccess.IsZero() {
		t.Fatalf("state %+v", st)
	}
	// The attempts backed off: 20ms, then up to 80ms apart, not a storm.
	_, _, fetches := rec.snapshot()
	if n := len(fetches); n > 40 {
		t.Errorf("%d startup attempts", n)
	}
	if fetches[len(fetches)-1] != "startup ok" {
		t.Errorf("fetches %q", fetches)
	}
}

// TestHealthFollowsStaleKeys: keys that cannot be refreshed make health
// NOT_SERVING once stale past the bound, and SERVING again on recovery.
func TestHealthFollowsStaleKeys(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.RefreshInterval = 50 * time.Millisecond
		c.MinRefreshInterval = 10 * time.Millisecond
		c.CacheSize = -1
	})
	h := health.NewServer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grpcjwt.ServeHealth(ctx, v, h, "greeter", 100*time.Millisecond)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		r, _ := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "greeter"})
		return r.GetStatus()
	}
	if status() != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("not SERVING with fresh keys")
	}
	iss.SetJWKSMode(grpcjwttest.Fail)
	tok := iss.Token(nil)
	waitFor(t, func() bool {
		_, _ = v.Validate(context.Background(), tok) // requests drive periodic refreshes
		return !v.State().Issuers[0].StaleSince.IsZero()
	})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("stale keys must still verify: %v", err)
	}
	waitFor(t, func() bool { return status() == healthpb.HealthCheckResponse_NOT_SERVING })
	iss.SetJWKSMode(grpcjwttest.Serve)
	waitFor(t, func() bool {
		_, _ = v.Validate(context.Background(), tok)
		return status() == healthpb.HealthCheckResponse_SERVING
	})
}

// grpcContext is ctx as grpc-go hands it to an auth function for method.
func grpcContext(ctx context.Context, method string) context.Context {
	return grpc.NewContextWithServerTransportStream(ctx, &methodStream{method: method})
}
