package interop_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Logto's acr values (RFC 9470): a login with a second factor, and one
// with a password only.
const (
	acrMFA = "urn:logto:acr:mfa"
	acr1FA = "urn:logto:acr:1fa"
)

// loginToken gets a token from node-oidc-provider that carries the login
// claims of a user grant's token (provider.mjs's tokenClaims): acr, amr
// (space-separated) and auth_time, each left out when zero.
func (p *oidcProvider) loginToken(t *testing.T, acr, amr string, authTime time.Time, scopes ...string) string {
	t.Helper()
	params := url.Values{}
	if acr != "" {
		params.Set("acr", acr)
	}
	if amr != "" {
		params.Set("amr", amr)
	}
	if !authTime.IsZero() {
		params.Set("auth_time", strconv.FormatInt(authTime.Unix(), 10))
	}
	return fetchToken(t, p.tokenRequest(params, scopes...))
}

// checkLogin checks, without verifying the token, that its payload has
// exactly the login claims acr, amr and auth_time.
func checkLogin(t *testing.T, token, acr string, amr []string, authTime time.Time) {
	t.Helper()
	_, payload := decodeToken(t, token)
	var claims struct {
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
	}
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	if claims.ACR != acr || !slices.Equal(claims.AMR, amr) || claims.AuthTime != authTime.Unix() {
		t.Fatalf("payload %s: want acr %q, amr %q, auth_time %d", payload, acr, amr, authTime.Unix())
	}
}

// denyStepUp asserts that r refuses token with Unauthenticated
// "insufficient_user_authentication" (the reject hook's cause
// ErrInsufficientUserAuthentication), whose ErrorInfo tells the client the
// acr_values and max_age to ask for.
func (s *server) denyStepUp(t *testing.T, r rpc, token, acrValues, maxAge string) {
	t.Helper()
	s.takeCause()
	_, err := s.do(t, r, token)
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unauthenticated || st.Message() != grpcjwt.CodeInsufficientUserAuthentication {
		t.Fatalf("%s: err = %v, want Unauthenticated %q", r.name, err, grpcjwt.CodeInsufficientUserAuthentication)
	}
	if cause := s.takeCause(); !errors.Is(cause, grpcjwt.ErrInsufficientUserAuthentication) {
		t.Errorf("%s: the server refused the call because %v, want %v", r.name, cause, grpcjwt.ErrInsufficientUserAuthentication)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil {
		t.Fatalf("%s: details %v, want a google.rpc.ErrorInfo", r.name, st.Details())
	}
	md := info.GetMetadata()
	if md[grpcjwt.ACRValuesKey] != acrValues || md[grpcjwt.MaxAgeKey] != maxAge {
		t.Errorf("%s: ErrorInfo metadata %v, want %s=%q and %s=%q", r.name, md, grpcjwt.ACRValuesKey, acrValues, grpcjwt.MaxAgeKey, maxAge)
	}
}

// TestOIDCProviderStepUp gets tokens from node-oidc-provider that carry
// acr, amr and auth_time (through its extraTokenClaims hook) and calls a
// greeter whose SayHello requires a login with Logto's MFA acr within
// five minutes (grpcjwt.WithStepUp): a token that meets it is accepted; one
// whose acr is urn:logto:acr:1fa, one whose login is an hour old, and one
// without login claims get Unauthenticated
// "insufficient_user_authentication" with acr_values and max_age; the
// other methods, without the rule, accept them all.
func TestOIDCProviderStepUp(t *testing.T) {
	t.Parallel()
	p := startOIDCProvider(t, requireProvider(t, "oidc-provider"))
	s := newServerFor(t, grpcjwt.Config{Issuer: p.issuer(), Audience: apiAudience},
		grpcjwt.WithStepUp(greeterv1.Greeter_SayHello_FullMethodName, grpcjwt.StepUp{
			ACRValues: []string{acrMFA},
			MaxAge:    5 * time.Minute,
		}))
	const acrValues, maxAge = acrMFA, "300"
	others := slices.DeleteFunc(slices.Clone(rpcs), func(r rpc) bool { return r.name == sayHello.name })

	t.Run("meets the rule", func(t *testing.T) {
		at := time.Now().Add(-time.Minute)
		tok := p.loginToken(t, acrMFA, "pwd otp", at, allScopes...)
		checkLogin(t, tok, acrMFA, []string{"pwd", "otp"}, at)
		s.accept(t, sayHello, tok)
	})

	t.Run("one factor", func(t *testing.T) {
		at := time.Now().Add(-time.Minute)
		tok := p.loginToken(t, acr1FA, "pwd", at, allScopes...)
		checkLogin(t, tok, acr1FA, []string{"pwd"}, at)
		s.denyStepUp(t, sayHello, tok, acrValues, maxAge)
		for _, r := range others {
			s.accept(t, r, tok)
		}
	})

	t.Run("login an hour old", func(t *testing.T) {
		at := time.Now().Add(-time.Hour)
		tok := p.loginToken(t, acrMFA, "pwd otp", at, allScopes...)
		checkLogin(t, tok, acrMFA, []string{"pwd", "otp"}, at)
		s.denyStepUp(t, sayHello, tok, acrValues, maxAge)
		for _, r := range others {
			s.accept(t, r, tok)
		}
	})

	t.Run("no login claims", func(t *testing.T) {
		tok := p.token(t, allScopes...)
		checkLogin(t, tok, "", nil, time.Unix(0, 0))
		s.denyStepUp(t, sayHello, tok, acrValues, maxAge)
	})
}
