package grpcjwt

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

// theWire is the wire vocabulary (DESIGN.md, README.md): each status
// message, with its gRPC code and its ErrorInfo reason. It is written out
// here, not derived, so that a change to a declaration that would change
// what clients receive fails.
var theWire = map[string]struct {
	code   codes.Code
	reason string
}{
	CodeHeaderMissing:                  {codes.Unauthenticated, "AUTHORIZATION_HEADER_MISSING"},
	CodeInvalidFormat:                  {codes.Unauthenticated, "AUTHORIZATION_TOKEN_INVALID_FORMAT"},
	CodeSchemeNotSupported:             {codes.Unauthenticated, "AUTHORIZATION_TOKEN_TYPE_NOT_SUPPORTED"},
	CodeInvalidToken:                   {codes.Unauthenticated, "INVALID_TOKEN"},
	CodeInsufficientScope:              {codes.PermissionDenied, "INSUFFICIENT_SCOPE"},
	CodeOrganizationMismatch:           {codes.PermissionDenied, "ORGANIZATION_MISMATCH"},
	CodeTemporarilyUnavailable:         {codes.Unavailable, "TEMPORARILY_UNAVAILABLE"},
	CodeInvalidDPoPProof:               {codes.Unauthenticated, "INVALID_DPOP_PROOF"},
	CodeInsufficientUserAuthentication: {codes.Unauthenticated, "INSUFFICIENT_USER_AUTHENTICATION"},
	CodeUseDPoPNonce:                   {codes.Unauthenticated, "USE_DPOP_NONCE"},
}

// validatorErrors are the exported Err variables that are no reason to
// refuse a call: the errors of NewValidator.
var validatorErrors = map[string]error{
	"ErrConfig":         ErrConfig,
	"ErrDiscovery":      ErrDiscovery,
	"ErrKeySet":         ErrKeySet,
	"ErrIssuerMismatch": ErrIssuerMismatch,
}

var labelSyntax = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// TestReasons walks every declared reason: its label is unique and fit for
// a metric, CauseOf gives it for the sentinel and for a TokenError of it,
// and Status sends it as its own status (a wire-level sentinel) or as
// invalid_token (a cause of ErrInvalidToken), without allocating.
func TestReasons(t *testing.T) {
	var invalidToken *reason
	for i, r := range reasons {
		if r.err == ErrInvalidToken {
			invalidToken = &reasons[i]
		}
	}
	if invalidToken == nil || invalidToken.status == nil || invalidToken.cause != "" {
		t.Fatalf("ErrInvalidToken is not declared as the one wire-level sentinel without a label: %+v", invalidToken)
	}
	if last := wireReasons[len(wireReasons)-1]; last.err != ErrInvalidToken {
		t.Errorf("Status tries %v last, want ErrInvalidToken", last.err)
	}

	seen := map[Cause]error{CauseNone: nil, CauseOther: nil}
	sent := map[string]bool{}
	for _, r := range reasons {
		want := r.cause
		switch {
		case r.err == ErrInvalidToken:
			want = CauseOther
		case !labelSyntax.MatchString(string(r.cause)):
			t.Errorf("%v: label %q is not lower_snake_case", r.err, r.cause)
		default:
			if other, dup := seen[r.cause]; dup {
				t.Errorf("%v: label %q is also %v's", r.err, r.cause, other)
			}
			seen[r.cause] = r.err
		}
		wire := r.status
		if wire == nil {
			wire = invalidToken.status
		} else if r.err.Error() != wire.Message() {
			t.Errorf("%v: its text is not its status message %q", r.err, wire.Message())
		}

		te := &TokenError{Cause: r.err, Detail: "detail"}
		for _, err := range []error{r.err, te, fmt.Errorf("wrapped: %w", r.err), fmt.Errorf("wrapped: %w", te)} {
			if got := CauseOf(err); got != want {
				t.Errorf("CauseOf(%q) = %q, want %q", err, got, want)
			}
			if s := Status(err); s != wire {
				t.Errorf("Status(%q) = %v %q, want %v %q", err, s.Code(), s.Message(), wire.Code(), wire.Message())
			}
			// A cause is sent in a TokenError; bare, it is an error of no
			// known kind, which Status searches for a status error.
			if r.status == nil && !errors.Is(err, ErrInvalidToken) {
				continue
			}
			if n := testing.AllocsPerRun(10, func() { CauseOf(err); Status(err) }); n != 0 {
				t.Errorf("CauseOf and Status of %q allocate %v times", err, n)
			}
		}

		if r.status == nil {
			continue
		}
		msg := r.status.Message()
		sent[msg] = true
		w, ok := theWire[msg]
		if !ok {
			t.Errorf("%v: status message %q is not in the wire vocabulary", r.err, msg)
			continue
		}
		if r.status.Code() != w.code {
			t.Errorf("%q: code %v, want %v", msg, r.status.Code(), w.code)
		}
		details := r.status.Details()
		if len(details) != 1 {
			t.Errorf("%q: details %v, want one ErrorInfo", msg, details)
			continue
		}
		info, ok := details[0].(*errdetails.ErrorInfo)
		if !ok || info.GetReason() != w.reason || info.GetDomain() != ErrorDomain ||
			len(info.GetMetadata()) != 1 || info.GetMetadata()["code"] != msg {
			t.Errorf("%q: ErrorInfo %v, want reason %q, domain %q, metadata code", msg, details[0], w.reason, ErrorDomain)
		}
	}
	for msg := range theWire {
		if !sent[msg] {
			t.Errorf("no sentinel is declared for the wire code %q", msg)
		}
	}
	for name, err := range validatorErrors {
		if got := CauseOf(err); got != CauseOther {
			t.Errorf("CauseOf(%s) = %q, want %q", name, got, CauseOther)
		}
	}
}

// A sentinelDecl is an exported Err variable of the package, as its source
// declares it.
type sentinelDecl struct {
	name  string
	pos   token.Position
	by    string // the function whose call initializes it, if any
	label Cause  // the label it is declared with, if a string literal
}

// declared reports whether d is declared as a reason to refuse a call.
func (d sentinelDecl) declared() bool { return d.by == "wireReason" || d.by == "tokenReason" }

// sentinelDecls lists the exported Err variables of the package's source
// files.
func sentinelDecls(t *testing.T) []sentinelDecl {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var decls []sentinelDecl
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Err") {
						continue
					}
					sd := sentinelDecl{name: id.Name, pos: fset.Position(id.Pos())}
					if i < len(vs.Values) {
						if call, ok := vs.Values[i].(*ast.CallExpr); ok {
							if fn, ok := call.Fun.(*ast.Ident); ok {
								sd.by = fn.Name
							}
							if lit, ok := call.Args[len(call.Args)-1].(*ast.BasicLit); ok && lit.Kind == token.STRING && sd.declared() {
								label, err := strconv.Unquote(lit.Value)
								if err != nil {
									t.Fatal(err)
								}
								sd.label = Cause(label)
							}
						}
					}
					decls = append(decls, sd)
				}
			}
		}
	}
	return decls
}

// TestEverySentinelIsDeclared: every exported Err variable of the package
// is declared by wireReason or tokenReason, with its label written there,
// but the errors of NewValidator; and the registry holds exactly those
// declarations. A sentinel that was not declared would be CauseOther and
// sent as invalid_token.
func TestEverySentinelIsDeclared(t *testing.T) {
	labels := map[Cause]bool{}
	for _, r := range reasons {
		labels[r.cause] = true
	}
	declared, names := 0, map[string]bool{}
	for _, d := range sentinelDecls(t) {
		names[d.name] = true
		_, validator := validatorErrors[d.name]
		switch {
		case d.declared():
			declared++
			if validator {
				t.Errorf("%s (%s): an error of NewValidator is declared as a reason to refuse a call", d.name, d.pos)
			}
			if d.label == "" && d.name != "ErrInvalidToken" || !labels[d.label] {
				t.Errorf("%s (%s): its label is not a string literal of the registry", d.name, d.pos)
			}
		case !validator:
			t.Errorf("%s (%s) is not declared with wireReason or tokenReason", d.name, d.pos)
		}
	}
	if declared != len(reasons) {
		t.Errorf("%d exported Err variables are declared reasons, but the registry holds %d", declared, len(reasons))
	}
	for name := range validatorErrors {
		if !names[name] {
			t.Errorf("validatorErrors names %s, which the package does not declare", name)
		}
	}
}

// TestCauseOfFollowsStatus: an error that matches several sentinels gets
// the label of the status it is sent as.
func TestCauseOfFollowsStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Cause
	}{
		{fmt.Errorf("%w: %w", ErrInsufficientScope, &TokenError{Cause: ErrTokenExpired}), "insufficient_scope"},
		{fmt.Errorf("%w: %w", ErrInvalidDPoPProof, ErrUnknownKey), "invalid_dpop_proof"},
		{errors.Join(ErrKeysUnavailable, ErrInvalidDPoPProof), "keys_unavailable"},
		{errors.Join(ErrTokenExpired, ErrHeaderMissing), "header_missing"},
		{&TokenError{Cause: ErrOrganizationMismatch}, "organization_mismatch"},
	} {
		if got := CauseOf(tc.err); got != tc.want {
			t.Errorf("CauseOf(%q) = %q, want %q", tc.err, got, tc.want)
		}
		for _, r := range wireReasons {
			if r.cause == tc.want && Status(tc.err) != r.status {
				t.Errorf("Status(%q) = %q, want %q", tc.err, Status(tc.err).Message(), r.status.Message())
			}
		}
	}
}
