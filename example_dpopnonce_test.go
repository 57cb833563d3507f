package grpcjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Require server-issued nonces in DPoP proofs, and keep a client up with
// them: the client's first call has no nonce and is refused with
// use_dpop_nonce; its interceptor reads the nonce of the refusal and makes
// the call again, once, with it; the next call carries it from the start.
func ExampleDPoPCredentials_UnaryClientInterceptor() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	secret := make([]byte, 32) // in production: from a secret store, the same on every replica
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	policy, err := grpcjwt.NewPolicy(v,
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Nonce: &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{secret}}}),
		grpcjwt.WithRejectHook(func(_ context.Context, method string, err error) {
			fmt.Println("refused", method, grpcjwt.CauseOf(err))
		}))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	var token string
	creds, err := grpcjwt.NewDPoPCredentials(key, "ES256", func(context.Context) (string, error) { return token, nil })
	if err != nil {
		log.Fatal(err)
	}
	token = iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS in production
		grpc.WithPerRPCCredentials(creds),
		grpc.WithChainUnaryInterceptor(creds.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(creds.StreamClientInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)
	for range 2 {
		r, err := client.SayHello(context.Background(), &greeterv1.SayHelloRequest{Name: "x"})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("ok:", r.GetSubject())
	}
	// Output:
	// refused /greeter.v1.Greeter/SayHello use_dpop_nonce
	// ok: alice
	// ok: alice
}
