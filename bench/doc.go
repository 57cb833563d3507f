// Package bench measures grpcjwt against a floor and against other Go JWT
// verifiers. It is a module of its own so that the libraries it compares
// with never enter grpcjwt's dependencies.
//
// Every verifier sees the same access tokens, minted by a
// [grpcjwttest.Issuer] on loopback, and is configured as a careful user
// would configure it: the issuer, the audience, the algorithms, and the keys
// from the issuer's JWKS over real HTTP, fetched once and cached by the
// library. The floor is what any correct verifier must do: decode the
// base64url parts, hash, check the signature with the standard library, and
// decode the claims into a struct with encoding/json.
//
// The benchmarks assert nothing about time. They check once, before timing,
// that the verifier accepts the token, so that a failing path cannot pass
// for a fast one; TestVerifiersReject checks that each of them refuses
// forged, expired and misaddressed tokens, so that a lax one cannot either.
//
// Run everything, with the end-to-end load test, with ./run; see README.md.
package bench
