package grpcjwt

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
)

// Observer sees what a [Validator] and the interceptors built on it do, for
// metrics and traces (the module github.com/grpcjwt/grpcjwt/otel adapts it
// to OpenTelemetry). Set it in [Config.Observer]. Its methods are called on
// the request path and from key refreshes, concurrently: they must be cheap,
// must not block, and must not keep the values they are given beyond the
// call. Every string they receive is bounded: a method name the server does
// not know is reported as "unknown", causes are a fixed set ([Cause]),
// issuers are the configured ones.
type Observer interface {
	// ObserveDecision is called once for each call the interceptors decide
	// (not for a service's own ServiceAuthFuncOverride).
	ObserveDecision(ctx context.Context, d Decision)

	// ObserveValidation is called once for each [Validator.Validate].
	ObserveValidation(ctx context.Context, v Validation)

	// StartKeyFetch is called when a fetch of an issuer's discovery
	// document or JWKS starts. The context it returns is used for the
	// fetch (a tracer puts its span there); the function is called once
	// with the outcome when the fetch ends.
	StartKeyFetch(ctx context.Context, f KeyFetch) (context.Context, func(KeyFetchResult))
}

// Result is what the interceptors decided about a call.
type Result string

// The results of a decision: the gRPC code the call got from the
// interceptors.
const (
	ResultOK               Result = "ok"
	ResultUnauthenticated  Result = "unauthenticated"
	ResultPermissionDenied Result = "permission_denied"
	ResultUnavailable      Result = "unavailable"
)

// UnknownMethod is the method of a [Decision] for a name that neither the
// server's protobuf registry nor the options know: the caller chose it.
const UnknownMethod = "unknown"

// Decision is one call the interceptors decided.
type Decision struct {
	Method string // the full method, or [UnknownMethod]
	Result Result
	Cause  Cause // CauseNone when Result is ResultOK
}

// Validation is one [Validator.Validate].
type Validation struct {
	Issuer   string        // the trusted issuer the token was routed to; "" before routing
	CacheHit bool          // the token was in the verified-token cache (for an opaque token, its introspection was)
	Opaque   bool          // the token is not a JWT: it went to [Config.OpaqueTokenIssuer]'s introspection endpoint
	Duration time.Duration // time spent in Validate, when Timed
	Timed    bool          // Duration was measured: on every miss, and on one cache hit in 64
	Cause    Cause         // CauseNone when the token was accepted
}

// hitTimingSample: one cache hit in this many is timed. A clock reading
// costs a fifth of a hit or more (60 ns on a VM's kvm-clock), and hits
// vary little, so a sample of them shows their latency.
const hitTimingSample = 64

// FetchReason is why a key fetch happened.
type FetchReason string

// The reasons for a key fetch.
const (
	FetchStartup    FetchReason = "startup"     // NewValidator, or a background start and its retries
	FetchPeriodic   FetchReason = "periodic"    // the refresh interval elapsed
	FetchUnknownKID FetchReason = "unknown_kid" // a token named a kid the key set lacks
)

// KeyFetch is one fetch of an issuer's keys (with its discovery, when that
// is part of it).
type KeyFetch struct {
	Issuer string
	Reason FetchReason
}

// KeyFetchResult is the outcome of a [KeyFetch].
type KeyFetchResult struct {
	Err      error         // nil on success
	Keys     int           // usable keys in the new set; 0 on failure
	Duration time.Duration // time the fetch took
}

// IntrospectionObserver is an [Observer] that also sees requests to
// introspection endpoints (RFC 7662): when [Config.Observer] implements
// it, StartIntrospection is called as StartKeyFetch is, for each request.
// It is an interface of its own so that Observers written before
// introspection keep compiling; the otel module's implements it.
type IntrospectionObserver interface {
	// StartIntrospection is called when a request to an issuer's
	// introspection endpoint starts. The context it returns is used for
	// the request; the function is called once with the outcome when the
	// request and the reading of its answer end.
	StartIntrospection(ctx context.Context, r IntrospectionRequest) (context.Context, func(IntrospectionResult))
}

// IntrospectionReason is why a token was introspected.
type IntrospectionReason string

// The reasons for an introspection request.
const (
	IntrospectOpaque     IntrospectionReason = "opaque"           // an opaque token, at Config.OpaqueTokenIssuer
	IntrospectRevocation IntrospectionReason = "revocation_check" // a JWT, on a method that checks revocation
)

// IntrospectionRequest is one request to an issuer's introspection
// endpoint. Calls with the same token share one request.
type IntrospectionRequest struct {
	Issuer string
	Reason IntrospectionReason
}

// IntrospectionResult is the outcome of an [IntrospectionRequest].
type IntrospectionResult struct {
	// Err is nil when the endpoint answered and the token was accepted;
	// [ErrIntrospectionUnavailable] when it could not say; a
	// [TokenError] when it refused the token ([ErrTokenInactive]) or the
	// token failed a check.
	Err      error
	Active   bool          // the answer said "active": true
	Duration time.Duration // time the request took, answer read
}

// resultOf is the Result of a refusal, from the code of the status it
// sends; an Authorizer's status of another code counts as a denial.
func resultOf(err error) Result {
	if err == nil {
		return ResultOK
	}
	switch Status(err).Code() {
	case codes.Unauthenticated:
		return ResultUnauthenticated
	case codes.Unavailable:
		return ResultUnavailable
	}
	return ResultPermissionDenied
}
