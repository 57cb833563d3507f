package grpcjwt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Guard a REST endpoint beside an RPC API with the same policy: the route
// names the method whose rule it follows, and a refusal carries the status,
// the RFC 6750 challenge and the wire code a gRPC client would get.
func ExamplePolicy_HTTPHandler() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithScopes("/reports.v1.Reports/Export", "reports:export"))
	if err != nil {
		log.Fatal(err)
	}

	export := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := grpcjwt.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "report for %s\n", c.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /reports/export", policy.HTTPHandler("/reports.v1.Reports/Export", export))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Audit sees the route's method with its rule.
	rules, err := policy.Audit(grpcjwt.Methods(nil, "/reports.v1.Reports/Export"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rules[0])

	get := func(token string) {
		req, _ := http.NewRequest("GET", srv.URL+"/reports/export", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	get("")
	get(iss.Token(map[string]any{"sub": "alice"}))
	get(iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"}))
	// Output:
	// /reports.v1.Reports/Export required scopes=reports:export (go:method)
	// 401 "Bearer" {"error":"auth.authorization_header_missing"}
	// 403 "Bearer error=\"insufficient_scope\", scope=\"reports:export\"" {"error":"insufficient_scope"}
	// 200 "" report for alice
}
