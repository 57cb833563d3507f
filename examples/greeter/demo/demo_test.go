package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/grpc/codes"
)

// TestRun runs the demo's whole scenario in-process and checks every
// row against expectations written here, independently of the scenario's
// own, so that a wrong expectation in the scenario cannot pass unnoticed.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		code    codes.Code
		message string
		subject string
		cause   error
		replies int // the fewest
	}
	ok := func(subject string, replies int) want { return want{codes.OK, "", subject, nil, replies} }
	unauthenticated := func(msg string, cause error) want { return want{codes.Unauthenticated, msg, "", cause, 0} }
	denied := want{codes.PermissionDenied, grpcjwt.CodeInsufficientScope, "", grpcjwt.ErrInsufficientScope, 0}
	stepUp := want{codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, "", grpcjwt.ErrInsufficientUserAuthentication, 0}
	otherOrg := want{codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch, "", grpcjwt.ErrOrganizationMismatch, 0}
	wants := map[string]want{
		"SayHello: valid token":                                              ok("alice", 1),
		"SayHelloStream: valid token":                                        ok("alice", 3),
		"Chat: valid token":                                                  ok("alice", 2),
		"Info: no token (public)":                                            ok("", 1),
		"SayHello: token from the second trusted issuer":                     ok("alice", 1),
		"SayHello: no token":                                                 unauthenticated(grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing),
		"SayHello: Basic credentials":                                        unauthenticated(grpcjwt.CodeSchemeNotSupported, grpcjwt.ErrSchemeNotSupported),
		`SayHello: header "Bearer" alone`:                                    unauthenticated(grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat),
		"SayHello: two authorization values":                                 unauthenticated(grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat),
		"SayHello: expired token":                                            unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenExpired),
		"SayHello: token for another audience":                               unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrAudienceMismatch),
		"SayHello: token from an untrusted issuer":                           unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrUntrustedIssuer),
		"SayHello: token signed by an unknown key":                           unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrUnknownKey),
		"SayHello: token without greet:read":                                 denied,
		"Chat: token without greet:write":                                    denied,
		"GreetOrganization(A): token with organization_id A":                 ok("alice", 1),
		"GreetOrganization(B): token with organization_id A":                 otherOrg,
		"GreetOrganization(A): token with aud urn:logto:organization:A":      ok("alice", 1),
		"GreetOrganization(B): token with aud urn:logto:organization:A":      otherOrg,
		"GreetOrganization(A): second issuer's token with organization_id A": otherOrg,
		"SayHelloStepUp: MFA login 1 min ago, greet:read (2nd any-of group)": ok("alice", 1),
		"SayHelloStepUp: MFA login 1 h ago (max_age 300)":                    stepUp,
		"SayHelloStepUp: one-factor login (acr urn:logto:acr:1fa)":           stepUp,
		"SayHello: DPoP proof without the server's nonce":                    unauthenticated(grpcjwt.CodeUseDPoPNonce, grpcjwt.ErrUseDPoPNonce),
		// Refused for its nonce, then made again by the client interceptor.
		"SayHello: DPoP, retried with the server's nonce":  {codes.OK, "", "alice", grpcjwt.ErrUseDPoPNonce, 1},
		"SayHello: DPoP-bound token with its proof":        ok("alice", 1),
		"SayHello: DPoP-bound token sent as Bearer":        unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPBoundToken),
		"SayHello: DPoP-bound token, proof by another key": unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPKeyMismatch),
		"SayHello: DPoP proof replayed":                    unauthenticated(grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof),
		// The handler saw alice and sent greetings until the token expired.
		"SayHelloStream: token expiring mid-stream": {codes.Unauthenticated, grpcjwt.CodeInvalidToken, "alice", grpcjwt.ErrTokenExpired, 1},
		// Introspection: an opaque token; a JWT revoked at the issuer,
		// refused where the method checks revocation and accepted where
		// it does not; the opaque token revoked; the endpoint down.
		"SayHello: opaque token (introspected)":                        ok("alice", 1),
		"SayHelloStream: JWT revoked at the issuer (revocation check)": unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenInactive),
		"SayHello: the revoked JWT (no revocation check)":              ok("alice", 1),
		"SayHelloStream: the opaque token, revoked at the issuer":      unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenInactive),
		"SayHello: opaque token, introspection endpoint down":          {codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable, "", grpcjwt.ErrIntrospectionUnavailable, 0},
		// The HTTP doors, under the same policy.
		"SayHello over Connect: valid token":              ok("alice", 1),
		"SayHello over gRPC-Web: valid token":             ok("alice", 1),
		"GET /v1/hello (gateway proxy): valid token":      ok("alice", 1),
		"GET /v1/hello (gateway proxy): no token":         unauthenticated(grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing),
		"GET /v1/hello (gateway in-process): valid token": ok("alice", 1),
		"GET /v1/hello (gateway in-process): no token":    unauthenticated(grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing),
		"CORS preflight from https://app.example.com":     ok("", 0),
		"GET /.well-known/oauth-protected-resource":       ok("", 1),
	}
	if len(rows) != len(wants) {
		t.Errorf("the demo made %d calls, want %d", len(rows), len(wants))
	}
	for _, r := range rows {
		w, ok := wants[r.Call]
		if !ok {
			t.Errorf("unexpected call %q", r.Call)
			continue
		}
		delete(wants, r.Call)
		if !r.OK() {
			t.Errorf("%s: want %s, got %s", r.Call, r.Want, r.Got)
		}
		if w.message == grpcjwt.CodeInsufficientUserAuthentication && r.Got.StepUp != "acr_values=urn:logto:acr:mfa max_age=300" {
			t.Errorf("%s: the client read %q from the ErrorInfo, want the rule's acr_values and max_age", r.Call, r.Got.StepUp)
		}
		g := r.Got
		if g.Code != w.code || g.Message != w.message || g.Subject != w.subject || g.Replies < w.replies {
			t.Errorf("%s: got %v %q subject %q, %d replies; want %v %q subject %q, at least %d replies",
				r.Call, g.Code, g.Message, g.Subject, g.Replies, w.code, w.message, w.subject, w.replies)
		}
		switch {
		case w.cause == nil && g.Cause != nil:
			t.Errorf("%s: the server saw %v, want nothing", r.Call, g.Cause)
		case w.cause != nil && !errors.Is(g.Cause, w.cause):
			t.Errorf("%s: the server saw %v, want %v", r.Call, g.Cause, w.cause)
		}
	}
	for name := range wants {
		t.Errorf("the demo did not make the call %q", name)
	}

	var out bytes.Buffer
	if err := WriteTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Errorf("the table has a failed row:\n%s", out.String())
	}
}

func TestRowOK(t *testing.T) {
	expired := Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: grpcjwt.ErrTokenExpired}
	for _, tc := range []struct {
		name string
		got  Result
		ok   bool
	}{
		{"same", Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: &grpcjwt.TokenError{Cause: grpcjwt.ErrTokenExpired}}, true},
		{"other cause", Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: &grpcjwt.TokenError{Cause: grpcjwt.ErrBadSignature}}, false},
		{"no cause", Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken}, false},
		{"other message", Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidFormat, Cause: grpcjwt.ErrTokenExpired}, false},
		{"success", Result{Code: codes.OK, Subject: "alice"}, false},
	} {
		if got := (Row{Want: expired, Got: tc.got}).OK(); got != tc.ok {
			t.Errorf("%s: OK() = %t, want %t", tc.name, got, tc.ok)
		}
	}
	// A stream ended by its token's expiry: Want.Replies is the fewest.
	ended := Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Subject: "alice", Cause: grpcjwt.ErrTokenExpired, Replies: 1}
	for _, tc := range []struct {
		replies int
		ok      bool
	}{{0, false}, {1, true}, {15, true}} {
		got := ended
		got.Replies = tc.replies
		if ok := (Row{Want: ended, Got: got}).OK(); ok != tc.ok {
			t.Errorf("%d replies, at least 1 wanted: OK() = %t, want %t", tc.replies, ok, tc.ok)
		}
	}
	if !(Row{}).OK() {
		t.Error("a row with no cause wanted and none seen is not OK")
	}
	if (Row{Got: Result{Cause: grpcjwt.ErrTokenExpired}}).OK() {
		t.Error("a row with a cause seen where none was wanted is OK")
	}
}

func TestWriteTable(t *testing.T) {
	rows := []Row{
		{Call: "SayHello: valid token", Want: Result{Code: codes.OK, Subject: "alice"}, Got: Result{Code: codes.OK, Subject: "alice", Replies: 1}},
		{
			Call: "SayHello: expired token",
			Want: Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: grpcjwt.ErrTokenExpired},
			Got:  Result{Code: codes.OK, Subject: "alice", Replies: 1},
		},
		{
			Call: "SayHello: token for another audience",
			Want: Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: grpcjwt.ErrAudienceMismatch},
			Got:  Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: &grpcjwt.TokenError{Cause: grpcjwt.ErrAudienceMismatch, Detail: "operator detail"}},
		},
	}
	var out bytes.Buffer
	if err := WriteTable(&out, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	want := []string{
		" #  CALL                                  CODE             MESSAGE        SUBJECT  REPLIES  RESULT",
		" 1  SayHello: valid token                 OK               -              alice    1        ok",
		" 2  SayHello: expired token               OK               -              alice    1        FAIL",
		" 3  SayHello: token for another audience  Unauthenticated  invalid_token  -        0        ok",
		"",
		"Why the server refused (its reject hook sees this; the client only the message above):",
		" 3  audience mismatch",
		"",
		"Calls that did not go as expected:",
		" 2  SayHello: expired token",
		`      want Unauthenticated "invalid_token", subject "", server-side cause: token expired; at least 0 replies`,
		`      got  OK "", subject "alice", server-side cause: -; 1 replies`,
		"",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("WriteTable wrote\n%s\nwant\n%s", out.String(), strings.Join(want, "\n"))
	}
}
