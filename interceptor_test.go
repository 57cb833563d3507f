package grpcjwt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// greeter echoes the subject it sees, so tests can tell that the claims
// reached the handler.
type greeter struct {
	greeterv1.UnimplementedGreeterServer
}

func subject(ctx context.Context) string {
	if c, ok := grpcjwt.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return ""
}

func (greeter) SayHello(ctx context.Context, r *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
	return &greeterv1.SayHelloResponse{Message: "Hello, " + r.GetName(), Subject: subject(ctx)}, nil
}

func (greeter) SayHelloStream(r *greeterv1.SayHelloStreamRequest, s grpc.ServerStreamingServer[greeterv1.SayHelloStreamResponse]) error {
	for i := range r.GetCount() {
		if err := s.Send(&greeterv1.SayHelloStreamResponse{Message: "Hello, " + r.GetName(), Index: i, Subject: subject(s.Context())}); err != nil {
			return err
		}
	}
	return nil
}

func (greeter) Chat(s grpc.BidiStreamingServer[greeterv1.ChatRequest, greeterv1.ChatResponse]) error {
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&greeterv1.ChatResponse{Message: m.GetMessage(), Subject: subject(s.Context())}); err != nil {
			return err
		}
	}
}

func (greeter) Info(ctx context.Context, _ *greeterv1.InfoRequest) (*greeterv1.InfoResponse, error) {
	_, ok := grpcjwt.ClaimsFromContext(ctx)
	return &greeterv1.InfoResponse{ServerName: "test", Authenticated: ok, Subject: subject(ctx)}, nil
}

// serve starts a greeter on loopback behind srvOpts and returns a client.
func serve(t testing.TB, svc greeterv1.GreeterServer, srvOpts ...grpc.ServerOption) greeterv1.GreeterClient {
	t.Helper()
	srv := grpc.NewServer(srvOpts...)
	greeterv1.RegisterGreeterServer(srv, svc)
	return greeterv1.NewGreeterClient(listen(t, srv))
}

// listen serves srv on loopback until the test ends, and returns a client
// connection to it.
func listen(t testing.TB, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// protected starts a greeter behind both interceptors with opts.
func protected(t testing.TB, v *grpcjwt.Validator, opts ...grpcjwt.Option) greeterv1.GreeterClient {
	p := policyOf(t, v, opts...)
	return serve(t, greeter{},
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
}

// withAuth returns a context whose outgoing metadata has each value as an
// "authorization" entry.
func withAuth(values ...string) context.Context {
	ctx := context.Background()
	for _, v := range values {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}

// call makes one RPC of the given kind and returns the subject the handler
// saw.
type call func(ctx context.Context, c greeterv1.GreeterClient) (string, error)

var calls = map[string]call{
	"unary": func(ctx context.Context, c greeterv1.GreeterClient) (string, error) {
		r, err := c.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "x"})
		return r.GetSubject(), err
	},
	"server-stream": func(ctx context.Context, c greeterv1.GreeterClient) (string, error) {
		s, err := c.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{Name: "x", Count: 3})
		if err != nil {
			return "", err
		}
		var sub string
		n := 0
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", err
			}
			sub = r.GetSubject()
			n++
		}
		if n != 3 {
			return "", errors.New("stream ended early")
		}
		return sub, nil
	},
	"bidi": func(ctx context.Context, c greeterv1.GreeterClient) (string, error) {
		s, err := c.Chat(ctx)
		if err != nil {
			return "", err
		}
		if err := s.Send(&greeterv1.ChatRequest{Message: "hi"}); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		r, err := s.Recv()
		if err != nil {
			return "", err
		}
		s.CloseSend()
		return r.GetSubject(), nil
	},
}

// wantStatus asserts err is a status with code, message and an ErrorInfo.
func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	s, ok := status.FromError(err)
	if !ok || s.Code() != code || s.Message() != msg {
		t.Fatalf("err = %v, want %v %q", err, code, msg)
	}
	for _, d := range s.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetDomain() != grpcjwt.ErrorDomain || info.GetMetadata()["code"] != msg || info.GetReason() == "" {
				t.Errorf("ErrorInfo = %v", info)
			}
			return
		}
	}
	t.Errorf("status %v has no ErrorInfo detail", s)
}

func TestInterceptors(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	client := protected(t, v)
	good := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"})

	failures := []struct {
		name string
		ctx  context.Context
		code codes.Code
		msg  string
	}{
		{"no metadata", withAuth(), codes.Unauthenticated, grpcjwt.CodeHeaderMissing},
		{"empty value", withAuth(""), codes.Unauthenticated, grpcjwt.CodeHeaderMissing},
		{"two values", withAuth("Bearer "+good, "Bearer "+good), codes.Unauthenticated, grpcjwt.CodeInvalidFormat},
		{"scheme only", withAuth("Bearer"), codes.Unauthenticated, grpcjwt.CodeInvalidFormat},
		{"three fields", withAuth("Bearer " + good + " extra"), codes.Unauthenticated, grpcjwt.CodeInvalidFormat},
		{"only spaces", withAuth("   "), codes.Unauthenticated, grpcjwt.CodeInvalidFormat},
		{"Basic", withAuth("Basic dXNlcjpwYXNz"), codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported},
		{"Token scheme", withAuth("Token " + good), codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported},
		{"garbage token", withAuth("Bearer not.a.jwt"), codes.Unauthenticated, grpcjwt.CodeInvalidToken},
		{"expired", withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:read greet:write", "exp": time.Now().Add(-time.Hour).Unix()})), codes.Unauthenticated, grpcjwt.CodeInvalidToken},
		{"other audience", withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:read greet:write", "aud": "https://other"})), codes.Unauthenticated, grpcjwt.CodeInvalidToken},
		{"missing scope", withAuth("Bearer " + iss.Token(map[string]any{"scope": "greet:readonly"})), codes.PermissionDenied, grpcjwt.CodeInsufficientScope},
	}
	for kind, do := range calls {
		t.Run(kind, func(t *testing.T) {
			for _, scheme := range []string{"Bearer ", "bearer ", "BEARER  "} {
				sub, err := do(withAuth(scheme+good), client)
				if err != nil {
					t.Fatalf("%q: %v", scheme, err)
				}
				if sub != "alice" {
					t.Errorf("handler saw subject %q, want alice", sub)
				}
			}
			for _, f := range failures {
				t.Run(f.name, func(t *testing.T) {
					_, err := do(f.ctx, client)
					if f.name == "missing scope" && kind == "server-stream" {
						// SayHelloStream requires no scope in testgreeter.proto.
						if err != nil {
							t.Fatalf("SayHelloStream needs no scope, got %v", err)
						}
						return
					}
					wantStatus(t, err, f.code, f.msg)
				})
			}
		})
	}
}

func TestRejectHook(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	type rejection struct {
		method string
		err    error
	}
	seen := make(chan rejection, 10)
	client := protected(t, v, grpcjwt.WithRejectHook(func(_ context.Context, method string, err error) {
		seen <- rejection{method, err}
	}))
	for _, tc := range []struct {
		auth  []string
		cause error
		text  string
	}{
		{nil, grpcjwt.ErrHeaderMissing, ""},
		{[]string{"Basic x"}, grpcjwt.ErrSchemeNotSupported, ""},
		{[]string{"Bearer " + iss.Token(map[string]any{"scope": "greet:read", "exp": time.Now().Add(-time.Hour).Unix()})}, grpcjwt.ErrTokenExpired, "expired"},
		{[]string{"Bearer " + iss.Token(map[string]any{"scope": "greet:write"})}, grpcjwt.ErrInsufficientScope, `"greet:read"`},
	} {
		if _, err := calls["unary"](withAuth(tc.auth...), client); err == nil {
			t.Fatal("call succeeded")
		}
		r := <-seen
		if r.method != mSayHello || !errors.Is(r.err, tc.cause) || !strings.Contains(r.err.Error(), tc.text) {
			t.Errorf("hook saw %s %v, want %v containing %q", r.method, r.err, tc.cause, tc.text)
		}
	}
	if _, err := calls["unary"](withAuth("Bearer "+iss.Token(map[string]any{"scope": "greet:read"})), client); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-seen:
		t.Errorf("hook called for an accepted call: %v", r.err)
	default:
	}
}

// policyOf builds the policy of v and opts, failing the test if it cannot.
func policyOf(t testing.TB, v *grpcjwt.Validator, opts ...grpcjwt.Option) *grpcjwt.Policy {
	t.Helper()
	p, err := grpcjwt.NewPolicy(v, opts...)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	return p
}

// auditOf audits srv under the policy of opts, with a validator whose
// issuer asserts organizations by Logto's claim and audience prefix.
func auditOf(t testing.TB, srv grpcjwt.ServiceInfoProvider, opts ...grpcjwt.Option) ([]grpcjwt.MethodRule, error) {
	t.Helper()
	v := newValidator(t, newIssuer(t), func(c *grpcjwt.Config) {
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim
		c.AudiencePrefixes = []string{grpcjwt.DefaultOrganizationAudiencePrefix}
	})
	rules, err := policyOf(t, v, opts...).Audit(srv)
	return rules, withoutArchiveProject(err)
}

// withoutArchiveProject drops from Audit's err what it says of the test
// .proto's ArchiveProject, whose rule names an issuer no test trusts
// (TestOrganizationRuleIssuers calls it to see it refused).
func withoutArchiveProject(err error) error {
	if err == nil {
		return nil
	}
	var kept []error
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(line, "/tenant.v1.Projects/ArchiveProject:") {
			kept = append(kept, errors.New(line))
		}
	}
	return errors.Join(kept...)
}
