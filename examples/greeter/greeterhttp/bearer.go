package greeterhttp

import (
	"context"

	"connectrpc.com/connect/v2"
)

// Bearer returns a connect-go client interceptor that sends token on every
// call, as "Authorization: Bearer <token>", in whichever protocol the
// client speaks:
//
//	transport := connecthttp.NewTransport(http.DefaultClient, "https://api.example.com", connecthttp.WithGRPCWeb())
//	client := greeterv1connect.NewGreeterClient(connect.NewClient(transport, greeterhttp.Bearer(token)))
//
// Like any bearer token, send it only over TLS or to loopback.
func Bearer(token string) connect.ClientInterceptor {
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			info, ok := connect.CallInfoForClientContext(ctx)
			if !ok {
				ctx, info = connect.NewClientContext(ctx)
			}
			info.RequestHeader().Set("Authorization", "Bearer "+token)
			return next(ctx, spec)
		}
	}
}
