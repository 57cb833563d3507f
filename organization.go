package grpcjwt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/grpcjwt/grpcjwt/internal/logto"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
)

// Logto's names for organizations: the claim of its organization-level
// API resource tokens, and the audience prefix of its organization tokens;
// for [Config.OrganizationClaim] and [Config.AudiencePrefixes].
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
// it is about, and that the token must be for that organization, as its
// issuer asserts it ([Claims.Organization]). A call whose token is for
// another organization, names none, or names two, whose issuer asserts no
// organization or is not one of Issuers, or whose request field is empty,
// absent, not canonical or does not match Pattern, is refused with
// PermissionDenied "organization_mismatch"; the client is not told more,
// the reject hook is. See [WithOrganization] and the organization field of
// the grpcjwt.v1 .proto rule.
//
// Organizations belong to issuers: an issuer asserts them only by the
// claim and the audience prefixes its configuration names
// ([Config.OrganizationClaim], [Config.AudiencePrefixes], and the same
// fields of [IssuerConfig]); a token from an issuer configured with
// neither never satisfies an organization rule, whatever it claims.
type OrganizationRule struct {
	// Field is the request field that holds the organization: a string
	// field of the request message, or of messages inside it ("a.b.c").
	Field string

	// Pattern, when set, says that Field holds a resource name (AIP-122)
	// and which segment is the organization, written "{organization}":
	// "organizations/{organization}/projects/*". A "*" matches any one
	// segment and a final "**" any number of them. A name with an empty,
	// "." or ".." segment or a '%' never matches.
	Pattern string

	// Token is where the token names its organization. A token accepted
	// only by an audience prefix (an organization token) never reaches a
	// method whose rule reads the claim only: it is refused as on a method
	// with no organization rule.
	Token TokenOrganization

	// Issuers, when set, are the only trusted issuers whose organizations
	// the rule accepts (exact "iss" values); by default, every issuer
	// configured to assert organizations.
	Issuers []string
}

// String formats the rule for [MethodRule.String].
func (r *OrganizationRule) String() string {
	s := "organization=" + r.Field
	if r.Pattern != "" {
		s += "~" + r.Pattern
	}
	switch r.Token {
	case OrganizationFromClaim:
		s += " from claim"
	case OrganizationFromAudience:
		s += " from audience"
	default:
		s += " from claim or audience"
	}
	if len(r.Issuers) > 0 {
		s += " of issuers " + strings.Join(r.Issuers, ",")
	}
	return s
}

// WithOrganization gives method (a full method, or a service ending in
// "/") an organization rule; see [OrganizationRule]. It sets the
// organization rule of method's rule in place of that of a less specific
// level (its service's Go rule, its .proto option), and leaves the rest of
// the rule to them (see [Rule]). Only the interceptors can check it:
// [AuthFunc] sees no request, so it refuses calls to methods with an
// organization rule.
func WithOrganization(method string, r OrganizationRule) Option {
	return func(o *options) {
		rc := r
		s := o.spec(method)
		s.org = &rc
		s.sets |= dimOrganization
	}
}

func orgFromProto(p *grpcjwtv1.Organization) *OrganizationRule {
	if p == nil {
		return nil
	}
	return &OrganizationRule{
		Field:   p.GetField(),
		Pattern: p.GetPattern(),
		Token:   TokenOrganization(p.GetToken()),
		Issuers: p.GetIssuers(),
	}
}

// hasOrganization reports whether the rule has an organization check.
func (r *compiledRule) hasOrganization() bool {
	return r.Access != AccessPublic && r.Organization != nil
}

// acceptsOrganizationTokens reports whether a token accepted only by an
// audience prefix (an organization token) may reach the method: only when
// its organization rule may read the audience.
func (r *compiledRule) acceptsOrganizationTokens() bool {
	return r.hasOrganization() && r.Organization.Token != OrganizationFromClaim
}

// checkOrganization applies the rule's organization check to a request
// message; a rule that could not be compiled refuses every call.
func (r *compiledRule) checkOrganization(c *Claims, req any) error {
	if r.org == nil {
		return fmt.Errorf("%w: the organization rule cannot be checked: %w", ErrOrganizationMismatch, r.orgErr)
	}
	return r.org.check(c, req)
}

// canAssert says why no issuer v trusts can satisfy the organization rule
// r (an issuer it names is not trusted, or none of the issuers it accepts
// asserts organizations where it reads them), or returns nil.
func (v *Validator) canAssert(r *OrganizationRule) error {
	for _, name := range r.Issuers {
		if v.issuers[name] == nil {
			return fmt.Errorf("the organization rule names issuer %q, which the Validator does not trust", name)
		}
	}
	for name, t := range v.issuers {
		if (len(r.Issuers) == 0 || slices.Contains(r.Issuers, name)) && t.asserts(r.Token) {
			return nil
		}
	}
	return errors.New("no trusted issuer it accepts asserts organizations where it reads them (set OrganizationClaim or AudiencePrefixes on the issuer)")
}
