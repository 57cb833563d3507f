package grpcjwt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Validate a token minted by a local test issuer.
func ExampleValidator_Validate() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()

	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	claims, err := v.Validate(ctx, iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Scopes, claims.HasScope("greet:read"))

	_, err = v.Validate(ctx, iss.Token(map[string]any{"aud": "https://other.example.com"}))
	fmt.Println(errors.Is(err, grpcjwt.ErrInvalidToken), errors.Is(err, grpcjwt.ErrAudienceMismatch))
	fmt.Println(grpcjwt.Status(err).Code(), grpcjwt.Status(err).Message())
	// Output:
	// alice [greet:read greet:write] true
	// true true
	// Unauthenticated invalid_token
}

// Protect a gRPC server: one policy, both interceptors from it, health
// checks public, one method scoped, and the rules audited at startup.
func Example_server() {
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:   "https://your-tenant.logto.app/oidc",
		Audience: "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	policy, err := grpcjwt.NewPolicy(v,
		grpcjwt.WithPublic("/grpc.health.v1.Health/"),
		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	greeterv1.RegisterGreeterServer(srv, greeter{})
	if _, err := policy.Audit(srv); err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(lis))
}

// Read the verified claims in a handler.
func ExampleClaimsFromContext() {
	handler := func(ctx context.Context) (string, error) {
		claims, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return "anonymous", nil // a public or optional method called without a token
		}
		var org string
		if _, err := claims.Get("organization_id", &org); err != nil {
			return "", err
		}
		return claims.Subject + " of " + org, nil
	}
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Validate(context.Background(), iss.Token(map[string]any{"sub": "alice", "organization_id": "acme"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(handler(grpcjwt.ContextWithClaims(context.Background(), claims)))
	fmt.Println(handler(context.Background()))
	// Output:
	// alice of acme <nil>
	// anonymous <nil>
}
