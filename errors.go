package grpcjwt

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
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
	// background start, see [Config.BackgroundStart]). Retryable: the
	// client keeps its token and calls again.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	// CodeInvalidDPoPProof: the DPoP proof of a call with a DPoP-bound
	// token is missing or wrong (RFC 9449 §7.1).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo detail attached to
// every status grpcjwt returns.
const ErrorDomain = "grpcjwt"

// Sentinel errors, one per wire code. Every error returned by
// [TokenFromMetadata], [Validator.Validate] and the interceptors matches
// exactly one of them with [errors.Is].
var (
	// ErrHeaderMissing: no authorization metadata, or an empty one.
	ErrHeaderMissing = errors.New(CodeHeaderMissing)
	// ErrInvalidFormat: more than one authorization value, or not exactly
	// two whitespace-separated fields.
	ErrInvalidFormat = errors.New(CodeInvalidFormat)
	// ErrSchemeNotSupported: the authorization scheme (OAuth's "token
	// type", hence the wire code) is not Bearer.
	ErrSchemeNotSupported = errors.New(CodeSchemeNotSupported)
	// ErrInvalidToken: the token failed a check. The error also matches one
	// of the cause sentinels below, which never reach the client.
	ErrInvalidToken = errors.New(CodeInvalidToken)
	// ErrInsufficientScope: the token is valid but lacks a required scope
	// or was refused by an authorization hook.
	ErrInsufficientScope = errors.New(CodeInsufficientScope)
	// ErrOrganizationMismatch: the method has an organization rule and the
	// token is not for the organization the request names, or one of them
	// names none. See [OrganizationRule].
	ErrOrganizationMismatch = errors.New(CodeOrganizationMismatch)
	// ErrKeysUnavailable: the token's issuer has no keys yet, because the
	// Validator started in the background and has not reached the
	// provider. The call gets Unavailable "temporarily_unavailable".
	ErrKeysUnavailable = errors.New(CodeTemporarilyUnavailable)
	// ErrInvalidDPoPProof: the call's DPoP proof is missing, malformed,
	// badly signed, for another call, too old or new, or replayed. The call
	// gets Unauthenticated "invalid_dpop_proof".
	ErrInvalidDPoPProof = errors.New(CodeInvalidDPoPProof)
)

// Causes of [ErrInvalidToken]. A rejected token's error matches both
// ErrInvalidToken and one of these, so servers can log or count the reason;
// clients only ever see "invalid_token".
var (
	ErrTokenTooLarge       = errors.New("token exceeds the maximum size")
	ErrTokenMalformed      = errors.New("token is not a well-formed compact JWS")
	ErrAlgorithmNotAllowed = errors.New("signing algorithm not allowed")
	ErrJWTTypeNotAllowed   = errors.New("JWT type (typ header) not allowed")
	ErrUnsupportedHeader   = errors.New("unsupported critical header")
	ErrIssuerMismatch      = errors.New("issuer mismatch")
	// ErrUntrustedIssuer: the token's iss is none of the trusted issuers.
	// It also matches ErrIssuerMismatch, its older name.
	ErrUntrustedIssuer  = fmt.Errorf("untrusted issuer (%w)", ErrIssuerMismatch)
	ErrAudienceMismatch = errors.New("audience mismatch")
	ErrTokenExpired     = errors.New("token expired")
	ErrTokenNotYetValid = errors.New("token not yet valid")
	ErrIssuedInFuture   = errors.New("token issued in the future")
	ErrDuplicateMember  = errors.New("duplicate member in the header or claims")
	ErrMissingClaim     = errors.New("required claim missing")
	ErrUnknownKey       = errors.New("no usable key for the token")
	ErrBadSignature     = errors.New("signature verification failed")
	// ErrNoClientCertificate: the token is bound to a client certificate
	// (cnf x5t#S256), and the call came without one.
	ErrNoClientCertificate = errors.New("certificate-bound token without a client certificate")
	// ErrCertificateMismatch: the token is bound to another client
	// certificate than the call's.
	ErrCertificateMismatch = errors.New("client certificate thumbprint mismatch")
	// ErrDPoPBoundToken: the token is bound to a DPoP key (cnf jkt) and was
	// sent as a bearer token.
	ErrDPoPBoundToken = errors.New("DPoP-bound token sent as a bearer token")
	// ErrBindingRequired: the method requires a sender-constrained token
	// and the token is a plain bearer token.
	ErrBindingRequired = errors.New("sender-constrained token required")
	// ErrDPoPKeyMismatch: the DPoP proof is signed by another key than the
	// one the token is bound to.
	ErrDPoPKeyMismatch = errors.New("DPoP proof key is not the token's")
)

// Errors of [NewValidator]: each error it returns matches exactly one of
// them with [errors.Is], and keeps its own message and wrapped causes.
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

// wireError is one row of the table of errors the interceptors put on the
// wire: the sentinel a cause matches, whose text is the exact status
// message, and the gRPC code. The status, with its ErrorInfo, is built once
// from the row, so a rejection costs no allocation beyond the error value.
type wireError struct {
	sentinel error
	code     codes.Code
	status   *status.Status
}

// wireErrors is every wire error, in the order [Status] tries them.
var wireErrors = [...]wireError{
	{sentinel: ErrHeaderMissing, code: codes.Unauthenticated},
	{sentinel: ErrInvalidFormat, code: codes.Unauthenticated},
	{sentinel: ErrSchemeNotSupported, code: codes.Unauthenticated},
	{sentinel: ErrInsufficientScope, code: codes.PermissionDenied},
	{sentinel: ErrOrganizationMismatch, code: codes.PermissionDenied},
	{sentinel: ErrKeysUnavailable, code: codes.Unavailable},
	{sentinel: ErrInvalidDPoPProof, code: codes.Unauthenticated},
	{sentinel: ErrInvalidToken, code: codes.Unauthenticated},
}

// statusInvalidToken is what any error outside the table becomes.
var statusInvalidToken *status.Status

func init() {
	for i := range wireErrors {
		w := &wireErrors[i]
		w.status = newStatus(w.code, w.sentinel.Error())
		if w.sentinel == ErrInvalidToken {
			statusInvalidToken = w.status
		}
	}
}

func newStatus(c codes.Code, code string) *status.Status {
	s, err := status.New(c, code).WithDetails(&errdetails.ErrorInfo{
		Reason:   reason(code),
		Domain:   ErrorDomain,
		Metadata: map[string]string{"code": code},
	})
	if err != nil {
		// WithDetails fails only for a non-OK code or an unmarshalable
		// message; neither can happen here.
		panic(err)
	}
	return s
}

// reason turns "auth.authorization_header_missing" into
// "AUTHORIZATION_HEADER_MISSING" for ErrorInfo.Reason.
func reason(code string) string {
	return strings.ToUpper(code[strings.LastIndexByte(code, '.')+1:])
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
	for i := range wireErrors {
		if errors.Is(err, wireErrors[i].sentinel) {
			return wireErrors[i].status
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
