package bench

import (
	"context"
	"strings"

	jwtgrpc "github.com/auth0/go-jwt-middleware/v3/integrations/grpc"
	jwtmw "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// methodStream is the grpc.ServerTransportStream of a call that is not on
// the wire: it knows its method, which is all [grpc.Method] reads.
type methodStream string

// Method returns the call's full method; the rest do nothing.
func (m methodStream) Method() string             { return string(m) }
func (methodStream) SetHeader(metadata.MD) error  { return nil }
func (methodStream) SendHeader(metadata.MD) error { return nil }
func (methodStream) SetTrailer(metadata.MD) error { return nil }

// CallContext returns the context grpc-go hands a unary server interceptor
// for a call of fullMethod carrying "authorization: Bearer token".
func CallContext(fullMethod, token string) context.Context {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	return grpc.NewContextWithServerTransportStream(ctx, methodStream(fullMethod))
}

type jwtClaimsKey struct{}

// JWTClaimsFromContext returns the claims [GolangJWTAuthFunc] stored.
func JWTClaimsFromContext(ctx context.Context) (*JWTClaims, bool) {
	c, ok := ctx.Value(jwtClaimsKey{}).(*JWTClaims)
	return c, ok
}

// GolangJWTAuthFunc is the go-grpc-middleware auth function a user of
// golang-jwt writes: the bearer token from the metadata, verified by g, the
// scopes scopes lists for the method required, the claims put in the
// context. Errors are gRPC statuses.
func GolangJWTAuthFunc(g *GolangJWT, scopes map[string][]string) auth.AuthFunc {
	return func(ctx context.Context) (context.Context, error) {
		token, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, err
		}
		c := new(JWTClaims)
		if err := g.Parse(token, c); err != nil {
			return nil, status.Error(codes.Unauthenticated, "invalid token")
		}
		method, _ := grpc.Method(ctx)
		for _, want := range scopes[method] {
			if !hasScope(c.Scope, want) {
				return nil, status.Error(codes.PermissionDenied, "insufficient scope")
			}
		}
		return context.WithValue(ctx, jwtClaimsKey{}, c), nil
	}
}

// Auth0Interceptor is the unary interceptor a user of
// auth0/go-jwt-middleware/v3 builds: its gRPC integration
// (integrations/grpc) with v, which puts the validated claims in the
// context, followed by the check that the scopes scopes lists for the
// method are granted, which the integration leaves to its user.
func Auth0Interceptor(v *jwtmw.Validator, scopes map[string][]string) (grpc.UnaryServerInterceptor, error) {
	i, err := jwtgrpc.New(jwtgrpc.WithValidator(v))
	if err != nil {
		return nil, err
	}
	authn := i.UnaryServerInterceptor()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return authn(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			c, err := jwtgrpc.GetClaims[*jwtmw.ValidatedClaims](ctx)
			if err != nil {
				return nil, status.Error(codes.Unauthenticated, "no claims")
			}
			sc, _ := c.CustomClaims.(*serviceClaims)
			for _, want := range scopes[info.FullMethod] {
				if sc == nil || !hasScope(sc.Scope, want) {
					return nil, status.Error(codes.PermissionDenied, "insufficient scope")
				}
			}
			return handler(ctx, req)
		})
	}, nil
}

// hasScope reports whether the space-separated scopes hold want.
func hasScope(scopes, want string) bool {
	for s := range strings.FieldsSeq(scopes) {
		if s == want {
			return true
		}
	}
	return false
}
