package grpcjwt_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/grpcjwt/grpcjwt"
)

// TestChallenge: each refusal's HTTP status and WWW-Authenticate value
// (RFC 6750 §3, RFC 9449 §7.1), with and without DPoP, decided by a real
// policy over a real issuer's tokens.
func TestChallenge(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	bearer := policyOf(t, v, grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"))
	both := policyOf(t, v, grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"),
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256", "EdDSA"}}))
	refusal := func(p *grpcjwt.Policy, auth ...string) error {
		_, err := p.Check(context.Background(), &grpcjwt.Call{Method: "/greeter.v1.Greeter/SayHello", Authorization: auth}, nil)
		if err == nil {
			t.Fatalf("%q accepted", auth)
		}
		return err
	}
	const algs = `algs="ES256 EdDSA"`
	for _, tc := range []struct {
		name   string
		p      *grpcjwt.Policy
		auth   []string
		dpop   bool
		status int
		want   string
	}{
		{"no token", bearer, nil, false, http.StatusUnauthorized, `Bearer`},
		{"no token, DPoP on", both, nil, false, http.StatusUnauthorized, `Bearer, DPoP ` + algs},
		{"Basic", bearer, []string{"Basic YQ=="}, false, http.StatusUnauthorized, `Bearer`},
		{"malformed", bearer, []string{"Bearer"}, false, http.StatusUnauthorized, `Bearer error="invalid_request"`},
		{"bad token", bearer, []string{"Bearer x.y.z"}, false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"bad token, DPoP on", both, []string{"Bearer x.y.z"}, false, http.StatusUnauthorized, `Bearer error="invalid_token", DPoP ` + algs},
		{"bad DPoP token", both, []string{"DPoP x.y.z"}, true, http.StatusUnauthorized, `Bearer, DPoP error="invalid_token", ` + algs},
		{"missing scope", bearer, []string{"Bearer " + iss.Token(nil)}, false, http.StatusForbidden, `Bearer error="insufficient_scope", scope="greet:read"`},
		{"missing scope, DPoP on", both, []string{"Bearer " + iss.Token(nil)}, false, http.StatusForbidden, `Bearer error="insufficient_scope", scope="greet:read", DPoP ` + algs},
		{"missing proof", both, []string{"DPoP " + iss.Token(map[string]any{"cnf": map[string]any{"jkt": "x"}, "scope": "greet:read"})}, true, http.StatusUnauthorized, `DPoP error="invalid_dpop_proof", ` + algs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refusal(tc.p, tc.auth...)
			if got := grpcjwt.HTTPStatus(err); got != tc.status {
				t.Errorf("HTTPStatus = %d, want %d (%v)", got, tc.status, err)
			}
			if got := tc.p.Challenge(err, tc.dpop); got != tc.want {
				t.Errorf("Challenge = %s, want %s (%v)", got, tc.want, err)
			}
		})
	}
}
