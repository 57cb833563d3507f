package grpcjwt_test

import (
	"context"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
)

// Admit decides as Authenticate does, and tells the door what is left to
// do from the same rule: whether the method reads its messages, and
// whether the protobuf registry knows it.
func TestAdmit(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim })
	const goOnly = "/made.v1.Up/Do" // named by a Go option, unknown to the registry
	policy := policyOf(t, v,
		grpcjwt.WithScopes(goOnly, "do"),
		grpcjwt.WithOrganization(tenantv1.Projects_DescribeProject_FullMethodName, grpcjwt.OrganizationRule{Field: "organization", Token: grpcjwt.OrganizationFromClaim}),
		grpcjwt.WithOptional("/healthz"),
	)
	token := iss.Token(map[string]any{"scope": "do"})
	for _, tc := range []struct {
		method                string
		needsMessages, inPB   bool
		withToken, wantClaims bool
	}{
		{tenantv1.Projects_GetProject_FullMethodName, true, true, true, true},       // .proto organization rule
		{tenantv1.Projects_DescribeProject_FullMethodName, true, true, true, true},  // Go organization rule
		{tenantv1.Projects_DeleteProject_FullMethodName, false, true, false, false}, // refused: no token
		{"/tenant.v1.Projects/Nope", false, false, true, true},                      // a path the registry does not know
		{"/tenant.v1.Projects/GetProject/more", false, false, true, true},           // nor this one
		{goOnly, false, false, true, true},                                          // named in Go only
		{"/healthz", false, false, false, false},                                    // optional, no token
		{"/a.b.c.d.e/f", false, false, true, true},                                  // dots, no such package
	} {
		call := grpcjwt.Call{Method: tc.method}
		if tc.withToken {
			call.Authorization = []string{"Bearer " + token}
		}
		a, err := policy.Admit(context.Background(), &call)
		c, err2 := policy.Authenticate(context.Background(), &call)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Errorf("%s: Admit: %v; Authenticate: %v", tc.method, err, err2)
		}
		refused := tc.method == tenantv1.Projects_DeleteProject_FullMethodName
		if refused {
			if err == nil || a != (grpcjwt.Admission{}) {
				t.Errorf("%s: Admit = %+v, %v; want a refusal and no admission", tc.method, a, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Admit: %v", tc.method, err)
			continue
		}
		if (a.Claims != nil) != tc.wantClaims || (c != nil) != tc.wantClaims || (c != nil && a.Claims.Subject != c.Subject) {
			t.Errorf("%s: Admit claims %v, Authenticate claims %v; want claims: %v", tc.method, a.Claims, c, tc.wantClaims)
		}
		if a.NeedsMessages() != tc.needsMessages || a.NeedsMessages() != policy.NeedsMessages(tc.method) {
			t.Errorf("%s: NeedsMessages = %v, want %v (Policy.NeedsMessages: %v)", tc.method, a.NeedsMessages(), tc.needsMessages, policy.NeedsMessages(tc.method))
		}
		if a.Registered() != tc.inPB {
			t.Errorf("%s: Registered = %v, want %v", tc.method, a.Registered(), tc.inPB)
		}
	}
}
