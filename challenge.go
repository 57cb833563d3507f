package grpcjwt

import (
	"errors"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
)

// This file turns a refusal into what an HTTP client expects beside the
// status message: an HTTP status code and a WWW-Authenticate challenge
// (RFC 6750 §3 for Bearer, RFC 9449 §7.1 for DPoP, RFC 9470 §3 for
// step-up). Every HTTP door (Connect, net/http, the gRPC-Gateway) answers
// with them.

// HTTPStatus returns the HTTP status code of a refusal err, as the Connect
// protocol and gRPC-Web map its gRPC code: 401 Unauthorized for
// Unauthenticated, 403 Forbidden for PermissionDenied, 503 Service
// Unavailable for Unavailable; 500 for any other code (an authorizer's own
// status of another kind keeps its meaning in the status itself).
func HTTPStatus(err error) int {
	switch Status(err).Code() {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Challenge returns the WWW-Authenticate value for a refusal err of a call
// whose authorization scheme was DPoP (dpop true) or not, or "" when the
// refusal is not about authentication (PermissionDenied for another
// reason than scopes, Unavailable). It follows RFC 6750 §3, RFC 9449 §7.1
// and RFC 9470 §3, and tells the client what would succeed, never why its
// token failed:
//
//   - no credentials, or a scheme the server does not take: a challenge
//     for each accepted scheme, without an error code (RFC 6750 §3.1);
//   - malformed credentials: error="invalid_request";
//   - a token refused for any reason: error="invalid_token" (in the
//     scheme the call used);
//   - a missing scope: error="insufficient_scope", with scope, the scopes
//     that would succeed (as [Policy.Status] names them; none when an
//     [Authorizer] refused the call);
//   - a login too weak or too old for the method's [StepUp] rule:
//     error="insufficient_user_authentication", with acr_values (a
//     quoted-string) and max_age (a token, in seconds), each when the rule
//     sets it: Bearer error="insufficient_user_authentication",
//     acr_values="urn:logto:acr:mfa", max_age=300;
//   - a bad DPoP proof: DPoP error="invalid_dpop_proof";
//   - a DPoP proof without the server's nonce: DPoP error="use_dpop_nonce"
//     (RFC 9449 §9; the nonce goes in the DPoP-Nonce header field,
//     [Policy.DPoPNonce]).
//
// With DPoP enabled ([WithDPoP]), every DPoP challenge carries algs, the
// proof algorithms the server accepts, and a Bearer challenge is followed
// by a DPoP one. With [WithResourceMetadata], every challenge carries
// resource_metadata, the URL of the resource's metadata (RFC 9728 §5.1).
// The parameters come in that order: error, what the method requires,
// algs, resource_metadata. A challenge for a method's requirements is
// built once, with its rule.
func (p *Policy) Challenge(err error, dpop bool) string {
	var code string
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrHeaderMissing), errors.Is(err, ErrSchemeNotSupported):
		return p.challenges("", nil, false)
	case errors.Is(err, ErrInvalidFormat):
		code = "invalid_request"
	case errors.Is(err, ErrInsufficientScope), errors.Is(err, ErrInsufficientUserAuthentication):
		if rr, ok := errors.AsType[*ruleRefusal](err); ok && rr.answer != nil {
			if dpop {
				return rr.answer.dpop
			}
			return rr.answer.bearer
		}
		code = Status(err).Message()
	case errors.Is(err, ErrInvalidDPoPProof):
		return p.challenge("DPoP", CodeInvalidDPoPProof, nil)
	case errors.Is(err, ErrUseDPoPNonce):
		return p.challenge("DPoP", CodeUseDPoPNonce, nil)
	case Status(err).Code() == codes.Unauthenticated:
		code = CodeInvalidToken
	default:
		return ""
	}
	return p.challenges(code, nil, dpop)
}

// challenges returns a challenge for each scheme the server takes, the
// error code and params on the one the call used (Bearer unless dpop).
func (p *Policy) challenges(code string, params []string, dpop bool) string {
	if p.dpop == nil {
		return p.challenge("Bearer", code, params)
	}
	if dpop {
		return p.challenge("Bearer", "", nil) + ", " + p.challenge("DPoP", code, params)
	}
	return p.challenge("Bearer", code, params) + ", " + p.challenge("DPoP", "", nil)
}

// challenge is one scheme's challenge with an optional error code and,
// after it, the params that tell what would succeed.
func (p *Policy) challenge(scheme, code string, extra []string) string {
	var params []string
	if code != "" {
		params = append(params, `error="`+code+`"`)
		params = append(params, extra...)
	}
	if scheme == "DPoP" && p.dpop != nil {
		params = append(params, `algs="`+p.dpop.algNames+`"`)
	}
	if p.resource != nil {
		params = append(params, `resource_metadata="`+p.resource.URL+`"`)
	}
	if len(params) == 0 {
		return scheme
	}
	return scheme + " " + strings.Join(params, ", ")
}
