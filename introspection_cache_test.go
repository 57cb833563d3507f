package grpcjwt_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
)

// TestIntrospectionCacheLifetime: an accepted token is kept until the
// earlier of its exp and CacheTTL, never past either; a refused one for
// NegativeCacheTTL; the cache's keys are the tokens' keyed digests, never
// the tokens.
func TestIntrospectionCacheLifetime(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	clk := newTestClock()
	v := newValidator(t, iss, clk.config, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
		ic.CacheTTL, ic.NegativeCacheTTL = time.Minute, 10*time.Second
	}))
	validate := func(tok string) error { _, err := v.Validate(t.Context(), tok); return err }
	want := func(step string, n int64) {
		t.Helper()
		if got := ep.requests.Load(); got != n {
			t.Fatalf("%s: %d requests, want %d", step, got, n)
		}
	}

	long := opaqueToken() // exp in an hour: CacheTTL bounds its entry
	ep.answer(long, activeAnswer(t, iss, clk.Now(), nil))
	for range 3 {
		if err := validate(long); err != nil {
			t.Fatal(err)
		}
	}
	want("a token again", 1)
	if _, _, _, holds := grpcjwt.IntrospectionCaches(v, long); holds {
		t.Error("the cache holds the token itself")
	}
	clk.Add(59 * time.Second)
	_ = validate(long)
	want("within CacheTTL", 1)
	ep.answer(long, `{"active":false}`) // revoked at the issuer
	clk.Add(2 * time.Second)
	wantCause(t, validate(long), grpcjwt.ErrTokenInactive)
	want("past CacheTTL, revoked", 2)

	short := opaqueToken() // exp in 30 s: exp bounds its entry, leeway or not
	ep.answer(short, activeAnswer(t, iss, clk.Now(), map[string]any{"exp": clk.Now().Add(30 * time.Second).Unix()}))
	_ = validate(short)
	clk.Add(29 * time.Second)
	if err := validate(short); err != nil {
		t.Fatal(err)
	}
	want("before exp", 3)
	clk.Add(2 * time.Second) // past exp, within the leeway: asked again
	if err := validate(short); err != nil {
		t.Fatal(err)
	}
	want("past exp", 4)

	refused := opaqueToken()
	for range 3 {
		wantCause(t, validate(refused), grpcjwt.ErrTokenInactive)
	}
	want("a refused token again", 5)
	clk.Add(9 * time.Second)
	wantCause(t, validate(refused), grpcjwt.ErrTokenInactive)
	want("within NegativeCacheTTL", 5)
	ep.answer(refused, activeAnswer(t, iss, clk.Now(), nil))
	clk.Add(2 * time.Second)
	if err := validate(refused); err != nil {
		t.Fatalf("past NegativeCacheTTL: %v", err)
	}
	want("past NegativeCacheTTL", 6)
	accepted, refusedN, flights, _ := grpcjwt.IntrospectionCaches(v, "")
	if accepted != 2 || refusedN != 1 || flights != 0 { // short and refused; long expired, refused since
		t.Errorf("caches: %d accepted, %d refused, %d flights; want 2, 1, 0", accepted, refusedN, flights)
	}
}

// TestIntrospectionCacheOff: a negative CacheTTL or NegativeCacheTTL keeps
// nothing, and a negative CacheSize turns both caches off.
func TestIntrospectionCacheOff(t *testing.T) {
	iss := newIssuer(t)
	for _, tc := range []struct {
		name           string
		cfg            func(*grpcjwt.Config)
		ttl, neg       time.Duration
		accepted, sent int64 // requests for three calls each
	}{
		{"CacheTTL < 0", func(*grpcjwt.Config) {}, -1, 0, 3, 1},
		{"NegativeCacheTTL < 0", func(*grpcjwt.Config) {}, 0, -1, 1, 3},
		{"CacheSize < 0", func(c *grpcjwt.Config) { c.CacheSize = -1 }, 0, 0, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t)
			v := newValidator(t, iss, tc.cfg, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
				ic.CacheTTL, ic.NegativeCacheTTL = tc.ttl, tc.neg
			}))
			good, bad := opaqueToken(), opaqueToken()
			ep.answer(good, activeAnswer(t, iss, time.Now(), nil))
			for range 3 {
				if _, err := v.Validate(t.Context(), good); err != nil {
					t.Fatal(err)
				}
			}
			if n := ep.requests.Load(); n != tc.accepted {
				t.Errorf("accepted token: %d requests, want %d", n, tc.accepted)
			}
			for range 3 {
				_, _ = v.Validate(t.Context(), bad)
			}
			if n := ep.requests.Load() - tc.accepted; n != tc.sent {
				t.Errorf("refused token: %d requests, want %d", n, tc.sent)
			}
		})
	}
}

// TestIntrospectionSharedRequest: calls with the same token while its
// request runs share it: one request for them all, one answer.
func TestIntrospectionSharedRequest(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep))
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
	gate := make(chan struct{})
	ep.setGate(gate)
	const n = 50
	var wg sync.WaitGroup
	claims := make([]*grpcjwt.Claims, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { claims[i], errs[i] = v.Validate(t.Context(), tok) })
	}
	<-ep.arrived
	waitFor(t, func() bool { return grpcjwt.IntrospectionWaiters(v) == n })
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || claims[i] == nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
	}
	if got := ep.requests.Load(); got != 1 {
		t.Errorf("%d requests for %d calls with one token, want 1", got, n)
	}
}

// TestIntrospectionSlots: at most MaxConcurrent requests are in flight
// and MaxWaiting tokens wait; a token beyond both is refused at once with
// Unavailable, and those admitted get their answers when the endpoint
// gives them.
func TestIntrospectionSlots(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
		ic.MaxConcurrent, ic.MaxWaiting = 2, 1
	}))
	gate := make(chan struct{})
	ep.setGate(gate)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		tok := opaqueToken()
		ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
		wg.Go(func() { _, errs[i] = v.Validate(t.Context(), tok) })
	}
	<-ep.arrived
	<-ep.arrived
	waitFor(t, func() bool { _, _, f, _ := grpcjwt.IntrospectionCaches(v, ""); return f == 3 })
	start := time.Now()
	_, err := v.Validate(t.Context(), opaqueToken())
	if !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) {
		t.Fatalf("a fourth token: %v, want ErrIntrospectionUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the fourth token waited %s, want a refusal at once", d)
	}
	for range 3 {
		gate <- struct{}{}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if p := ep.peak.Load(); p != 2 {
		t.Errorf("at most %d requests in flight, want 2", p)
	}
	if n := ep.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestIntrospectionCallerDeadline: a call waits for its answer no longer
// than its deadline, and gets Unavailable; once no call waits for a
// request, it is stopped, and the same token later makes a new one.
func TestIntrospectionCallerDeadline(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep))
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
	ep.setGate(make(chan struct{})) // never opens
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { _, err := v.Validate(ctx, tok); done <- err }()
	<-ep.arrived
	cancel()
	if err := <-done; !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) || errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Fatalf("a call that gave up: %v, want ErrIntrospectionUnavailable alone", err)
	}
	waitFor(t, func() bool {
		_, _, f, _ := grpcjwt.IntrospectionCaches(v, "")
		return f == 0 && ep.inflight.Load() == 0
	})
	ep.setGate(nil)
	if _, err := v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if n := ep.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}

	// One call giving up leaves the request to the others.
	gate := make(chan struct{})
	ep.setGate(gate)
	tok2 := opaqueToken()
	ep.answer(tok2, activeAnswer(t, iss, time.Now(), nil))
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() { _, err := v.Validate(ctx2, tok2); done <- err }()
	<-ep.arrived
	stays := make(chan error)
	go func() { _, err := v.Validate(t.Context(), tok2); stays <- err }()
	waitFor(t, func() bool { return grpcjwt.IntrospectionWaiters(v) == 2 })
	cancel2()
	<-done
	close(gate)
	if err := <-stays; err != nil {
		t.Errorf("the call that stayed: %v", err)
	}
}

// TestIntrospectionFlood: a flood of random opaque tokens costs at most
// one request each, never more than MaxConcurrent at once, and the
// memory it leaves is bounded: no accepted entry, at most
// RefusalCacheSize refusals, no flight.
func TestIntrospectionFlood(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
		ic.MaxConcurrent, ic.MaxWaiting = 4, 64
	}))
	const calls, workers = 2000, 32
	var refused, unavailable atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= calls {
				_, err := v.Validate(t.Context(), opaqueToken())
				switch {
				case errors.Is(err, grpcjwt.ErrTokenInactive):
					refused.Add(1)
				case errors.Is(err, grpcjwt.ErrIntrospectionUnavailable):
					unavailable.Add(1)
				default:
					t.Errorf("a random token: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := ep.requests.Load(); n > calls || n != refused.Load() {
		t.Errorf("%d requests for %d calls (%d refused by the endpoint, %d unavailable)", n, calls, refused.Load(), unavailable.Load())
	}
	if p := ep.peak.Load(); p > 4 {
		t.Errorf("%d requests at once, want at most 4", p)
	}
	accepted, refusedN, flights, _ := grpcjwt.IntrospectionCaches(v, "")
	if accepted != 0 || refusedN > grpcjwt.RefusalCacheSize || refusedN == 0 || flights != 0 {
		t.Errorf("after the flood: %d accepted, %d refused (at most %d), %d flights", accepted, refusedN, grpcjwt.RefusalCacheSize, flights)
	}
	t.Logf("%d calls: %d requests, %d unavailable, peak %d in flight, %d refusals kept", calls, ep.requests.Load(), unavailable.Load(), ep.peak.Load(), refusedN)
}

// TestIntrospectionCloseLeavesNoGoroutine: Close ends the requests in
// flight, and the calls waiting for them get Unavailable.
func TestIntrospectionCloseLeavesNoGoroutine(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	before := runtime.NumGoroutine()
	v := newValidator(t, iss, introspecting(iss, ep))
	ep.setGate(make(chan struct{})) // never opens
	done := make(chan error)
	go func() { _, err := v.Validate(t.Context(), opaqueToken()); done <- err }()
	<-ep.arrived
	v.Close()
	if err := <-done; !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) {
		t.Fatalf("a call waiting at Close: %v", err)
	}
	waitFor(t, func() bool {
		_, _, f, _ := grpcjwt.IntrospectionCaches(v, "")
		return f == 0 && runtime.NumGoroutine() <= before+2 // the endpoint's connection may linger
	})
	requests := ep.requests.Load()
	if _, err := v.Validate(t.Context(), opaqueToken()); !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) || ep.requests.Load() != requests {
		t.Errorf("a new token after Close: %v, %d requests; want ErrIntrospectionUnavailable and none", err, ep.requests.Load()-requests)
	}
}

// TestIntrospectionHitAllocatesNothing: a cached opaque token costs no
// allocation, as a cached JWT does not.
func TestIntrospectionHitAllocatesNothing(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep))
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
	ctx := context.Background()
	if _, err := v.Validate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = v.Validate(ctx, tok) }); n != 0 {
		t.Errorf("a cache hit allocates %.0f times", n)
	}
}

// introspectionRecorder is a recorder that also sees introspection
// requests.
type introspectionRecorder struct {
	recorder
	requests []string // issuer reason outcome
}

func (r *introspectionRecorder) StartIntrospection(ctx context.Context, q grpcjwt.IntrospectionRequest) (context.Context, func(grpcjwt.IntrospectionResult)) {
	return ctx, func(res grpcjwt.IntrospectionResult) {
		outcome := "inactive"
		switch {
		case errors.Is(res.Err, grpcjwt.ErrIntrospectionUnavailable):
			outcome = "unavailable"
		case res.Active && res.Err == nil:
			outcome = "active"
		case res.Active:
			outcome = "active-refused"
		}
		r.mu.Lock()
		r.requests = append(r.requests, q.Issuer+" "+string(q.Reason)+" "+outcome)
		r.mu.Unlock()
	}
}

// TestIntrospectionObserver: an Observer that implements
// IntrospectionObserver sees each request with its outcome, and each
// validation of an opaque token says so; one that does not still sees the
// validations.
func TestIntrospectionObserver(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	rec := &introspectionRecorder{}
	v := newValidator(t, iss, introspecting(iss, ep), func(c *grpcjwt.Config) { c.Observer = rec })
	good, stale := opaqueToken(), opaqueToken()
	ep.answer(good, activeAnswer(t, iss, time.Now(), nil))
	ep.answer(stale, activeAnswer(t, iss, time.Now(), map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	for _, tok := range []string{good, good, stale, opaqueToken()} {
		_, _ = v.Validate(t.Context(), tok)
	}
	ep.setStatus(http.StatusBadGateway)
	_, _ = v.Validate(t.Context(), opaqueToken())
	rec.mu.Lock()
	got := append([]string(nil), rec.requests...)
	vals := append([]grpcjwt.Validation(nil), rec.validations...)
	rec.mu.Unlock()
	want := []string{
		iss.URL + " opaque active", iss.URL + " opaque active-refused", iss.URL + " opaque inactive", iss.URL + " opaque unavailable",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantVals := []grpcjwt.Validation{
		{Issuer: iss.URL, Opaque: true, Cause: grpcjwt.CauseNone},
		{Issuer: iss.URL, Opaque: true, CacheHit: true, Cause: grpcjwt.CauseNone},
		{Issuer: iss.URL, Opaque: true, Cause: "expired"},
		{Issuer: iss.URL, Opaque: true, Cause: "inactive"},
		{Issuer: iss.URL, Opaque: true, Cause: "introspection_unavailable"},
	}
	if len(vals) != len(wantVals) {
		t.Fatalf("validations %+v", vals)
	}
	for i, w := range wantVals {
		g := vals[i]
		if g.Issuer != w.Issuer || g.Opaque != w.Opaque || g.CacheHit != w.CacheHit || g.Cause != w.Cause || !g.Timed && !g.CacheHit {
			t.Errorf("validation %d: %+v, want %+v", i, g, w)
		}
	}

	plain := &recorder{}
	ep.setStatus(0)
	v2 := newValidator(t, iss, introspecting(iss, ep), func(c *grpcjwt.Config) { c.Observer = plain })
	if _, err := v2.Validate(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	if _, vals, _ := plain.snapshot(); len(vals) != 1 || !vals[0].Opaque {
		t.Errorf("validations %+v", vals)
	}
}

// TestTapHandleIntrospection: the tap handle decides an opaque token by
// the cache alone: one the cache does not know reaches the interceptors,
// which introspect it; one refused recently is refused in the tap, with
// the interceptors' status, and costs no request.
func TestTapHandleIntrospection(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	s := newTappedConfig(t, iss, introspecting(iss, ep))
	good, bad := opaqueToken(), opaqueToken()
	ep.answer(good, activeAnswer(t, iss, time.Now(), map[string]any{"scope": "greet:read greet:write"}))

	before := s.tally()
	if _, err := calls["unary"](withAuth("Bearer "+good), s.client); err != nil {
		t.Fatal(err)
	}
	d := s.since(before)
	d.wantOneDecision(t, grpcjwt.ResultOK, nil)
	if d.intercepted != 1 || ep.requests.Load() != 1 {
		t.Errorf("an unknown opaque token: %d calls intercepted, %d requests; want 1, 1", d.intercepted, ep.requests.Load())
	}

	_, want := calls["unary"](withAuth("Bearer "+bad), s.plain) // refused once, by the interceptors alone
	requests := ep.requests.Load()
	_, err := calls["unary"](withAuth("Bearer "+bad), s.client) // the tapped server's own validator learns it
	sameStatus(t, err, want)
	before = s.tally()
	_, err = calls["unary"](withAuth("Bearer "+bad), s.client)
	sameStatus(t, err, want)
	d = s.since(before)
	d.wantOneDecision(t, grpcjwt.ResultUnauthenticated, grpcjwt.ErrTokenInactive)
	if d.intercepted != 0 {
		t.Errorf("a refused opaque token reached the interceptors %d times", d.intercepted)
	}
	if n := ep.requests.Load() - requests; n != 1 {
		t.Errorf("%d requests for the refused token on the tapped server, want 1", n)
	}
}

// TestIntrospectionCacheDottedTokens: opaque tokens with dots (Hydra's are
// "ory_at_<random>.<signature>"), and with two, which no JWT cache holds,
// are served from the answers' cache like any other, through Validate and
// through the policy, with one request each.
func TestIntrospectionCacheDottedTokens(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	rec := &introspectionRecorder{}
	v := newValidator(t, iss, introspecting(iss, ep), func(c *grpcjwt.Config) { c.Observer = rec })
	p, err := grpcjwt.NewPolicy(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"ory_at_" + opaqueToken() + "." + opaqueToken(), "a." + opaqueToken() + ".b.c"} {
		ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
		before := ep.requests.Load()
		for range 3 {
			if _, err := v.Validate(t.Context(), tok); err != nil {
				t.Fatalf("%.20q: %v", tok, err)
			}
			if _, err := p.Check(t.Context(), &grpcjwt.Call{Method: "/a.B/C", Authorization: []string{"Bearer " + tok}}, nil); err != nil {
				t.Fatalf("%.20q through the policy: %v", tok, err)
			}
		}
		if n := ep.requests.Load() - before; n != 1 {
			t.Errorf("%.20q: %d requests, want 1", tok, n)
		}
	}
	_, vals, _ := rec.snapshot()
	hits := 0
	for _, val := range vals {
		if val.CacheHit && val.Opaque {
			hits++
		}
	}
	if hits != 10 {
		t.Errorf("%d opaque cache hits observed, want 10 (of 12 validations, 2 requests)", hits)
	}
}
