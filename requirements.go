package grpcjwt

import (
	"fmt"
	"slices"
	"strings"
)

// This file is what a rule requires of a valid token beyond its validity:
// the issuers and audiences the method accepts, and the scopes it needs,
// all of them and one group of its alternatives.

// checkAccepted refuses, as an invalid token, a token whose issuer is not
// one of r's Issuers, or which is for none of r's Audiences that its own
// issuer accepts; the Validator has already checked that the issuer is
// trusted and accepts one of the token's audiences.
func (p *Policy) checkAccepted(r *compiledRule, c *Claims, method string) error {
	if len(r.Issuers) > 0 && !slices.Contains(r.Issuers, c.Issuer) {
		return tokenErr(ErrUntrustedIssuer, fmt.Sprintf("issuer %q is trusted, but not by the rule of %s", truncate(c.Issuer), truncateTo(method, maxMethodName)))
	}
	if len(r.Audiences) == 0 {
		return nil
	}
	if t := p.v.issuers[c.Issuer]; t != nil {
		for _, a := range r.Audiences {
			if slices.Contains(c.Audience, a) && t.accepts(a) {
				return nil
			}
		}
	}
	return tokenErr(ErrAudienceMismatch, fmt.Sprintf("the token is for none of the audiences %q of the rule of %s", r.Audiences, truncateTo(method, maxMethodName)))
}

// someIssuerAccepts reports whether one of the trusted issuers named by
// issuers (all of them when there are none) accepts audience a.
func (v *Validator) someIssuerAccepts(issuers []string, a string) bool {
	for name, t := range v.issuers {
		if (len(issuers) == 0 || slices.Contains(issuers, name)) && t.accepts(a) {
			return true
		}
	}
	return false
}

// accepts reports whether the issuer accepts audience a: one of its
// audiences, or one that starts with one of its prefixes.
func (t *trustedIssuer) accepts(a string) bool {
	if slices.Contains(t.audiences, a) {
		return true
	}
	for _, p := range t.prefixes {
		if len(a) > len(p) && strings.HasPrefix(a, p) {
			return true
		}
	}
	return false
}

// checkScopes refuses a token that lacks one of r's Scopes, or meets none
// of its groups of AnyScopes, with a refusal that names the scopes that
// would succeed.
func (p *Policy) checkScopes(r *compiledRule, c *Claims) error {
	for _, s := range r.Scopes {
		if !c.HasScope(s) {
			return &ruleRefusal{reason: ErrInsufficientScope, answer: p.demandsOf(r).scope, scope: s}
		}
	}
	if len(r.AnyScopes) == 0 {
		return nil
	}
	for _, g := range r.AnyScopes {
		if hasScopes(c, g) {
			return nil
		}
	}
	return &ruleRefusal{reason: ErrInsufficientScope, answer: p.demandsOf(r).scope, detail: "token meets no group of the rule's alternative scopes"}
}

// hasScopes reports whether c carries every one of scopes.
func hasScopes(c *Claims, scopes []string) bool {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return false
		}
	}
	return true
}
