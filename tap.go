package grpcjwt

import (
	"context"

	"google.golang.org/grpc/tap"
)

// This file is the grpc-go tap handle: a door that sees a call before
// grpc-go starts serving it, and refuses early what the interceptors are
// certain to refuse.

// TapHandle returns a tap handle for [grpc.InTapHandle] that refuses a call
// before grpc-go registers its stream, starts its handler goroutine or
// reads any of its request: a call without the credentials its method's
// rule requires, with malformed ones or an unsupported scheme, or whose
// token the [Validator] refuses (expired, badly signed, for another
// audience, ...). It is an early filter, not a door of its own: install it
// beside [Policy.UnaryServerInterceptor] and [Policy.StreamServerInterceptor],
// which decide every call it lets through, again, at the cost of a cache
// hit for its token.
//
//	srv := grpc.NewServer(
//		grpc.InTapHandle(policy.TapHandle()),
//		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
//	)
//
// A call it refuses gets exactly the status the interceptors would send
// (code, message and ErrorInfo detail, in a trailers-only response), and
// is one decision: the observer sees it and the reject hook is called,
// once. The interceptors never see the call, nor do grpc-go's stats
// handlers: server metrics and traces (otelgrpc) do not count it.
//
// It sees the method and the header metadata, and decides only what they
// settle, as the interceptors would at the same instant: a public method,
// and an optional one called without a token, pass; the binding of a
// token (a client certificate, a DPoP proof), the sender constraint, the
// rule's issuers and audiences, step-up, scopes, organizations and the
// [Authorizer] are left to the interceptors. It never waits: a token whose key the key set does not
// have, when a refresh could bring it, passes, and the interceptors fetch
// the keys and wait; while the rate limit forbids a refresh, it is
// refused, as the interceptors would refuse it (and so is every token of
// an issuer whose keys have not arrived yet, with Unavailable
// "temporarily_unavailable", see [Config.BackgroundStart]). An opaque
// token is decided by the cache of introspection answers alone: one
// refused recently is refused, one accepted passes, and one the cache does
// not know passes, for the interceptors to introspect.
//
// grpc-go runs the tap handle on the connection's reader goroutine, with
// the connection's lock held, one call at a time: while it verifies a
// token's signature (tens of microseconds; a cache hit costs a few hundred
// nanoseconds), the connection reads nothing else, so a connection that
// carries many new tokens at once has them verified one by one rather than
// in parallel. The observer and the reject hook run there too, for the
// calls it refuses. Without the token cache ([Config.CacheSize] < 0) a
// token it lets through is verified twice. The observer sees each
// validation: the tap's, and the interceptors' cache hit.
//
// It knows only the policy's rules. A service that takes over its own
// authentication ([auth.ServiceAuthFuncOverride]), or methods the
// interceptors do not run on (a selector), are refused by it like any
// other unless the policy makes them public ([WithPublic]). A method the
// server does not have is judged by the default rule: without a valid
// token its caller gets the refusal rather than Unimplemented. A server
// served through [grpc.Server.ServeHTTP] never calls tap handles.
func (p *Policy) TapHandle() tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if err := p.screen(ctx, info.FullMethodName, info.Header["authorization"]); err != nil {
			return ctx, p.Status(err).Err()
		}
		return ctx, nil
	}
}

// screen decides what the tap handle can of a call of method whose
// authorization values are authorization: nil to let the call through to
// the interceptors, or its refusal, reported as the call's decision.
func (p *Policy) screen(ctx context.Context, method string, authorization []string) error {
	var buf compiledRule
	r := p.rule(method, &buf)
	token, _, c, err := p.credentials(ctx, r, authorization)
	if err == nil && token != "" && c == nil {
		_, err = p.v.Validate(context.WithValue(ctx, noWaitKey{}, true), token)
	}
	if err == nil || err == errKeyNotAtHand {
		return nil
	}
	_, err = p.decided(ctx, method, r, nil, nil, err)
	return err
}

// noWaitKey marks the context of the tap handle's validations, in which a
// key set never waits for a refresh.
type noWaitKey struct{}

// mustNotWait reports whether ctx is one of the tap handle's validations.
func mustNotWait(ctx context.Context) bool { return ctx.Value(noWaitKey{}) != nil }

// errKeyNotAtHand is what a key set answers a tap handle's validation for
// a token whose kid it does not have, when a refresh could bring it, and
// what an introspected token whose answer is not cached gets: the tap lets
// the call through, for the interceptors to wait for the refresh or the
// introspection. It is never observed, nor returned by any exported
// function.
var errKeyNotAtHand = tokenErr(ErrUnknownKey, "not at hand, and the tap handle never waits for a refresh")
