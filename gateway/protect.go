package grpcjwtgateway

import (
	"context"
	"errors"
	"mime"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Option configures [Protect].
type Option func(*options)

type options struct {
	routes []explicitRoute
}

// explicitRoute is a route of [WithRoute].
type explicitRoute struct {
	route
	method string
}

// WithRoute maps a route of the mux that no google.api.http rule declares
// to the full method whose rule it follows: one added with
// [runtime.ServeMux.HandlePath], or by [runtime.WithHealthEndpointAt]
// (GET "/healthz", "/grpc.health.v1.Health/Check"), or generated from a
// gRPC API Configuration file rather than from annotations. httpMethod is
// the route's HTTP method and pathTemplate its path as registered. A route
// also declared by a rule is mapped to fullMethod instead.
func WithRoute(httpMethod, pathTemplate, fullMethod string) Option {
	return func(o *options) {
		o.routes = append(o.routes, explicitRoute{route{httpMethod, patternString(pathTemplate)}, fullMethod})
	}
}

// Protect returns a [runtime.ServeMuxOption] that puts policy p in front
// of every route of the mux it configures, for the gateway's in-process
// mode (Register…HandlerServer), whose calls reach the service directly
// and meet no gRPC interceptor. Pass it to [runtime.NewServeMux] before
// any other [runtime.WithMiddlewares], so that nothing runs before the
// decision and the other middlewares see its claims.
//
// Each route is decided as a call of the RPC method it maps to, so the
// method's rules (Go options and .proto options) apply unchanged. The
// routes are read once, here, from the google.api.http rules of every
// service in the protobuf registry, as protoc-gen-grpc-gateway reads them
// (additional bindings included, and the POST routes of
// generate_unbound_methods); [WithRoute] maps the others. Protect fails if
// two methods declare the same route and no WithRoute settles it.
//
// A request is decided before its body is read, as [grpcjwt.HTTPCall]
// reads credentials (DPoP proofs against the REST request's method and
// URL; the client certificate from r.TLS). An admitted call reaches the
// service with the claims in its context ([grpcjwt.ClaimsFromContext]). A
// refusal goes through the mux's error handler, with the status the policy
// sends for it ([grpcjwt.Policy.Status]: with what would succeed, and the
// resource_metadata URL, in its ErrorInfo), as a refusal by the server's
// interceptors would in proxy mode
// (the status code, and a google.rpc.Status body with the wire code as
// message and the ErrorInfo detail), but for the WWW-Authenticate header,
// which is the RFC 6750/9449 challenge of [grpcjwt.Policy.Challenge]
// rather than the gateway's copy of the message ([ErrorHandler] sends the
// same in proxy mode). With DPoP nonces, the
// answer to a request of the DPoP scheme, refused or admitted, has the
// server's nonce in its DPoP-Nonce header ([grpcjwt.Policy.DPoPNonce]).
//
// Fail closed, throughout:
//   - the decision never sees the request message, so a method with an
//     organization rule is refused (PermissionDenied
//     "organization_mismatch"): serve such methods in proxy mode, where the
//     server's interceptors read the message;
//   - a route that maps to no method is refused with Internal (500);
//   - when the generated handler then names another method than the one
//     decided (the mapping is wrong), the request is aborted with
//     [http.ErrAbortHandler] before the service is called.
//
// In proxy mode (Register…HandlerFromEndpoint, Register…Handler) the
// server's interceptors decide every call, and the mux needs no Protect
// (but [ErrorHandler], for the challenges);
// with it, each call is decided twice, and the organization-ruled and
// DPoP calls that only the server can decide are refused at the gateway.
func Protect(p *grpcjwt.Policy, opts ...Option) (runtime.ServeMuxOption, error) {
	if p == nil {
		return nil, errors.New("grpcjwtgateway: Protect needs a Policy")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	routes, err := routeTable(protoregistry.GlobalFiles, o.routes)
	if err != nil {
		return nil, err
	}
	g := &guard{p: p, routes: routes}
	return func(mux *runtime.ServeMux) {
		runtime.WithMiddlewares(g.middleware(mux))(mux)
		runtime.WithMetadata(g.confirm)(mux)
	}, nil
}

// guard decides the calls of one policy by their routes.
type guard struct {
	p      *grpcjwt.Policy
	routes map[route]string
}

// decidedKey holds, in an admitted request's context, the method it was
// decided as.
type decidedKey struct{}

// errNoRoute refuses a route that maps to no method.
var errNoRoute = status.Error(codes.Internal, "grpcjwtgateway: no authorization rule for this route")

// middleware decides each request that mux routes, before the handler the
// gateway generated for its route runs.
func (g *guard) middleware(mux *runtime.ServeMux) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			method, ok := g.methodOf(r)
			if !ok {
				g.refuse(mux, w, r, errNoRoute, false)
				return
			}
			call := grpcjwt.HTTPCall(r, method)
			c, err := g.p.Check(r.Context(), &call, nil)
			if n := g.p.DPoPNonce(&call); n != "" {
				w.Header().Set(grpcjwt.DPoPNonceHeader, n)
			}
			if err != nil {
				g.refuse(mux, w, r, err, call.HTM != "")
				return
			}
			ctx := context.WithValue(r.Context(), decidedKey{}, method)
			if c != nil {
				ctx = grpcjwt.ContextWithClaims(ctx, c)
			}
			next(w, r.WithContext(ctx), params)
		}
	}
}

// methodOf returns the method of the route the mux matched r to.
func (g *guard) methodOf(r *http.Request) (string, bool) {
	pat, ok := runtime.HTTPPattern(r.Context())
	if !ok {
		return "", false
	}
	path := pat.String()
	if m, ok := g.routes[route{r.Method, path}]; ok {
		return m, true
	}
	if r.Method == http.MethodPost && isForm(r) {
		// The mux sends a form POST on to the GET route of its path
		// (its path length fallback), keeping the method POST.
		m, ok := g.routes[route{http.MethodGet, path}]
		return m, ok
	}
	return "", false
}

// isForm reports whether r's body is a URL-encoded form.
func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// confirm runs where the generated handler annotates the call's context
// with its RPC method, before the request's body is read and the service
// is called: it aborts a call of another method than the one it was
// decided as, or of one no decision was made for.
func (g *guard) confirm(ctx context.Context, _ *http.Request) metadata.MD {
	decided, _ := ctx.Value(decidedKey{}).(string)
	if rpc, _ := runtime.RPCMethod(ctx); decided == "" || rpc != decided {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// refuse answers a refused request through mux's error handler, with the
// challenge of a call whose authorization scheme was DPoP (dpop) or not.
func (g *guard) refuse(mux *runtime.ServeMux, w http.ResponseWriter, r *http.Request, err error, dpop bool) {
	_, out := runtime.MarshalerForRequest(mux, r)
	cw := &challengeWriter{ResponseWriter: w, challenge: g.p.Challenge(err, dpop)}
	runtime.HTTPError(r.Context(), mux, out, cw, r, g.p.Status(err).Err())
}
