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

// mustAccept fails tb unless v accepts token as the benchmark token,
// returning the subject want.
func mustAccept(tb testing.TB, v Verifier, token, want string) {
	tb.Helper()
	sub, err := v(context.Background(), token)
	if err != nil {
		tb.Fatalf("verifier refused the token: %v", err)
	}
	if sub != want {
		tb.Fatalf("subject %q, want %q", sub, want)
	}
}

// floor is a function a benchmark is paired with, and the metric its
// ratio is reported as.
type floor struct {
	metric string
	call   func()
}

// floorImpls are the floors every verifier is paired with, and the metric
// of each: the floor of encoding/json and the physical floor.
var floorImpls = []struct {
	im     Impl
	metric string
}{{ImplFloor, "x-floor"}, {ImplPhysicalFloor, "x-physical"}}

// floors returns both floors verifying token, from iss and signed with
// alg, but the one that is skip (for the floors' own rows).
func floors(tb testing.TB, iss *grpcjwttest.Issuer, alg, token string, skip Impl) []floor {
	var out []floor
	for _, f := range floorImpls {
		if f.im.Name == skip.Name {
			continue
		}
		v := verifier(tb, iss, f.im, alg)
		mustAccept(tb, v, token, f.im.Subject())
		out = append(out, floor{f.metric, call(v, token)})
	}
	return out
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

// benchImpl times im, configured against iss for alg, on token, paired
// with both floors (but im itself, for a floor's row).
func benchImpl(b *testing.B, iss *grpcjwttest.Issuer, im Impl, alg, token string, parallel bool) {
	v := verifier(b, iss, im, alg)
	mustAccept(b, v, token, im.Subject())
	benchPaired(b, iss, call(v, token), floors(b, iss, alg, token, im), parallel)
}

// benchVerify times v on token, once the token is known to pass, paired
// with floors as benchPaired says.
func benchVerify(b *testing.B, iss *grpcjwttest.Issuer, v Verifier, token string, floors []floor, parallel bool) {
	mustAccept(b, v, token, Subject)
	benchPaired(b, iss, call(v, token), floors, parallel)
}

// benchPaired times op in rounds of about 50µs of calls, and reports as
// ns/op the median over the rounds of op's time per call: on a shared
// machine, whose load moves a whole benchmark's mean by ten percent and
// more, the median leaves out the rounds a preemption or a GC pause hit.
//
// When there are floors and op costs more than a tenth of the first, each
// round also runs each floor for about 50µs, in turns with op (the order
// rotating from round to round), and the benchmark reports, for each floor,
// the median over the rounds of op's time as a multiple of that floor's
// (the floor's metric: x-floor, x-physical). Measured in the same moments,
// they share the machine's noise. An op ten times cheaper than the first
// floor, such as a cache hit, runs alone: its ratio needs no precision, and
// the floor between its turns would cool the caches it runs in. B/op and
// allocs/op are op's, measured apart.
//
// With parallel, GOMAXPROCS goroutines run the rounds (b.RunParallel), and
// ns/op is op's time per call divided by GOMAXPROCS, as RunParallel's own
// ns/op would be if op ran alone.
//
// It returns the pairing, with every round, for a caller to report more.
func benchPaired(b *testing.B, iss *grpcjwttest.Issuer, op func(), floors []floor, parallel bool) *pairing {
	p := newPairing(op, floors)
	p.bytes, p.allocs = allocsPerCall(op, callsIn(op, 20*time.Millisecond))
	m := startMeter(b, iss)
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			r := p.newRounds()
			for pb.Next() {
				p.round(r)
			}
			p.merge(r)
		})
	} else {
		r := p.newRounds()
		for b.Loop() {
			p.round(r)
		}
		p.merge(r)
	}
	b.StopTimer()
	m.stop()
	procs := 1
	if parallel {
		procs = runtime.GOMAXPROCS(0)
	}
	b.ReportMetric(median(p.total.perCall)/float64(procs), "ns/op")
	b.ReportMetric(p.bytes, "B/op")
	b.ReportMetric(p.allocs, "allocs/op")
	for i, f := range p.floors {
		b.ReportMetric(median(p.total.ratios[i]), f.metric)
	}
	return p
}

// median returns the median of v, which it sorts.
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// pairing runs op and its floors in turns: chunks[0] calls of op, then
// chunks[i+1] calls of floor i, each about 50µs, starting with a different
// one each round.
type pairing struct {
	op            func()
	floors        []floor
	chunks        []int   // calls per turn: op's, then each floor's
	bytes, allocs float64 // op's, per call (benchPaired measures them)

	mu    sync.Mutex
	total rounds
}

// rounds accumulates the rounds one goroutine ran.
type rounds struct {
	n       int
	perCall []float64   // op's time per call in ns, per round
	ratios  [][]float64 // per floor: op's time per call over the floor's, per round
	diffs   [][]float64 // per floor: op's time per call minus the floor's, in ns, per round
	times   []time.Duration
}

// newPairing pairs op with floors, or with none when op is over ten times
// cheaper than the first.
func newPairing(op func(), floors []floor) *pairing {
	const turn = 50 * time.Microsecond
	p := &pairing{op: op, chunks: []int{callsIn(op, turn)}}
	if len(floors) > 0 {
		first := callsIn(floors[0].call, turn)
		if p.chunks[0] <= 10*first {
			p.floors = floors
			p.chunks = append(p.chunks, first)
			for _, f := range floors[1:] {
				p.chunks = append(p.chunks, callsIn(f.call, turn))
			}
		}
	}
	p.total.ratios = make([][]float64, len(p.floors))
	p.total.diffs = make([][]float64, len(p.floors))
	return p
}

func (p *pairing) newRounds() *rounds {
	return &rounds{
		ratios: make([][]float64, len(p.floors)),
		diffs:  make([][]float64, len(p.floors)),
		times:  make([]time.Duration, 1+len(p.floors)),
	}
}

func (p *pairing) round(r *rounds) {
	timed := func(f func(), n int) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	k := len(r.times)
	for j := range k {
		i := (r.n + j) % k
		if i == 0 {
			r.times[0] = timed(p.op, p.chunks[0])
		} else {
			r.times[i] = timed(p.floors[i-1].call, p.chunks[i])
		}
	}
	r.n++
	perOp := float64(r.times[0]) / float64(p.chunks[0])
	r.perCall = append(r.perCall, perOp)
	for i := range p.floors {
		perFloor := float64(r.times[i+1]) / float64(p.chunks[i+1])
		r.ratios[i] = append(r.ratios[i], perOp/perFloor)
		r.diffs[i] = append(r.diffs[i], perOp-perFloor)
	}
}

func (p *pairing) merge(r *rounds) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total.perCall = append(p.total.perCall, r.perCall...)
	for i := range r.ratios {
		p.total.ratios[i] = append(p.total.ratios[i], r.ratios[i]...)
		p.total.diffs[i] = append(p.total.diffs[i], r.diffs[i]...)
	}
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
