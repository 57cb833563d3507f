package grpcjwt

import (
	"context"
	"slices"

	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
)

// Catalog returns the grpcjwt.v1.Catalog service (proto/grpcjwt/v1/
// catalog.proto) of the methods registered on srv: its ListMethods
// answers every one of them, sorted, with the rule the policy applies to
// it (access, scopes and their alternatives, step-up, the issuers and
// audiences it accepts, organization rule, sender constraint) and its kind
// of RPC, read from the same compiled rules that [Policy.Audit] reports
// and that calls meet, so that a client or a gateway knows before calling
// which token a method needs. Register it on srv beside the services it
// describes, and it lists itself too:
//
//	grpcjwtv1.RegisterCatalogServer(srv, policy.Catalog(srv))
//
// The service is public by its .proto options: anyone who can reach the
// server reads every method's rule, the scopes it requires, the login it
// requires, the issuers and audiences it accepts, the request field and
// pattern of its organization rule and the issuers whose organizations it
// accepts. That is what a client needs, and what the
// server chooses to reveal by registering it; to require a token for it,
// give it a Go rule that asks something of a token, which makes it need
// one (WithScopes("/grpcjwt.v1.Catalog/", "catalog:read"); see [Rule]). What an
// [Authorizer] checks is no rule, and is not listed. Each call walks the
// methods of srv, so the answer never falls out of step with the server.
func (p *Policy) Catalog(srv ServiceInfoProvider) grpcjwtv1.CatalogServer {
	return &catalog{p: p, srv: srv}
}

// catalog is the grpcjwt.v1.Catalog service of a policy and a server.
type catalog struct {
	grpcjwtv1.UnimplementedCatalogServer
	p   *Policy
	srv ServiceInfoProvider
}

// ListMethods answers every method of the server with its rule.
func (c *catalog) ListMethods(context.Context, *grpcjwtv1.ListMethodsRequest) (*grpcjwtv1.ListMethodsResponse, error) {
	rules, _ := c.p.Audit(c.srv) // its errors are the server's to act on; the rules are what calls meet
	resp := &grpcjwtv1.ListMethodsResponse{Methods: make([]*grpcjwtv1.Method, len(rules))}
	for i, m := range rules {
		resp.Methods[i] = catalogMethod(m)
	}
	return resp, nil
}

// catalogMethod is m as the catalog sends it.
func catalogMethod(m MethodRule) *grpcjwtv1.Method {
	cm := &grpcjwtv1.Method{
		FullMethod:        m.FullMethod,
		ClientStreaming:   m.ClientStream,
		ServerStreaming:   m.ServerStream,
		Access:            catalogAccess[m.Access],
		Scopes:            slices.Clone(m.Scopes), // the rule's own stay the policy's
		SenderConstrained: m.SenderConstrained,
		RevocationCheck:   m.RevocationCheck,
		StepUp:            stepUpToProto(m.StepUp),
		Issuers:           slices.Clone(m.Issuers),
		Audiences:         slices.Clone(m.Audiences),
	}
	for _, g := range m.AnyScopes {
		cm.AnyScopes = append(cm.AnyScopes, &grpcjwtv1.ScopeGroup{Scopes: slices.Clone(g)})
	}
	if o := m.Organization; o != nil {
		cm.Organization = &grpcjwtv1.Organization{
			Field:   o.Field,
			Pattern: o.Pattern,
			// The enums have the same values, as orgFromProto reads them.
			Token:   grpcjwtv1.TokenOrganization(o.Token),
			Issuers: slices.Clone(o.Issuers),
		}
	}
	return cm
}

// catalogAccess is each Access as the catalog sends it.
var catalogAccess = map[Access]grpcjwtv1.Access{
	AccessRequired: grpcjwtv1.Access_ACCESS_REQUIRED,
	AccessOptional: grpcjwtv1.Access_ACCESS_OPTIONAL,
	AccessPublic:   grpcjwtv1.Access_ACCESS_PUBLIC,
}
