package grpcjwt

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Access says whether a method needs a token.
type Access int

const (
	// AccessRequired: a valid token is required (the default).
	AccessRequired Access = iota
	// AccessOptional: a missing token is fine; a present one must be valid.
	AccessOptional
	// AccessPublic: no token is needed and none is parsed.
	AccessPublic
)

// String returns "required", "optional" or "public".
func (a Access) String() string {
	switch a {
	case AccessOptional:
		return "optional"
	case AccessPublic:
		return "public"
	}
	return "required"
}

// Rule is the effective authorization rule of one method: plain data, as
// [Policy.Audit] reports it.
//
// A method's rule is composed of up to three levels, most specific first:
// the Go options that name the method, those that name its service
// ("/pkg.Service/"), and its .proto option, or else its service's (a
// .proto method option replaces its service's whole). Each dimension of
// the rule is taken from the most specific level that sets it:
//
//   - access: set by [WithPublic] and [WithOptional], and by public or
//     optional in .proto; required when no level sets it;
//   - scopes: Scopes and AnyScopes together, set by [WithScopes] and
//     [WithAnyScopes] even with none (WithScopes(method) drops the scopes
//     a less specific level requires), and by non-empty scopes or
//     any_scopes in .proto;
//   - issuers, audiences, step-up and organization: set by [WithIssuers],
//     [WithAudiences], [WithStepUp] and [WithOrganization], and by the
//     .proto fields when they are not empty;
//   - SenderConstrained and RevocationCheck: can only be switched on, so
//     true at any level wins.
//
// So an option adds or overrides what it names, and never erases the rest:
// WithRevocationCheck on a method whose .proto option requires a scope
// keeps the scope. A method made public at one level needs a token after
// all when a more specific level sets a requirement (a scope, step-up,
// ...): a method that asks something of a token needs one; requirements
// set only at the public level or less specific ones are ignored while it
// stays public. A Go option that makes public a method whose .proto option
// gives it an organization rule does not make it public; see
// [WithoutOrganization].
type Rule struct {
	Access Access
	Scopes []string // all required; none for public methods
	// AnyScopes are alternatives: beside every scope of Scopes, a token
	// must carry every scope of at least one of these groups; see
	// [WithAnyScopes]. None for public methods.
	AnyScopes [][]string
	// Issuers, when set, are the only trusted issuers whose tokens the
	// method accepts; Audiences, when set, the only audiences a token may
	// be for. See [WithIssuers] and [WithAudiences].
	Issuers   []string
	Audiences []string
	// StepUp, when set, is what the login behind a token must meet; see
	// [StepUp].
	StepUp *StepUp
	// Organization, when set, ties the request's organization to the
	// token's; see [OrganizationRule].
	Organization *OrganizationRule
	// SenderConstrained requires a token bound to a key the caller proves
	// it holds; see [WithSenderConstrained] and
	// [WithSenderConstrainedEverywhere].
	SenderConstrained bool
	// RevocationCheck confirms even a valid JWT active at its issuer's
	// introspection endpoint; see [WithRevocationCheck].
	RevocationCheck bool
	// Source says where the rule came from: "default" when no level sets
	// anything, else the most specific level that gave the rule something
	// ("go:method", "go:service", "proto:method" or "proto:service"),
	// followed, for each less specific level that gave it something, by
	// "+", the level, ":" and what it gave, comma-separated, in this order:
	// access, scopes, issuers, audiences, step_up, organization,
	// sender_constrained, revocation_check. For example
	// "go:method+proto:method:scopes" (a Go option adds to the .proto
	// rule's scopes), "go:method+go:service:scopes,step_up" or
	// "go:service+proto:method:organization". A .proto level whose
	// organization rule [WithoutOrganization] removed is named with
	// "-organization" ("proto:method-organization").
	// [WithSenderConstrainedEverywhere] is no level, and is not named.
	Source string
}

// compiledRule is a method's rule with what deciding a call needs beside
// it: the organization rule compiled against the request message, and
// facts about the method.
type compiledRule struct {
	Rule
	org            *orgCheck // Organization compiled against the request message
	orgErr         error     // why Organization could not be compiled
	known          bool      // the method is named by the options or registered: fit for a metric label
	registered     bool      // the method is in the protobuf registry
	publicOverride bool      // a Go option made it public, over a .proto organization rule that keeps it required
	stream         bool      // a streaming method, or one the registry does not know
	// demands are the statuses and challenges that tell a client what the
	// rule requires: built with the rule when it is cached, or those of its
	// Go rule when it gave the rule all they tell (see [Policy.demandsOf]);
	// nil until then, or when the rule requires nothing a client is told.
	demands *demands
	// publicIgnores names what the public .proto rule of a public method
	// sets that only a token can meet, and which is ignored ("step_up",
	// ...), for Audit.
	publicIgnores []string
}

// resolveRule computes the rule of fullMethod from its levels of rules:
// the Go options that name the method, those that name its service, and
// its .proto option (or else its service's), composed dimension by
// dimension (see [compose]). [WithoutOrganization] removes the .proto
// organization rule first. [WithSenderConstrainedEverywhere] makes every
// rule that reads a token sender-constrained.
//
// The rule records whether fullMethod is known: named exactly by a Go
// option or registered in the protobuf registry. Only known names may be
// cached; any other is a string a caller chose.
func resolveRule(fullMethod string, o *options) compiledRule {
	md, pr := protoRule(fullMethod)
	r := compiledRule{known: md != nil, registered: md != nil}
	if pr.Organization != nil && (o.withoutOrg[fullMethod] || o.withoutOrg[serviceOf(fullMethod)]) {
		pr.Organization = nil
		pr.sets &^= dimOrganization
		pr.Source += "-organization"
	}
	levels := [numLevels]level{protoLevel: pr}
	spec, specLevel := o.rules[fullMethod], goMethodLevel
	if spec != nil {
		r.known = true
		levels[goMethodLevel] = spec.level("go:method")
	}
	if s := o.rules[serviceOf(fullMethod)]; s != nil {
		levels[goServiceLevel] = s.level("go:service")
		if spec == nil {
			spec, specLevel = s, goServiceLevel
		}
	}
	var gave [numLevels]dimension
	r.Rule, gave, r.publicOverride = compose(&levels)
	if r.Access == AccessPublic && pr.Access == AccessPublic {
		r.publicIgnores = publicIgnores(&pr.Rule)
	}
	if spec != nil {
		// The demands built with the most specific Go rule are the merged
		// rule's when no other level gave what they tell.
		others := dimension(0)
		for i, g := range gave {
			if i != specLevel {
				others |= g
			}
		}
		if others&(dimScopes|dimStepUp) == 0 {
			r.demands = spec.demands
		}
	}
	if o.senderConstrained && r.Access != AccessPublic {
		r.SenderConstrained = true
	}
	r.stream = md == nil || md.IsStreamingClient() || md.IsStreamingServer()
	if r.Organization != nil && r.Access != AccessPublic {
		if md == nil {
			r.orgErr = fmt.Errorf("%s is not in the protobuf registry, so its request cannot be read", truncate(fullMethod))
		} else {
			r.org, r.orgErr = compileOrg(r.Organization, md.Input())
		}
	}
	return r
}

// level is what the options say of a method or service, as a level of
// its rules named source.
func (s *ruleSpec) level(source string) level {
	return level{Rule: Rule{
		Access:            s.access,
		Scopes:            s.scopes,
		AnyScopes:         s.anyScopes,
		Issuers:           s.issuers,
		Audiences:         s.audiences,
		StepUp:            s.stepUp,
		Organization:      s.org,
		SenderConstrained: s.senderConstrained,
		RevocationCheck:   s.revocationCheck,
		Source:            source,
	}, sets: s.sets}
}

// protoRule finds fullMethod in the global protobuf registry, where
// generated code registers itself, and reads its grpcjwt.v1 method option,
// or else its service's. It returns the method's descriptor (nil when it
// is not registered), and the rule as a level of the method's rules,
// which sets nothing when there is none.
func protoRule(fullMethod string) (protoreflect.MethodDescriptor, level) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, level{}
	}
	// A service lives directly in its package. Checking the package first
	// keeps the lookup linear in the name's length: on a miss,
	// FindDescriptorByName tries every dot-separated prefix, which costs
	// quadratic time in a name a caller made of dots.
	if i := strings.LastIndexByte(svc, '.'); i >= 0 && protoregistry.GlobalFiles.NumFilesByPackage(protoreflect.FullName(svc[:i])) == 0 {
		return nil, level{}
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, level{}
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, level{}
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md != nil {
		if r, ok := ruleOption(md.Options(), grpcjwtv1.E_Method); ok {
			return md, fromProto(r, "proto:method")
		}
	}
	if r, ok := ruleOption(sd.Options(), grpcjwtv1.E_Service); ok {
		return md, fromProto(r, "proto:service")
	}
	return md, level{}
}

// ruleOption returns the grpcjwt.v1 rule set in opts, if one is.
func ruleOption(opts proto.Message, ext protoreflect.ExtensionType) (*grpcjwtv1.Rule, bool) {
	if opts == nil || !proto.HasExtension(opts, ext) {
		return nil, false
	}
	r, ok := proto.GetExtension(opts, ext).(*grpcjwtv1.Rule)
	return r, ok && r != nil
}

// fromProto is the level of a method's rules that a .proto option is. It
// sets the access when the option says public or optional (public wins),
// and each other dimension whose field is set: not empty, or true.
func fromProto(p *grpcjwtv1.Rule, source string) level {
	l := level{Rule: Rule{Access: AccessRequired, Source: source}}
	r := &l.Rule
	switch {
	case p.GetPublic():
		r.Access = AccessPublic
	case p.GetOptional():
		r.Access = AccessOptional
	}
	r.Scopes = p.GetScopes()
	for _, g := range p.GetAnyScopes() {
		r.AnyScopes = append(r.AnyScopes, g.GetScopes())
	}
	r.Issuers = p.GetIssuers()
	r.Audiences = p.GetAudiences()
	r.StepUp = stepUpFromProto(p.GetStepUp())
	r.Organization = orgFromProto(p.GetOrganization())
	r.SenderConstrained = p.GetSenderConstrained()
	r.RevocationCheck = p.GetRevocationCheck()
	for _, f := range [...]struct {
		set bool
		d   dimension
	}{
		{p.GetPublic() || p.GetOptional(), dimAccess},
		{len(r.Scopes) > 0 || len(r.AnyScopes) > 0, dimScopes},
		{len(r.Issuers) > 0, dimIssuers},
		{len(r.Audiences) > 0, dimAudiences},
		{r.StepUp != nil, dimStepUp},
		{r.Organization != nil, dimOrganization},
		{r.SenderConstrained, dimSenderConstrained},
		{r.RevocationCheck, dimRevocationCheck},
	} {
		if f.set {
			l.sets |= f.d
		}
	}
	return l
}

// publicIgnores names the fields of the public .proto rule r that only a
// token can meet, and which a method that stays public ignores, for Audit
// to report; but for scopes, which auth.proto documents as ignored.
func publicIgnores(r *Rule) []string {
	var ignored []string
	for _, f := range [...]struct {
		set  bool
		name string
	}{
		{len(r.AnyScopes) > 0, "any_scopes"},
		{len(r.Issuers) > 0, "issuers"},
		{len(r.Audiences) > 0, "audiences"},
		{r.StepUp != nil, "step_up"},
		{r.Organization != nil, "organization"},
		{r.SenderConstrained, "sender_constrained"},
		{r.RevocationCheck, "revocation_check"},
	} {
		if f.set {
			ignored = append(ignored, f.name)
		}
	}
	return ignored
}

// maxCachedRules bounds the rule cache as a backstop. Only known names are
// cached (see [resolveRule]), so the program, not its callers, sets how many
// there are.
const maxCachedRules = 4096

// ruleCache resolves the rule of each known method once: lookups after the
// first are a lock-free, allocation-free read of a plain map, which is
// replaced whole, under a lock, to add a method (a copy per method the
// program has, once; reading a sync.Map cost twice as much, for an
// interface hash, on every call). A name that is neither
// named by a Go option nor registered in the protobuf registry is resolved
// on every call and never kept, so that method names a caller makes up
// (a server with an unknown-service handler sees any it sends) retain no
// memory. Resolving one costs two map lookups and a registry lookup; it
// allocates only to read a .proto option's alternatives of scopes, step-up
// or organization rule, and to name a Source of more than one level: a few
// bytes, not kept.
type ruleCache struct {
	m  atomic.Pointer[map[string]*compiledRule] // by full method; never modified once stored
	mu sync.Mutex                               // held to replace m
}

// rule returns the rule of fullMethod: the cached one, or one resolved
// into *buf (the caller's, on its stack), so that an unknown name costs no
// allocation. A rule that is cached gets its demands then, once; one that
// is not has the demands of its Go service rule (built with the policy)
// when that rule gave it its scopes and step-up, or none, and a refusal
// builds them ([Policy.demandsOf]).
func (p *Policy) rule(fullMethod string, buf *compiledRule) *compiledRule {
	c := &p.rules
	if m := c.m.Load(); m != nil {
		if r, ok := (*m)[fullMethod]; ok {
			return r
		}
	}
	*buf = resolveRule(fullMethod, p.opts)
	if !buf.known {
		return buf
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[string]*compiledRule
	if m := c.m.Load(); m != nil {
		old = *m
	}
	if r, ok := old[fullMethod]; ok {
		return r
	}
	if len(old) >= maxCachedRules {
		return buf
	}
	kept := new(compiledRule)
	*kept = *buf
	if kept.demands == nil {
		kept.demands = p.newDemands(&kept.Rule)
	}
	m := make(map[string]*compiledRule, len(old)+1)
	for k, r := range old {
		m[k] = r
	}
	m[fullMethod] = kept
	c.m.Store(&m)
	return kept
}
