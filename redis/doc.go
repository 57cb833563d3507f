// Package grpcjwtredis is a Redis-backed [grpcjwt.ReplayCache], so that
// replicas of a gRPC server behind one load balancer share the DPoP proofs
// they have accepted: a proof accepted by one replica is refused when it is
// replayed at any other.
//
// Each proof costs one atomic command, SET key 1 NX PXAT expiry, so that
// concurrent replays at different replicas cannot both win. The key is a
// prefix (default [DefaultPrefix]) and the hex SHA-256 of the proof's key
// thumbprint and jti, so every entry has the same bounded size whatever a
// client sends. Redis 6.2 or later is needed (PXAT).
//
// Redis bounds the cache: set maxmemory, and keep the default
// maxmemory-policy noeviction, or use one that evicts only other keys. A
// full Redis then refuses the write, and the proof is refused (fail closed);
// a policy that evicts these keys would forget unexpired proofs and let
// them be replayed.
//
// Quick start:
//
//	client := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
//		Issuer:   "https://auth.example.com/oidc",
//		Audience: "https://api.example.com",
//		DPoP:     &grpcjwt.DPoPConfig{ReplayCache: grpcjwtredis.New(client)},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(grpcjwt.UnaryServerInterceptor(v)),
//		grpc.ChainStreamInterceptor(grpcjwt.StreamServerInterceptor(v)))
//
// This module is separate from github.com/grpcjwt/grpcjwt, which takes no
// Redis dependency.
package grpcjwtredis
