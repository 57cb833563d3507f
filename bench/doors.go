package bench

import (
	"context"
	"net/http"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
)

// connectGreeter is the example's greeter for connect-go: SayHello is
// [greeter.Service]'s, which reads the claims from its context; the
// benchmarks call nothing else.
type connectGreeter struct {
	greeterv1connect.UnimplementedGreeterHandler
}

// SayHello greets r's name, with the subject of the call's token.
func (connectGreeter) SayHello(ctx context.Context, r *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
	return greeter.Service{}.SayHello(ctx, r)
}

// ConnectHandler returns the greeter served by connect-go (Connect, gRPC
// and gRPC-Web on one handler) behind policy's Connect door: the
// grpcjwtconnect middleware in front of a server with its interceptor, the
// mounting the door's documentation shows. With a nil policy it is the
// same server unprotected.
func ConnectHandler(policy *grpcjwt.Policy) http.Handler {
	var ics []connect.ServerInterceptor
	if policy != nil {
		ics = append(ics, grpcjwtconnect.NewInterceptor(policy))
	}
	server := connect.NewServer(ics...)
	greeterv1connect.RegisterGreeterHandler(server, connectGreeter{})
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	if policy == nil {
		return mux
	}
	return grpcjwtconnect.NewMiddleware(policy).Wrap(mux)
}
