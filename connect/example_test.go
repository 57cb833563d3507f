package grpcjwtconnect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Protect a Connect server: the interceptor on the server, the middleware
// in front of it, the rules audited at startup, and a Connect client with
// a token and without one.
func Example() {
	iss := grpcjwttest.NewIssuer() // a local OIDC issuer; in production, your provider
	defer iss.Close()
	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v) // the rules are in the .proto
	if err != nil {
		log.Fatal(err)
	}

	server := connect.NewServer(grpcjwtconnect.NewInterceptor(policy))
	demo.Register(server) // generated code's RegisterGreeterHandler
	rules, err := policy.Audit(grpcjwtconnect.ServicesOf(server))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rules {
		fmt.Println(r.FullMethod, r.Access, r.Scopes)
	}
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	srv := httptest.NewServer(grpcjwtconnect.NewMiddleware(policy).Wrap(mux))
	defer srv.Close()

	token := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
	greeter := demo.NewClient(connect.NewClient(connecthttp.NewTransport(srv.Client(), srv.URL), bearer(token)))
	res, err := greeter.SayHello(ctx, &demov1.SayHelloRequest{Name: "Alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetMessage(), res.GetSubject())

	anonymous := demo.NewClient(connect.NewClient(connecthttp.NewTransport(srv.Client(), srv.URL)))
	_, err = anonymous.SayHello(ctx, &demov1.SayHelloRequest{Name: "Mallory"})
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		fmt.Println(ce.Code(), ce.Message())
	}
	// Output:
	// /demo.v1.Greeter/Chat required [greet:write]
	// /demo.v1.Greeter/GetOrganization required []
	// /demo.v1.Greeter/Info public []
	// /demo.v1.Greeter/SayHello required [greet:read]
	// /demo.v1.Greeter/Watch required []
	// Hello, Alice! alice
	// unauthenticated auth.authorization_header_missing
}

// bearer sends a bearer token on every call.
func bearer(token string) connect.ClientInterceptor {
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			info, _ := connect.CallInfoForClientContext(ctx)
			info.RequestHeader().Set("Authorization", "Bearer "+token)
			return next(ctx, spec)
		}
	}
}

// What curl sees of a refused Connect unary call: the HTTP status, the
// WWW-Authenticate challenge and the Connect error, its message the one a
// gRPC client gets.
func ExampleMiddleware_Wrap() {
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
	server := connect.NewServer(grpcjwtconnect.NewInterceptor(policy))
	demo.Register(server)
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server)
	srv := httptest.NewServer(grpcjwtconnect.NewMiddleware(policy).Wrap(mux))
	defer srv.Close()

	// curl -H 'Content-Type: application/json' -H 'Authorization: Bearer ...' -d '{"name":"Alice"}' .../demo.v1.Greeter/SayHello
	token := iss.Token(map[string]any{"scope": "greet:write"}) // not greet:read
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/demo.v1.Greeter/SayHello", strings.NewReader(`{"name":"Alice"}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Code, Message string
		Details       []struct{ Type string }
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status)
	fmt.Println("WWW-Authenticate:", res.Header.Get("WWW-Authenticate"))
	fmt.Println(body.Code, body.Message, body.Details[0].Type)
	// Output:
	// 403 Forbidden
	// WWW-Authenticate: Bearer error="insufficient_scope", scope="greet:read"
	// permission_denied insufficient_scope google.rpc.ErrorInfo
}
