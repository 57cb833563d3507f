// Package grpcjwtredis is a Redis-backed [grpcjwt.ReplayCache], so that
// replicas of a gRPC server behind one load balancer share the DPoP proofs
// they have accepted: a proof accepted by one replica is refused when it is
// replayed at any other.
//
// Each proof costs one script, run atomically by Redis, so that concurrent
// replays at different replicas cannot both win. It keeps one sorted set
// per DPoP key, under a prefix (default [DefaultPrefix]) and the hex
// SHA-256 of the key's thumbprint: its members are the hex SHA-256 of the
// jtis of the key's unexpired proofs, so every member has the same size
// whatever a client sends, scored by when they expire. Expiry is timed by
// Redis's own clock (TIME and relative TTLs): the server turns grpcjwt's
// expiry into a duration on its own clock ([WithClock]), and Redis counts
// it down on its, so that the proofs are remembered as long as they must
// be however far the clocks of Redis and of the servers disagree. The
// servers' clocks must agree with each other (NTP): a proof is remembered
// until its expiry on the clock of the replica that accepted it, so that a
// replica whose clock is behind that one's by d would accept a replay of
// it in the last d of its lifetime. Use Redis 6.2 or later (the tests run
// 7.0).
//
// One key may have at most [WithMaxPerKey] unexpired proofs (default
// [grpcjwt.DefaultReplayPerKey]); at its share, its new proofs are refused
// and other keys are not affected. grpcjwt remembers a proof until
// [grpcjwt.DPoPConfig.ProofLifetime] (L) after its iat, when its iat
// refuses it anyway, so a key sustains WithMaxPerKey/L proofs a second
// from a client whose clock agrees with the servers', and at least
// WithMaxPerKey/(2L) whatever its clock: 83.3 (41.7 at least) with the
// defaults and L of one minute.
//
// Redis bounds the cache as a whole: set maxmemory, and keep the default
// maxmemory-policy noeviction, or use one that evicts only other keys. A
// full Redis then refuses the write, and the proof is refused (fail
// closed); a policy that evicts these keys would forget unexpired proofs
// and let them be replayed. A proof takes about 170 bytes of Redis memory
// (MEMORY USAGE of a key's set: 171 a proof at 5,000 proofs, the default
// share, 166 at 1,000, 103 at 10; BenchmarkSeen), so that maxmemory M
// holds about M/170 proofs and takes M/(170·L) a second from clients whose
// clocks agree with the servers', and at least M/(170·2L): with 1 GiB and
// L of one minute, 6.3 million proofs and 105,000 a second (52,600 at
// least).
//
// Quick start:
//
//	client := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
//		Issuer:   "https://auth.example.com/oidc",
//		Audience: "https://api.example.com",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	policy, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{
//		ReplayCache: grpcjwtredis.New(client),
//	}))
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()))
//
// This module is separate from github.com/grpcjwt/grpcjwt, which takes no
// Redis dependency.
package grpcjwtredis
