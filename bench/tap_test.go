package bench

import (
	"context"
	"net"
	"strings"
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
// goroutine, where the tap handle runs), and compares what a call costs
// the process, client and server together, with grpcjwt's interceptors
// alone and with its tap handle in front of them: ns/op (wall time per
// call, the inverse of the throughput), cpu-ns/op (user and system CPU
// time of the process per call), B/op and allocs/op (of the whole
// process), and intercepted/op (the share of calls that reached the
// interceptors). The client's share is the same for every door, so the
// difference between two rows is the server's.
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
					s := servers[door]
					code := fl.code
					if door == "floor" {
						code = codes.Unauthenticated
					}
					flood(b, s, ctx, req, code)
				})
			}
		})
	}
}

// flood times calls of req in ctx to s, all of which must get code.
func flood(b *testing.B, s *tapServer, ctx context.Context, req *greeterv1.SayHelloRequest, code codes.Code) {
	if _, err := s.client.SayHello(ctx, req); status.Code(err) != code {
		b.Fatalf("got %v, want %v", err, code)
	}
	var wrong atomic.Int64
	intercepted := s.intercepted.Load()
	cpu := cpuTime()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.client.SayHello(ctx, req); status.Code(err) != code {
				wrong.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(s.intercepted.Load()-intercepted)/float64(b.N), "intercepted/op")
	if n := wrong.Load(); n > 0 {
		b.Fatalf("%d calls of %d did not get %v", n, b.N, code)
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
