// Command greeter is grpcjwt's demo, and needs no outside service: it
// starts local OIDC issuers (grpcjwttest), a greeter server protected by
// grpcjwt's unary and stream interceptors, its HTTP face (connect-go and
// the gRPC-Gateway, under the same policy) and clients, all on loopback.
// The server trusts two of the issuers and accepts organization tokens. The
// client calls the server with a valid token on each RPC and with one from
// the second trusted issuer, then in each way a call can be refused, then
// for an organization with tokens for it and for another, then with a
// DPoP-bound token (with its proof, as a bearer token, with another key's
// proof, with a replayed proof), on a stream whose token expires while it
// runs, with an opaque token the issuer introspects, with tokens revoked at
// the issuer (refused where the method checks revocation), with the
// introspection endpoint down, and last through the HTTP doors: the Connect
// protocol, gRPC-Web, REST through the gateway in each of its modes, a CORS
// preflight and the RFC 9728 metadata document; and the demo prints what
// happened: the gRPC code and message the client received, the subject the
// server saw and how many response messages arrived.
//
//	go run ./examples/greeter
//
// It exits 0 when every call went as expected and 1 otherwise. The server
// and client are also commands of their own: see ./server and ./client.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/grpcjwt/grpcjwt/examples/greeter/demo"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := demo.Run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter demo: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("grpcjwt greeter demo: local OIDC issuers, a protected greeter server, its HTTP doors and clients, on loopback.")
	fmt.Println()
	if err := demo.WriteTable(os.Stdout, rows); err != nil {
		fmt.Fprintf(os.Stderr, "greeter demo: %v\n", err)
		os.Exit(1)
	}
	failed := 0
	for _, r := range rows {
		if !r.OK() {
			failed++
		}
	}
	fmt.Println()
	if failed > 0 {
		fmt.Printf("FAIL: %d of %d calls did not go as expected.\n", failed, len(rows))
		os.Exit(1)
	}
	fmt.Printf("ok: all %d calls went as expected.\n", len(rows))
}
