package grpcjwt

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The error codes grpcjwt puts on the wire. Each is the exact message of the
// gRPC status a rejected call receives.
const (
	CodeHeaderMissing      = "auth.authorization_header_missing"
	CodeInvalidFormat      = "auth.authorization_token_invalid_format"
	CodeSchemeNotSupported = "auth.authorization_token_type_not_supported"
	CodeInvalidToken       = "invalid_token"
	CodeInsufficientScope  = "insufficient_scope"
	// CodeOrganizationMismatch: a valid token, but not for the organization
	// the request is about (or the request or the token names none).
	CodeOrganizationMismatch = "organization_mismatch"
	// CodeTemporarilyUnavailable: the issuer's keys are not loaded yet (a
	// background start, see [Config.BackgroundStart]), or its
	// introspection endpoint cannot answer. Retryable: the client keeps its
	// token and calls again.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	// CodeInvalidDPoPProof: the DPoP proof of a call with a DPoP-bound
	// token is missing or wrong (RFC 9449 §7.1).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	// CodeInsufficientUserAuthentication: a valid token, from a login too
	// weak or too old for the method (RFC 9470 §3); see [StepUp].
	CodeInsufficientUserAuthentication = "insufficient_user_authentication"
	// CodeUseDPoPNonce: the server requires nonces it issued in DPoP proofs
	// ([DPoPConfig.Nonce]), and the call's proof, right in all else, has
	// none, or an expired or foreign one (RFC 9449 §9). Retryable: the
	// answer carries a nonce to sign the next proof with.
	CodeUseDPoPNonce = "use_dpop_nonce"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo detail attached to
// every status grpcjwt returns.
const ErrorDomain = "grpcjwt"

// Sentinel errors, one per wire code: the text of each is the exact message
// of the status a refused call gets. Every error returned by
// [TokenFromMetadata], [Validator.Validate] and the interceptors matches
// exactly one of them with [errors.Is]; [Status] tries them in this order.
// Each is declared with its gRPC code and its metric label ([CauseOf] of
// it), from which everything else is derived.
var (
	// ErrHeaderMissing: no authorization metadata, or an empty one.
	ErrHeaderMissing = wireReason(codes.Unauthenticated, CodeHeaderMissing, "header_missing")
	// ErrInvalidFormat: more than one authorization value, or not exactly
	// two whitespace-separated fields.
	ErrInvalidFormat = wireReason(codes.Unauthenticated, CodeInvalidFormat, "invalid_format")
	// ErrSchemeNotSupported: the authorization scheme (OAuth's "token
	// type", hence the wire code) is not Bearer.
	ErrSchemeNotSupported = wireReason(codes.Unauthenticated, CodeSchemeNotSupported, "scheme_not_supported")
	// ErrInsufficientScope: the token is valid but lacks a required scope
	// (or meets none of a method's alternatives), or was refused by an
	// authorization hook.
	ErrInsufficientScope = wireReason(codes.PermissionDenied, CodeInsufficientScope, "insufficient_scope")
	// ErrOrganizationMismatch: the method has an organization rule and the
	// token is not for the organization the request names, or one of them
	// names none. See [OrganizationRule].
	ErrOrganizationMismatch = wireReason(codes.PermissionDenied, CodeOrganizationMismatch, "organization_mismatch")
	// ErrKeysUnavailable: the token's issuer has no keys yet, because the
	// Validator started in the background and has not reached the
	// provider. The call gets Unavailable "temporarily_unavailable".
	ErrKeysUnavailable = wireReason(codes.Unavailable, CodeTemporarilyUnavailable, "keys_unavailable")
	// ErrIntrospectionUnavailable: the token had to be introspected (RFC
	// 7662) and its issuer's introspection endpoint could not say whether
	// it is active: unreachable, too slow for the call's deadline or
	// [Config.HTTPTimeout], an answer other than 200 or not a JSON object,
	// or too many introspections already waiting (see
	// [IntrospectionConfig]). The token may well be good: the call gets
	// Unavailable "temporarily_unavailable", and the result is not cached.
	ErrIntrospectionUnavailable = wireReason(codes.Unavailable, CodeTemporarilyUnavailable, "introspection_unavailable")
	// ErrInvalidDPoPProof: the call's DPoP proof is missing, malformed,
	// badly signed, for another call, too old or new, or replayed. The call
	// gets Unauthenticated "invalid_dpop_proof".
	ErrInvalidDPoPProof = wireReason(codes.Unauthenticated, CodeInvalidDPoPProof, "invalid_dpop_proof")
	// ErrInsufficientUserAuthentication: the token is valid, but the login
	// behind it is not what the method's [StepUp] rule requires: another
	// acr, a missing amr, or an auth_time too old (or absent). The call
	// gets Unauthenticated "insufficient_user_authentication", with the
	// acr_values and max_age that would succeed ([Policy.Status]).
	ErrInsufficientUserAuthentication = wireReason(codes.Unauthenticated, CodeInsufficientUserAuthentication, "insufficient_user_authentication")
	// ErrUseDPoPNonce: the server requires nonces in DPoP proofs, and the
	// call's proof has none, or one the server did not issue or that has
	// expired. The call gets Unauthenticated "use_dpop_nonce", with a
	// fresh nonce in its answer ([Policy.DPoPNonce]).
	ErrUseDPoPNonce = wireReason(codes.Unauthenticated, CodeUseDPoPNonce, "use_dpop_nonce")
	// ErrInvalidToken: the token failed a check. The error also matches one
	// of the cause sentinels below, which never reach the client, and its
	// [CauseOf] is that cause's: ErrInvalidToken has no label of its own.
	// [Status] sends as this one any error that matches none of the
	// sentinels above and carries no gRPC status.
	ErrInvalidToken = wireReason(codes.Unauthenticated, CodeInvalidToken, "")
)

// Causes of [ErrInvalidToken]. A rejected token's error matches both
// ErrInvalidToken and one of these, so servers can log or count the reason;
// clients only ever see "invalid_token". Each is declared with its text and
// its metric label ([CauseOf] of it).
var (
	ErrTokenTooLarge       = tokenReason("token exceeds the maximum size", "token_too_large")
	ErrTokenMalformed      = tokenReason("token is not a well-formed compact JWS", "malformed")
	ErrAlgorithmNotAllowed = tokenReason("signing algorithm not allowed", "algorithm_not_allowed")
	ErrJWTTypeNotAllowed   = tokenReason("JWT type (typ header) not allowed", "type_not_allowed")
	ErrUnsupportedHeader   = tokenReason("unsupported critical header", "unsupported_header")
	// ErrUntrustedIssuer: the token's iss is none of the trusted issuers.
	ErrUntrustedIssuer  = tokenReason("untrusted issuer", "untrusted_issuer")
	ErrAudienceMismatch = tokenReason("audience mismatch", "audience_mismatch")
	ErrTokenExpired     = tokenReason("token expired", "expired")
	ErrTokenNotYetValid = tokenReason("token not yet valid", "not_yet_valid")
	ErrIssuedInFuture   = tokenReason("token issued in the future", "issued_in_future")
	ErrDuplicateMember  = tokenReason("duplicate member in the header or claims", "duplicate_member")
	ErrMissingClaim     = tokenReason("required claim missing", "missing_claim")
	ErrUnknownKey       = tokenReason("no usable key for the token", "unknown_key")
	ErrBadSignature     = tokenReason("signature verification failed", "bad_signature")
	// ErrTokenInactive: the token's issuer answered its introspection
	// endpoint with "active": false (RFC 7662): revoked, expired or unknown
	// to it.
	ErrTokenInactive = tokenReason("token not active at its issuer's introspection endpoint", "inactive")
	// ErrNoClientCertificate: the token is bound to a client certificate
	// (cnf x5t#S256), and the call came without one.
	ErrNoClientCertificate = tokenReason("certificate-bound token without a client certificate", "no_client_certificate")
	// ErrCertificateMismatch: the token is bound to another client
	// certificate than the call's.
	ErrCertificateMismatch = tokenReason("client certificate thumbprint mismatch", "certificate_mismatch")
	// ErrDPoPBoundToken: the token is bound to a DPoP key (cnf jkt) and was
	// sent as a bearer token.
	ErrDPoPBoundToken = tokenReason("DPoP-bound token sent as a bearer token", "dpop_bound_token")
	// ErrBindingRequired: the method requires a sender-constrained token
	// and the token is a plain bearer token.
	ErrBindingRequired = tokenReason("sender-constrained token required", "binding_required")
	// ErrDPoPKeyMismatch: the DPoP proof is signed by another key than the
	// one the token is bound to.
	ErrDPoPKeyMismatch = tokenReason("DPoP proof key is not the token's", "dpop_key_mismatch")
)

// Errors of [NewValidator]: each error it returns matches exactly one of
// ErrConfig, ErrDiscovery and ErrKeySet with [errors.Is], and keeps its own
// message and wrapped causes. None of them is ever why a call is refused.
var (
	// ErrConfig: the Config is invalid (a required field is missing, a URL
	// is not an absolute http(s) one, an algorithm is not allowed, ...).
	ErrConfig = errors.New("grpcjwt: invalid Config")
	// ErrDiscovery: OIDC discovery failed: the provider configuration could
	// not be fetched or parsed, its jwks_uri is unusable, or its issuer is
	// not Config.Issuer, in which case the error also matches
	// [ErrIssuerMismatch].
	ErrDiscovery = errors.New("grpcjwt: OIDC discovery failed")
	// ErrKeySet: the first JWKS fetch failed, or the set has no usable key.
	ErrKeySet = errors.New("grpcjwt: fetching the JWKS failed")
	// ErrIssuerMismatch: a provider's discovery document names another
	// issuer than the one configured for it, as in `issuer mismatch:
	// configured "https://a/oidc", discovery says "https://a/oidc/"`.
	// NewValidator's error matches it along with ErrDiscovery; the error of
	// a later discovery (logged, or in a [KeyFetchResult]) matches it
	// alone. A token whose iss is not a trusted issuer is
	// [ErrUntrustedIssuer].
	ErrIssuerMismatch = errors.New("issuer mismatch")
)

// startupError gives an error of NewValidator its sentinel, leaving its
// message as it is.
type startupError struct{ kind, err error }

func (e *startupError) Error() string   { return e.err.Error() }
func (e *startupError) Unwrap() []error { return []error{e.kind, e.err} }

// TokenError is the error returned for a rejected token. It matches
// [ErrInvalidToken] and its Cause with [errors.Is]. Its message names the
// cause and a detail but never contains the token; values quoted from the
// token are cut to 64 bytes and the whole detail to 512.
type TokenError struct {
	Cause  error  // one of the Err* cause sentinels
	Detail string // what exactly was wrong, for server logs; may be empty
}

// Error returns "invalid_token: " followed by the cause and the detail.
func (e *TokenError) Error() string {
	if e.Detail == "" {
		return CodeInvalidToken + ": " + e.Cause.Error()
	}
	return CodeInvalidToken + ": " + e.Cause.Error() + ": " + e.Detail
}

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Cause }

// Is reports whether target is [ErrInvalidToken].
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

// tokenErr builds a TokenError. The detail is bounded here, whatever built
// it, since it may quote the token and reaches logs and hooks.
func tokenErr(cause error, detail string) error {
	return &TokenError{Cause: cause, Detail: truncateTo(detail, maxDetail)}
}

// Status converts an error from this package into the gRPC status a client
// receives: code, exact message and a google.rpc.ErrorInfo detail. A status
// error (from an authorization hook, say) is returned as it is; wrapped in
// other errors, it is the status itself that is returned, never the text
// of the wrapping. Any other error becomes Unauthenticated "invalid_token",
// so that no cause leaks.
func Status(err error) *status.Status {
	if err == nil {
		return nil
	}
	for i := range wireReasons {
		if errors.Is(err, wireReasons[i].err) {
			return wireReasons[i].status
		}
	}
	if s, ok := statusOf(err); ok {
		return s
	}
	return statusInvalidToken
}

// statusOf finds a gRPC status error in err's chain and returns its own
// status. Unlike status.FromError, it never folds the text of wrapping
// errors into the message, which would carry a server-side cause to the
// client.
func statusOf(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus(), true
	}
	return nil, false
}
