package greeterhttp

import (
	"context"

	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
)

// connectService is the greeter for connect-go: [greeter.Service]'s unary
// methods as they are (their signatures are the same in both), and its
// streaming ones over Connect's streams.
type connectService struct {
	greeter.Service
}

var _ greeterv1connect.GreeterHandler = connectService{}

// SayHelloStream sends the greetings of r, as [greeter.SendGreetings] does.
func (connectService) SayHelloStream(ctx context.Context, r *greeterv1.SayHelloStreamRequest, s greeterv1connect.GreeterSayHelloStreamServerStream) error {
	return greeter.SendGreetings(ctx, r, s.Send)
}

// Chat answers every message, as [greeter.Converse] does.
func (connectService) Chat(ctx context.Context, s greeterv1connect.GreeterChatServerStream) error {
	return greeter.Converse(ctx, s.Receive, s.Send)
}
