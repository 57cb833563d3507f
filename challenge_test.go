package grpcjwt_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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

// received is s as a client receives it: marshaled by the server and
// unmarshaled again.
func received(t testing.TB, s *status.Status) *status.Status {
	t.Helper()
	b, err := proto.Marshal(s.Proto())
	if err != nil {
		t.Fatal(err)
	}
	var p spb.Status
	if err := proto.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return status.FromProto(&p)
}

// TestStatusChallenge: the status a client receives for each refusal of a
// real policy gives, through StatusChallenge, the challenge Challenge
// gives the refusal itself for a call of the Bearer scheme: scopes and
// step-up read from the status, DPoP and resource_metadata from the
// policy. A refusal that is not about authentication gives none.
func TestStatusChallenge(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	rules := []grpcjwt.Option{
		grpcjwt.WithScopes(mSayHello, "greet:read", "greet:write"),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{ACRValues: []string{acrMFA, acrHardware}, MaxAge: 5 * time.Minute}),
	}
	bearer := policyOf(t, v, rules...)
	all := policyOf(t, v, append(rules,
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256", "EdDSA"}}),
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}))...)
	const stepUp = `acr_values="` + acrMFA + " " + acrHardware + `", max_age=300`
	const tail = `, DPoP algs="ES256 EdDSA", resource_metadata="` + testResource + `/.well-known/oauth-protected-resource"`
	for _, tc := range []struct {
		name       string
		auth       []string
		bearer     string // the challenge under bearer
		all        string // under all: each scheme's challenge ends with resource_metadata
		notAboutIt bool   // a refusal that is not about authentication
	}{
		{"no token", nil, `Bearer`, `Bearer resource_metadata="` + testResource + `/.well-known/oauth-protected-resource"` + tail, false},
		{"Basic", []string{"Basic YQ=="}, `Bearer`, "", false},
		{"malformed", []string{"Bearer"}, `Bearer error="invalid_request"`, "", false},
		{"bad token", []string{"Bearer x.y.z"}, `Bearer error="invalid_token"`, "", false},
		{"missing scope", []string{"Bearer " + iss.Token(login(acrMFA, nil, 0, "greet:read"))},
			`Bearer error="insufficient_scope", scope="greet:read greet:write"`, "", false},
		{"login too weak", []string{"Bearer " + iss.Token(login(acr1FA, nil, 0, "greet:read greet:write"))},
			`Bearer error="insufficient_user_authentication", ` + stepUp, "", false},
		{"login too old", []string{"Bearer " + iss.Token(login(acrMFA, nil, time.Hour, "greet:read greet:write"))},
			`Bearer error="insufficient_user_authentication", ` + stepUp, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []*grpcjwt.Policy{bearer, all} {
				_, err := p.Check(context.Background(), &grpcjwt.Call{Method: mSayHello, Authorization: tc.auth}, nil)
				if err == nil {
					t.Fatalf("%q accepted", tc.auth)
				}
				want := p.Challenge(err, false)
				if p == bearer && want != tc.bearer {
					t.Fatalf("Challenge = %s, want %s: the table is wrong", want, tc.bearer)
				}
				if p == all && tc.all != "" && want != tc.all {
					t.Fatalf("Challenge = %s, want %s: the table is wrong", want, tc.all)
				}
				if got := p.StatusChallenge(received(t, p.Status(err))); got != want {
					t.Errorf("StatusChallenge = %s, want %s (%v)", got, want, err)
				}
			}
		})
	}
	// A DPoP call's refusals: the proof's are DPoP challenges in either
	// scheme.
	for _, reason := range []error{grpcjwt.ErrInvalidDPoPProof, grpcjwt.ErrUseDPoPNonce} {
		want := `DPoP error="` + reason.Error() + `", algs="ES256 EdDSA", resource_metadata="` + testResource + `/.well-known/oauth-protected-resource"`
		if got := all.StatusChallenge(received(t, all.Status(reason))); got != want {
			t.Errorf("StatusChallenge(%v) = %s, want %s", reason, got, want)
		}
	}
	for _, reason := range []error{grpcjwt.ErrOrganizationMismatch, grpcjwt.ErrKeysUnavailable, grpcjwt.ErrIntrospectionUnavailable} {
		if got := all.StatusChallenge(received(t, all.Status(reason))); got != "" {
			t.Errorf("StatusChallenge(%v) = %s, want none", reason, got)
		}
	}
}

// grpcjwtStatus is a status as grpcjwt sends it for wire code msg, of
// gRPC code c, with metadata md beside "code", as a server could forge it.
func grpcjwtStatus(t testing.TB, c codes.Code, msg string, md map[string]string) *status.Status {
	t.Helper()
	meta := map[string]string{"code": msg}
	maps.Copy(meta, md)
	s, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   strings.ToUpper(msg[strings.LastIndexByte(msg, '.')+1:]),
		Domain:   grpcjwt.ErrorDomain,
		Metadata: meta,
	})
	if err != nil {
		t.Fatal(err)
	}
	return received(t, s)
}

// TestStatusChallengeHostile: a received status is trusted only to build
// the header's text. A value a challenge cannot carry as it is (a quote, a
// backslash, CR or LF, a control byte, a byte outside ASCII, two spaces, a
// huge list) leaves its parameter out, and a status that is not a refusal
// by grpcjwt (another domain, reason or code, no ErrorInfo) gets no
// challenge at all.
func TestStatusChallengeHostile(t *testing.T) {
	iss := newIssuer(t)
	p := policyOf(t, newValidator(t, iss))
	const (
		scope = grpcjwt.CodeInsufficientScope
		login = grpcjwt.CodeInsufficientUserAuthentication
	)
	fine := strings.Repeat("a", 1024)
	huge := strings.Repeat("a ", 512) + "a" // 1025 bytes
	for _, tc := range []struct {
		name string
		s    *status.Status
		want string
	}{
		{"scope", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a b:c"}), `Bearer error="insufficient_scope", scope="a b:c"`},
		{"scope of 1024 bytes", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: fine}), `Bearer error="insufficient_scope", scope="` + fine + `"`},
		{"scope of 1025 bytes", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: huge}), `Bearer error="insufficient_scope"`},
		{"scope with a quote", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: `a", x="y`}), `Bearer error="insufficient_scope"`},
		{"scope with a backslash", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: `a\`}), `Bearer error="insufficient_scope"`},
		{"scope with CRLF", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a\r\nSet-Cookie: x=y"}), `Bearer error="insufficient_scope"`},
		{"scope with a tab", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a\tb"}), `Bearer error="insufficient_scope"`},
		{"scope with NUL", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a\x00"}), `Bearer error="insufficient_scope"`},
		{"scope outside ASCII", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "é"}), `Bearer error="insufficient_scope"`},
		{"scope with two spaces", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a  b"}), `Bearer error="insufficient_scope"`},
		{"scope with a trailing space", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: "a "}), `Bearer error="insufficient_scope"`},
		{"empty scope", grpcjwtStatus(t, codes.PermissionDenied, scope, map[string]string{grpcjwt.ScopeKey: ""}), `Bearer error="insufficient_scope"`},
		{"step-up", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.ACRValuesKey: "x y", grpcjwt.MaxAgeKey: "0300"}), `Bearer error="insufficient_user_authentication", acr_values="x y", max_age=0300`},
		{"acr_values with a quote", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.ACRValuesKey: `x"`, grpcjwt.MaxAgeKey: "300"}), `Bearer error="insufficient_user_authentication", max_age=300`},
		{"acr_values huge", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.ACRValuesKey: huge}), `Bearer error="insufficient_user_authentication"`},
		{"max_age negative", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.ACRValuesKey: "x", grpcjwt.MaxAgeKey: "-1"}), `Bearer error="insufficient_user_authentication", acr_values="x"`},
		{"max_age with CRLF", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.MaxAgeKey: "1\r\n"}), `Bearer error="insufficient_user_authentication"`},
		{"max_age not decimal", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.MaxAgeKey: "1e3"}), `Bearer error="insufficient_user_authentication"`},
		{"max_age of 19 digits", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.MaxAgeKey: "9223372036854775807"}), `Bearer error="insufficient_user_authentication", max_age=9223372036854775807`},
		{"max_age of 20 digits", grpcjwtStatus(t, codes.Unauthenticated, login, map[string]string{grpcjwt.MaxAgeKey: "10000000000000000000"}), `Bearer error="insufficient_user_authentication"`},
		{"metadata on another refusal", grpcjwtStatus(t, codes.Unauthenticated, grpcjwt.CodeInvalidToken, map[string]string{grpcjwt.ScopeKey: "a", grpcjwt.ResourceMetadataKey: "https://evil.example"}), `Bearer error="invalid_token"`},
		{"a wire code of another gRPC code", grpcjwtStatus(t, codes.Unauthenticated, scope, map[string]string{grpcjwt.ScopeKey: "a"}), ""},
		{"a message that is no wire code", grpcjwtStatus(t, codes.Unauthenticated, "nope", nil), ""},
		{"no ErrorInfo", status.New(codes.Unauthenticated, grpcjwt.CodeInvalidToken), ""},
		{"another domain", withErrorInfo(t, codes.Unauthenticated, grpcjwt.CodeInvalidToken, &errdetails.ErrorInfo{Reason: "INVALID_TOKEN", Domain: "example.com", Metadata: map[string]string{"code": grpcjwt.CodeInvalidToken}}), ""},
		{"another reason", withErrorInfo(t, codes.Unauthenticated, grpcjwt.CodeInvalidToken, &errdetails.ErrorInfo{Reason: "EXPIRED", Domain: grpcjwt.ErrorDomain, Metadata: map[string]string{"code": grpcjwt.CodeInvalidToken}}), ""},
		{"another code in metadata", withErrorInfo(t, codes.Unauthenticated, grpcjwt.CodeInvalidToken, &errdetails.ErrorInfo{Reason: "INVALID_TOKEN", Domain: grpcjwt.ErrorDomain, Metadata: map[string]string{"code": "x"}}), ""},
		{"OK", status.New(codes.OK, ""), ""},
		{"nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.StatusChallenge(tc.s); got != tc.want {
				t.Errorf("StatusChallenge = %q, want %q", got, tc.want)
			}
		})
	}
}

// withErrorInfo is a received status of code c and message msg with info.
func withErrorInfo(t testing.TB, c codes.Code, msg string, info *errdetails.ErrorInfo) *status.Status {
	t.Helper()
	s, err := status.New(c, msg).WithDetails(info)
	if err != nil {
		t.Fatal(err)
	}
	return received(t, s)
}

// FuzzStatusChallenge: whatever a status's ErrorInfo metadata holds, the
// challenge is one line of printable ASCII, each parameter is either
// written as the server wrote it or left out, and nothing panics.
func FuzzStatusChallenge(f *testing.F) {
	f.Add(grpcjwt.CodeInsufficientScope, "greet:read", "urn:logto:acr:mfa", "300")
	f.Add(grpcjwt.CodeInsufficientUserAuthentication, "", "a\r\nb", "1\x00")
	f.Add(grpcjwt.CodeInvalidToken, `"`, `\`, "-1")
	iss := newIssuer(f)
	p := policyOf(f, newValidator(f, iss), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}))
	f.Fuzz(func(t *testing.T, msg, scope, acr, maxAge string) {
		if msg == "" || !utf8.ValidString(msg) || !utf8.ValidString(scope) || !utf8.ValidString(acr) || !utf8.ValidString(maxAge) {
			return // no status: protobuf strings are UTF-8
		}
		md := map[string]string{grpcjwt.ScopeKey: scope, grpcjwt.ACRValuesKey: acr, grpcjwt.MaxAgeKey: maxAge}
		c := codes.Unauthenticated
		if msg == grpcjwt.CodeInsufficientScope {
			c = codes.PermissionDenied
		}
		got := p.StatusChallenge(grpcjwtStatus(t, c, msg, md))
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] > 0x7E {
				t.Fatalf("byte %#x in %q", got[i], got)
			}
		}
		for key, v := range md {
			if strings.Contains(got, " "+key+"=") && !strings.Contains(got, key+`="`+v+`"`) && !strings.Contains(got, key+"="+v+",") {
				t.Fatalf("%s written otherwise than %q: %s", key, v, got)
			}
		}
	})
}
