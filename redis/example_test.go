package grpcjwtredis_test

import (
	"context"
	"log"

	"github.com/grpcjwt/grpcjwt"
	grpcjwtredis "github.com/grpcjwt/grpcjwt/redis"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

// Every replica of the server is configured alike: the same Redis, the same
// prefix. A DPoP proof accepted by one replica is then refused by all.
// (No output: the example needs a Redis server; the tests start one.)
func Example() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "redis:6379"})
	defer client.Close()

	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:   "https://auth.example.com/oidc",
		Audience: "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: grpcjwtredis.New(client)}))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()))
	_ = srv // register services, then srv.Serve(lis)
}
