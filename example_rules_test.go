package grpcjwt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// List the rule of every registered method at startup, from the policy
// the interceptors decide by, and refuse to start on a rule that names a
// method the server does not have.
func ExamplePolicy_Audit() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	policy, err := grpcjwt.NewPolicy(v,
		grpcjwt.WithPublic("/grpc.health.v1.Health/Check"),
		grpcjwt.WithOptional("/grpc.health.v1.Health/List"),
		grpcjwt.WithScopes("/grpc.reflection.v1.ServerReflection/", "reflection:read"),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv) // registers v1 and the older v1alpha

	methods, err := policy.Audit(srv)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range methods {
		fmt.Println(m)
	}

	// A typo leaves the method it meant at the default; Audit says so.
	typo, err := grpcjwt.NewPolicy(v, grpcjwt.WithPublic("/grpc.health.v1.Health/Chek"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = typo.Audit(srv)
	fmt.Println(err)
	// Output:
	// /grpc.health.v1.Health/Check public (go:method)
	// /grpc.health.v1.Health/List optional (go:method)
	// /grpc.health.v1.Health/Watch required (default)
	// /grpc.reflection.v1.ServerReflection/ServerReflectionInfo required scopes=reflection:read (go:service)
	// /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo required (default)
	// grpcjwt: rule names method "/grpc.health.v1.Health/Chek", which the server does not have
}

// Use the policy's AuthFunc with go-grpc-middleware's auth interceptor
// under selector: the health check that load balancers probe is skipped,
// and every other method, here Health/List, needs a valid token.
func ExamplePolicy_AuthFunc_selector() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	policy, err := grpcjwt.NewPolicy(v)
	if err != nil {
		log.Fatal(err)
	}
	notHealthCheck := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.FullMethod() != healthpb.Health_Check_FullMethodName
	})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(policy.AuthFunc()), notHealthCheck),
	))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	check, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println("Check, no token:", check.GetStatus(), status.Code(err))

	_, err = client.List(ctx, &healthpb.HealthListRequest{})
	fmt.Println("List, no token:", status.Code(err), status.Convert(err).Message())

	withToken := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+iss.Token(nil))
	list, err := client.List(withToken, &healthpb.HealthListRequest{})
	fmt.Println("List, token:", len(list.GetStatuses()), "service(s)", status.Code(err))
	// Output:
	// Check, no token: SERVING OK
	// List, no token: Unauthenticated auth.authorization_header_missing
	// List, token: 1 service(s) OK
}

// Check a custom claim beyond scopes: the token's "organization_id" must be
// the organization the request names in its "organization-id" metadata.
func ExampleWithAuthorizer() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	sameOrganization := func(ctx context.Context, _ string, c *grpcjwt.Claims) error {
		var org string
		if _, err := c.Get("organization_id", &org); err != nil {
			return err
		}
		named := metadata.ValueFromIncomingContext(ctx, "organization-id")
		if org == "" || len(named) != 1 || named[0] != org {
			// Not a gRPC status: the client gets PermissionDenied "insufficient_scope".
			return fmt.Errorf("token is for organization %q, request names %q", org, named)
		}
		return nil
	}
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithAuthorizer(sameOrganization))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	token := iss.Token(map[string]any{"sub": "alice", "organization_id": "acme"})
	for _, org := range []string{"acme", "globex"} {
		callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, "organization-id", org)
		_, err := client.Check(callCtx, &healthpb.HealthCheckRequest{})
		fmt.Printf("acme token, %s request: %v %q\n", org, status.Code(err), status.Convert(err).Message())
	}
	// Output:
	// acme token, acme request: OK ""
	// acme token, globex request: PermissionDenied "insufficient_scope"
}

// See why calls are refused: the client only gets the fixed wire status,
// the reject hook gets the cause, to log or count.
func ExampleWithRejectHook() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	// The hook runs on the server's goroutine; a channel hands its view to
	// this one. A real hook would log: slog.Info("refused", "method", m, "err", err).
	causes := make(chan error, 1)
	hook := func(_ context.Context, _ string, err error) { causes <- err }
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithRejectHook(hook))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	expired := iss.Token(map[string]any{
		"iat": time.Now().Add(-2 * time.Hour).Unix(),
		"exp": time.Now().Add(-time.Hour).Unix(),
	})
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+expired)
	_, err = client.Check(callCtx, &healthpb.HealthCheckRequest{})
	fmt.Println("client sees:", status.Code(err), status.Convert(err).Message())

	// The cause's text has the expiry time in it; errors.Is is stable.
	cause := <-causes
	fmt.Println("hook sees expired token:", errors.Is(cause, grpcjwt.ErrTokenExpired))

	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println("client sees:", status.Code(err), status.Convert(err).Message())
	fmt.Println("hook sees:", <-causes)
	// Output:
	// client sees: Unauthenticated invalid_token
	// hook sees expired token: true
	// client sees: Unauthenticated auth.authorization_header_missing
	// hook sees: auth.authorization_header_missing
}
