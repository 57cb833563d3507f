// Command greeter is grpcjwt's demo, and needs no outside service: it
// starts local OIDC issuers (grpcjwttest), a greeter server protected by
// grpcjwt's unary and stream interceptors, and a client, all on loopback.
// The server trusts two of the issuers and accepts organization tokens.
// The client calls the server with a valid token on each RPC and with one
// from the second trusted issuer, then in each way a call can be refused,
// then for an organization with tokens for it and for another, then with a
// DPoP-bound token (with its proof, as a bearer token, with another key's
// proof, with a replayed proof), and last on a stream whose token expires
// while it runs; and the demo prints what happened: the gRPC code and
// message the client received, the subject the server saw and how many
// response messages arrived.
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

	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := greeter.RunDemo(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter demo: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("grpcjwt greeter demo: local OIDC issuers, a protected greeter server and a client, on loopback.")
	fmt.Println()
	if err := greeter.WriteTable(os.Stdout, rows); err != nil {
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
