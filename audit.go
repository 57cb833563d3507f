package grpcjwt

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"
)

// ServiceInfoProvider is what [Audit] needs of a server; *grpc.Server has
// it.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// MethodRule is a registered method and the rule a [Policy] applies to it.
type MethodRule struct {
	FullMethod   string // "/package.Service/Method"
	ClientStream bool
	ServerStream bool
	Rule
}

// String formats the rule as one line for logs:
// "/greeter.v1.Greeter/SayHello required scopes=greet:read (proto:method)".
// Alternatives of scopes show as "any-scopes=read:all|read:own,org:member",
// a step-up rule as "step-up(acr=urn:logto:acr:mfa max_age=5m0s)", the
// issuers and audiences a rule accepts as "issuers=…" and "audiences=…",
// a revocation check as "revocation-checked".
func (m MethodRule) String() string {
	s := m.FullMethod + " " + m.Access.String()
	if len(m.Scopes) > 0 {
		s += " scopes=" + strings.Join(m.Scopes, ",")
	}
	if len(m.AnyScopes) > 0 {
		groups := make([]string, len(m.AnyScopes))
		for i, g := range m.AnyScopes {
			groups[i] = strings.Join(g, ",")
		}
		s += " any-scopes=" + strings.Join(groups, "|")
	}
	if m.StepUp != nil {
		s += " " + m.StepUp.String()
	}
	if len(m.Issuers) > 0 {
		s += " issuers=" + strings.Join(m.Issuers, ",")
	}
	if len(m.Audiences) > 0 {
		s += " audiences=" + strings.Join(m.Audiences, ",")
	}
	if m.Organization != nil {
		s += " " + m.Organization.String()
	}
	if m.SenderConstrained {
		s += " sender-constrained"
	}
	if m.RevocationCheck {
		s += " revocation-checked"
	}
	return s + " (" + m.Source + ")"
}

// Audit returns every method registered on srv (a *grpc.Server after
// registration) with the rule the policy applies to it, sorted by name, so
// that a service can log its rules at startup or assert them in a test. It
// reads the same compiled rules the doors decide calls by, so what it
// reports is what calls meet.
//
// It returns an error, along with the rules, when an option names a method
// or service that srv does not have (a typo must not silently leave a
// method protected differently than intended), when Go options make one
// name both public and scoped, or when a method's rule, composed of its
// Go and .proto options (see [Rule]), is both optional and scoped (a
// caller would get in without a token, but not with one that lacks the
// scopes; the same for alternatives of scopes and for a [StepUp] rule):
// a WithOptional over a method whose .proto option requires scopes keeps
// them, and is refused until WithScopes(method) drops them. A service can refuse to
// start on it. An organization rule whose field the method's
// request message does not have, is not a string, or whose pattern is not
// well formed is an error (a typo must never switch tenant isolation off;
// at run time such a rule refuses every call); so is one that names an
// issuer the Validator does not trust, or that no trusted issuer can
// satisfy (none asserts organizations where the rule reads them). A
// required scope that is not an RFC 6749 scope-token (empty, or with a
// space or a character outside printable ASCII) is an error too: no token
// can ever grant it; so is an empty group of alternatives
// ([WithAnyScopes]), which every token meets.
//
// The rules a token meets are checked too: an issuer ([WithIssuers]) the
// Validator does not trust, an audience ([WithAudiences]) that no issuer
// the rule accepts is configured to accept, and a [StepUp] rule that
// requires nothing, has a value a challenge cannot carry, or a negative or
// fractional MaxAge are errors; so is a revocation check
// ([WithRevocationCheck]) on a method that accepts an issuer without an
// introspection endpoint; so is any of these rules on a public method,
// which reads no token, whether Go options for one name or a .proto rule
// set it (a public .proto rule ignores them, as it ignores an
// organization rule and a sender constraint, which are reported too).
//
// Tenant isolation is never switched off silently: a Go option that makes
// public a method whose .proto options give it an organization rule is an
// error (the rule still applies, see [WithoutOrganization]), and so is a
// WithoutOrganization that names a method or service the server does not
// have. Each rule's String shows the issuers whose organizations it
// accepts, and its Source the levels it is composed of, such as
// "go:method+proto:method:scopes" or
// "go:service+proto:method:organization".
func (p *Policy) Audit(srv ServiceInfoProvider) ([]MethodRule, error) {
	o := p.opts
	services := srv.GetServiceInfo()
	known := make(map[string]bool)
	type audited struct {
		MethodRule
		c compiledRule
	}
	var all []audited
	for name, info := range services {
		known["/"+name+"/"] = true
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			known[full] = true
			var buf compiledRule
			r := p.rule(full, &buf)
			all = append(all, audited{MethodRule{
				FullMethod:   full,
				ClientStream: m.IsClientStream,
				ServerStream: m.IsServerStream,
				Rule:         r.Rule,
			}, *r})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].FullMethod < all[j].FullMethod })
	rules := make([]MethodRule, len(all))
	for i, a := range all {
		rules[i] = a.MethodRule
	}

	var errs []error
	for _, name := range o.order {
		if !known[name] {
			kind := "method"
			if strings.HasSuffix(name, "/") {
				kind = "service"
			}
			errs = append(errs, fmt.Errorf("grpcjwt: rule names %s %q, which the server does not have", kind, name))
		}
		if s := o.rules[name]; s.access == AccessPublic && len(s.scopes) > 0 {
			errs = append(errs, fmt.Errorf("grpcjwt: %q is public and has scopes %q; public methods read no token", name, s.scopes))
		}
		if s := o.rules[name]; s.access == AccessPublic && s.senderConstrained {
			errs = append(errs, fmt.Errorf("grpcjwt: %q is public and requires a sender-constrained token; public methods read no token", name))
		}
		if s := o.rules[name]; s.access == AccessPublic && s.org != nil {
			errs = append(errs, fmt.Errorf("grpcjwt: %q is public and has an organization rule; public methods read no token", name))
		}
		if s := o.rules[name]; s.access == AccessPublic {
			for _, f := range []struct {
				set  bool
				what string
			}{
				{len(s.anyScopes) > 0, "alternatives of scopes"},
				{s.stepUp != nil, "a step-up rule"},
				{len(s.issuers) > 0, "issuers"},
				{len(s.audiences) > 0, "audiences"},
				{s.revocationCheck, "a revocation check"},
			} {
				if f.set {
					errs = append(errs, fmt.Errorf("grpcjwt: %q is public and has %s; public methods read no token", name, f.what))
				}
			}
		}
	}
	without := make([]string, 0, len(o.withoutOrg))
	for name := range o.withoutOrg {
		without = append(without, name)
	}
	sort.Strings(without)
	for _, name := range without {
		if !known[name] {
			errs = append(errs, fmt.Errorf("grpcjwt: WithoutOrganization names %q, which the server does not have", name))
		}
	}
	// Checked on the resolved rules, so that Go and .proto options alike
	// are covered.
	for _, a := range all {
		m, full := &a.c, a.FullMethod
		if m.publicOverride {
			errs = append(errs, fmt.Errorf("grpcjwt: %s is made public by a Go option, but its .proto options give it an organization rule, which still applies (%s); to make it public, remove the rule explicitly with WithoutOrganization", full, m.Source))
		}
		if m.Access == AccessOptional && len(m.Scopes) > 0 {
			errs = append(errs, fmt.Errorf("grpcjwt: %s is optional and has scopes %q (%s); callers without a token would get in while callers with one lacking the scopes are refused", full, m.Scopes, m.Source))
		}
		if m.Organization != nil && m.Access != AccessPublic {
			if m.orgErr != nil {
				errs = append(errs, fmt.Errorf("grpcjwt: %s: %w (%s); every call would be refused", full, m.orgErr, m.Source))
			}
			if err := p.v.canAssert(m.Organization); err != nil {
				errs = append(errs, fmt.Errorf("grpcjwt: %s: %w (%s); every call would be refused", full, err, m.Source))
			}
			if m.Access == AccessOptional {
				errs = append(errs, fmt.Errorf("grpcjwt: %s is optional and has an organization rule (%s); callers without a token would always be refused", full, m.Source))
			}
		}
		for _, s := range m.Scopes {
			if !isScopeToken(s) {
				errs = append(errs, fmt.Errorf("grpcjwt: %s requires scope %q (%s), which is not an RFC 6749 scope-token and can never be granted", full, s, m.Source))
			}
		}
		errs = append(errs, p.auditTokenRules(full, m)...)
	}
	return rules, errors.Join(errs...)
}

// auditTokenRules says what is wrong with the rules of m (of method full)
// that a token meets beside its scopes: alternatives of scopes, step-up,
// issuers and audiences.
func (p *Policy) auditTokenRules(full string, m *compiledRule) []error {
	var errs []error
	if len(m.publicIgnores) > 0 {
		errs = append(errs, fmt.Errorf("grpcjwt: %s is public, and its rule (%s) sets %s, which only a token can meet; public methods read no token", full, m.Source, strings.Join(m.publicIgnores, ", ")))
	}
	if m.Access == AccessOptional && len(m.AnyScopes) > 0 {
		errs = append(errs, fmt.Errorf("grpcjwt: %s is optional and has alternatives of scopes (%s); callers without a token would get in while callers with one lacking the scopes are refused", full, m.Source))
	}
	if m.Access == AccessOptional && m.StepUp != nil {
		errs = append(errs, fmt.Errorf("grpcjwt: %s is optional and has a step-up rule (%s); callers without a token would get in while callers with one from a weaker login are refused", full, m.Source))
	}
	for i, g := range m.AnyScopes {
		if len(g) == 0 {
			errs = append(errs, fmt.Errorf("grpcjwt: %s has an empty group of alternative scopes (group %d, %s), which every token meets", full, i+1, m.Source))
		}
		for _, s := range g {
			if !isScopeToken(s) {
				errs = append(errs, fmt.Errorf("grpcjwt: %s has alternative scope %q (%s), which is not an RFC 6749 scope-token and can never be granted", full, s, m.Source))
			}
		}
	}
	if m.StepUp != nil {
		for _, wrong := range m.StepUp.audit() {
			errs = append(errs, fmt.Errorf("grpcjwt: %s: its step-up rule %s (%s)", full, wrong, m.Source))
		}
	}
	for _, name := range m.Issuers {
		if p.v.issuers[name] == nil {
			errs = append(errs, fmt.Errorf("grpcjwt: %s accepts issuer %q (%s), which the Validator does not trust", full, name, m.Source))
		}
	}
	for _, a := range m.Audiences {
		if !p.v.someIssuerAccepts(m.Issuers, a) {
			errs = append(errs, fmt.Errorf("grpcjwt: %s accepts audience %q (%s), which no issuer it accepts is configured to accept", full, a, m.Source))
		}
	}
	if m.RevocationCheck && m.Access != AccessPublic {
		if names := p.v.cannotIntrospect(m.Issuers); len(names) > 0 {
			errs = append(errs, fmt.Errorf("grpcjwt: %s checks revocation (%s), but issuer %q has no introspection endpoint, so its tokens would always be refused there; give it an Introspection, or leave it out of the method's issuers", full, m.Source, names))
		}
	}
	return errs
}
