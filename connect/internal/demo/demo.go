// Package demo serves and calls the demo.v1.Greeter of
// internal/testpb/demo/v1 over Connect, for the tests and examples of
// grpcjwtconnect. It is what protoc-gen-connect-go would generate (a
// registration function and a client), written by hand over the
// descriptors of the generated protobuf code, so that the repository keeps
// one code generator, plus the service itself: each answer names the
// subject of the claims the door put in the call's context.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The procedures of demo.v1.Greeter.
const (
	SayHello        = "/demo.v1.Greeter/SayHello"
	Info            = "/demo.v1.Greeter/Info"
	GetOrganization = "/demo.v1.Greeter/GetOrganization"
	Watch           = "/demo.v1.Greeter/Watch"
	Chat            = "/demo.v1.Greeter/Chat"
)

// Spec returns the connect.Spec of a method of demo.v1.Greeter, by name
// ("SayHello"), from its descriptor.
func Spec(name string) connect.Spec {
	md := demov1.File_demo_v1_demo_proto.Services().ByName("Greeter").Methods().ByName(protoreflect.Name(name))
	if md == nil {
		panic("demo: no method " + name)
	}
	var st connect.StreamType
	if md.IsStreamingClient() {
		st |= connect.StreamTypeClient
	}
	if md.IsStreamingServer() {
		st |= connect.StreamTypeServer
	}
	var idem connect.IdempotencyLevel
	if opts, ok := md.Options().(*descriptorpb.MethodOptions); ok && opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
		idem = connect.IdempotencyNoSideEffects
	}
	return connect.Spec{
		StreamType:       st,
		IdempotencyLevel: idem,
		Schema:           md,
		Procedure:        "/demo.v1.Greeter/" + name,
	}
}

// Register registers the greeter on server.
func Register(server *connect.Server) {
	server.Register(
		connect.Method{Spec: Spec("SayHello"), Handler: sayHello},
		connect.Method{Spec: Spec("Info"), Handler: info},
		connect.Method{Spec: Spec("GetOrganization"), Handler: getOrganization},
		connect.Method{Spec: Spec("Watch"), Handler: watch},
		connect.Method{Spec: Spec("Chat"), Handler: chat},
	)
}

// subject is the subject of the call's claims, or "".
func subject(ctx context.Context) string {
	if c, ok := grpcjwt.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return ""
}

func sayHello(ctx context.Context, _ connect.Spec, s connect.ServerStream) error {
	var req demov1.SayHelloRequest
	if err := s.Receive(&req); err != nil {
		return err
	}
	return s.Send(&demov1.SayHelloResponse{Message: fmt.Sprintf("Hello, %s!", req.GetName()), Subject: subject(ctx)})
}

func info(ctx context.Context, _ connect.Spec, s connect.ServerStream) error {
	var req demov1.InfoRequest
	if err := s.Receive(&req); err != nil {
		return err
	}
	_, ok := grpcjwt.ClaimsFromContext(ctx)
	return s.Send(&demov1.InfoResponse{Authenticated: ok})
}

func getOrganization(ctx context.Context, _ connect.Spec, s connect.ServerStream) error {
	var req demov1.GetOrganizationRequest
	if err := s.Receive(&req); err != nil {
		return err
	}
	return s.Send(&demov1.GetOrganizationResponse{Name: req.GetName(), Subject: subject(ctx)})
}

// watch sends one message, then holds the stream open until its context
// ends.
func watch(ctx context.Context, _ connect.Spec, s connect.ServerStream) error {
	var req demov1.WatchRequest
	if err := s.Receive(&req); err != nil {
		return err
	}
	if err := s.Send(&demov1.WatchResponse{Subject: subject(ctx)}); err != nil {
		return err
	}
	<-ctx.Done()
	return connect.NewError(connect.CodeCanceled, "the call ended")
}

// chat answers every message until the client closes its side.
func chat(_ context.Context, _ connect.Spec, s connect.ServerStream) error {
	for {
		var req demov1.ChatRequest
		err := s.Receive(&req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&demov1.ChatResponse{Message: "you said " + req.GetMessage()}); err != nil {
			return err
		}
	}
}

// Client calls demo.v1.Greeter.
type Client struct{ c *connect.Client }

// NewClient returns a client calling through c.
func NewClient(c *connect.Client) *Client { return &Client{c: c} }

// SayHello calls Greeter.SayHello.
func (c *Client) SayHello(ctx context.Context, req *demov1.SayHelloRequest) (*demov1.SayHelloResponse, error) {
	var res demov1.SayHelloResponse
	if err := c.c.CallUnary(ctx, Spec("SayHello"), req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Info calls Greeter.Info.
func (c *Client) Info(ctx context.Context, req *demov1.InfoRequest) (*demov1.InfoResponse, error) {
	var res demov1.InfoResponse
	if err := c.c.CallUnary(ctx, Spec("Info"), req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// GetOrganization calls Greeter.GetOrganization.
func (c *Client) GetOrganization(ctx context.Context, req *demov1.GetOrganizationRequest) (*demov1.GetOrganizationResponse, error) {
	var res demov1.GetOrganizationResponse
	if err := c.c.CallUnary(ctx, Spec("GetOrganization"), req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Watch opens a Greeter.Watch stream; receive *demov1.WatchResponse from
// it.
func (c *Client) Watch(ctx context.Context, req *demov1.WatchRequest) (connect.ClientStream, error) {
	return c.c.CallServerStream(ctx, Spec("Watch"), req)
}

// Chat opens a Greeter.Chat stream: send *demov1.ChatRequest, receive
// *demov1.ChatResponse.
func (c *Client) Chat(ctx context.Context) (connect.ClientStream, error) {
	return c.c.CallClientStream(ctx, Spec("Chat"))
}
