package grpcjwt_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Require a multi-factor login of the last five minutes (RFC 9470): a
// token from a weaker or older login is refused with
// insufficient_user_authentication, whose ErrorInfo tells the client the
// acr_values and max_age to ask its authorization server for, and an HTTP
// door's challenge the same.
func ExampleWithStepUp() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	const check = "/grpc.health.v1.Health/Check"
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithStepUp(check, grpcjwt.StepUp{
		ACRValues: []string{"urn:logto:acr:mfa"},
		MaxAge:    5 * time.Minute,
	}))
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

	login := func(acr string, ago time.Duration) string {
		return iss.Token(map[string]any{"acr": acr, "amr": []string{"pwd"}, "auth_time": time.Now().Add(-ago).Unix()})
	}
	for _, tok := range []string{
		login("urn:logto:acr:1fa", time.Minute), // one factor
		login("urn:logto:acr:mfa", time.Hour),   // too long ago
		login("urn:logto:acr:mfa", time.Minute), // what the method requires
	} {
		_, err := client.Check(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), &healthpb.HealthCheckRequest{})
		if err == nil {
			fmt.Println("OK")
			continue
		}
		s := status.Convert(err)
		fmt.Println(s.Code(), s.Message())
		for _, d := range s.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				md := info.GetMetadata()
				fmt.Printf("  acr_values=%q max_age=%q\n", md[grpcjwt.ACRValuesKey], md[grpcjwt.MaxAgeKey])
			}
		}
	}

	// An HTTP door answers with the RFC 9470 challenge.
	_, err = policy.Check(ctx, &grpcjwt.Call{Method: check, Authorization: []string{"Bearer " + login("urn:logto:acr:1fa", 0)}}, nil)
	fmt.Println(grpcjwt.HTTPStatus(err), policy.Challenge(err, false))
	// Output:
	// Unauthenticated insufficient_user_authentication
	//   acr_values="urn:logto:acr:mfa" max_age="300"
	// Unauthenticated insufficient_user_authentication
	//   acr_values="urn:logto:acr:mfa" max_age="300"
	// OK
	// 401 Bearer error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa", max_age=300
}

// Accept either of two sets of scopes: read:all, or both read:own and
// org:member. A token that meets neither is refused with the scopes of the
// first group, which is the one to ask for.
func ExampleWithAnyScopes() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	const balance = "/bank.v1.Accounts/Balance"
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithAnyScopes(balance,
		[]string{"read:all"},
		[]string{"read:own", "org:member"},
	))
	if err != nil {
		log.Fatal(err)
	}
	for _, scope := range []string{"read:all", "org:member read:own", "read:own"} {
		call := &grpcjwt.Call{Method: balance, Authorization: []string{"Bearer " + iss.Token(map[string]any{"scope": scope})}}
		_, err := policy.Check(ctx, call, nil)
		fmt.Printf("%-20s %v %q\n", scope, policy.Status(err).Code(), policy.Challenge(err, false))
	}
	// Output:
	// read:all             OK ""
	// org:member read:own  OK ""
	// read:own             PermissionDenied "Bearer error=\"insufficient_scope\", scope=\"read:all\""
}
