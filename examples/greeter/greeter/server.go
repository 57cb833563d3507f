package greeter

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// PublicServices are the services [NewServer] serves without a token: the
// standard health service, for load balancers and orchestrators, and both
// versions of server reflection, for grpcurl and other tools. Reflection
// tells anyone the API's shape; drop it from a server whose API is secret.
var PublicServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// ServerConfig holds the optional settings of [NewServer].
type ServerConfig struct {
	// Logger receives the audited rule of every method (with its
	// organization rule, if any) at Info when the server is built, and
	// every refused call with its cause at Info; default: no logging.
	Logger *slog.Logger

	// Rules are grpcjwt options applied after the server's own, which make
	// [PublicServices] public and log refusals to Logger; the .proto
	// options declare the rest. grpcjwt.WithDPoP here accepts DPoP-bound
	// tokens.
	Rules []grpcjwt.Option

	// ServerOptions are passed to grpc.NewServer after the interceptors,
	// for example grpc.Creds for TLS.
	ServerOptions []grpc.ServerOption

	// Health, when set, is the health service to register; its statuses
	// are the caller's to keep (with grpcjwt.ServeHealth, say). By default
	// a new one reports SERVING for the server and for greeter.v1.Greeter.
	Health *health.Server
}

// NewServer returns a gRPC server with the greeter [Service], the health
// service (by default reporting SERVING for the server and for
// greeter.v1.Greeter; see [ServerConfig.Health]) and
// server reflection registered, all behind the unary and stream
// interceptors of one grpcjwt policy of v and the rules. It checks the
// rules with [grpcjwt.Policy.Audit] and
// refuses to build a server whose options name a method or service it does
// not have, so that a typo cannot leave a method protected differently than
// intended.
func NewServer(v *grpcjwt.Validator, cfg ServerConfig) (*grpc.Server, error) {
	srv, _, err := NewServerAndPolicy(v, cfg)
	return srv, err
}

// NewServerAndPolicy is [NewServer], and returns the policy too, so that
// the greeter's other doors (Connect and the gRPC-Gateway, in package
// greeterhttp) decide their calls by the same policy as the server's
// interceptors: one set of rules, one reject hook, one DPoP replay cache.
func NewServerAndPolicy(v *grpcjwt.Validator, cfg ServerConfig) (*grpc.Server, *grpcjwt.Policy, error) {
	rules := []grpcjwt.Option{grpcjwt.WithPublic(PublicServices...)}
	if cfg.Logger != nil {
		rules = append(rules, grpcjwt.WithRejectHook(func(ctx context.Context, method string, err error) {
			cfg.Logger.InfoContext(ctx, "call refused", "method", method, "cause", err)
		}))
	}
	rules = append(rules, cfg.Rules...)
	policy, err := grpcjwt.NewPolicy(v, rules...)
	if err != nil {
		return nil, nil, err
	}
	opts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
	}, cfg.ServerOptions...)
	srv := grpc.NewServer(opts...)
	greeterv1.RegisterGreeterServer(srv, Service{})
	hs := cfg.Health
	if hs == nil {
		hs = health.NewServer()
		hs.SetServingStatus(greeterv1.Greeter_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)

	audited, err := policy.Audit(srv)
	if err != nil {
		srv.Stop()
		return nil, nil, fmt.Errorf("checking the authorization rules: %w", err)
	}
	if cfg.Logger != nil {
		for _, m := range audited {
			attrs := []any{"method", m.FullMethod, "access", m.Access.String(), "scopes", m.Scopes}
			if m.Organization != nil {
				attrs = append(attrs, "organization", m.Organization.String())
			}
			cfg.Logger.Info("authorization rule", append(attrs, "source", m.Source)...)
		}
	}
	return srv, policy, nil
}
