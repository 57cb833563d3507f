package grpcjwt

import (
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

// Rule is the effective authorization rule of one method.
type Rule struct {
	Access Access
	Scopes []string // all required; none for public methods
	// Source says where the rule came from: "default", "go:method",
	// "go:service", "proto:method" or "proto:service".
	Source string
}

// resolveRule computes the rule of fullMethod. Go options override .proto
// options entirely: if any Go option names the method or its service, the
// .proto options are not consulted. Within each, a method rule overrides a
// service rule.
func resolveRule(fullMethod string, o *options) Rule {
	if s, ok := o.rules[fullMethod]; ok {
		return s.rule("go:method")
	}
	if s, ok := o.rules[serviceOf(fullMethod)]; ok {
		return s.rule("go:service")
	}
	if r, ok := protoRule(fullMethod); ok {
		return r
	}
	return Rule{Access: AccessRequired, Source: "default"}
}

func (s *ruleSpec) rule(source string) Rule {
	r := Rule{Access: s.access, Source: source}
	if s.access != AccessPublic {
		r.Scopes = s.scopes
	}
	return r
}

// protoRule reads the grpcjwt.v1 method or service option of fullMethod
// from the global protobuf registry, where generated code registers itself.
func protoRule(fullMethod string) (Rule, bool) {
	name := strings.TrimPrefix(fullMethod, "/")
	svc, method, ok := strings.Cut(name, "/")
	if !ok {
		return Rule{}, false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return Rule{}, false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return Rule{}, false
	}
	if md := sd.Methods().ByName(protoreflect.Name(method)); md != nil {
		if r, ok := ruleOption(md.Options(), grpcjwtv1.E_Method); ok {
			return fromProto(r, "proto:method"), true
		}
	}
	if r, ok := ruleOption(sd.Options(), grpcjwtv1.E_Service); ok {
		return fromProto(r, "proto:service"), true
	}
	return Rule{}, false
}

// ruleOption returns the grpcjwt.v1 rule set in opts, if one is.
func ruleOption(opts proto.Message, ext protoreflect.ExtensionType) (*grpcjwtv1.Rule, bool) {
	if opts == nil || !proto.HasExtension(opts, ext) {
		return nil, false
	}
	r, ok := proto.GetExtension(opts, ext).(*grpcjwtv1.Rule)
	return r, ok && r != nil
}

func fromProto(p *grpcjwtv1.Rule, source string) Rule {
	r := Rule{Access: AccessRequired, Source: source}
	switch {
	case p.GetPublic():
		r.Access = AccessPublic
		return r
	case p.GetOptional():
		r.Access = AccessOptional
	}
	r.Scopes = p.GetScopes()
	return r
}

// maxCachedRules bounds the rule cache: method names come from clients,
// and a server with an unknown-service handler sees any name they send.
const maxCachedRules = 4096

// ruleCache resolves each method's rule once. Lookups after the first are a
// lock-free map read.
type ruleCache struct {
	m sync.Map // full method -> *Rule
	n atomic.Int64
}

func (c *ruleCache) get(fullMethod string, o *options) *Rule {
	if r, ok := c.m.Load(fullMethod); ok {
		return r.(*Rule)
	}
	r := resolveRule(fullMethod, o)
	if c.n.Load() >= maxCachedRules {
		return &r
	}
	actual, loaded := c.m.LoadOrStore(fullMethod, &r)
	if !loaded {
		c.n.Add(1)
	}
	return actual.(*Rule)
}
