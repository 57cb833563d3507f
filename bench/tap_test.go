package bench

import (
	"context"
	"math"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// tapServer is the example's greeter on loopback behind one of the doors
// BenchmarkTapHandle compares, with a client connection to it, and the
// count of calls that reached its interceptors.
type tapServer struct {
	client      greeterv1.GreeterClient
	intercepted *atomic.Int64
}

// tapDoors are the servers BenchmarkTapHandle compares: grpcjwt's
// interceptors alone; the same with its tap handle; and, as a floor, a tap
// handle that refuses every call with a fixed status and checks nothing,
// which is what any refusal before the stream costs grpc-go and its client.
var tapDoors = []string{"interceptors", "tap", "floor"}

// newTapServer serves door on loopback, with p's interceptors behind an
// interceptor that counts the calls reaching them.
func newTapServer(p *grpcjwt.Policy, door string) (*tapServer, error) {
	s := &tapServer{intercepted: new(atomic.Int64)}
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		s.intercepted.Add(1)
		return handler(ctx, req)
	}
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(count, p.UnaryServerInterceptor())}
	switch door {
	case "tap":
		opts = append(opts, grpc.InTapHandle(p.TapHandle()))
	case "floor":
		refusal := status.Error(codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		opts = append(opts, grpc.InTapHandle(func(ctx context.Context, _ *tap.Info) (context.Context, error) {
			return ctx, refusal
		}))
	}
	srv := grpc.NewServer(opts...)
	greeterv1.RegisterGreeterServer(srv, greeter.Service{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, err
	}
	s.client = greeterv1.NewGreeterClient(conn)
	return s, nil
}

// tapFlood is one kind of call in the flood: its authorization value
// ("" for none), the size of its request's name, and the code it gets.
type tapFlood struct {
	name  string
	auth  string
	size  int
	code  codes.Code
	doors []string
}

// tapFloods returns the calls BenchmarkTapHandle floods the servers with:
// refusals of every kind the tap handle makes, cheapest first, one with a
// 64 KiB request, and an admitted call, for what the tap costs those.
func tapFloods(iss *grpcjwttest.Issuer, good string) []tapFlood {
	claims := TokenClaims(time.Now())
	claims["exp"] = time.Now().Add(-time.Hour).Unix()
	expired := iss.Token(claims, grpcjwttest.WithKeyFor("RS256"))
	// Another subject's header and payload under the benchmark token's
	// signature: a known key, a bad signature.
	claims = TokenClaims(time.Now())
	claims["sub"] = "user-00000000"
	other := strings.Split(iss.Token(claims, grpcjwttest.WithKeyFor("RS256")), ".")
	forged := other[0] + "." + other[1] + "." + strings.Split(good, ".")[2]
	unknown := iss.Token(TokenClaims(time.Now()), grpcjwttest.WithKey(grpcjwttest.MustKey("RS256")))
	compared := tapDoors[:2]
	return []tapFlood{
		{"no-token", "", 5, codes.Unauthenticated, tapDoors},
		{"malformed", "Bearer not.a.jwt", 5, codes.Unauthenticated, compared},
		{"malformed-64KiB", "Bearer not.a.jwt", 64 << 10, codes.Unauthenticated, compared},
		{"expired", "Bearer " + expired, 5, codes.Unauthenticated, compared},
		{"unknown-kid", "Bearer " + unknown, 5, codes.Unauthenticated, compared},
		{"bad-signature", "Bearer " + forged, 5, codes.Unauthenticated, compared},
		{"accepted", "Bearer " + good, 5, codes.OK, compared},
	}
}

// BenchmarkTapHandle floods a grpc-go server on loopback with calls, from
// 4×GOMAXPROCS goroutines on one client connection (so one server reader
// goroutine, where the tap handle runs), and compares what a call costs the
// process, client and server together, with grpcjwt's interceptors alone,
// with its tap handle in front of them, and with the floor: ns/op (wall
// time per call, the inverse of the throughput), cpu-ns/op (user and
// system CPU time of the process per call), B/op and allocs/op (of the
// whole process), and intercepted/op (the share of calls that reached the
// interceptors). The client's share is the same for every door, so the
// difference between two rows is the server's.
//
// On a shared machine CPU time per call moves by tens of percent from one
// benchmark to the next, so every door but the interceptors runs its calls
// in turns with the same calls to the interceptors, in chunks of
// tapChunk, and reports the median over the rounds of its CPU time per
// call over theirs (x-interceptors).
func BenchmarkTapHandle(b *testing.B) {
	f := fixture(b)
	v := memoize(b, "tap validator", func() (*grpcjwt.Validator, error) {
		return NewValidator(context.Background(), f.Issuer, 0, 0)
	})
	p := mustPolicy(v)
	servers := map[string]*tapServer{}
	for _, door := range tapDoors {
		servers[door] = memoize(b, "tap server "+door, func() (*tapServer, error) { return newTapServer(p, door) })
	}
	for _, fl := range memoize(b, "tap floods", func() ([]tapFlood, error) { return tapFloods(f.Issuer, f.Tokens["RS256"]), nil }) {
		b.Run(fl.name, func(b *testing.B) {
			ctx := context.Background()
			if fl.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", fl.auth)
			}
			req := &greeterv1.SayHelloRequest{Name: strings.Repeat("x", fl.size)}
			for _, door := range fl.doors {
				b.Run(door, func(b *testing.B) {
					c := floodCall{s: servers[door], ctx: ctx, req: req, code: fl.code}
					if door == "floor" {
						c.code = codes.Unauthenticated
					}
					var pair *floodCall
					if door != "interceptors" {
						pair = &floodCall{s: servers["interceptors"], ctx: ctx, req: req, code: fl.code}
					}
					flood(b, c, pair)
				})
			}
		})
	}
}

// tapChunk is how many calls a door makes in one turn: a few milliseconds.
const tapChunk = 256

// floodCall is the call a flood makes: req in ctx to s, which must get
// code.
type floodCall struct {
	s    *tapServer
	ctx  context.Context
	req  *greeterv1.SayHelloRequest
	code codes.Code
}

// chunk is what a door's calls cost the process.
type chunk struct {
	calls, intercepted int64
	wall, cpu          time.Duration
	bytes, mallocs     uint64
}

func (c *chunk) add(d chunk) {
	c.calls += d.calls
	c.intercepted += d.intercepted
	c.wall += d.wall
	c.cpu += d.cpu
	c.bytes += d.bytes
	c.mallocs += d.mallocs
}

// run makes n calls from 4×GOMAXPROCS goroutines and returns what they
// cost; it fails b if one gets another code than c's.
func (c floodCall) run(b *testing.B, n int64) chunk {
	var next, wrong atomic.Int64
	var wg sync.WaitGroup
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	intercepted, cpu, start := c.s.intercepted.Load(), cpuTime(), time.Now()
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= n {
				if _, err := c.s.client.SayHello(c.ctx, c.req); status.Code(err) != c.code {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	d := chunk{calls: n, wall: time.Since(start), cpu: cpuTime() - cpu, intercepted: c.s.intercepted.Load() - intercepted}
	runtime.ReadMemStats(&after)
	d.bytes, d.mallocs = after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
	if w := wrong.Load(); w > 0 {
		b.Fatalf("%d calls of %d did not get %v", w, n, c.code)
	}
	return d
}

// flood times c, b.N calls in chunks of tapChunk, in turns with pair
// unless it is nil, and reports c's cost per call and, with pair, the
// median over the rounds of c's CPU time per call over pair's.
func flood(b *testing.B, c floodCall, pair *floodCall) {
	c.run(b, 1) // the first calls, which may fetch keys, and a check of the code
	if pair != nil {
		pair.run(b, 1)
	}
	var total chunk
	var ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for round := 0; total.calls < int64(b.N); round++ {
		n := min(tapChunk, int64(b.N)-total.calls)
		if pair == nil {
			total.add(c.run(b, n))
			continue
		}
		var mine, theirs chunk
		if round%2 == 0 {
			mine, theirs = c.run(b, n), pair.run(b, n)
		} else {
			theirs, mine = pair.run(b, n), c.run(b, n)
		}
		total.add(mine)
		ratios = append(ratios, float64(mine.cpu)/float64(theirs.cpu))
	}
	b.StopTimer()
	per := func(x float64) float64 { return x / float64(total.calls) }
	b.ReportMetric(per(float64(total.wall)), "ns/op")
	b.ReportMetric(per(float64(total.cpu)), "cpu-ns/op")
	b.ReportMetric(math.Round(per(float64(total.bytes))), "B/op")
	b.ReportMetric(math.Round(per(float64(total.mallocs))), "allocs/op")
	b.ReportMetric(per(float64(total.intercepted)), "intercepted/op")
	if len(ratios) > 0 {
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "x-interceptors")
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
