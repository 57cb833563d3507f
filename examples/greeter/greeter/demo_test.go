package greeter

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

// TestRunDemo runs the demo's whole scenario in-process and checks every
// row against expectations written here, independently of the scenario's
// own, so that a wrong expectation in the scenario cannot pass unnoticed.
func TestRunDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := RunDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		code    codes.Code
		message string
		subject string
		cause   error
	}
	unauthenticated := func(msg string, cause error) want { return want{codes.Unauthenticated, msg, "", cause} }
	denied := want{codes.PermissionDenied, grpcjwt.CodeInsufficientScope, "", grpcjwt.ErrInsufficientScope}
	otherOrg := want{codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch, "", grpcjwt.ErrOrganizationMismatch}
	wants := map[string]want{
		"SayHello: valid token":                                         {codes.OK, "", "alice", nil},
		"SayHelloStream: valid token":                                   {codes.OK, "", "alice", nil},
		"Chat: valid token":                                             {codes.OK, "", "alice", nil},
		"Info: no token (public)":                                       {codes.OK, "", "", nil},
		"SayHello: token from the second trusted issuer":                {codes.OK, "", "alice", nil},
		"SayHello: no token":                                            unauthenticated(grpcjwt.CodeHeaderMissing, grpcjwt.ErrHeaderMissing),
		"SayHello: Basic credentials":                                   unauthenticated(grpcjwt.CodeSchemeNotSupported, grpcjwt.ErrSchemeNotSupported),
		`SayHello: header "Bearer" alone`:                               unauthenticated(grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat),
		"SayHello: two authorization values":                            unauthenticated(grpcjwt.CodeInvalidFormat, grpcjwt.ErrInvalidFormat),
		"SayHello: expired token":                                       unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrTokenExpired),
		"SayHello: token for another audience":                          unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrAudienceMismatch),
		"SayHello: token from an untrusted issuer":                      unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrUntrustedIssuer),
		"SayHello: token signed by an unknown key":                      unauthenticated(grpcjwt.CodeInvalidToken, grpcjwt.ErrUnknownKey),
		"SayHello: token without greet:read":                            denied,
		"Chat: token without greet:write":                               denied,
		"GreetOrganization(A): token with organization_id A":            {codes.OK, "", "alice", nil},
		"GreetOrganization(B): token with organization_id A":            otherOrg,
		"GreetOrganization(A): token with aud urn:logto:organization:A": {codes.OK, "", "alice", nil},
		"GreetOrganization(B): token with aud urn:logto:organization:A": otherOrg,
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
		g := r.Got
		if g.Code != w.code || g.Message != w.message || g.Subject != w.subject {
			t.Errorf("%s: got %v %q subject %q, want %v %q subject %q", r.Call, g.Code, g.Message, g.Subject, w.code, w.message, w.subject)
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
	if !(Row{}).OK() {
		t.Error("a row with no cause wanted and none seen is not OK")
	}
	if (Row{Got: Result{Cause: grpcjwt.ErrTokenExpired}}).OK() {
		t.Error("a row with a cause seen where none was wanted is OK")
	}
}

func TestWriteTable(t *testing.T) {
	rows := []Row{
		{Call: "SayHello: valid token", Want: Result{Code: codes.OK, Subject: "alice"}, Got: Result{Code: codes.OK, Subject: "alice"}},
		{
			Call: "SayHello: expired token",
			Want: Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: grpcjwt.ErrTokenExpired},
			Got:  Result{Code: codes.OK, Subject: "alice"},
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
		" #  CALL                                  CODE             MESSAGE        SUBJECT  RESULT",
		" 1  SayHello: valid token                 OK               -              alice    ok",
		" 2  SayHello: expired token               OK               -              alice    FAIL",
		" 3  SayHello: token for another audience  Unauthenticated  invalid_token  -        ok",
		"",
		"Why the server refused (its reject hook sees this; the client only the message above):",
		" 3  audience mismatch",
		"",
		"Calls that did not go as expected:",
		" 2  SayHello: expired token",
		`      want Unauthenticated "invalid_token", subject "", server-side cause: token expired`,
		`      got  OK "", subject "alice", server-side cause: -`,
		"",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("WriteTable wrote\n%s\nwant\n%s", out.String(), strings.Join(want, "\n"))
	}
}
