package grpcjwt

import (
	"errors"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
// built once, with its rule. [Policy.StatusChallenge] builds the same
// from the status a client received.
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

// StatusChallenge returns the WWW-Authenticate value for a status s that
// a client received from a grpcjwt server, as a gRPC-Gateway in proxy
// mode receives the refusals of the server's interceptors: the challenge
// [Policy.Challenge] returns for the same refusal of a call of the Bearer
// scheme, or "" when s is not a refusal by grpcjwt, or is one that is not
// about authentication (organization_mismatch, temporarily_unavailable).
//
// s is a refusal by grpcjwt when its code and message are those of a wire
// code (Unauthenticated "invalid_token", PermissionDenied
// "insufficient_scope", ...) and it carries the google.rpc.ErrorInfo that
// grpcjwt attaches: domain [ErrorDomain], the wire code's reason, and the
// wire code under "code". Any other status, such as a service's own
// Unauthenticated, gets "": what to send for it is the caller's choice.
//
// What the method requires is read from that ErrorInfo's metadata, where
// the server's policy put it ([Policy.Status]): the scopes ([ScopeKey]) of
// insufficient_scope, the acr_values and max_age ([ACRValuesKey],
// [MaxAgeKey]) of insufficient_user_authentication. s is trusted for
// nothing else, and each value only as far as a challenge can carry it as
// it is: a value longer than 1024 bytes, or that is not a list of
// printable ASCII items without '"' or '\', separated by single spaces
// (max_age: not 1 to 19 decimal digits), leaves its parameter out. What
// the policy adds itself comes from p, as in Challenge: the DPoP challenge
// and algs of [WithDPoP], the resource_metadata of [WithResourceMetadata];
// configure p as the server's policy is configured.
func (p *Policy) StatusChallenge(s *status.Status) string {
	r, md := refusalOf(s)
	if r == nil {
		return ""
	}
	var params []string
	switch r.err {
	case ErrInsufficientScope:
		if v := md[ScopeKey]; isChallengeList(v) {
			params = append(params, scopeParam(v))
		}
	case ErrInsufficientUserAuthentication:
		var acrValues, maxAge string
		if v := md[ACRValuesKey]; isChallengeList(v) {
			acrValues = v
		}
		if v := md[MaxAgeKey]; isSeconds(v) {
			maxAge = v
		}
		params = stepUpParams(acrValues, maxAge)
	default:
		return p.Challenge(r.err, false)
	}
	return p.challenges(s.Message(), params, false)
}

// refusalOf returns the wire reason of s and the metadata of its
// ErrorInfo, or nil if s is no refusal by grpcjwt.
func refusalOf(s *status.Status) (*reason, map[string]string) {
	for i := range wireReasons {
		w := &wireReasons[i]
		if w.status.Code() != s.Code() || w.status.Message() != s.Message() {
			continue
		}
		for _, d := range s.Details() {
			info, ok := d.(*errdetails.ErrorInfo)
			if ok && info.GetDomain() == ErrorDomain && info.GetReason() == errorInfoReason(s.Message()) && info.GetMetadata()["code"] == s.Message() {
				return w, info.GetMetadata()
			}
		}
		return nil, nil
	}
	return nil, nil
}

// isChallengeList reports whether v, received, can be written as a
// challenge's quoted-string as it is: at most maxChallengeValue bytes, a
// list of challenge values separated by single spaces.
func isChallengeList(v string) bool {
	if len(v) > maxChallengeValue {
		return false
	}
	for item := range strings.SplitSeq(v, " ") {
		if !isChallengeValue(item) {
			return false
		}
	}
	return true
}

// isSeconds reports whether v, received, is a max_age: 1 to 19 decimal
// digits, which an int64 holds.
func isSeconds(v string) bool {
	if len(v) == 0 || len(v) > 19 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
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
