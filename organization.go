package grpcjwt

import (
	"fmt"

	"github.com/grpcjwt/grpcjwt/internal/logto"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
)

// Defaults of an [OrganizationRule]: Logto's names.
const (
	DefaultOrganizationClaim          = logto.OrganizationClaim
	DefaultOrganizationAudiencePrefix = logto.OrganizationAudiencePrefix
)

// TokenOrganization says where a token names its organization.
type TokenOrganization int

const (
	// OrganizationFromClaimOrAudience: the claim or the audience, whichever
	// the token has (the default). A token that names two different
	// organizations is refused.
	OrganizationFromClaimOrAudience TokenOrganization = iota
	// OrganizationFromClaim: only the claim (Logto's organization-level API
	// resource tokens: aud is the API, organization_id the organization).
	OrganizationFromClaim
	// OrganizationFromAudience: only an audience made of the prefix and the
	// organization (Logto's organization tokens).
	OrganizationFromAudience
)

// OrganizationRule declares that a method's request names the organization
// it is about, and that the token must be for that organization. A call
// whose token is for another organization, names none, or names two, or
// whose request field is empty, absent or does not match Pattern, is
// refused with PermissionDenied "organization_mismatch"; the client is not
// told more, the reject hook is. See [WithOrganization] and the
// organization field of the grpcjwt.v1 .proto rule.
type OrganizationRule struct {
	// Field is the request field that holds the organization: a string
	// field of the request message, or of messages inside it ("a.b.c").
	Field string

	// Pattern, when set, says that Field holds a resource name (AIP-122)
	// and which segment is the organization, written "{organization}":
	// "organizations/{organization}/projects/*". A "*" matches any one
	// segment and a final "**" any number of them.
	Pattern string

	// Token is where the token names its organization.
	Token TokenOrganization

	// Claim names the organization; default [DefaultOrganizationClaim].
	Claim string

	// AudiencePrefix, followed by the organization, is an audience that
	// names it; default [DefaultOrganizationAudiencePrefix]. The issuer
	// must accept such audiences (see [Config.AudiencePrefixes]).
	AudiencePrefix string
}

// String formats the rule for [MethodRule.String].
func (r *OrganizationRule) String() string {
	s := "organization=" + r.Field
	if r.Pattern != "" {
		s += "~" + r.Pattern
	}
	switch r.Token {
	case OrganizationFromClaim:
		s += " from claim " + r.Claim
	case OrganizationFromAudience:
		s += " from audience " + r.AudiencePrefix + "*"
	default:
		s += " from claim " + r.Claim + " or audience " + r.AudiencePrefix + "*"
	}
	return s
}

// WithOrganization gives method (a full method, or a service ending in
// "/") an organization rule; see [OrganizationRule]. It adds to the
// method's other Go options (access, scopes), and like them overrides the
// .proto options. Only the interceptors can check it: [AuthFunc] sees no
// request, so it refuses calls to methods with an organization rule.
func WithOrganization(method string, r OrganizationRule) Option {
	return func(o *options) {
		rc := r
		o.spec(method).org = &rc
	}
}

func orgFromProto(p *grpcjwtv1.Organization) *OrganizationRule {
	if p == nil {
		return nil
	}
	return &OrganizationRule{
		Field:          p.GetField(),
		Pattern:        p.GetPattern(),
		Token:          TokenOrganization(p.GetToken()),
		Claim:          p.GetClaim(),
		AudiencePrefix: p.GetAudiencePrefix(),
	}
}

// withDefaults returns a copy of r with its defaults filled in.
func (r OrganizationRule) withDefaults() *OrganizationRule {
	if r.Claim == "" {
		r.Claim = DefaultOrganizationClaim
	}
	if r.AudiencePrefix == "" {
		r.AudiencePrefix = DefaultOrganizationAudiencePrefix
	}
	return &r
}

// hasOrganization reports whether the rule has an organization check.
func (r *Rule) hasOrganization() bool {
	return r.Access != AccessPublic && r.Organization != nil
}

// checkOrganization applies the rule's organization check to a request
// message; a rule that could not be compiled refuses every call.
func (r *Rule) checkOrganization(c *Claims, req any) error {
	if r.org == nil {
		return fmt.Errorf("%w: the organization rule cannot be checked: %w", ErrOrganizationMismatch, r.orgErr)
	}
	return r.org.check(c, req)
}
