// Package greeter is the library behind the greeter example: the Greeter
// service of examples/greeter/proto/greeter/v1/greeter.proto, a gRPC server
// protected by grpcjwt's interceptors, the policy that protects it (which
// package greeterhttp shares with the greeter's HTTP doors), and per-RPC
// credentials that send a bearer token. [Service] is also the greeter that
// the interop tests and the benchmarks serve; the package imports none of
// grpcjwt's doors, so that their modules need not require them. The demo
// that `go run ./examples/greeter` runs is package demo.
//
// The commands in the directories above it stay thin:
//
//	go run ./examples/greeter                  # the demo: local issuer, server and client
//	go run ./examples/greeter/server -issuer https://<tenant>/oidc -audience https://api.example.com
//	go run ./examples/greeter/client -addr 127.0.0.1:50051 -plaintext -token "$TOKEN"
//
// The server's rules come from two places. greeter.proto declares the
// Greeter's own (SayHello needs greet:read, Chat needs greet:write, Info is
// public, SayHelloStream needs any valid token, GreetOrganization needs
// greet:read and a token for the organization its request names), and
// [NewServer] makes the health and reflection services public in Go, so
// that load balancers and grpcurl can reach them without a token.
package greeter
