// Package claimsctx is the context key under which grpcjwt carries a
// call's verified claims: ctx.Value(Key{}) is the *grpcjwt.Claims that
// grpcjwt.ClaimsFromContext returns. It is a package of its own so that a
// door in another module of this repository (grpcjwtconnect) can answer
// the key from a context value of its own, which carries the claims and
// the door's own state in one allocation.
package claimsctx

// Key is the context key of a call's verified claims.
type Key struct{}
