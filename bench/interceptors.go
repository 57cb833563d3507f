package bench

import (
	"context"
	"strings"

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

// hasScope reports whether the space-separated scopes hold want.
func hasScope(scopes, want string) bool {
	for s := range strings.FieldsSeq(scopes) {
		if s == want {
			return true
		}
	}
	return false
}
