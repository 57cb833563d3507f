package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// memberOrganizations are the organizations node-oidc-provider's client is
// a member of (provider.mjs's ORGANIZATIONS); strangerOrganization is one it
// is not.
var memberOrganizations = []string{"acme", "globex"}

const strangerOrganization = "initech"

// organizationAudience is the audience of Logto's organization token for
// org.
func organizationAudience(org string) string {
	return grpcjwt.DefaultOrganizationAudiencePrefix + org
}

// greetOrganization is the greeter's GreetOrganization for the
// organization org, whose .proto rule requires greet:read and a token for
// the organization that the request's parent names.
func greetOrganization(org string) rpc {
	parent := "organizations/" + org
	return rpc{"GreetOrganization(" + parent + ")", "greet:read", func(ctx context.Context, c greeterv1.GreeterClient) (reply, error) {
		var md metadata.MD
		r, err := c.GreetOrganization(ctx, &greeterv1.GreetOrganizationRequest{Parent: parent}, grpc.Header(&md))
		if want := "Hello, members of " + parent + "!"; err == nil && r.GetMessage() != want {
			return reply{}, fmt.Errorf("GreetOrganization replied %q, want %q", r.GetMessage(), want)
		}
		return reply{seenIn(md), r.GetSubject()}, err
	}}
}

// organizationResourceToken gets Logto's token for an API resource on
// behalf of an organization: aud apiAudience and an organization_id claim.
func (p *oidcProvider) organizationResourceToken(t *testing.T, org string, scopes ...string) string {
	t.Helper()
	return fetchToken(t, p.tokenRequest(url.Values{"resource": {apiAudience}, "organization_id": {org}}, scopes...))
}

// organizationToken gets Logto's organization token: aud
// organizationAudience(org) and the organization's scopes, no
// organization_id claim.
func (p *oidcProvider) organizationToken(t *testing.T, org string, scopes ...string) string {
	t.Helper()
	return fetchToken(t, p.tokenRequest(url.Values{"organization_id": {org}}, scopes...))
}

// checkShape checks, without verifying the token, that its payload has aud
// the string aud and the organization_id claim org, or none when org is "".
func checkShape(t *testing.T, token, aud, org string) {
	t.Helper()
	_, payload := decodeToken(t, token)
	var claims struct {
		Aud            any     `json:"aud"`
		OrganizationID *string `json:"organization_id"`
	}
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	got, want := "none", "none"
	if claims.OrganizationID != nil {
		got = strconv.Quote(*claims.OrganizationID)
	}
	if org != "" {
		want = strconv.Quote(org)
	}
	if claims.Aud != aud || got != want {
		t.Fatalf("payload %s: want aud %q and organization_id %s", payload, aud, want)
	}
}

// denyOrganization asserts that r refuses token with PermissionDenied
// "organization_mismatch", for that reason.
func (s *server) denyOrganization(t *testing.T, r rpc, token string) {
	t.Helper()
	s.takeCause()
	s.deny(t, r, token, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	if err := s.takeCause(); !errors.Is(err, grpcjwt.ErrOrganizationMismatch) {
		t.Errorf("%s: the server refused the call because %v, want %v", r.name, err, grpcjwt.ErrOrganizationMismatch)
	}
}

// TestOIDCProviderOrganizations gets the three shapes of Logto's access
// tokens from node-oidc-provider's token endpoint and calls the greeter's
// GreetOrganization with them, whose .proto rule ties the organization in
// the request to the token's.
func TestOIDCProviderOrganizations(t *testing.T) {
	t.Parallel()
	p := startOIDCProvider(t, requireProvider(t, "oidc-provider"))
	s := newServerFor(t, grpcjwt.Config{
		Issuer:            p.issuer(),
		Audience:          apiAudience,
		AudiencePrefixes:  []string{grpcjwt.DefaultOrganizationAudiencePrefix},
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
	})
	// Every organization a token may be refused for: the client's other
	// ones and one it is not a member of.
	others := func(org string) []string {
		return slices.DeleteFunc(append(slices.Clone(memberOrganizations), strangerOrganization), func(o string) bool { return o == org })
	}

	t.Run("resource token", func(t *testing.T) {
		tok := p.token(t, allScopes...)
		checkShape(t, tok, apiAudience, "")
		got := s.accept(t, sayHello, tok)
		if got.MatchedAudience != apiAudience || got.AudienceSuffix != "" || got.Organization != "" {
			t.Errorf("handler saw %+v, want the API's audience and no organization", got)
		}
		// It names no organization, so it is good for none.
		for _, org := range memberOrganizations {
			s.denyOrganization(t, greetOrganization(org), tok)
		}
	})

	t.Run("resource token for an organization", func(t *testing.T) {
		for _, org := range memberOrganizations {
			tok := p.organizationResourceToken(t, org, allScopes...)
			checkShape(t, tok, apiAudience, org)
			got := s.accept(t, greetOrganization(org), tok)
			if got.Organization != org || got.MatchedAudience != apiAudience || got.AudienceSuffix != "" {
				t.Errorf("handler saw %+v, want organization_id %q and the API's audience", got, org)
			}
			if !slices.Equal(got.Scopes, allScopes) {
				t.Errorf("handler saw scopes %q, want %q", got.Scopes, allScopes)
			}
			for _, other := range others(org) {
				s.denyOrganization(t, greetOrganization(other), tok)
			}
			s.accept(t, sayHello, tok) // a method without an organization rule
		}
	})

	t.Run("organization token", func(t *testing.T) {
		for _, org := range memberOrganizations {
			tok := p.organizationToken(t, org, "greet:read")
			checkShape(t, tok, organizationAudience(org), "")
			got := s.accept(t, greetOrganization(org), tok)
			if got.AudienceSuffix != org || got.MatchedAudience != organizationAudience(org) || got.Organization != org {
				t.Errorf("handler saw %+v, want the audience %q and its organization", got, organizationAudience(org))
			}
			if !slices.Equal(got.Scopes, []string{"greet:read"}) {
				t.Errorf("handler saw scopes %q, want [greet:read]", got.Scopes)
			}
			for _, other := range others(org) {
				s.denyOrganization(t, greetOrganization(other), tok)
			}
		}
	})

	t.Run("scope", func(t *testing.T) {
		// The organization matches; the scope the rule requires is missing.
		for _, tok := range []string{
			p.organizationToken(t, "acme", "greet:write"),
			p.organizationResourceToken(t, "acme", "greet:write"),
		} {
			s.deny(t, greetOrganization("acme"), tok, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
		}
	})

	t.Run("server whose issuer asserts no organization", func(t *testing.T) {
		// Without AudiencePrefixes an organization token is refused; without
		// OrganizationClaim a resource token for an organization is good
		// for no organization, whatever its organization_id says.
		plain := newServer(t, p.issuer(), apiAudience)
		plain.reject(t, p.organizationToken(t, "acme", allScopes...), grpcjwt.ErrAudienceMismatch)
		plain.denyOrganization(t, greetOrganization("acme"), p.organizationResourceToken(t, "acme", allScopes...))
		byClaim := newServerFor(t, grpcjwt.Config{Issuer: p.issuer(), Audience: apiAudience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim})
		got := byClaim.accept(t, greetOrganization("acme"), p.organizationResourceToken(t, "acme", allScopes...))
		if got.Organization != "acme" {
			t.Errorf("handler saw organization %q, want acme", got.Organization)
		}
	})

	t.Run("provider refuses", func(t *testing.T) {
		for _, tc := range []struct {
			params url.Values
			code   string
			status int
		}{
			{url.Values{"organization_id": {strangerOrganization}}, "access_denied", http.StatusForbidden},
			{url.Values{"resource": {apiAudience}, "organization_id": {strangerOrganization}}, "access_denied", http.StatusForbidden},
			// An organization's audience is asked for with organization_id.
			{url.Values{"resource": {organizationAudience("acme")}}, "invalid_target", http.StatusBadRequest},
			{url.Values{"resource": {organizationAudience("globex")}, "organization_id": {"acme"}}, "invalid_target", http.StatusBadRequest},
		} {
			_, err := p.tokenRequest(tc.params, allScopes...).Token(context.WithValue(t.Context(), oauth2.HTTPClient, tokenClient))
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != tc.code || re.Response.StatusCode != tc.status {
				t.Errorf("token request %s: %v, want %d %s", tc.params.Encode(), err, tc.status, tc.code)
			}
		}
	})
}
