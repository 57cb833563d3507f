package bench

import (
	"context"
	"errors"
	"testing"

	jwtgrpc "github.com/auth0/go-jwt-middleware/v3/integrations/grpc"
	jwtmw "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
)

// verifyImpls are the verifiers compared on the benchmark token.
var verifyImpls = append([]Impl{ImplFloor, ImplPhysicalFloor, ImplGRPCJWTCacheOff, ImplGRPCJWTCache}, Peers...)

// BenchmarkVerify runs the benchmark token of each algorithm through the
// floor, grpcjwt with its cache off and with a cache hit, and each peer,
// each paired with the floor.
func BenchmarkVerify(b *testing.B) {
	f := fixture(b)
	for _, alg := range Algs {
		b.Run(alg, func(b *testing.B) {
			for _, im := range verifyImpls {
				b.Run(im.Name, func(b *testing.B) {
					benchImpl(b, f.Issuer, im, alg, f.Tokens[alg], false)
				})
			}
		})
	}
}

// sayHello is the method the interceptor benchmarks call. Its .proto rule
// requires the greet:read scope.
const sayHello = greeterv1.Greeter_SayHello_FullMethodName

var errNoClaims = errors.New("handler: no claims in the context")

// interceptorImpl is a unary server interceptor under test and a handler
// that returns the claims it put in the context (a pointer, so that
// returning it costs no allocation).
type interceptorImpl struct {
	name string
	new  func(ctx context.Context, iss *grpcjwttest.Issuer) (grpc.UnaryServerInterceptor, grpc.UnaryHandler, error)
}

func grpcjwtInterceptor(name string, cacheSize int) interceptorImpl {
	return interceptorImpl{name, func(ctx context.Context, iss *grpcjwttest.Issuer) (grpc.UnaryServerInterceptor, grpc.UnaryHandler, error) {
		v, err := NewValidator(ctx, iss, cacheSize, 0)
		if err != nil {
			return nil, nil, err
		}
		handler := func(ctx context.Context, _ any) (any, error) {
			c, ok := grpcjwt.ClaimsFromContext(ctx)
			if !ok {
				return nil, errNoClaims
			}
			return c, nil
		}
		return mustPolicy(v).UnaryServerInterceptor(), handler, nil
	}}
}

var interceptorImpls = []interceptorImpl{
	grpcjwtInterceptor("grpcjwt-cacheoff", -1),
	grpcjwtInterceptor("grpcjwt-cachehit", 0),
	{"gogrpcmw-golangjwt", func(ctx context.Context, iss *grpcjwttest.Issuer) (grpc.UnaryServerInterceptor, grpc.UnaryHandler, error) {
		g, err := NewGolangJWT(ctx, iss)
		if err != nil {
			return nil, nil, err
		}
		scopes := map[string][]string{sayHello: {"greet:read"}}
		handler := func(ctx context.Context, _ any) (any, error) {
			c, ok := JWTClaimsFromContext(ctx)
			if !ok {
				return nil, errNoClaims
			}
			return c, nil
		}
		return auth.UnaryServerInterceptor(GolangJWTAuthFunc(g, scopes)), handler, nil
	}},
	{"auth0-grpc", func(_ context.Context, iss *grpcjwttest.Issuer) (grpc.UnaryServerInterceptor, grpc.UnaryHandler, error) {
		v, err := NewAuth0(iss)
		if err != nil {
			return nil, nil, err
		}
		icpt, err := Auth0Interceptor(v, map[string][]string{sayHello: {"greet:read"}})
		if err != nil {
			return nil, nil, err
		}
		handler := func(ctx context.Context, _ any) (any, error) {
			c, err := jwtgrpc.GetClaims[*jwtmw.ValidatedClaims](ctx)
			if err != nil {
				return nil, errNoClaims
			}
			return c, nil
		}
		return icpt, handler, nil
	}},
}

// unaryCall is one SayHello call through an interceptor, as grpc-go makes
// it once the request is decoded.
type unaryCall struct {
	ctx     context.Context
	req     *greeterv1.SayHelloRequest
	info    *grpc.UnaryServerInfo
	icpt    grpc.UnaryServerInterceptor
	handler grpc.UnaryHandler
}

func newUnaryCall(tb testing.TB, iss *grpcjwttest.Issuer, im interceptorImpl, token string) *unaryCall {
	tb.Helper()
	type pair struct {
		icpt    grpc.UnaryServerInterceptor
		handler grpc.UnaryHandler
	}
	p := memoize(tb, "interceptor "+im.name+" "+iss.URL, func() (pair, error) {
		icpt, h, err := im.new(context.Background(), iss)
		return pair{icpt, h}, err
	})
	c := &unaryCall{
		ctx:     CallContext(sayHello, token),
		req:     &greeterv1.SayHelloRequest{Name: "bench"},
		info:    &grpc.UnaryServerInfo{FullMethod: sayHello},
		icpt:    p.icpt,
		handler: p.handler,
	}
	resp, err := c.do()
	if err != nil {
		tb.Fatalf("%s refused the call: %v", im.name, err)
	}
	var sub string
	switch c := resp.(type) {
	case *grpcjwt.Claims:
		sub = c.Subject
	case *JWTClaims:
		sub = c.Subject
	case *jwtmw.ValidatedClaims:
		sub = c.RegisteredClaims.Subject
	}
	if sub != Subject {
		tb.Fatalf("%s: handler saw subject %q, want %q", im.name, sub, Subject)
	}
	return c
}

func (c *unaryCall) do() (any, error) {
	return c.icpt(c.ctx, c.req, c.info, c.handler)
}

// BenchmarkInterceptor calls each unary interceptor directly, with the
// context grpc-go would build (metadata in, the method in a server
// transport stream) and a handler that reads the claims from its context,
// paired with the floor verifying the same token.
func BenchmarkInterceptor(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	for _, im := range interceptorImpls {
		b.Run(alg+"/"+im.name, func(b *testing.B) {
			c := newUnaryCall(b, f.Issuer, im, f.Tokens[alg])
			benchPaired(b, f.Issuer, func() { _, _ = c.do() }, floors(b, f.Issuer, alg, f.Tokens[alg], Impl{}), false)
		})
	}
}

// BenchmarkParallel is BenchmarkVerify for RS256, and the grpcjwt
// interceptor with a cache hit, with GOMAXPROCS goroutines calling at once.
// On n cores the parallel floor's ns/op is about 1/n of the serial one.
func BenchmarkParallel(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	token := f.Tokens[alg]
	for _, im := range verifyImpls {
		b.Run(alg+"/"+im.Name, func(b *testing.B) {
			benchImpl(b, f.Issuer, im, alg, token, true)
		})
	}
	im := interceptorImpls[1]
	b.Run(alg+"/interceptor-"+im.name, func(b *testing.B) {
		c := newUnaryCall(b, f.Issuer, im, token)
		benchPaired(b, f.Issuer, func() { _, _ = c.do() }, floors(b, f.Issuer, alg, token, Impl{}), true)
	})
}
