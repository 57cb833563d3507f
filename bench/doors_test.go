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

// door is one of grpcjwt's doors around a handler, with the same handler
// unprotected, as calls of SayHello (scope greet:read, from its .proto
// option) with the benchmark's RS256 token.
type door struct {
	name  string
	bare  func(check bool) error // a call of the handler alone
	sides []side                 // calls of the handler with more in front of it
}

// side is a call of a door's handler with something in front of it.
type side struct {
	name string
	// call makes one call. With check, it returns an error if the call
	// failed, or if the handler saw claims where it should not or none
	// where it should; the timed calls do not check.
	call func(check bool) error
	// decides is whether it asks the policy (and must refuse a call
	// without a token), rather than only hand claims on.
	decides bool
}

// newDoors returns the doors of BenchmarkDoors, deciding by policy, with
// token on every call (the unprotected handlers get it too, and ignore it).
// Each door's sides are "claims", the handler behind a wrapper that puts
// the token's claims in the call's context (and, over HTTP, copies the
// request to carry it) and decides nothing: the least a door must add
// besides its decision; then "door", the door itself:
//
//   - grpc: the gRPC adapter (Policy.UnaryServerInterceptor), called with
//     the context grpc-go would hand it (as in BenchmarkPolicy), in front
//     of a handler called with that context;
//   - http: Policy.HTTPHandler in front of a handler that reads the claims
//     and answers 204; each call with a new httptest.ResponseRecorder and
//     one request built beforehand;
//   - connect: the Connect door (the grpcjwtconnect middleware in front of
//     a server with its interceptor: [ConnectHandler]) in front of the
//     greeter served by connect-go; each call a Connect unary call (POST,
//     application/proto) with a new recorder and a request built
//     beforehand, whose body is rewound. Its side "httpdoor" is
//     Policy.HTTPHandler in front of the unprotected server: the policy's
//     decision and the claims in the context, and nothing of what the
//     Connect door adds (refusals in the client's protocol, the
//     interceptor).
//
// The handlers are the same on every side, and read the claims on every
// side.
func newDoors(policy *grpcjwt.Policy, token string) []door {
	method := greeterv1.Greeter_SayHello_FullMethodName
	claims, _ := policy.Check(context.Background(), &grpcjwt.Call{Method: method, Authorization: []string{"Bearer " + token}}, nil)
	var doors []door

	ctx := CallContext(method, token)
	info := &grpc.UnaryServerInfo{FullMethod: method}
	icpt := policy.UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, _ := grpcjwt.ClaimsFromContext(ctx)
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	unary := func(call func() (any, error), want bool) func(bool) error {
		return func(check bool) error {
			c, err := call()
			if check && err == nil {
				return saw(want, c.(*grpcjwt.Claims) != nil)
			}
			return err
		}
	}
	doors = append(doors, door{
		name: "grpc",
		bare: unary(func() (any, error) { return handler(ctx, req) }, false),
		sides: []side{
			{"claims", unary(func() (any, error) { return handler(grpcjwt.ContextWithClaims(ctx, claims), req) }, claims != nil), false},
			{"door", unary(func() (any, error) { return icpt(ctx, req, info, handler) }, true), true},
		},
	})

	// withClaims is h behind a wrapper that puts the claims in the
	// request's context, as a door must, and decides nothing.
	withClaims := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(grpcjwt.ContextWithClaims(r.Context(), claims)))
		})
	}

	var seen *grpcjwt.Claims
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = grpcjwt.ClaimsFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func(h http.Handler, want bool) func(bool) error {
		r := httptest.NewRequest(http.MethodGet, "http://bench.local/v1/reports", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return func(check bool) error {
			seen = nil
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !check {
				return nil
			}
			return answered(w.Code, http.StatusNoContent, w.Body.Bytes(), want, seen != nil)
		}
	}
	doors = append(doors, door{
		name: "http",
		bare: serve(bare, false),
		sides: []side{
			{"claims", serve(withClaims(bare), claims != nil), false},
			{"door", serve(policy.HTTPHandler(method, bare), true), true},
		},
	})

	payload, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	call := func(h http.Handler, want bool) func(bool) error {
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
			return answered(w.Code, http.StatusOK, w.Body.Bytes(), want, resp.GetSubject() == Subject)
		}
	}
	unprotected := ConnectHandler(nil)
	doors = append(doors, door{
		name: "connect",
		bare: call(unprotected, false),
		sides: []side{
			{"claims", call(withClaims(unprotected), claims != nil), false},
			{"httpdoor", call(policy.HTTPHandler(method, unprotected), true), true},
			{"door", call(ConnectHandler(policy), true), true},
		},
	})
	return doors
}

// answered returns an error unless an HTTP call was answered with the
// status code want, or if its handler saw claims (claims) where it should
// not or none where it should (wantClaims).
func answered(code, want int, body []byte, wantClaims, claims bool) error {
	if code != want {
		return fmt.Errorf("status %d, want %d: %s", code, want, body)
	}
	return saw(wantClaims, claims)
}

// saw returns an error if a handler saw claims (claims) where it should
// not or none where it should (want).
func saw(want, claims bool) error {
	switch {
	case want && !claims:
		return errNoClaims
	case !want && claims:
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
// unprotected. "…/bare" is the unprotected handler alone; every other row
// (a door's side: "claims", "door"...) runs in turns with it, about 50µs
// of each, and reports what it adds: ns-above/op, the median over the
// rounds of the difference of their times per call, and B-above/op and
// allocs-above/op; x-unprotected is the median of their ratio.
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
		for _, s := range d.sides {
			b.Run("RS256/"+d.name+"/"+s.name, func(b *testing.B) {
				if err := s.call(true); err != nil {
					b.Fatal(err)
				}
				benchAbove(b, f.Issuer, func() { _ = s.call(false) }, func() { _ = d.bare(false) })
			})
		}
	}
}

// TestDoorsRefuse checks that every side of the doors of BenchmarkDoors
// that decides refuses a call without a token, so that none is cheap for
// not deciding, and that every call reaches its handler as it should.
func TestDoorsRefuse(t *testing.T) {
	f := fixture(t)
	fx := memoize(t, "policy", func() (*policyFixture, error) { return newPolicyFixture(f) })
	for _, d := range newDoors(fx.policy, "") {
		for _, s := range d.sides {
			if err := s.call(true); s.decides && err == nil {
				t.Errorf("%s/%s: a call without a token was admitted", d.name, s.name)
			}
		}
	}
	for _, d := range newDoors(fx.policy, f.Tokens["RS256"]) {
		if err := d.bare(true); err != nil {
			t.Errorf("%s/bare: %v", d.name, err)
		}
		for _, s := range d.sides {
			if err := s.call(true); err != nil {
				t.Errorf("%s/%s: %v", d.name, s.name, err)
			}
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
