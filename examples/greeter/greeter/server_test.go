package greeter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func newValidator(t *testing.T) (*grpcjwt.Validator, *grpcjwttest.Issuer) {
	t.Helper()
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, iss
}

// serve starts srv on loopback and returns a plaintext connection to it.
func serve(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestNewServer(t *testing.T) {
	v, iss := newValidator(t)
	var logs bytes.Buffer
	srv, err := NewServer(v, ServerConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"method=/greeter.v1.Greeter/SayHello access=required scopes=[greet:read] source=proto:method",
		"method=/greeter.v1.Greeter/SayHelloStream access=required scopes=[] source=default",
		"method=/greeter.v1.Greeter/Chat access=required scopes=[greet:write] source=proto:method",
		`method=/greeter.v1.Greeter/GreetOrganization access=required scopes=[greet:read] organization="organization=parent~organizations/{organization} from claim or audience" source=proto:method`,
		"method=/greeter.v1.Greeter/Info access=public scopes=[] source=proto:method",
		"method=/grpc.health.v1.Health/Check access=public scopes=[] source=go:service",
		"method=/grpc.health.v1.Health/Watch access=public scopes=[] source=go:service",
		"method=/grpc.reflection.v1.ServerReflection/ServerReflectionInfo access=public scopes=[] source=go:service",
		"method=/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo access=public scopes=[] source=go:service",
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("the rules logged lack %q; logged:\n%s", line, logs.String())
		}
	}

	conn := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("health without a token", func(t *testing.T) {
		for _, svc := range []string{"", "greeter.v1.Greeter"} {
			r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("Check(%q): %v", svc, err)
			}
			if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("Check(%q) = %v, want SERVING", svc, r.GetStatus())
			}
		}
	})

	t.Run("reflection without a token", func(t *testing.T) {
		s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, svc := range r.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		if !strings.Contains(strings.Join(names, " "), "greeter.v1.Greeter") {
			t.Errorf("reflection lists %q, want greeter.v1.Greeter among them", names)
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("handlers", func(t *testing.T) {
		client := greeterv1.NewGreeterClient(conn)
		creds := grpc.PerRPCCredentials(BearerToken{
			Token:          iss.Token(map[string]any{"sub": "bob", "scope": "greet:read greet:write"}),
			AllowPlaintext: true,
		})
		for _, tc := range []struct {
			count int32
			want  int
		}{{0, 1}, {2, 2}, {MaxStreamCount + 1, MaxStreamCount}} {
			s, err := client.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{Name: "Bob", Count: tc.count}, creds)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				r, err := s.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				if r.GetIndex() != int32(n) || r.GetSubject() != "bob" || r.GetMessage() == "" {
					t.Errorf("message %d = %v", n, r)
				}
			}
			if n != tc.want {
				t.Errorf("SayHelloStream(count %d) sent %d messages, want %d", tc.count, n, tc.want)
			}
		}

		// interval_ms spaces the greetings.
		start := time.Now()
		reply, err := StreamHello(ctx, client, &greeterv1.SayHelloStreamRequest{Name: "Bob", Count: 3, IntervalMs: 50}, creds)
		if err != nil {
			t.Fatal(err)
		}
		if len(reply.Messages) != 3 || time.Since(start) < 100*time.Millisecond {
			t.Errorf("SayHelloStream(count 3, interval_ms 50) sent %d messages in %v, want 3 in at least 100ms", len(reply.Messages), time.Since(start))
		}
		r, err := Invoke(ctx, client, Chat, "", creds)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) != len(chatLines) || r.Messages[0] != `Hello, you said "hi"` || r.Subject != "bob" {
			t.Errorf("Chat replied %q to %q, subject %q", r.Messages, chatLines, r.Subject)
		}

		r, err = Invoke(ctx, client, Hello, "", creds)
		if err != nil {
			t.Fatal(err)
		}
		if r.Messages[0] != "Hello, stranger!" {
			t.Errorf("SayHello with no name replied %q", r.Messages[0])
		}

		// Info is public: the token is not even read.
		info, err := client.Info(ctx, &greeterv1.InfoRequest{}, creds)
		if err != nil {
			t.Fatal(err)
		}
		if info.GetServerName() != serverName || info.GetVersion() == "" || info.GetAuthenticated() || info.GetSubject() != "" {
			t.Errorf("Info = %v", info)
		}
	})
}

func TestNewServerRefusesRuleTypo(t *testing.T) {
	v, _ := newValidator(t)
	_, err := NewServer(v, ServerConfig{Rules: []grpcjwt.Option{
		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHelo", "greet:read"),
	}})
	if err == nil || !strings.Contains(err.Error(), `"/greeter.v1.Greeter/SayHelo"`) {
		t.Fatalf("NewServer with a misspelt method: err = %v, want one naming it", err)
	}
}

func TestBearerToken(t *testing.T) {
	md, err := BearerToken{Token: "abc"}.GetRequestMetadata(context.Background())
	if err != nil || len(md) != 1 || md["authorization"] != "Bearer abc" {
		t.Errorf("GetRequestMetadata = %v, %v", md, err)
	}
	// gRPC refuses credentials that need TLS on a plaintext connection, as
	// it refuses credentials/oauth's TokenSource.
	_, err = grpc.NewClient("127.0.0.1:1",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(BearerToken{Token: "abc"}))
	if err == nil {
		t.Error("NewClient accepted BearerToken without AllowPlaintext on a plaintext connection")
	}
	conn, err := grpc.NewClient("127.0.0.1:1",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(BearerToken{Token: "abc", AllowPlaintext: true}))
	if err != nil {
		t.Fatalf("NewClient refused BearerToken with AllowPlaintext: %v", err)
	}
	conn.Close()
}

func TestParseMethod(t *testing.T) {
	for _, m := range methods {
		got, err := ParseMethod(string(m))
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMethod("SayHello"); err == nil || !strings.Contains(err.Error(), "hello, stream, chat, org, stepup, info") {
		t.Errorf("ParseMethod(SayHello): err = %v, want one listing the methods", err)
	}
}

// TestNewServerRefusesUnmeetableOrganizationRule: a validator whose issuer
// asserts no organization can never meet GreetOrganization's rule, and
// NewServer says so rather than serve a method that refuses every call.
func TestNewServerRefusesUnmeetableOrganizationRule(t *testing.T) {
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	_, err = NewServer(v, ServerConfig{})
	if err == nil || !strings.Contains(err.Error(), "/greeter.v1.Greeter/GreetOrganization: no trusted issuer it accepts asserts organizations") {
		t.Fatalf("NewServer = %v", err)
	}
}
