package grpcjwt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// orgCheck is an organization rule compiled against a request message.
type orgCheck struct {
	rule    *OrganizationRule
	path    []protoreflect.FieldDescriptor
	pattern []string // segments; nil without a pattern
	orgSeg  int      // index of "{organization}" in pattern
}

// compileOrg checks r against the request message in and prepares it.
func compileOrg(r *OrganizationRule, in protoreflect.MessageDescriptor) (*orgCheck, error) {
	oc := &orgCheck{rule: r}
	if r.Field == "" {
		return nil, errors.New("organization rule names no request field")
	}
	if slices.Contains(r.Issuers, "") {
		return nil, errors.New("organization rule names an empty issuer")
	}
	if r.Token < OrganizationFromClaimOrAudience || r.Token > OrganizationFromAudience {
		return nil, fmt.Errorf("organization rule has an unknown token source %d", r.Token)
	}
	md := in
	parts := strings.Split(r.Field, ".")
	for i, name := range parts {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("request %s has no field %q (organization field %q)", md.FullName(), name, r.Field)
		}
		if fd.IsList() || fd.IsMap() {
			return nil, fmt.Errorf("organization field %q: %s is repeated", r.Field, fd.FullName())
		}
		oc.path = append(oc.path, fd)
		if i < len(parts)-1 {
			if fd.Kind() != protoreflect.MessageKind {
				return nil, fmt.Errorf("organization field %q: %s is not a message", r.Field, fd.FullName())
			}
			md = fd.Message()
		} else if fd.Kind() != protoreflect.StringKind {
			return nil, fmt.Errorf("organization field %q: %s is a %s, not a string", r.Field, fd.FullName(), fd.Kind())
		}
	}
	if r.Pattern != "" {
		segs := strings.Split(r.Pattern, "/")
		oc.orgSeg = -1
		for i, s := range segs {
			switch {
			case s == "{organization}":
				if oc.orgSeg >= 0 {
					return nil, fmt.Errorf("organization pattern %q has {organization} twice", r.Pattern)
				}
				oc.orgSeg = i
			case s == "**":
				if i != len(segs)-1 {
					return nil, fmt.Errorf("organization pattern %q: ** must be the last segment", r.Pattern)
				}
			case s == "*":
			case s == "" || strings.ContainsAny(s, "{}*"):
				return nil, fmt.Errorf("organization pattern %q: segment %q is not a name, *, ** or {organization}", r.Pattern, s)
			}
		}
		if oc.orgSeg < 0 {
			return nil, fmt.Errorf("organization pattern %q has no {organization}", r.Pattern)
		}
		oc.pattern = segs
	}
	return oc, nil
}

// requestOrg reads the organization the request names. It allocates
// nothing.
func (oc *orgCheck) requestOrg(req any) (string, error) {
	msg, ok := req.(proto.Message)
	if !ok {
		return "", errors.New("the request is not a protobuf message")
	}
	m := msg.ProtoReflect()
	if m.Descriptor() != oc.path[0].ContainingMessage() {
		return "", fmt.Errorf("the request is a %s, the rule was made for %s", m.Descriptor().FullName(), oc.path[0].ContainingMessage().FullName())
	}
	for _, fd := range oc.path[:len(oc.path)-1] {
		if !m.Has(fd) {
			return "", fmt.Errorf("the request has no %s", oc.rule.Field)
		}
		m = m.Get(fd).Message()
	}
	v := m.Get(oc.path[len(oc.path)-1]).String()
	if v == "" {
		return "", fmt.Errorf("the request's %s is empty", oc.rule.Field)
	}
	if oc.pattern == nil {
		return v, nil
	}
	org, ok := matchName(oc.pattern, oc.orgSeg, v)
	if !ok {
		return "", fmt.Errorf("the request's %s %q does not match %q", oc.rule.Field, truncate(v), oc.rule.Pattern)
	}
	return org, nil
}

// matchName matches a resource name against pattern segments and returns
// the segment at orgSeg. Only a canonical name can match: no empty, "." or
// ".." segment anywhere (also under a final "**"), and no '%', so that
// "organizations/A/../B" is never a name under A, however a server later
// resolves it. It allocates nothing.
func matchName(pattern []string, orgSeg int, name string) (string, bool) {
	if !canonicalName(name) {
		return "", false
	}
	var org string
	for i, p := range pattern {
		if p == "**" {
			return org, true
		}
		seg, rest, more := strings.Cut(name, "/")
		if seg == "" {
			return "", false
		}
		switch {
		case i == orgSeg:
			org = seg
		case p == "*":
		case p != seg:
			return "", false
		}
		last := i == len(pattern)-1
		switch {
		case !more && last:
			return org, true
		case !more:
			return org, len(pattern) == i+2 && pattern[i+1] == "**"
		case last:
			return "", false
		}
		name = rest
	}
	return "", false
}

// canonicalName reports whether a resource name has only non-empty
// segments other than "." and "..", and no percent-escape.
func canonicalName(name string) bool {
	if strings.IndexByte(name, '%') >= 0 {
		return false
	}
	for {
		seg, rest, more := strings.Cut(name, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if !more {
			return true
		}
		name = rest
	}
}

// tokenOrg reads the organization the token's issuer asserts, from where
// the rule reads it.
func (oc *orgCheck) tokenOrg(c *Claims) (string, error) {
	if len(oc.rule.Issuers) > 0 && !slices.Contains(oc.rule.Issuers, c.Issuer) {
		return "", fmt.Errorf("the rule does not accept the organizations of issuer %q", truncate(c.Issuer))
	}
	if c.orgConflict {
		return "", errors.New("the token names two organizations")
	}
	var org string
	switch oc.rule.Token {
	case OrganizationFromClaim:
		if c.AudienceSuffix != "" {
			return "", fmt.Errorf("an organization token (audience %q accepted by its prefix) on a rule that reads the claim only", truncate(c.MatchedAudience))
		}
		org = c.orgByClaim
	case OrganizationFromAudience:
		org = c.orgByAudience
	default:
		org = c.Organization
	}
	if org == "" {
		return "", fmt.Errorf("issuer %q asserts no organization for the token where the rule reads it", truncate(c.Issuer))
	}
	return org, nil
}

// check refuses a request that is not about the token's organization.
func (oc *orgCheck) check(c *Claims, req any) error {
	if c == nil {
		return fmt.Errorf("%w: the call has no token", ErrOrganizationMismatch)
	}
	want, err := oc.requestOrg(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOrganizationMismatch, err)
	}
	got, err := oc.tokenOrg(c)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOrganizationMismatch, err)
	}
	if got != want {
		return fmt.Errorf("%w: the token is for organization %q, the request for %q", ErrOrganizationMismatch, truncate(got), truncate(want))
	}
	return nil
}
