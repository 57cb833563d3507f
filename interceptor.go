package grpcjwt

import (
	"context"
	"errors"
	"fmt"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
)

// UnaryServerInterceptor returns a unary interceptor that authenticates
// every call with v and applies the per-method rules of opts and of the
// methods' .proto options. It is built on go-grpc-middleware's auth
// interceptor: a service implementing [auth.ServiceAuthFuncOverride] takes
// over its own authentication, and the interceptor composes with selector.
// Handlers find the claims with [ClaimsFromContext].
func UnaryServerInterceptor(v *Validator, opts ...Option) grpc.UnaryServerInterceptor {
	return auth.UnaryServerInterceptor(AuthFunc(v, opts...))
}

// StreamServerInterceptor is the streaming form of
// [UnaryServerInterceptor]. The decision is made once, when the stream
// opens; the handler's stream context carries the claims.
func StreamServerInterceptor(v *Validator, opts ...Option) grpc.StreamServerInterceptor {
	return auth.StreamServerInterceptor(AuthFunc(v, opts...))
}

// AuthFunc returns the go-grpc-middleware auth function the interceptors
// use, for building chains by hand (for example under selector). It reads
// the method from ctx with [grpc.Method], applies its rule, and returns a
// context carrying the claims, or a status error with a documented message.
func AuthFunc(v *Validator, opts ...Option) auth.AuthFunc {
	return newGuard(v, evaluateOptions(opts)).authenticate
}

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

func (g *guard) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	c, err := g.check(ctx, method)
	if err != nil {
		if g.opts.onReject != nil {
			g.opts.onReject(ctx, truncateTo(method, maxMethodName), err)
		}
		return nil, Status(err).Err()
	}
	if c == nil {
		return ctx, nil
	}
	return ContextWithClaims(ctx, c), nil
}

// check applies the method's rule. It returns the verified claims, or nil
// and no error for a call allowed without a token, or the cause of a
// refusal.
func (g *guard) check(ctx context.Context, method string) (*Claims, error) {
	r := g.rules.get(method, g.opts)
	if r.Access == AccessPublic {
		return nil, nil
	}
	token, err := TokenFromMetadata(ctx)
	if err != nil {
		if r.Access == AccessOptional && errors.Is(err, ErrHeaderMissing) {
			return nil, nil
		}
		return nil, err
	}
	c, err := g.v.Validate(ctx, token)
	if err != nil {
		return nil, err
	}
	for _, s := range r.Scopes {
		if !c.HasScope(s) {
			return nil, fmt.Errorf("%w: token lacks scope %q", ErrInsufficientScope, s)
		}
	}
	if g.opts.authorizer != nil {
		if err := g.opts.authorizer(ctx, method, c); err != nil {
			if _, ok := statusOf(err); ok {
				return nil, err // the hook sees it all; Status sends the status alone
			}
			return nil, fmt.Errorf("%w: %w", ErrInsufficientScope, err)
		}
	}
	return c, nil
}
