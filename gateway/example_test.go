package grpcjwtgateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtgateway "github.com/grpcjwt/grpcjwt/gateway"
	reportsv1 "github.com/grpcjwt/grpcjwt/gateway/internal/testpb/reports/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Protect a gateway in in-process mode, where no gRPC interceptor runs:
// each REST route is decided by the rule of the RPC method it maps to
// (here the .proto rule of ListReports: scope reports:read), and a refusal
// is the gateway's google.rpc.Status, with an RFC 6750 challenge.
func ExampleProtect() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v)
	if err != nil {
		log.Fatal(err)
	}

	protect, err := grpcjwtgateway.Protect(policy)
	if err != nil {
		log.Fatal(err)
	}
	mux := runtime.NewServeMux(protect)
	if err := reportsv1.RegisterReportsHandlerServer(context.Background(), mux, &reports{}); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(token string) { getReports(srv.URL, token) }
	get("")
	get(iss.Token(map[string]any{"sub": "alice"}))
	get(iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"}))
	// Output:
	// 401 "Bearer" message="auth.authorization_header_missing" subject=""
	// 403 "Bearer error=\"insufficient_scope\", scope=\"reports:read\"" message="insufficient_scope" subject=""
	// 200 "" message="" subject="alice"
}

// Answer a gateway's proxy-mode refusals, which the gRPC server's
// interceptors decide, with the same RFC 6750 challenges as in-process
// mode: ErrorHandler builds them from the statuses the server sends.
func ExampleErrorHandler() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v)
	if err != nil {
		log.Fatal(err)
	}

	// The gRPC server, protected by the policy's interceptors.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(policy.UnaryServerInterceptor()))
	reportsv1.RegisterReportsServer(gs, &reports{})
	go gs.Serve(lis)
	defer gs.Stop()

	// The gateway in front of it, in proxy mode.
	mux := runtime.NewServeMux(runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(policy, nil)))
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := reportsv1.RegisterReportsHandlerFromEndpoint(context.Background(), mux, lis.Addr().String(), opts); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	getReports(srv.URL, "")
	getReports(srv.URL, "x.y.z")
	getReports(srv.URL, iss.Token(map[string]any{"sub": "alice"}))
	getReports(srv.URL, iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"}))
	// Output:
	// 401 "Bearer" message="auth.authorization_header_missing" subject=""
	// 401 "Bearer error=\"invalid_token\"" message="invalid_token" subject=""
	// 403 "Bearer error=\"insufficient_scope\", scope=\"reports:read\"" message="insufficient_scope" subject=""
	// 200 "" message="" subject="alice"
}

// getReports GETs /v1/reports at base with token, if any, and prints the
// answer's status, challenge, and the message or subject of its body.
func getReports(base, token string) {
	req, _ := http.NewRequest("GET", base+"/v1/reports", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Message string `json:"message"` // a refusal's wire code
		Subject string `json:"subject"` // the reply's
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d %q message=%q subject=%q\n", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body.Message, body.Subject)
}
