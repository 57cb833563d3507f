package grpcjwt

import (
	"context"
	"crypto/x509"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpcjwt/grpcjwt/internal/expiry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// This file is the grpc-go door onto a [Policy]: it takes a call's facts
// from grpc-go (metadata, peer, method), asks the policy, and turns its
// answer into what grpc-go's clients expect.

// UnaryServerInterceptor returns a unary interceptor that decides every
// call by the policy, organization rules included (checked against the
// request before the handler runs). As go-grpc-middleware's auth
// interceptor does, it lets a service implementing
// [auth.ServiceAuthFuncOverride] take over its own authentication, and it
// composes with selector. Handlers find the claims with
// [ClaimsFromContext]. With DPoP nonces ([DPoPConfig.Nonce]), the answer to
// a call of the DPoP scheme, admitted or refused, carries the server's
// nonce in its "dpop-nonce" header metadata ([Policy.DPoPNonce]).
func (p *Policy) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if o, ok := info.Server.(auth.ServiceAuthFuncOverride); ok {
			newCtx, err := o.AuthFuncOverride(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return handler(newCtx, req)
		}
		call := grpcCall(ctx, info.FullMethod)
		c, err := p.Check(ctx, &call, req)
		p.sendDPoPNonce(ctx, &call)
		if err != nil {
			return nil, p.Status(err).Err()
		}
		if c != nil {
			ctx = ContextWithClaims(ctx, c)
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns the streaming form of
// [Policy.UnaryServerInterceptor]. The decision is made once, when the
// stream opens (the observer sees one [Decision] per stream); the
// handler's stream context carries the claims. A stream does not outlive
// its token: at exp plus the leeway the handler's context is cancelled and
// the stream ends with Unauthenticated "invalid_token"; nor, on a method
// whose [StepUp] rule has a MaxAge, its login: when the login gets older
// than that (auth_time plus MaxAge plus the leeway) before the token
// expires, the stream ends the same way with Unauthenticated
// "insufficient_user_authentication", naming the max_age (see
// [WithoutStreamExpiry] to turn both off). A handler still running 100 ms
// later is left to finish on its own, with its context cancelled, while
// the stream ends without it, since a handler blocked in Recv returns only
// once the stream has ended. With an organization rule, every message the
// handler receives is checked first: a message about another organization
// ends the stream with PermissionDenied, and the handler's context is
// cancelled. Either ending is told to the reject hook, with its cause;
// neither is a second decision.
func (p *Policy) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		if o, ok := srv.(auth.ServiceAuthFuncOverride); ok {
			newCtx, err := o.AuthFuncOverride(ctx, info.FullMethod)
			if err != nil {
				return err
			}
			return handler(srv, &contextStream{ServerStream: ss, ctx: newCtx})
		}
		call := grpcCall(ctx, info.FullMethod)
		c, err := p.Authenticate(ctx, &call)
		p.sendDPoPNonce(ctx, &call)
		if err != nil {
			return p.Status(err).Err()
		}
		if c != nil {
			ctx = ContextWithClaims(ctx, c)
		}
		s := &guardedStream{p: p, method: info.FullMethod, claims: c}
		s.ServerStream, s.ctx = ss, ctx
		return s.serve(srv, handler)
	}
}

// AuthFunc returns a go-grpc-middleware auth function that decides calls
// by the policy, for building chains by hand (for example under
// selector). It reads the method from ctx with [grpc.Method] and returns a
// context carrying the claims, or a status error with a documented
// message. It sends the DPoP nonce as the interceptors do.
//
// An auth function sees neither the request nor the stream, so this door
// does less than the interceptors. It refuses calls to methods with an
// organization rule (fail closed): use the interceptors for those. On a
// streaming method (or one the protobuf registry does not know) the
// context it returns ends at the token's exp plus the leeway, with
// [context.DeadlineExceeded] and the cause [ErrTokenExpired]
// ([context.Cause]), or when the login gets older than the method's
// [StepUp] MaxAge, if that comes first, with the cause
// [ErrInsufficientUserAuthentication], so that a handler that watches its
// context stops when the token does; but the status the stream ends with
// is whatever the handler returns (typically DeadlineExceeded), not the
// refusal, and a handler that ignores its context keeps running (see
// [WithoutStreamExpiry] to lift the deadline).
func (p *Policy) AuthFunc() auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		method, _ := grpc.Method(ctx)
		call := grpcCall(ctx, method)
		c, err := p.Check(ctx, &call, nil)
		p.sendDPoPNonce(ctx, &call)
		if err != nil {
			return nil, p.Status(err).Err()
		}
		if c == nil {
			return ctx, nil
		}
		ctx = ContextWithClaims(ctx, c)
		var buf compiledRule
		if r := p.rule(method, &buf); r.stream && !p.opts.noStreamExpiry {
			end, byLogin := p.streamEnd(r, c)
			cause := streamExpired
			if byLogin {
				cause = p.loginTooOld(r, c)
			}
			// Released when the call's own context ends, which it always
			// does: the stream's end cancels it.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, end.Sub(p.v.now()), cause)
			_ = cancel
		}
		return ctx, nil
	}
}

// streamExpired is the cause of the context of a stream admitted by
// [Policy.AuthFunc] ending at its token's expiry.
var streamExpired = tokenErr(ErrTokenExpired, "the stream outlived its token")

// sendDPoPNonce puts the nonce of [Policy.DPoPNonce] for call, if any, in
// the response header metadata ("dpop-nonce") of the call whose context is
// ctx: sent before the status of a refusal, or with the handler's first
// response. A client reads it from the header of a refusal as of a success
// (grpc.Header, or the stream's Header).
func (p *Policy) sendDPoPNonce(ctx context.Context, call *Call) {
	if n := p.DPoPNonce(call); n != "" {
		_ = grpc.SetHeader(ctx, metadata.MD{dpopNonceKey: {n}}) // fails only once headers are sent, never before the handler
	}
}

// grpcCall takes the facts of a call from grpc-go: the authorization
// metadata, the client certificate of the connection, and, for the DPoP
// scheme only, the proofs and the htu of grpcjwt's gRPC profile.
func grpcCall(ctx context.Context, method string) Call {
	call := Call{
		Method:          method,
		Authorization:   metadata.ValueFromIncomingContext(ctx, "authorization"),
		PeerCertificate: clientCertificate(ctx),
	}
	if len(call.Authorization) == 1 && hasScheme(call.Authorization[0], "DPoP") {
		call.DPoP = metadata.ValueFromIncomingContext(ctx, "dpop")
		call.HTU = callURL(ctx, method)
	}
	return call
}

// callURL is a call's htu under grpcjwt's DPoP profile: the scheme of the
// connection (https with TLS, http without), the :authority the client
// sent, and the full method.
func callURL(ctx context.Context, fullMethod string) string {
	scheme := "http://"
	if tlsConnection(ctx) {
		scheme = "https://"
	}
	authority := ""
	if v := metadata.ValueFromIncomingContext(ctx, ":authority"); len(v) == 1 {
		authority = v[0]
	}
	return htuOf(scheme, authority, fullMethod)
}

// tlsConnection reports whether the call came over TLS.
func tlsConnection(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return false
	}
	switch p.AuthInfo.(type) {
	case credentials.TLSInfo, *credentials.TLSInfo:
		return true
	}
	return false
}

// clientCertificate returns the certificate the client presented in the
// TLS handshake of the call's connection, or nil.
func clientCertificate(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	var certs []*x509.Certificate
	switch ai := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		certs = ai.State.PeerCertificates
	case *credentials.TLSInfo:
		certs = ai.State.PeerCertificates
	}
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// contextStream is a server stream with the handler's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the handler's context, which carries the claims.
func (s *contextStream) Context() context.Context { return s.ctx }

// guardedStream is an admitted stream: it checks every message received
// against the method's organization rule, and ends the stream when its
// token expires.
type guardedStream struct {
	contextStream
	p      *Policy
	method string
	claims *Claims
	cancel context.CancelFunc
	denied error // the first refused message; the stream ends with it
}

// serve runs the handler on the stream, and ends the stream with the
// refusal of a message or the token's expiry.
func (s *guardedStream) serve(srv any, handler grpc.StreamHandler) error {
	checks := s.p.NeedsMessages(s.method)
	timeout, expires := s.p.StreamTimeout(s.method, s.claims)
	if !checks && !expires {
		return handler(srv, &s.contextStream)
	}
	var cancel context.CancelFunc
	s.ctx, cancel = context.WithCancel(s.ctx)
	defer cancel()
	s.cancel = cancel
	var stream grpc.ServerStream = &s.contextStream
	if checks {
		stream = s
	}
	run := func() error { return handler(srv, stream) }
	var err error
	if expires {
		var expired bool
		if expired, err = expiry.RunUntil(timeout, cancel, run); expired {
			return s.p.Status(s.p.StreamExpired(s.ctx, s.method, s.claims)).Err()
		}
	} else {
		err = run()
	}
	if s.denied != nil {
		return s.p.Status(s.denied).Err()
	}
	return err
}

// RecvMsg receives a message and refuses it, ending the stream, when its
// method's organization rule refuses it.
func (s *guardedStream) RecvMsg(m any) error {
	if s.denied != nil {
		return s.p.Status(s.denied).Err()
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.p.CheckMessage(s.ctx, s.method, s.claims, m); err != nil {
		s.denied = err
		s.cancel()
		return s.p.Status(err).Err()
	}
	return nil
}
