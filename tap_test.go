package grpcjwt_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// tapped is the test greeter behind the tap handle and the interceptors of
// one policy, counting the calls that reach the interceptors and the
// handler, beside a server of the same policy's interceptors alone.
type tapped struct {
	client greeterv1.GreeterClient // the tapped server's
	plain  greeterv1.GreeterClient // the interceptors-only server's
	addr   string                  // the tapped server's
	rec    *recorder               // the tapped server's observer

	intercepted atomic.Int64 // calls that reached the interceptors
	handled     atomic.Int64 // calls that reached the handler

	mu       sync.Mutex
	rejected []error // what the tapped server's reject hook was told
}

// newTapped serves the tapped and the interceptors-only greeters of the
// policy of opts, each with its own Validator of iss.
func newTapped(t *testing.T, iss *grpcjwttest.Issuer, opts ...grpcjwt.Option) *tapped {
	t.Helper()
	return newTappedConfig(t, iss, func(*grpcjwt.Config) {}, opts...)
}

// newTappedConfig is newTapped with the Validators' Config changed by mod.
func newTappedConfig(t *testing.T, iss *grpcjwttest.Issuer, mod func(*grpcjwt.Config), opts ...grpcjwt.Option) *tapped {
	t.Helper()
	s := &tapped{rec: &recorder{}}
	v := newValidator(t, iss, mod, func(c *grpcjwt.Config) { c.Observer = s.rec })
	p := policyOf(t, v, append(opts, grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		s.mu.Lock()
		s.rejected = append(s.rejected, err)
		s.mu.Unlock()
	}))...)
	outerUnary, outerStream := counting(&s.intercepted)
	innerUnary, innerStream := counting(&s.handled)
	srv := grpc.NewServer(
		grpc.InTapHandle(p.TapHandle()),
		grpc.ChainUnaryInterceptor(outerUnary, p.UnaryServerInterceptor(), innerUnary),
		grpc.ChainStreamInterceptor(outerStream, p.StreamServerInterceptor(), innerStream))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	s.addr = lis.Addr().String()
	s.client = dial(t, s.addr)
	s.plain = protected(t, newValidator(t, iss, mod), opts...)
	return s
}

// counting returns interceptors that count the calls reaching them in n.
func counting(n *atomic.Int64) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			n.Add(1)
			return handler(ctx, req)
		}, func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			n.Add(1)
			return handler(srv, ss)
		}
}

// tally is what the tapped server has counted and observed so far.
type tally struct {
	intercepted, handled int64
	decisions            []grpcjwt.Decision
	validations          []grpcjwt.Validation
	fetches              []string
	rejected             []error
}

func (s *tapped) tally() tally {
	d, v, f := s.rec.snapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	return tally{s.intercepted.Load(), s.handled.Load(), d, v, f, append([]error(nil), s.rejected...)}
}

// since returns what was counted and observed between before and now.
func (s *tapped) since(before tally) tally {
	now := s.tally()
	return tally{
		now.intercepted - before.intercepted, now.handled - before.handled,
		now.decisions[len(before.decisions):], now.validations[len(before.validations):],
		now.fetches[len(before.fetches):], now.rejected[len(before.rejected):],
	}
}

// wantOneDecision asserts that d holds one decision of result, and
// rejected one refusal matching cause (none for ResultOK).
func (d tally) wantOneDecision(t *testing.T, result grpcjwt.Result, cause error) {
	t.Helper()
	want := grpcjwt.Decision{Method: d.method(t), Result: result, Cause: grpcjwt.CauseOf(cause)}
	if len(d.decisions) != 1 || d.decisions[0] != want {
		t.Errorf("decisions %v, want [%v]", d.decisions, want)
	}
	switch {
	case cause == nil && len(d.rejected) != 0:
		t.Errorf("reject hook told %v for an admitted call", d.rejected)
	case cause != nil && (len(d.rejected) != 1 || !errors.Is(d.rejected[0], cause)):
		t.Errorf("reject hook told %v, want one %v", d.rejected, cause)
	}
}

// method returns the method of the decisions in d, which must all be of one.
func (d tally) method(t *testing.T) string {
	t.Helper()
	if len(d.decisions) == 0 {
		return ""
	}
	return d.decisions[0].Method
}

// sameStatus asserts that got, from the tapped server, is what want, from
// the interceptors alone, is: code, message and details.
func sameStatus(t *testing.T, got, want error) {
	t.Helper()
	if g, w := status.Convert(got).Proto(), status.Convert(want).Proto(); !proto.Equal(g, w) {
		t.Errorf("status %v, the interceptors send %v", g, w)
	}
}

// TestTapHandleRefuses: each call the tap handle refuses gets exactly the
// status the interceptors send, for every kind of call, is one decision
// (observed once, told to the reject hook once), and reaches neither the
// interceptors nor the handler.
func TestTapHandleRefuses(t *testing.T) {
	iss := newIssuer(t)
	s := newTapped(t, iss)
	scopes := map[string]any{"sub": "alice", "scope": "greet:read greet:write"}
	with := func(claims map[string]any) map[string]any {
		c := map[string]any{}
		for k, v := range scopes {
			c[k] = v
		}
		for k, v := range claims {
			c[k] = v
		}
		return c
	}
	good := iss.Token(scopes)
	h, p, _ := splitToken(t, iss.Token(with(map[string]any{"sub": "mallory"})))
	_, _, sig := splitToken(t, good)
	other := newIssuer(t)

	for _, f := range []struct {
		name  string
		auth  []string
		code  codes.Code
		msg   string
		cause error
	}{
		{"no metadata", nil, codes.Unauthenticated, grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing},
		{"empty value", []string{""}, codes.Unauthenticated, grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing},
		{"two values", []string{"Bearer " + good, "Bearer " + good}, codes.Unauthenticated, grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat},
		{"scheme only", []string{"Bearer"}, codes.Unauthenticated, grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat},
		{"three fields", []string{"Bearer " + good + " extra"}, codes.Unauthenticated, grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat},
		{"Basic", []string{"Basic dXNlcjpwYXNz"}, codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported, grpcjwt.ErrSchemeNotSupported},
		{"DPoP without WithDPoP", []string{"DPoP " + good}, codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported, grpcjwt.ErrSchemeNotSupported},
		{"garbage token", []string{"Bearer not.a.jwt"}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenMalformed},
		{"expired", []string{"Bearer " + iss.Token(with(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenExpired},
		{"not yet valid", []string{"Bearer " + iss.Token(with(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}))}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenNotYetValid},
		{"other audience", []string{"Bearer " + iss.Token(with(map[string]any{"aud": "https://other"}))}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrAudienceMismatch},
		{"untrusted issuer", []string{"Bearer " + other.Token(scopes)}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrUntrustedIssuer},
		{"bad signature", []string{"Bearer " + h + "." + p + "." + sig}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ErrBadSignature},
	} {
		for kind, do := range calls {
			t.Run(f.name+"/"+kind, func(t *testing.T) {
				before := s.tally()
				_, err := do(withAuth(f.auth...), s.client)
				wantStatus(t, err, f.code, f.msg)
				_, want := do(withAuth(f.auth...), s.plain)
				sameStatus(t, err, want)
				d := s.since(before)
				if d.intercepted != 0 || d.handled != 0 {
					t.Errorf("the refused call reached the interceptors %d times and the handler %d", d.intercepted, d.handled)
				}
				d.wantOneDecision(t, grpcjwt.ResultUnauthenticated, f.cause)
				if m := d.method(t); m != sGreeter+methodOf[kind] {
					t.Errorf("decision for %q", m)
				}
			})
		}
	}
}

// methodOf names the method each of calls calls.
var methodOf = map[string]string{"unary": "SayHello", "server-stream": "SayHelloStream", "bidi": "Chat"}

// TestTapHandleLeaves: what the tap handle cannot settle it lets through,
// and the interceptors decide it, once: a valid token, a public method, an
// optional one without a token; and a valid token that lacks a scope, or
// is bound to a certificate or a DPoP key the call does not prove, which
// the interceptors refuse with the status they always send.
func TestTapHandleLeaves(t *testing.T) {
	iss := newIssuer(t)
	s := newTapped(t, iss)
	good := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"})

	for kind, do := range calls {
		t.Run("valid token/"+kind, func(t *testing.T) {
			before := s.tally()
			sub, err := do(withAuth("Bearer "+good), s.client)
			if err != nil || sub != "alice" {
				t.Fatalf("handler saw %q, err %v; want alice", sub, err)
			}
			d := s.since(before)
			if d.intercepted != 1 || d.handled != 1 {
				t.Errorf("reached the interceptors %d times and the handler %d, want 1 and 1", d.intercepted, d.handled)
			}
			d.wantOneDecision(t, grpcjwt.ResultOK, nil)
			// The tap's validation, and the interceptors' cache hit.
			if len(d.validations) != 2 || !d.validations[1].CacheHit {
				t.Errorf("validations %+v, want the tap's and a cache hit", d.validations)
			}
		})
	}

	for _, auth := range [][]string{nil, {"Bearer not.a.jwt"}, {"Basic x"}} {
		t.Run("public/"+strings.Join(auth, ""), func(t *testing.T) {
			before := s.tally()
			r, err := s.client.Info(withAuth(auth...), &greeterv1.InfoRequest{})
			if err != nil || r.GetAuthenticated() {
				t.Fatalf("Info: %v, authenticated %v; want success without claims", err, r.GetAuthenticated())
			}
			d := s.since(before)
			if d.handled != 1 || len(d.validations) != 0 {
				t.Errorf("handler reached %d times, %d validations; want 1 and none", d.handled, len(d.validations))
			}
		})
	}

	cert := []byte("a client certificate the call does not present")
	for _, l := range []struct {
		name   string
		token  string
		code   codes.Code
		msg    string
		result grpcjwt.Result
		cause  error
	}{
		{"missing scope", iss.Token(map[string]any{"scope": "greet:write"}), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, grpcjwt.ResultPermissionDenied, grpcjwt.ErrInsufficientScope},
		{"certificate-bound", iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithCertificateBinding(cert)), codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ResultUnauthenticated, grpcjwt.ErrNoClientCertificate},
		{"DPoP-bound as bearer", iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")), codes.Unauthenticated, grpcjwt.CodeInvalidToken, grpcjwt.ResultUnauthenticated, grpcjwt.ErrDPoPBoundToken},
	} {
		t.Run(l.name, func(t *testing.T) {
			before := s.tally()
			_, err := calls["unary"](withAuth("Bearer "+l.token), s.client)
			wantStatus(t, err, l.code, l.msg)
			_, want := calls["unary"](withAuth("Bearer "+l.token), s.plain)
			sameStatus(t, err, want)
			d := s.since(before)
			if d.intercepted != 1 || d.handled != 0 {
				t.Errorf("reached the interceptors %d times and the handler %d, want 1 and 0", d.intercepted, d.handled)
			}
			d.wantOneDecision(t, l.result, l.cause)
		})
	}

	t.Run("optional", func(t *testing.T) {
		s := newTapped(t, iss, grpcjwt.WithOptional(mStream))
		before := s.tally()
		if sub, err := calls["server-stream"](withAuth(), s.client); err != nil || sub != "" {
			t.Fatalf("no token: handler saw %q, err %v; want success without claims", sub, err)
		}
		d := s.since(before)
		if d.handled != 1 {
			t.Errorf("handler reached %d times, want 1", d.handled)
		}
		d.wantOneDecision(t, grpcjwt.ResultOK, nil)

		before = s.tally()
		_, err := calls["server-stream"](withAuth("Bearer not.a.jwt"), s.client)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		if d := s.since(before); d.intercepted != 0 {
			t.Errorf("a bad token on an optional method reached the interceptors %d times", d.intercepted)
		}
	})
}

// TestTapHandleUnknownKey: a token whose key the key set lacks passes the
// tap handle while a refresh could bring the key, without the tap starting
// or waiting for it, nor blocking the connection while the interceptors
// wait; once the rate limit forbids a refresh, the tap refuses it as the
// interceptors would.
func TestTapHandleUnknownKey(t *testing.T) {
	iss := newIssuer(t)
	s := newTapped(t, iss)
	claims := map[string]any{"sub": "alice", "scope": "greet:read greet:write"}

	t.Run("rotated", func(t *testing.T) {
		iss.RotateKey("RS256")
		before := s.tally()
		if sub, err := calls["unary"](withAuth("Bearer "+iss.Token(claims)), s.client); err != nil || sub != "alice" {
			t.Fatalf("handler saw %q, err %v; want alice", sub, err)
		}
		d := s.since(before)
		if d.intercepted != 1 {
			t.Errorf("reached the interceptors %d times, want 1", d.intercepted)
		}
		d.wantOneDecision(t, grpcjwt.ResultOK, nil)
		// The interceptors' validation alone: the tap's, undecided, is not one.
		if len(d.validations) != 1 || d.validations[0].Cause != grpcjwt.CauseNone || d.validations[0].CacheHit {
			t.Errorf("validations %+v, want the interceptors' miss alone", d.validations)
		}
		if len(d.fetches) != 1 || d.fetches[0] != "unknown_kid ok" {
			t.Errorf("fetches %v, want the interceptors' one", d.fetches)
		}
	})

	t.Run("rate-limited", func(t *testing.T) {
		before := s.tally()
		tok := iss.Token(claims, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256")))
		_, err := calls["unary"](withAuth("Bearer "+tok), s.client)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		d := s.since(before)
		if d.intercepted != 0 || len(d.fetches) != 0 {
			t.Errorf("reached the interceptors %d times, fetched %v; want neither", d.intercepted, d.fetches)
		}
		d.wantOneDecision(t, grpcjwt.ResultUnauthenticated, grpcjwt.ErrUnknownKey)
	})

	t.Run("hanging refresh", func(t *testing.T) {
		s := newTapped(t, iss) // no unknown-kid refresh yet: the first is free
		iss.SetJWKSMode(grpcjwttest.Hang)
		t.Cleanup(func() { iss.SetJWKSMode(grpcjwttest.Serve) })
		ctx, cancel := context.WithCancel(withAuth("Bearer " + iss.Token(claims, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256")))))
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := calls["unary"](ctx, s.client)
			done <- err
		}()
		// The tap let it through: the interceptors wait for the refresh.
		waitFor(t, func() bool { return s.intercepted.Load() == 1 })
		// The connection's reader is free: another call on it goes through.
		if sub, err := calls["unary"](withAuth("Bearer "+iss.Token(claims)), s.client); err != nil || sub != "alice" {
			t.Fatalf("a call beside the waiting one: handler saw %q, err %v; want alice", sub, err)
		}
		select {
		case err := <-done:
			t.Fatalf("the call with the unknown kid ended before its refresh: %v", err)
		default:
		}
		cancel()
		if err := <-done; status.Code(err) != codes.Canceled {
			t.Errorf("the waiting call, cancelled: %v", err)
		}
	})
}

// TestTapHandleKeysUnavailable: while the issuer's keys have not arrived
// (a background start), the tap handle refuses tokens as the interceptors
// do, with the retryable Unavailable, without waiting.
func TestTapHandleKeysUnavailable(t *testing.T) {
	iss := newIssuer(t)
	iss.SetDiscoveryMode(grpcjwttest.Fail)
	s := newTappedConfig(t, iss, func(c *grpcjwt.Config) { c.BackgroundStart, c.StartRetry = true, time.Hour })
	auth := withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:read"}))
	before := s.tally()
	_, err := calls["unary"](auth, s.client)
	wantStatus(t, err, codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable)
	_, want := calls["unary"](auth, s.plain)
	sameStatus(t, err, want)
	d := s.since(before)
	if d.intercepted != 0 {
		t.Errorf("reached the interceptors %d times", d.intercepted)
	}
	d.wantOneDecision(t, grpcjwt.ResultUnavailable, grpcjwt.ErrKeysUnavailable)
}

// TestTapHandleWire: what the tap handle's refusal is on the wire, read by
// a plain HTTP/2 client that sends the request's headers and no message: a
// trailers-only response (HTTP 200, the status in the headers, no body,
// no trailers) carrying the status and its details in
// grpc-status-details-bin, sent before any of the request is read.
func TestTapHandleWire(t *testing.T) {
	iss := newIssuer(t)
	s := newTapped(t, iss)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	defer tr.CloseIdleConnections()
	body, w := io.Pipe()
	defer w.Close() // the request's message is never sent
	req, err := http.NewRequest(http.MethodPost, "http://"+s.addr+mSayHello, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	req.Header.Set("authorization", "Bearer not.a.jwt")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != 0 || len(resp.Trailer) != 0 {
		t.Errorf("after the headers: body %q (%v), trailers %v; want none", rest, err, resp.Trailer)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("grpc-status") != "16" || resp.Header.Get("grpc-message") != grpcjwt.CodeInvalidToken {
		t.Errorf("response %d, headers %v", resp.StatusCode, resp.Header)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(resp.Header.Get("grpc-status-details-bin"), "="))
	if err != nil {
		t.Fatal(err)
	}
	var got spb.Status
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if want := grpcjwt.Status(grpcjwt.ErrInvalidToken).Proto(); !proto.Equal(&got, want) {
		t.Errorf("grpc-status-details-bin holds %v, want %v", &got, want)
	}
	if n := s.intercepted.Load(); n != 0 {
		t.Errorf("the call reached the interceptors %d times", n)
	}
}

// Refuse calls without a valid token before grpc-go reads them: the tap
// handle beside the interceptors, which decide every call it lets through
// (here, a valid token without the scope SayHello needs).
func ExamplePolicy_TapHandle() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithRejectHook(func(_ context.Context, method string, err error) {
		fmt.Println("refused", method, grpcjwt.CauseOf(err))
	}))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.InTapHandle(policy.TapHandle()),
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
	)
	greeterv1.RegisterGreeterServer(srv, greeter{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)
	for _, c := range []struct{ name, token string }{
		{"no token", ""},
		{"garbage", "not.a.jwt"},
		{"no scope", iss.Token(map[string]any{"sub": "alice"})},
		{"valid", iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})},
	} {
		ctx := context.Background()
		if c.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
		}
		r, err := client.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "x"})
		if err != nil {
			fmt.Printf("%s: %v %s\n", c.name, status.Code(err), status.Convert(err).Message())
			continue
		}
		fmt.Printf("%s: %s\n", c.name, r.GetSubject())
	}
	// Output:
	// refused /greeter.v1.Greeter/SayHello header_missing
	// no token: Unauthenticated auth.authorization_header_missing
	// refused /greeter.v1.Greeter/SayHello malformed
	// garbage: Unauthenticated invalid_token
	// refused /greeter.v1.Greeter/SayHello insufficient_scope
	// no scope: PermissionDenied insufficient_scope
	// valid: alice
}

// TestTapHandleNamesResourceMetadata: a refusal by the tap handle is the
// status the policy sends ([grpcjwt.Policy.Status]), the
// resource_metadata URL included, as the interceptors send it.
func TestTapHandleNamesResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	s := newTapped(t, iss, grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}))
	for _, auth := range [][]string{nil, {"Bearer not.a.jwt"}} {
		before := s.tally()
		_, err := calls["unary"](withAuth(auth...), s.client)
		if d := s.since(before); d.intercepted != 0 {
			t.Fatalf("%q: the tap handle let the call through", auth)
		}
		if got := errorInfo(t, status.Convert(err)).GetMetadata()[grpcjwt.ResourceMetadataKey]; got != testMetadataURL {
			t.Errorf("%q: resource_metadata %q, want %q", auth, got, testMetadataURL)
		}
		_, want := calls["unary"](withAuth(auth...), s.plain)
		sameStatus(t, err, want)
	}
}
