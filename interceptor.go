package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
)

// UnaryServerInterceptor returns a unary interceptor that authenticates
// every call with v and applies the per-method rules of opts and of the
// methods' .proto options, organization rules included (checked against
// the request before the handler runs). As go-grpc-middleware's auth
// interceptor does, it lets a service implementing
// [auth.ServiceAuthFuncOverride] take over its own authentication, and it
// composes with selector. Handlers find the claims with
// [ClaimsFromContext].
func UnaryServerInterceptor(v *Validator, opts ...Option) grpc.UnaryServerInterceptor {
	g := newGuard(v, evaluateOptions(opts))
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if o, ok := info.Server.(auth.ServiceAuthFuncOverride); ok {
			newCtx, err := o.AuthFuncOverride(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return handler(newCtx, req)
		}
		newCtx, r, c, proof, err := g.authorize(ctx, info.FullMethod)
		if err == nil && r.hasOrganization() {
			err = r.checkOrganization(c, req)
		}
		if err == nil {
			err = proof.record(ctx)
		}
		g.observe(ctx, info.FullMethod, &r, err)
		if err != nil {
			return nil, g.reject(ctx, info.FullMethod, err)
		}
		return handler(newCtx, req)
	}
}

// StreamServerInterceptor is the streaming form of
// [UnaryServerInterceptor]. The decision is made once, when the stream
// opens (the observer sees one [Decision] per stream); the handler's stream
// context carries the claims. A stream does not outlive its token: at exp
// plus the leeway the handler's context is cancelled and the stream ends
// with Unauthenticated "invalid_token" (see [WithoutStreamExpiry]). With an
// organization rule, every message the handler receives is checked first:
// a message about another organization ends the stream with
// PermissionDenied, and the handler's context is cancelled. Either ending
// is told to the reject hook, with its cause; neither is a second decision.
func StreamServerInterceptor(v *Validator, opts ...Option) grpc.StreamServerInterceptor {
	g := newGuard(v, evaluateOptions(opts))
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		if o, ok := srv.(auth.ServiceAuthFuncOverride); ok {
			newCtx, err := o.AuthFuncOverride(ctx, info.FullMethod)
			if err != nil {
				return err
			}
			return handler(srv, &contextStream{ServerStream: ss, ctx: newCtx})
		}
		newCtx, r, c, proof, err := g.authorize(ctx, info.FullMethod)
		if err == nil {
			err = proof.record(ctx)
		}
		g.observe(ctx, info.FullMethod, &r, err)
		if err != nil {
			return g.reject(ctx, info.FullMethod, err)
		}
		if c == nil && !r.hasOrganization() {
			return handler(srv, &contextStream{ServerStream: ss, ctx: newCtx})
		}
		newCtx, cancel := context.WithCancel(newCtx)
		defer cancel()
		var stream grpc.ServerStream = &contextStream{ServerStream: ss, ctx: newCtx}
		var st *orgStream
		if r.hasOrganization() {
			st = &orgStream{contextStream: contextStream{ServerStream: ss, ctx: newCtx}, rule: &r, claims: c, cancel: cancel}
			stream = st
		}
		run := func() error { return handler(srv, stream) }
		var herr error
		if c != nil && !g.opts.noStreamExpiry {
			var expired bool
			expired, herr = g.runUntilExpiry(c, cancel, run)
			if expired {
				// Not a second decision: the stream was decided when it
				// opened. The reject hook is told why it ends.
				return g.reject(ctx, info.FullMethod, tokenErr(ErrTokenExpired, "the stream outlived its token"))
			}
		} else {
			herr = run()
		}
		if st != nil && st.denied != nil {
			return g.reject(ctx, info.FullMethod, st.denied)
		}
		return herr
	}
}

// streamGrace is how long a stream whose token expired waits for its
// handler to return after its context is cancelled, before it ends anyway
// (a handler blocked in Recv returns only when the stream ends).
const streamGrace = 100 * time.Millisecond

// runUntilExpiry runs a stream's handler until it returns or the token
// expires (exp plus the leeway): then it cancels the handler's context,
// gives the handler streamGrace to return, and reports expired, so that
// the stream ends with invalid_token. The one timer is all it costs:
// nothing per message. A panic in the handler is raised again here, where
// recovery interceptors outside this one can catch it.
func (g *guard) runUntilExpiry(c *Claims, cancel context.CancelFunc, run func() error) (expired bool, err error) {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicked, r.value = true, p
			}
			done <- r
		}()
		r.err = run()
	}()
	wait := func(r result) error {
		if r.panicked {
			panic(r.value)
		}
		return r.err
	}
	t := time.NewTimer(c.ExpiresAt.Add(g.v.leeway).Sub(g.v.now()))
	defer t.Stop()
	select {
	case r := <-done:
		return false, wait(r)
	case <-t.C:
	}
	cancel()
	grace := time.NewTimer(streamGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		if r.panicked {
			panic(r.value)
		}
	case <-grace.C:
	}
	return true, nil
}

// AuthFunc returns the go-grpc-middleware auth function the interceptors
// use, for building chains by hand (for example under selector). It reads
// the method from ctx with [grpc.Method], applies its rule, and returns a
// context carrying the claims, or a status error with a documented message.
//
// An auth function sees neither the request nor the stream, so this path
// does less than the interceptors. It refuses calls to methods with an
// organization rule (fail closed): use the interceptors for those. On a
// streaming method (or one the protobuf registry does not know) the
// context it returns ends at the token's exp plus the leeway, with
// [context.DeadlineExceeded] and the cause [ErrTokenExpired]
// ([context.Cause]), so that a handler that watches its context stops when
// the token does; but the status the stream ends with is whatever the
// handler returns (typically DeadlineExceeded), not "invalid_token", and
// a handler that ignores its context keeps running (see
// [WithoutStreamExpiry] to lift the deadline).
func AuthFunc(v *Validator, opts ...Option) auth.AuthFunc {
	g := newGuard(v, evaluateOptions(opts))
	return func(ctx context.Context) (context.Context, error) {
		method, _ := grpc.Method(ctx)
		newCtx, r, c, proof, err := g.authorize(ctx, method)
		if err == nil && r.hasOrganization() {
			err = fmt.Errorf("%w: AuthFunc cannot read the request its organization rule needs; use the interceptors", ErrOrganizationMismatch)
		}
		if err == nil {
			err = proof.record(ctx)
		}
		g.observe(ctx, method, &r, err)
		if err != nil {
			return nil, g.reject(ctx, method, err)
		}
		if c != nil && r.stream && !g.opts.noStreamExpiry {
			// Released when the call's own context ends, which it always
			// does: the stream's end cancels it.
			var cancel context.CancelFunc
			newCtx, cancel = context.WithTimeoutCause(newCtx, c.ExpiresAt.Add(g.v.leeway).Sub(g.v.now()), streamExpired)
			_ = cancel
		}
		return newCtx, nil
	}
}

// streamExpired is the cause of the context of a stream admitted by
// [AuthFunc] ending at its token's expiry.
var streamExpired = tokenErr(ErrTokenExpired, "the stream outlived its token")

// guard applies one set of options with one validator: the state behind an
// [AuthFunc] and the interceptors.
type guard struct {
	v     *Validator
	opts  *options
	rules ruleCache
}

func newGuard(v *Validator, o *options) *guard {
	return &guard{v: v, opts: o}
}

// authorize applies the method's rule to the call's token. It returns the
// context for the handler, the rule, the verified claims (nil for a call
// allowed without a token) and the call's DPoP proof, which the caller
// records last, once every check of the call has passed (nil without one);
// or the cause of a refusal.
func (g *guard) authorize(ctx context.Context, method string) (context.Context, Rule, *Claims, *dpopProof, error) {
	r := g.rules.get(method, g.opts)
	c, proof, err := g.check(ctx, method, &r)
	if err != nil || c == nil {
		return ctx, r, nil, nil, err
	}
	return ContextWithClaims(ctx, c), r, c, proof, nil
}

// observe reports the decision on a call to the Validator's observer, with
// the method named only if the server knows it.
func (g *guard) observe(ctx context.Context, method string, r *Rule, err error) {
	o := g.v.observer
	if o == nil {
		return
	}
	d := Decision{Method: UnknownMethod, Result: resultOf(err), Cause: CauseOf(err)}
	if r.known {
		d.Method = method
	}
	o.ObserveDecision(ctx, d)
}

// reject tells the reject hook the cause and returns the status error for
// the client.
func (g *guard) reject(ctx context.Context, method string, err error) error {
	if g.opts.onReject != nil {
		g.opts.onReject(ctx, truncateTo(method, maxMethodName), err)
	}
	return Status(err).Err()
}

// check applies rule r. It returns the verified claims and the call's
// verified DPoP proof, not yet recorded (nil without one), or nil and no
// error for a call allowed without a token, or the cause of a refusal.
func (g *guard) check(ctx context.Context, method string, r *Rule) (*Claims, *dpopProof, error) {
	if r.Access == AccessPublic {
		return nil, nil, nil
	}
	token, dpop, err := credentialsFromMetadata(ctx)
	if err == nil && dpop && g.v.dpop == nil {
		err = ErrSchemeNotSupported
	}
	if err != nil {
		if r.Access == AccessOptional && errors.Is(err, ErrHeaderMissing) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	c, err := g.v.Validate(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if err := checkBinding(ctx, c, dpop); err != nil {
		return nil, nil, err
	}
	var proof *dpopProof
	if dpop {
		if proof, err = g.v.dpop.verify(ctx, method, token, c); err != nil {
			return nil, nil, err
		}
	}
	if (r.SenderConstrained || g.v.requireSenderConstrained) && c.Confirmation.X5TS256 == "" && !dpop {
		return nil, nil, tokenErr(ErrBindingRequired, "a bearer token where a sender-constrained one is required")
	}
	if c.AudienceSuffix != "" && !r.acceptsOrganizationTokens() {
		// An organization token's scopes are the organization's
		// permissions, not the API's: it is for methods that check the
		// organization by its audience, and no others.
		return nil, nil, tokenErr(ErrAudienceMismatch, fmt.Sprintf("audience %q was accepted by its prefix, and %s has no organization rule that reads the audience", truncate(c.MatchedAudience), truncateTo(method, maxMethodName)))
	}
	for _, s := range r.Scopes {
		if !c.HasScope(s) {
			return nil, nil, fmt.Errorf("%w: token lacks scope %q", ErrInsufficientScope, s)
		}
	}
	if g.opts.authorizer != nil {
		if err := g.opts.authorizer(ctx, method, c); err != nil {
			if _, ok := statusOf(err); ok {
				return nil, nil, err // the hook sees it all; Status sends the status alone
			}
			return nil, nil, fmt.Errorf("%w: %w", ErrInsufficientScope, err)
		}
	}
	return c, proof, nil
}

// contextStream is a server stream with the handler's context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the handler's context, which carries the claims.
func (s *contextStream) Context() context.Context { return s.ctx }

// orgStream checks every message received against an organization rule.
type orgStream struct {
	contextStream
	rule   *Rule
	claims *Claims
	cancel context.CancelFunc
	denied error // the first refusal; the stream ends with it
}

// RecvMsg receives a message and refuses it, ending the stream, when it is
// about another organization than the token's.
func (s *orgStream) RecvMsg(m any) error {
	if s.denied != nil {
		return Status(s.denied).Err()
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.rule.checkOrganization(s.claims, m); err != nil {
		s.denied = err
		s.cancel()
		return Status(err).Err()
	}
	return nil
}
