package greeterhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
	grpcjwtgateway "github.com/grpcjwt/grpcjwt/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// MetadataPath is where [Handler] serves the policy's RFC 9728 document.
const MetadataPath = "/.well-known/oauth-protected-resource"

// RESTMode is how the gRPC-Gateway reaches the greeter.
type RESTMode int

// The gateway's two modes. They are protected by different things: see
// docs/gateway.md in the repository.
const (
	// Proxy makes each REST request a gRPC call to the gRPC server, over
	// an in-memory connection, so the server's interceptors decide it as
	// any gRPC call, organization rules included; grpcjwtgateway.ErrorHandler
	// answers their refusals with the policy's challenges.
	Proxy RESTMode = iota
	// InProcess calls [greeter.Service] directly, which no gRPC
	// interceptor sees: grpcjwtgateway.Protect decides each route as a
	// call of its method instead. It refuses GreetOrganization, whose
	// organization rule needs the request message, which Protect never
	// sees.
	InProcess
)

// String returns "proxy" or "in-process", as [ParseRESTMode] reads them.
func (m RESTMode) String() string {
	switch m {
	case Proxy:
		return "proxy"
	case InProcess:
		return "in-process"
	}
	return fmt.Sprintf("RESTMode(%d)", int(m))
}

// ParseRESTMode returns the mode named s: "proxy" or "in-process".
func ParseRESTMode(s string) (RESTMode, error) {
	for _, m := range []RESTMode{Proxy, InProcess} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown REST mode %q (want proxy or in-process)", s)
}

// Config holds the settings of [New].
type Config struct {
	// Policy decides every call, and must be the policy of GRPC's
	// interceptors (see [greeter.NewServerAndPolicy]): the Connect door,
	// the gateway in either mode and the gRPC server then apply the same
	// rules and report to the same hooks. Required.
	Policy *grpcjwt.Policy

	// GRPC is the greeter's gRPC server, from
	// [greeter.NewServerAndPolicy]. Proxy mode calls it; the RFC 9728
	// document lists the scopes of its methods. Required.
	GRPC *grpc.Server

	// REST is the gateway's mode; default [Proxy].
	REST RESTMode

	// Origins are the browser origins allowed to call the API across
	// origins (CORS), such as "http://127.0.0.1:8081": scheme, host and
	// port, as browsers send them in the Origin header. None by default:
	// browsers then call only from the API's own origin.
	Origins []string
}

// Handler is the greeter's HTTP face: an [http.Handler] for the Connect
// procedures, the REST routes and the RFC 9728 document (see the package
// documentation). Build one with [New], and Close it when done. It is
// safe for concurrent use.
type Handler struct {
	mux    *http.ServeMux
	closer func() error
}

// New returns the greeter's HTTP face, deciding calls by cfg.Policy. In
// [Proxy] mode it starts serving cfg.GRPC on an in-memory listener, for
// the gateway to call; Close stops that.
//
// The rules need no audit of their own here: every procedure and route
// served is a method of cfg.GRPC, whose rules
// [greeter.NewServerAndPolicy] audited.
func New(cfg Config) (*Handler, error) {
	if cfg.Policy == nil || cfg.GRPC == nil {
		return nil, errors.New("greeterhttp: Config.Policy and Config.GRPC are required")
	}
	cs := connect.NewServer(grpcjwtconnect.NewInterceptor(cfg.Policy))
	greeterv1connect.RegisterGreeterHandler(cs, connectService{})
	connectMux := http.NewServeMux()
	connecthttp.Mount(connectMux, cs)

	rest, closer, err := gateway(cfg)
	if err != nil {
		return nil, err
	}
	allowed := cors(cfg.Origins)
	h := &Handler{mux: http.NewServeMux(), closer: closer}
	h.mux.Handle("/"+greeterv1connect.GreeterName+"/", allowed(grpcjwtconnect.NewMiddleware(cfg.Policy).Wrap(connectMux)))
	h.mux.Handle("/v1/", allowed(rest))
	if md, err := cfg.Policy.ResourceMetadataHandler(cfg.GRPC); err == nil {
		// The document sets its own CORS header: anyone may read it.
		h.mux.Handle(MetadataPath, md)
	}
	return h, nil
}

// gateway returns the gRPC-Gateway's mux in cfg.REST's mode, and what
// stops it.
func gateway(cfg Config) (http.Handler, func() error, error) {
	ctx := context.Background()
	switch cfg.REST {
	case Proxy:
		// The gateway dials the gRPC server over an in-memory listener:
		// a real gRPC call through the server's interceptors, with no
		// port or TLS certificate of its own.
		lis := bufconn.Listen(1 << 20)
		served := make(chan error, 1)
		go func() { served <- cfg.GRPC.Serve(lis) }()
		conn, err := grpc.NewClient("passthrough:///greeter",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			lis.Close()
			<-served
			return nil, nil, err
		}
		// The server's refusals reach the gateway as statuses;
		// ErrorHandler answers them with the policy's challenges, as
		// Protect does in-process.
		mux := runtime.NewServeMux(runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(cfg.Policy, nil)))
		if err := greeterv1.RegisterGreeterHandler(ctx, mux, conn); err != nil {
			conn.Close()
			lis.Close()
			<-served
			return nil, nil, err
		}
		return mux, func() error {
			err := conn.Close()
			lis.Close()
			<-served // the listener's error, or nil if the server stopped first
			return err
		}, nil
	case InProcess:
		protect, err := grpcjwtgateway.Protect(cfg.Policy)
		if err != nil {
			return nil, nil, err
		}
		mux := runtime.NewServeMux(protect)
		if err := greeterv1.RegisterGreeterHandlerServer(ctx, mux, greeter.Service{}); err != nil {
			return nil, nil, err
		}
		return mux, func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("greeterhttp: unknown REST mode %v", cfg.REST)
}

// ServeHTTP serves the Connect procedures, the REST routes and the
// metadata document; any other path gets 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close stops what New started: in [Proxy] mode, the gateway's connection
// to the gRPC server and the in-memory listener. Call it after the HTTP
// server that serves h has shut down.
func (h *Handler) Close() error { return h.closer() }
