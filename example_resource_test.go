package grpcjwt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Serve the protected resource metadata (RFC 9728) of a gRPC API beside
// it, and point every refusal at it.
func ExamplePolicy_ResourceMetadataHandler() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	policy, err := grpcjwt.NewPolicy(v,
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: "https://api.example.com"}),
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()))
	greeterv1.RegisterGreeterServer(srv, greeter{})

	h, err := policy.ResourceMetadataHandler(srv)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-protected-resource", h)
	web := httptest.NewServer(mux) // in production, the API's https server
	defer web.Close()
	resp, err := http.Get(web.URL + "/.well-known/oauth-protected-resource")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(string(doc), iss.URL, "<issuer>"))

	// A refusal names the document, over HTTP and over gRPC.
	_, refusal := policy.Check(context.Background(), &grpcjwt.Call{Method: "/greeter.v1.Greeter/SayHello"}, nil)
	fmt.Println(policy.Challenge(refusal, false))
	for _, d := range policy.Status(refusal).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			fmt.Println(info.GetMetadata()[grpcjwt.ResourceMetadataKey])
		}
	}
	// Output:
	// {"resource":"https://api.example.com","authorization_servers":["<issuer>"],"scopes_supported":["greet:read","greet:write"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256"]}
	// Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", DPoP algs="ES256", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
	// https://api.example.com/.well-known/oauth-protected-resource
}

// Publish every method's rule: a client asks the catalog, without a
// token, what each method needs.
func ExamplePolicy_Catalog() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithOptional("/greeter.v1.Greeter/SayHelloStream"))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()),
	)
	greeterv1.RegisterGreeterServer(srv, greeter{})
	grpcjwtv1.RegisterCatalogServer(srv, policy.Catalog(srv)) // public: it reveals the rules
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
	resp, err := grpcjwtv1.NewCatalogClient(conn).ListMethods(context.Background(), &grpcjwtv1.ListMethodsRequest{})
	if err != nil {
		log.Fatal(status.Convert(err).Message())
	}
	for _, m := range resp.GetMethods() {
		fmt.Println(m.GetFullMethod(), m.GetAccess(), m.GetScopes())
	}
	// Output:
	// /greeter.v1.Greeter/Chat ACCESS_REQUIRED [greet:write]
	// /greeter.v1.Greeter/Info ACCESS_PUBLIC []
	// /greeter.v1.Greeter/SayHello ACCESS_REQUIRED [greet:read]
	// /greeter.v1.Greeter/SayHelloStream ACCESS_OPTIONAL []
	// /grpcjwt.v1.Catalog/ListMethods ACCESS_PUBLIC []
}
