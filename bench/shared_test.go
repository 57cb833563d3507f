package bench

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// memo holds what the benchmarks share for the life of the process:
// issuers, verifiers (whose key sets are fetched once) and minted tokens.
// go test runs a benchmark function once per -count, and building these
// again each time would cost seconds and JWKS fetches.
var memo struct {
	mu sync.Mutex
	m  map[string]any
}

// memoize returns the value built for key, building it on first use.
func memoize[T any](tb testing.TB, key string, build func() (T, error)) T {
	tb.Helper()
	memo.mu.Lock()
	defer memo.mu.Unlock()
	if v, ok := memo.m[key]; ok {
		return v.(T)
	}
	v, err := build()
	if err != nil {
		tb.Fatalf("building %s: %v", key, err)
	}
	if memo.m == nil {
		memo.m = make(map[string]any)
	}
	memo.m[key] = v
	return v
}

// fixture returns the issuer and tokens most benchmarks share.
func fixture(tb testing.TB) *Fixture {
	return memoize(tb, "fixture", func() (*Fixture, error) { return NewFixture(), nil })
}

// verifier returns im configured against iss for alg. It is built once per
// issuer, and never released.
func verifier(tb testing.TB, iss *grpcjwttest.Issuer, im Impl, alg string) Verifier {
	return memoize(tb, "verifier "+im.Name+" "+alg+" "+iss.URL, func() (Verifier, error) {
		v, _, err := im.New(context.Background(), iss, alg)
		return v, err
	})
}

// mustAccept fails tb unless v accepts token as the benchmark token.
func mustAccept(tb testing.TB, v Verifier, token string) {
	tb.Helper()
	sub, err := v(context.Background(), token)
	if err != nil {
		tb.Fatalf("verifier refused the token: %v", err)
	}
	if sub != Subject {
		tb.Fatalf("subject %q, want %q", sub, Subject)
	}
}

// floorCall returns the floor verifying token, from iss and signed with
// alg.
func floorCall(tb testing.TB, iss *grpcjwttest.Issuer, alg, token string) func() {
	v := verifier(tb, iss, ImplFloor, alg)
	mustAccept(tb, v, token)
	return call(v, token)
}

// floorOf returns the floor to pair im with: floorCall, or nil when im is
// the floor.
func floorOf(tb testing.TB, iss *grpcjwttest.Issuer, im Impl, alg, token string) func() {
	if im.Name == ImplFloor.Name {
		return nil
	}
	return floorCall(tb, iss, alg, token)
}

// meter counts the JWKS fetches a benchmark's issuer serves while timing.
type meter struct {
	b       *testing.B
	iss     *grpcjwttest.Issuer
	fetches int64
}

// startMeter turns on allocation reports and starts counting. Call it just
// before the timed loop.
func startMeter(b *testing.B, iss *grpcjwttest.Issuer) *meter {
	b.ReportAllocs()
	return &meter{b: b, iss: iss, fetches: iss.JWKSFetches()}
}

// stop reports jwks-fetches. Call it just after the timed loop.
func (m *meter) stop() {
	m.b.ReportMetric(float64(m.iss.JWKSFetches()-m.fetches), "jwks-fetches")
}

// call returns a function that verifies token with v.
func call(v Verifier, token string) func() {
	ctx := context.Background()
	return func() { _, _ = v(ctx, token) }
}

// benchVerify times v on token, once the token is known to pass, paired
// with floor (nil for the floor itself) as benchPaired says.
func benchVerify(b *testing.B, iss *grpcjwttest.Issuer, v Verifier, token string, floor func(), parallel bool) {
	mustAccept(b, v, token)
	benchPaired(b, iss, call(v, token), floor, parallel)
}

// benchPaired times op. When floor is not nil and op costs more than a
// tenth of it, each round of the timed loop runs op and floor for about
// 50µs each, in turns, timing each, and the benchmark reports op's time per
// call (ns/op) and the median over the rounds of that time as a multiple of
// floor's (the metric x-floor). Measured in the same moments, the two share
// the machine's noise, which on a shared machine moves whole benchmarks by
// ten percent and more, and the median drops the rounds a GC pause or
// preemption hit. B/op and allocs/op are op's, measured apart.
//
// An op ten times cheaper than the floor, such as a cache hit, runs alone:
// its ratio needs no precision, and the floor between its turns would cool
// the caches it runs in.
//
// With parallel, GOMAXPROCS goroutines run the rounds (b.RunParallel), and
// ns/op is op's time per call divided by GOMAXPROCS, as RunParallel's own
// ns/op would be if op ran alone.
func benchPaired(b *testing.B, iss *grpcjwttest.Issuer, op, floor func(), parallel bool) {
	p := newPairing(op, floor)
	if p == nil {
		m := startMeter(b, iss)
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					op()
				}
			})
		} else {
			for b.Loop() {
				op()
			}
		}
		m.stop()
		return
	}
	bytes, allocs := allocsPerCall(op, callsIn(op, 20*time.Millisecond))
	m := startMeter(b, iss)
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			var r rounds
			for pb.Next() {
				p.round(&r)
			}
			p.merge(&r)
		})
	} else {
		var r rounds
		for b.Loop() {
			p.round(&r)
		}
		p.merge(&r)
	}
	b.StopTimer()
	m.stop()
	procs := 1
	if parallel {
		procs = runtime.GOMAXPROCS(0)
	}
	b.ReportMetric(float64(p.total.opTime)/float64(p.total.opCalls)/float64(procs), "ns/op")
	b.ReportMetric(bytes, "B/op")
	b.ReportMetric(allocs, "allocs/op")
	slices.Sort(p.total.ratios)
	b.ReportMetric(p.total.ratios[len(p.total.ratios)/2], "x-floor")
}

// pairing runs op and floor in turns: opChunk calls of op, then floorChunk
// calls of floor, or the other way round, each about 50µs.
type pairing struct {
	op, floor           func()
	opChunk, floorChunk int

	mu    sync.Mutex
	total rounds
}

// rounds accumulates the rounds one goroutine ran.
type rounds struct {
	opTime  time.Duration
	opCalls int
	ratios  []float64 // op's time per call over floor's, per round
}

// newPairing returns nil when there is no floor or op is over ten times
// cheaper than it.
func newPairing(op, floor func()) *pairing {
	if floor == nil {
		return nil
	}
	const turn = 50 * time.Microsecond
	p := &pairing{op: op, floor: floor, opChunk: callsIn(op, turn), floorChunk: callsIn(floor, turn)}
	if p.opChunk > 10*p.floorChunk {
		return nil
	}
	return p
}

func (p *pairing) round(r *rounds) {
	timed := func(f func(), n int) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	var opTime, floorTime time.Duration
	if len(r.ratios)%2 == 0 {
		opTime = timed(p.op, p.opChunk)
		floorTime = timed(p.floor, p.floorChunk)
	} else {
		floorTime = timed(p.floor, p.floorChunk)
		opTime = timed(p.op, p.opChunk)
	}
	r.opTime += opTime
	r.opCalls += p.opChunk
	r.ratios = append(r.ratios, float64(opTime)/float64(p.opChunk)/(float64(floorTime)/float64(p.floorChunk)))
}

func (p *pairing) merge(r *rounds) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total.opTime += r.opTime
	p.total.opCalls += r.opCalls
	p.total.ratios = append(p.total.ratios, r.ratios...)
}

// callsIn returns about how many calls of op take d, at least 1.
func callsIn(op func(), d time.Duration) int {
	n := 0
	start := time.Now()
	for n < 10 || time.Since(start) < 4*d {
		op()
		n++
	}
	return max(1, int(int64(n)*int64(d)/int64(time.Since(start))))
}

// allocsPerCall returns the bytes and the allocations a call of op makes,
// averaged over n calls, or 100 if more.
func allocsPerCall(op func(), n int) (bytes, allocs float64) {
	n = max(n, 100)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		op()
	}
	runtime.ReadMemStats(&after)
	return math.Round(float64(after.TotalAlloc-before.TotalAlloc) / float64(n)), math.Round(float64(after.Mallocs-before.Mallocs) / float64(n))
}

// mustPolicy builds the policy of v and opts, or panics: benchmarks build
// it once, with options that are known to be valid.
func mustPolicy(v *grpcjwt.Validator, opts ...grpcjwt.Option) *grpcjwt.Policy {
	p, err := grpcjwt.NewPolicy(v, opts...)
	if err != nil {
		panic(err)
	}
	return p
}
