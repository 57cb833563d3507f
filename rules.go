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
	// Source says where the rule came from: "default", "go:method",
	// "go:service", "proto:method" or "proto:service"; a Go rule over which
	// a .proto organization rule survived adds "+proto:method:organization"
	// (or service), and a .proto rule whose organization rule
	// [WithoutOrganization] removed ends in "-organization".
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
	publicOverride bool      // a Go option made it public, over a .proto organization rule that survived
	stream         bool      // a streaming method, or one the registry does not know
	// demands are the statuses and challenges that tell a client what the
	// rule requires, built once per rule source (see [Policy.demandsOf]);
	// nil until then, or when the rule requires nothing a client is told.
	demands *demands
	// publicIgnores names what a public .proto rule sets that only a token
	// can meet, and which is ignored ("step_up", ...), for Audit.
	publicIgnores []string
}

// resolveRule computes the rule of fullMethod. Go options override .proto
// options: if any Go option names the method or its service, the rest of
// the .proto rule is not consulted. Within each, a method rule overrides a
// service rule. The one exception is tenant isolation: the organization
// rule of the .proto rule survives a Go rule that has none of its own,
// unless the Go rule removes it ([WithoutOrganization]). A Go rule that
// makes such a method public does not make it public: the method keeps
// requiring a token for its organization, and [Policy.Audit] reports it.
// [WithSenderConstrainedEverywhere] makes every rule that reads a token
// sender-constrained.
//
// The rule records whether fullMethod is known: named exactly by a Go
// option or registered in the protobuf registry. Only known names may be
// cached; any other is a string a caller chose.
func resolveRule(fullMethod string, o *options) compiledRule {
	md, pr, ignored := protoRule(fullMethod)
	r := compiledRule{known: md != nil}
	s, ok := o.rules[fullMethod]
	source := "go:method"
	if ok {
		r.known = true
	} else if s, ok = o.rules[serviceOf(fullMethod)]; ok {
		source = "go:service"
	}
	if pr.Organization != nil && (o.withoutOrg[fullMethod] || o.withoutOrg[serviceOf(fullMethod)]) {
		pr.Organization = nil
		pr.Source += "-organization"
	}
	switch {
	case !ok && pr.Source != "":
		r.Rule, r.publicIgnores = pr, ignored
	case !ok:
		r.Rule = Rule{Access: AccessRequired, Source: "default"}
	default:
		r.Rule = s.rule(source)
		r.demands = s.demands
		if pr.Organization != nil && s.org == nil {
			// The .proto organization rule survives the Go override.
			if r.Access == AccessPublic {
				r.Access = AccessRequired
				r.publicOverride = true
			}
			r.Organization = pr.Organization
			r.Source += "+" + pr.Source + ":organization"
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

func (s *ruleSpec) rule(source string) Rule {
	r := Rule{Access: s.access, Source: source}
	if s.access != AccessPublic {
		r.Scopes = s.scopes
		r.AnyScopes = s.anyScopes
		r.Issuers = s.issuers
		r.Audiences = s.audiences
		r.StepUp = s.stepUp
		r.Organization = s.org
		r.SenderConstrained = s.senderConstrained
		r.RevocationCheck = s.revocationCheck
	}
	return r
}

// protoRule finds fullMethod in the global protobuf registry, where
// generated code registers itself, and reads its grpcjwt.v1 method option,
// or else its service's. It returns the method's descriptor (nil when it
// is not registered), the rule, whose Source is empty when there is none,
// and what a public rule sets that it ignores (see [fromProto]).
func protoRule(fullMethod string) (protoreflect.MethodDescriptor, Rule, []string) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, Rule{}, nil
	}
	// A service lives directly in its package. Checking the package first
	// keeps the lookup linear in the name's length: on a miss,
	// FindDescriptorByName tries every dot-separated prefix, which costs
	// quadratic time in a name a caller made of dots.
	if i := strings.LastIndexByte(svc, '.'); i >= 0 && protoregistry.GlobalFiles.NumFilesByPackage(protoreflect.FullName(svc[:i])) == 0 {
		return nil, Rule{}, nil
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, Rule{}, nil
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, Rule{}, nil
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md != nil {
		if r, ok := ruleOption(md.Options(), grpcjwtv1.E_Method); ok {
			rule, ignored := fromProto(r, "proto:method")
			return md, rule, ignored
		}
	}
	if r, ok := ruleOption(sd.Options(), grpcjwtv1.E_Service); ok {
		rule, ignored := fromProto(r, "proto:service")
		return md, rule, ignored
	}
	return md, Rule{}, nil
}

// ruleOption returns the grpcjwt.v1 rule set in opts, if one is.
func ruleOption(opts proto.Message, ext protoreflect.ExtensionType) (*grpcjwtv1.Rule, bool) {
	if opts == nil || !proto.HasExtension(opts, ext) {
		return nil, false
	}
	r, ok := proto.GetExtension(opts, ext).(*grpcjwtv1.Rule)
	return r, ok && r != nil
}

// fromProto is the rule of a .proto option. A public rule reads nothing
// else: its optional and scopes fields are ignored, as auth.proto says,
// and so are the fields only a token can meet, whose names it returns for
// Audit to report.
func fromProto(p *grpcjwtv1.Rule, source string) (Rule, []string) {
	r := Rule{Access: AccessRequired, Source: source}
	switch {
	case p.GetPublic():
		r.Access = AccessPublic
		var ignored []string
		if len(p.GetAnyScopes()) > 0 {
			ignored = append(ignored, "any_scopes")
		}
		if len(p.GetIssuers()) > 0 {
			ignored = append(ignored, "issuers")
		}
		if len(p.GetAudiences()) > 0 {
			ignored = append(ignored, "audiences")
		}
		if p.GetStepUp() != nil {
			ignored = append(ignored, "step_up")
		}
		if p.GetRevocationCheck() {
			ignored = append(ignored, "revocation_check")
		}
		return r, ignored
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
	return r, nil
}

// maxCachedRules bounds the rule cache as a backstop. Only known names are
// cached (see [resolveRule]), so the program, not its callers, sets how many
// there are.
const maxCachedRules = 4096

// ruleCache resolves the rule of each known method once: lookups after the
// first are a lock-free, allocation-free map read. A name that is neither
// named by a Go option nor registered in the protobuf registry is resolved
// on every call and never kept, so that method names a caller makes up
// (a server with an unknown-service handler sees any it sends) retain no
// memory. Resolving one costs two map lookups and a registry lookup, and
// allocates nothing.
type ruleCache struct {
	m sync.Map // full method -> *compiledRule
	n atomic.Int64
}

// rule returns the rule of fullMethod: the cached one, or one resolved
// into *buf (the caller's, on its stack), so that an unknown name costs no
// allocation. A rule that is cached gets its demands then, once; one that
// is not has the demands of its Go rule (built with the policy), or none,
// and a refusal builds them ([Policy.demandsOf]).
func (p *Policy) rule(fullMethod string, buf *compiledRule) *compiledRule {
	c := &p.rules
	if r, ok := c.m.Load(fullMethod); ok {
		return r.(*compiledRule)
	}
	*buf = resolveRule(fullMethod, p.opts)
	if !buf.known || c.n.Load() >= maxCachedRules {
		return buf
	}
	kept := new(compiledRule)
	*kept = *buf
	if kept.demands == nil {
		kept.demands = p.newDemands(&kept.Rule)
	}
	if r, loaded := c.m.LoadOrStore(fullMethod, kept); loaded {
		return r.(*compiledRule)
	}
	c.n.Add(1)
	return kept
}
