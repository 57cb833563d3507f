package grpcjwtconnect

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/internal/expiry"
)

// NewInterceptor returns the Connect side of the door: a
// [connect.ServerInterceptor] that decides every call by policy, before
// its first message is read (a connect v2 interceptor runs before any
// payload work), and then guards it as grpcjwt's gRPC interceptors do.
// Pass it to [connect.NewServer].
//
// A call admitted by a [Middleware] in front of the server is taken over
// as it was decided there; any other call is decided here, from the
// request headers and Connect's [connecthttp.ServerInfo] (method, URL,
// client certificate), by [grpcjwt.Policy.Authenticate], so that the
// interceptor alone is a complete door, fail closed. A refusal is the
// [connect.Error] of [grpcjwt.Status]: the same code, message and
// google.rpc.ErrorInfo as over gRPC, in whichever protocol the client
// speaks; a refused Connect unary call also carries the WWW-Authenticate
// challenge of [grpcjwt.Policy.Challenge] (its HTTP status is 401 or 403).
// With DPoP nonces ([grpcjwt.DPoPConfig.Nonce]), the answer to a call of
// the DPoP scheme it decides, refused or admitted, has the server's nonce
// in its DPoP-Nonce response header ([grpcjwt.Policy.DPoPNonce]). Handlers
// find the claims with [grpcjwt.ClaimsFromContext].
//
// Then:
//
//   - With an organization rule, every request message the handler
//     receives (the one of a unary call, each of a stream) is checked with
//     [grpcjwt.Policy.CheckMessage]; a message about another organization
//     fails the call with PermissionDenied "organization_mismatch" and
//     cancels the handler's context. The decision was made when the call
//     was admitted: the refusal goes to the reject hook, not the observer.
//   - A stream does not outlive its token: at exp plus the leeway
//     ([grpcjwt.Policy.StreamTimeout], on the Validator's clock) the
//     handler's context is cancelled and the stream ends with
//     Unauthenticated "invalid_token"; nor, on a method whose
//     [grpcjwt.StepUp] rule has a MaxAge, its login: when the login gets
//     older than that first, the stream ends with Unauthenticated
//     "insufficient_user_authentication" ([grpcjwt.Policy.StreamExpired]).
//     A handler still running 100 ms later is left to finish on its own,
//     its sends refused, while the stream ends without it
//     ([grpcjwt.WithoutStreamExpiry] turns this off).
func NewInterceptor(policy *grpcjwt.Policy) connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			g := guard{policy: policy, method: spec.Procedure}
			if a, ok := ctx.Value(admissionKey{}).(*admission); ok && a.claim(spec.Procedure) {
				g.claims, g.checks = a.claims, a.checks
			} else {
				call := serverCall(ctx, spec.Procedure)
				adm, err := policy.Admit(ctx, &call)
				if info, ok := connect.CallInfoForServerContext(ctx); ok {
					sendDPoPNonce(info.ResponseHeader(), policy, &call)
				}
				if err != nil {
					return refuse(ctx, policy, spec, err, isDPoP(call.Authorization))
				}
				if adm.Claims != nil {
					ctx = grpcjwt.ContextWithClaims(ctx, adm.Claims)
				}
				g.claims, g.checks = adm.Claims, adm.NeedsMessages()
			}
			return g.serve(ctx, spec, stream, next)
		}
	}
}

// refuse returns the error a refused call ends with, and gives a Connect
// unary call, whose refusal is an HTTP status, its challenge.
func refuse(ctx context.Context, p *grpcjwt.Policy, spec connect.Spec, err error, dpop bool) error {
	if info, ok := connect.CallInfoForServerContext(ctx); ok && info.Protocol == connect.ProtocolNameConnect && spec.StreamType == connect.StreamTypeUnary {
		if ch := p.Challenge(err, dpop); ch != "" {
			info.ResponseHeader().Set("WWW-Authenticate", ch)
		}
	}
	return connectError(p, err)
}

// guard is what an admitted call is held to: its method's organization
// rule on every message, and its token's expiry.
type guard struct {
	policy *grpcjwt.Policy
	method string
	claims *grpcjwt.Claims
	checks bool // the method's rule reads its request messages
}

// serve runs next on the call, and ends it with the refusal of a message
// or the token's expiry. A call with neither (a unary call without an
// organization rule) goes to next as it is, at no cost: g is a value, so
// that only a call that needs the guarded stream moves it to the heap.
func (g guard) serve(ctx context.Context, spec connect.Spec, stream connect.ServerStream, next connect.ServerFunc) error {
	var timeout time.Duration
	expires := false
	if spec.StreamType != connect.StreamTypeUnary {
		timeout, expires = g.policy.StreamTimeout(g.method, g.claims)
	}
	if !g.checks && !expires {
		return next(ctx, spec, stream)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &guardedStream{ServerStream: stream, guard: g, ctx: ctx, cancel: cancel}
	run := func() error { return next(ctx, spec, s) }
	if !expires {
		err := run()
		if s.denied != nil {
			return connectError(s.policy, s.denied)
		}
		return err
	}
	expired, err := expiry.RunUntil(timeout, cancel, run)
	if expired {
		s.end()
		return connectError(g.policy, g.policy.StreamExpired(ctx, g.method, g.claims))
	}
	if s.denied != nil {
		return connectError(s.policy, s.denied)
	}
	return err
}

// guardedStream is the stream of an admitted call: it checks every message
// received against the method's organization rule and, once the call has
// ended at its token's expiry, keeps a handler left running off the
// stream, which then belongs to Connect alone.
type guardedStream struct {
	connect.ServerStream
	guard
	ctx    context.Context
	cancel context.CancelFunc
	denied error // the first refused message; the call ends with it

	mu    sync.Mutex  // held by Send and SendHeaders, and to end the stream
	ended atomic.Bool // set under mu: the call ended at its token's expiry
}

// Receive receives a message and refuses it, ending the call, when its
// method's organization rule refuses it.
func (s *guardedStream) Receive(msg any) error {
	if s.ended.Load() {
		return errStreamEnded()
	}
	if s.denied != nil {
		return connectError(s.policy, s.denied)
	}
	if err := s.ServerStream.Receive(msg); err != nil {
		return err
	}
	if !s.checks {
		return nil
	}
	if err := s.policy.CheckMessage(s.ctx, s.method, s.claims, msg); err != nil {
		s.denied = err
		s.cancel()
		return connectError(s.policy, err)
	}
	return nil
}

// Send sends a message, unless the call has ended.
func (s *guardedStream) Send(msg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return errStreamEnded()
	}
	return s.ServerStream.Send(msg)
}

// SendHeaders sends the response headers, unless the call has ended.
func (s *guardedStream) SendHeaders() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended.Load() {
		return errStreamEnded()
	}
	return s.ServerStream.SendHeaders()
}

// end marks the call ended, once no send is under way, so that the
// handler, if still running, never writes to a stream Connect is closing.
func (s *guardedStream) end() {
	s.mu.Lock()
	s.ended.Store(true)
	s.mu.Unlock()
}

// errStreamEnded is what a handler left running after its call ended at
// its token's expiry gets from the stream.
func errStreamEnded() *connect.Error {
	return connect.NewError(connect.CodeUnauthenticated, grpcjwt.CodeInvalidToken)
}
