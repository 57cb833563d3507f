// Package bench measures grpcjwt against two floors and against other Go JWT
// verifiers. It is a module of its own so that the libraries it compares
// with never enter grpcjwt's dependencies.
//
// Every verifier sees the same access tokens, minted by a
// [grpcjwttest.Issuer] on loopback, and is configured as a careful user
// would configure it: the issuer, the audience, the algorithms, and the keys
// from the issuer's JWKS over real HTTP, fetched once and cached by the
// library. The physical floor is what no verifier can do without: decode
// the base64url parts, hash, and check the signature with the standard
// library, with no JSON at all. The floor adds what a verifier built on
// encoding/json must: the claims decoded into a struct and checked.
//
// The benchmarks assert nothing about time. They check once, before timing,
// that the verifier accepts the token, so that a failing path cannot pass
// for a fast one; TestVerifiersReject checks that each of them refuses
// forged, expired and misaddressed tokens, so that a lax one cannot either.
//
// Run everything, with the end-to-end load test, with ./run; see README.md.
package bench
