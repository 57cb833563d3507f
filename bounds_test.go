package grpcjwt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// maxHeaderList is the header list size both ends of a proxy test allow:
// far above grpc's default, as an attacker's client would set it, and as a
// proxy that forwards long names might.
const maxHeaderList = 64 << 20

// proxy starts, on loopback, a server that accepts any method (as proxies
// and gateways do) behind both interceptors, and returns a client
// connection to it.
func proxy(t testing.TB, v *grpcjwt.Validator, opts ...grpcjwt.Option) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := policyOf(t, v, opts...)
	srv := grpc.NewServer(
		grpc.MaxHeaderListSize(maxHeaderList),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error { return nil }),
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()),
	)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithMaxHeaderListSize(maxHeaderList))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// invoke calls method on conn and returns the status code.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string) codes.Code {
	return status.Code(conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}))
}

// longMethod returns a method name of about n bytes, distinct for each i.
func longMethod(i, n int) string {
	prefix := fmt.Sprintf("/flood.v1.S%d/M", i)
	return prefix + strings.Repeat("x", n-len(prefix))
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMethodNameFloodRetainsNoMemory floods a proxy with token-less calls
// to made-up methods, thousands with 16 KiB names and a few with 4 MiB
// ones: the server must retain less than 1 MiB for them.
//
// grpc's transport keeps, for as long as a connection is open, buffers as
// large as the largest header list it carried (about 12 MiB on both ends
// after a 4 MiB name, with or without interceptors), so the second
// measurement is taken after the attacker's connection is closed.
func TestMethodNameFloodRetainsNoMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends about 100 MB of method names")
	}
	iss := newIssuer(t)
	v := newValidator(t, iss)
	var hookMax int
	var mu sync.Mutex
	conn := proxy(t, v, grpcjwt.WithRejectHook(func(_ context.Context, method string, _ error) {
		mu.Lock()
		hookMax = max(hookMax, len(method))
		mu.Unlock()
	}))
	ctx := context.Background()
	flood := func(first, n, size int) {
		t.Helper()
		calls := make(chan int)
		errs := make(chan error, 1)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := range calls {
					if code := invoke(ctx, conn, longMethod(i, size)); code != codes.Unauthenticated {
						select {
						case errs <- fmt.Errorf("call with a %d-byte name: %v, want Unauthenticated", size, code):
						default:
						}
					}
				}
			})
		}
		for i := first; i < first+n; i++ {
			calls <- i
		}
		close(calls)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// Warm up: the connection, its buffers and the server's first streams.
	flood(-100, 10, 16<<10)
	before := heapAlloc()

	flood(0, 4200, 16<<10)
	growth := int64(heapAlloc()) - int64(before)
	t.Logf("4200 calls with 16 KiB names: heap %+d KiB", growth>>10)
	if growth > 1<<20 {
		t.Errorf("the server retained %d KiB after 4200 token-less calls with 16 KiB names, want under 1 MiB", growth>>10)
	}

	flood(10000, 8, 4<<20)
	conn.Close()
	// The server releases the connection's buffers once it has seen it
	// close; anything the interceptors kept stays.
	deadline := time.Now().Add(10 * time.Second)
	for {
		growth = int64(heapAlloc()) - int64(before)
		if growth <= 1<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("and 8 calls with 4 MiB names, connection closed: heap %+d KiB", growth>>10)
	if growth > 1<<20 {
		t.Errorf("the server retained %d KiB after the flood, want under 1 MiB", growth>>10)
	}

	mu.Lock()
	defer mu.Unlock()
	if hookMax > 300 {
		t.Errorf("the reject hook got a method name of %d bytes, want it cut", hookMax)
	}
}

// TestDottedMethodNameIsCheap sends a 4 MiB method name made of dots, the
// worst case of a protobuf registry lookup by prefix (quadratic in the
// name's length): the call must be refused at once.
func TestDottedMethodNameIsCheap(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	conn := proxy(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "/" + strings.Repeat("a.", 2<<20) + "S/M"
	if c := invoke(ctx, conn, name); c != codes.Unauthenticated {
		t.Fatalf("call: %v, want Unauthenticated", c)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRejectionLogIsBounded: a rejected token on a call with a 1 MiB
// method name logs one short line at Debug, and the reject hook gets the
// name cut.
func TestRejectionLogIsBounded(t *testing.T) {
	iss := newIssuer(t)
	var logs syncBuffer
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	type rejection struct {
		method string
		err    error
	}
	seen := make(chan rejection, 1)
	conn := proxy(t, v, grpcjwt.WithRejectHook(func(_ context.Context, method string, err error) {
		seen <- rejection{method, err}
	}))
	name := longMethod(1, 1<<20)
	tok := iss.Token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	if c := invoke(ctx, conn, name); c != codes.Unauthenticated {
		t.Fatalf("call: %v, want Unauthenticated", c)
	}
	r := <-seen
	if !errors.Is(r.err, grpcjwt.ErrTokenExpired) {
		t.Errorf("hook saw %v, want ErrTokenExpired", r.err)
	}
	if len(r.method) > 300 || !strings.HasPrefix(name, strings.TrimSuffix(r.method, "…")) {
		t.Errorf("hook saw a method name of %d bytes, want the name cut to at most 300", len(r.method))
	}
	var line string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "token rejected") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no rejection logged; logs:\n%.2000s", logs.String())
	}
	if len(line) > 2048 || !strings.Contains(line, "/flood.v1.S1/Mxxx") {
		t.Errorf("rejection log line of %d bytes, want the method name in it cut to keep it under 2 KiB", len(line))
	}
	if strings.Contains(line, tok) {
		t.Error("the log line contains the token")
	}
}

// TestTokenErrorDetailIsBounded: whatever a token carries, the error a
// server logs or hands to its reject hook stays short.
func TestTokenErrorDetailIsBounded(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	long := strings.Repeat("é", 4<<10) // multi-byte, so that a cut shows
	many := make([]string, 100)
	for i := range many {
		many[i] = long
	}
	// raw builds a token whose signature is never reached.
	raw := func(header map[string]any) string {
		return b64(mustJSON(t, header)) + "." + b64(mustJSON(t, map[string]any{"iss": iss.URL, "aud": iss.Audience, "exp": time.Now().Add(time.Hour).Unix()})) + ".c2ln"
	}
	for name, tok := range map[string]string{
		"alg":           raw(map[string]any{"alg": long}),
		"typ":           raw(map[string]any{"alg": "RS256", "typ": long}),
		"unknown kid":   iss.Token(nil, grpcjwttest.WithHeader("kid", long)),
		"iss":           iss.Token(map[string]any{"iss": long}),
		"aud":           iss.Token(map[string]any{"aud": long}),
		"aud array":     iss.Token(map[string]any{"aud": many}),
		"claim type":    iss.Token(map[string]any{"sub": json.Number(strings.Repeat("9", 30<<10))}),
		"exp as string": iss.Token(map[string]any{"exp": long}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tok)
			if err == nil {
				t.Fatal("accepted")
			}
			var te *grpcjwt.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("%T %v, want a *TokenError", err, err)
			}
			if len(err.Error()) > 700 || len(te.Detail) > 520 {
				t.Errorf("error of %d bytes (detail %d): %.200s…", len(err.Error()), len(te.Detail), err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error is not valid UTF-8: %.200q", err)
			}
		})
	}
}

// TestWrappedStatusSendsOnlyItsOwnMessage: an authorizer that wraps a
// status error with server-side context sends the status, and the wrapping
// text stays on the server.
func TestWrappedStatusSendsOnlyItsOwnMessage(t *testing.T) {
	inner := status.Error(codes.FailedPrecondition, "tenant suspended")
	wrapped := fmt.Errorf("org check for db row 42: %w", inner)
	s := grpcjwt.Status(wrapped)
	if s.Code() != codes.FailedPrecondition || s.Message() != "tenant suspended" {
		t.Fatalf("Status(wrapped) = %v %q, want FailedPrecondition %q", s.Code(), s.Message(), "tenant suspended")
	}
}
