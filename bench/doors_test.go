package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// door is one of grpcjwt's doors around a handler, and the same handler
// unprotected, each as one call of SayHello (scope greet:read, from its
// .proto option) with the benchmark's RS256 token.
type door struct {
	name string
	// protected makes one call through the door, and bare the same call
	// of the handler alone. With check, each returns an error if the call
	// failed, or if the handler saw claims where it should not or none
	// where it should; the timed calls do not check.
	protected, bare func(check bool) error
}

// newDoors returns the doors of BenchmarkDoors, deciding by policy, with
// token on every call (the unprotected handlers get it too, and ignore it).
//
//   - grpc: the gRPC adapter (Policy.UnaryServerInterceptor), called with
//     the context grpc-go would hand it (as in BenchmarkPolicy), against
//     the handler called with that context;
//   - http: Policy.HTTPHandler around a handler that reads the claims and
//     answers 204, against that handler; each call with a new
//     httptest.ResponseRecorder and one request built beforehand;
//   - connect: the greeter served by connect-go behind the Connect door
//     (the grpcjwtconnect middleware in front of a server with its
//     interceptor: [ConnectHandler]) against the same server without
//     them; each call a Connect unary call (POST, application/proto) with a
//     new recorder and a request built beforehand, whose body is rewound.
//
// The handlers are the same on both sides, and read the claims on both.
func newDoors(policy *grpcjwt.Policy, token string) []door {
	method := greeterv1.Greeter_SayHello_FullMethodName
	var doors []door

	ctx := CallContext(method, token)
	info := &grpc.UnaryServerInfo{FullMethod: method}
	icpt := policy.UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, _ := grpcjwt.ClaimsFromContext(ctx)
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	doors = append(doors, door{
		name: "grpc",
		protected: func(check bool) error {
			c, err := icpt(ctx, req, info, handler)
			if check && err == nil && c.(*grpcjwt.Claims) == nil {
				return errNoClaims
			}
			return err
		},
		bare: func(check bool) error {
			c, err := handler(ctx, req)
			if check && c.(*grpcjwt.Claims) != nil {
				return errUnexpectedClaims
			}
			return err
		},
	})

	var seen *grpcjwt.Claims
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = grpcjwt.ClaimsFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func(h http.Handler, protected bool) func(bool) error {
		r := httptest.NewRequest(http.MethodGet, "http://bench.local/v1/reports", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return func(check bool) error {
			seen = nil
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !check {
				return nil
			}
			return answered(w.Code, http.StatusNoContent, w.Body.Bytes(), protected, seen != nil)
		}
	}
	doors = append(doors, door{
		name:      "http",
		protected: serve(policy.HTTPHandler(method, bare), true),
		bare:      serve(bare, false),
	})

	payload, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	call := func(h http.Handler, protected bool) func(bool) error {
		body := new(rewoundBody)
		r := httptest.NewRequest(http.MethodPost, "http://bench.local"+method, nil)
		r.Header.Set("Content-Type", "application/proto")
		r.Header.Set("Authorization", "Bearer "+token)
		r.Body, r.ContentLength = body, int64(len(payload))
		return func(check bool) error {
			body.r.Reset(payload)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !check {
				return nil
			}
			var resp greeterv1.SayHelloResponse
			if w.Code == http.StatusOK {
				if err := proto.Unmarshal(w.Body.Bytes(), &resp); err != nil {
					return err
				}
			}
			return answered(w.Code, http.StatusOK, w.Body.Bytes(), protected, resp.GetSubject() == Subject)
		}
	}
	doors = append(doors, door{
		name:      "connect",
		protected: call(ConnectHandler(policy), true),
		bare:      call(ConnectHandler(nil), false),
	})
	return doors
}

// answered returns an error unless an HTTP call was answered with the
// status code want and its handler saw claims (claims) if and only if it
// was protected.
func answered(code, want int, body []byte, protected, claims bool) error {
	switch {
	case code != want:
		return fmt.Errorf("status %d, want %d: %s", code, want, body)
	case protected && !claims:
		return errNoClaims
	case !protected && claims:
		return errUnexpectedClaims
	}
	return nil
}

// errUnexpectedClaims is an unprotected handler's finding claims.
var errUnexpectedClaims = errors.New("handler: claims in the context of an unprotected call")

// rewoundBody is a request body read again on every call. Like the body
// of a request off the wire, it is only an io.ReadCloser: a bytes.Reader's
// WriteTo would let Connect copy it faster unprotected than through the
// door's guard, which reads it as the server's body is read.
type rewoundBody struct{ r bytes.Reader }

func (b *rewoundBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (*rewoundBody) Close() error                 { return nil }

// BenchmarkDoors prices each of grpcjwt's doors on a cache hit (gRPC,
// net/http, Connect: see newDoors), RS256, decided by BenchmarkPolicy's
// policy (every feature compiled in, none used), against the same handler
// unprotected. "…/bare" is the unprotected handler alone; "…/door" runs in
// turns with it, about 50µs of each, and reports what the door adds:
// ns-above/op, the median over the rounds of the difference of their times
// per call, and B-above/op and allocs-above/op; x-unprotected is the median
// of their ratio.
func BenchmarkDoors(b *testing.B) {
	f := fixture(b)
	fx := memoize(b, "policy", func() (*policyFixture, error) { return newPolicyFixture(f) })
	for _, d := range newDoors(fx.policy, f.Tokens["RS256"]) {
		b.Run("RS256/"+d.name+"/bare", func(b *testing.B) {
			if err := d.bare(true); err != nil {
				b.Fatal(err)
			}
			benchPaired(b, f.Issuer, func() { _ = d.bare(false) }, nil, false)
		})
		b.Run("RS256/"+d.name+"/door", func(b *testing.B) {
			if err := d.protected(true); err != nil {
				b.Fatalf("refused: %v", err)
			}
			benchAbove(b, f.Issuer, func() { _ = d.protected(false) }, func() { _ = d.bare(false) })
		})
	}
}

// TestDoorsRefuse checks that the doors of BenchmarkDoors refuse a call
// without a token, so that none is cheap for not deciding.
func TestDoorsRefuse(t *testing.T) {
	f := fixture(t)
	fx := memoize(t, "policy", func() (*policyFixture, error) { return newPolicyFixture(f) })
	for _, d := range newDoors(fx.policy, "") {
		if err := d.bare(true); err != nil {
			t.Errorf("%s: the unprotected handler failed: %v", d.name, err)
		}
		if err := d.protected(true); err == nil {
			t.Errorf("%s: a call without a token was admitted", d.name)
		}
	}
	for _, d := range newDoors(fx.policy, f.Tokens["RS256"]) {
		if err := d.protected(true); err != nil {
			t.Errorf("%s: the benchmark token was refused: %v", d.name, err)
		}
	}
}

// benchAbove times op, a call through a door, in turns with base, the same
// call of the handler unprotected, as benchPaired times a benchmark with a
// floor: it reports op's ns/op, B/op and allocs/op, their ratio
// (x-unprotected), and what op costs above base: ns-above/op, the median
// over the rounds of the difference of their times per call, and
// B-above/op and allocs-above/op.
func benchAbove(b *testing.B, iss *grpcjwttest.Issuer, op, base func()) {
	baseBytes, baseAllocs := allocsPerCall(base, callsIn(base, 20*time.Millisecond))
	p := benchPaired(b, iss, op, []floor{{"x-unprotected", base}}, false)
	if len(p.floors) == 0 {
		b.Fatal("the call through the door was over ten times cheaper than the handler alone, and ran alone")
	}
	b.ReportMetric(median(p.total.diffs[0]), "ns-above/op")
	b.ReportMetric(p.bytes-baseBytes, "B-above/op")
	b.ReportMetric(p.allocs-baseAllocs, "allocs-above/op")
}
