package grpcjwt

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// Revocation checks: a method rule that confirms even a valid JWT active
// at its issuer's introspection endpoint.

// WithRevocationCheck makes methods (full methods, or services ending in
// "/") confirm even a valid JWT active at its issuer's introspection
// endpoint (RFC 7662, see [IntrospectionConfig]), after every other check
// of the policy's own and before the [Authorizer]: a token revoked at the
// issuer stops there within the issuer's [IntrospectionConfig.CacheTTL]
// (one minute by default), the most an answer is kept, instead of at its
// exp. Use it for the few methods where a revoked token must stop at once;
// each new token costs a request to the issuer, shared by the calls that
// present it at the same time, and cached.
//
// The answer must say "active": true and pass the checks a JWT's claims
// pass; the call's claims stay the JWT's. A JWT whose issuer has no
// introspection endpoint is refused there (Unauthenticated
// "invalid_token", [ErrUntrustedIssuer]), and [Policy.Audit] refuses a
// method whose accepted issuers include one; the endpoint failing refuses
// the call with Unavailable "temporarily_unavailable"
// ([ErrIntrospectionUnavailable]), and "active": false with invalid_token
// ([ErrTokenInactive]). Opaque tokens are introspected on every method
// anyway. A stream is checked when it starts, not while it runs. The
// .proto rule's revocation_check says the same.
//
// It adds to the rest of their rules, from their service's Go rule and
// their .proto options (see [Rule]): a method whose .proto option requires
// a scope still requires it. No level can switch the check off again.
func WithRevocationCheck(methods ...string) Option {
	return func(o *options) {
		for _, m := range methods {
			s := o.spec(m)
			s.revocationCheck = true
			s.sets |= dimRevocationCheck
		}
	}
}

// confirmActive confirms that c, the verified claims of the JWT token, is
// still active at its issuer's introspection endpoint, for a method that
// checks revocation. The answer must be active and pass the same checks
// as the JWT did; the JWT's own claims stay those of the call.
func (v *Validator) confirmActive(ctx context.Context, token string, c *Claims) error {
	t, err := v.route(c.Issuer)
	if err != nil {
		return err
	}
	if t.introspect == nil {
		return tokenErr(ErrUntrustedIssuer, fmt.Sprintf("issuer %q has no introspection endpoint, and the method checks revocation", t.name))
	}
	_, _, err = v.introspect(ctx, t, token, v.now(), IntrospectRevocation)
	if err != nil {
		v.logRejected(ctx, err)
	}
	return err
}

// cannotIntrospect returns, sorted, the issuers among accepted (all that
// v trusts when it is empty) that have no introspection endpoint.
func (v *Validator) cannotIntrospect(accepted []string) []string {
	var out []string
	for name, t := range v.issuers {
		if (len(accepted) == 0 || slices.Contains(accepted, name)) && t.introspect == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
