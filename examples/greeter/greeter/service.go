package greeter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// serverName is what Info reports as the server's name.
const serverName = "greeter-example"

// MaxStreamCount bounds the number of greetings SayHelloStream sends.
const MaxStreamCount = 100

// maxStreamIntervalMs bounds the time between SayHelloStream's greetings.
const maxStreamIntervalMs = 1000

// Service implements greeterv1.GreeterServer. Every reply carries the
// subject of the token the interceptors verified, read with
// [grpcjwt.ClaimsFromContext], so a caller can see what the server saw.
// The zero value is ready to use.
type Service struct {
	greeterv1.UnimplementedGreeterServer
}

// SayHello greets r's name.
func (Service) SayHello(ctx context.Context, r *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
	return &greeterv1.SayHelloResponse{
		Message: fmt.Sprintf("Hello, %s!", nameOf(r.GetName())),
		Subject: subject(ctx),
	}, nil
}

// GreetOrganization greets the organization r names. The interceptors have
// checked, from the method's .proto option, that the token is for it.
func (Service) GreetOrganization(ctx context.Context, r *greeterv1.GreetOrganizationRequest) (*greeterv1.GreetOrganizationResponse, error) {
	return &greeterv1.GreetOrganizationResponse{
		Message: fmt.Sprintf("Hello, members of %s!", nameOf(r.GetParent())),
		Subject: subject(ctx),
	}, nil
}

// SayHelloStepUp greets r's name. The interceptors have checked, from the
// method's .proto option, that the token comes from a recent multi-factor
// login.
func (Service) SayHelloStepUp(ctx context.Context, r *greeterv1.SayHelloStepUpRequest) (*greeterv1.SayHelloStepUpResponse, error) {
	return &greeterv1.SayHelloStepUpResponse{
		Message: fmt.Sprintf("Hello, %s, freshly logged in!", nameOf(r.GetName())),
		Subject: subject(ctx),
	}, nil
}

// SayHelloStream sends r's greetings, as [SendGreetings] does. It stops
// when the stream's context ends: the caller cancelled, or the
// interceptors ended the stream because its token expired.
func (Service) SayHelloStream(r *greeterv1.SayHelloStreamRequest, s grpc.ServerStreamingServer[greeterv1.SayHelloStreamResponse]) error {
	err := SendGreetings(s.Context(), r, s.Send)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return err
}

// SendGreetings sends r's count greetings with send, at least 1 and at
// most [MaxStreamCount], interval_ms apart, at most a second, each with
// the subject of the token in ctx. It returns ctx's error when ctx ends
// first. It is SayHelloStream's body on every server: [Service] for
// grpc-go, and the Connect service of package greeterhttp.
func SendGreetings(ctx context.Context, r *greeterv1.SayHelloStreamRequest, send func(*greeterv1.SayHelloStreamResponse) error) error {
	n := min(max(r.GetCount(), 1), MaxStreamCount)
	interval := time.Duration(min(max(r.GetIntervalMs(), 0), maxStreamIntervalMs)) * time.Millisecond
	sub := subject(ctx)
	for i := int32(1); i <= n; i++ {
		if i > 1 && interval > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		err := send(&greeterv1.SayHelloStreamResponse{
			Message: fmt.Sprintf("Hello #%d, %s!", i, nameOf(r.GetName())),
			Index:   i,
			Subject: sub,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Chat answers every message it receives until the caller closes its side
// of the stream, as [Converse] does.
func (Service) Chat(s grpc.BidiStreamingServer[greeterv1.ChatRequest, greeterv1.ChatResponse]) error {
	return Converse(s.Context(), s.Recv, s.Send)
}

// Converse answers every message receive returns with send, each answer
// with the subject of the token in ctx, until receive returns io.EOF (the
// caller closed its side), then returns nil; any other error of receive
// or send ends it. It is Chat's body on every server.
func Converse(ctx context.Context, receive func() (*greeterv1.ChatRequest, error), send func(*greeterv1.ChatResponse) error) error {
	sub := subject(ctx)
	for {
		m, err := receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = send(&greeterv1.ChatResponse{
			Message: fmt.Sprintf("Hello, you said %q", m.GetMessage()),
			Subject: sub,
		})
		if err != nil {
			return err
		}
	}
}

// Info describes the server: its name ("greeter-example"), the version of
// the module it was built from, and whether the call carried a verified
// token.
func (Service) Info(ctx context.Context, _ *greeterv1.InfoRequest) (*greeterv1.InfoResponse, error) {
	_, ok := grpcjwt.ClaimsFromContext(ctx)
	return &greeterv1.InfoResponse{
		ServerName:    serverName,
		Version:       version(),
		Authenticated: ok,
		Subject:       subject(ctx),
	}, nil
}

// subject returns the verified token's sub, or "" when the call had none.
func subject(ctx context.Context) string {
	if c, ok := grpcjwt.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return ""
}

func nameOf(name string) string {
	if name == "" {
		return "stranger"
	}
	return name
}

// version is the main module's version: a tag when built with go install
// pkg@version, "(devel)" when built from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(unknown)"
}
