package grpcjwtgateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtgateway "github.com/grpcjwt/grpcjwt/gateway"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/status"
)

// exportMethod requires a recent multi-factor login in TestChallenges.
const exportMethod = "/reports.v1.Reports/ExportReport"

// TestChallenges: with ErrorHandler, a gateway in proxy mode answers each
// refusal by the server's interceptors with the challenge Protect answers
// it with in-process, resource_metadata and step-up included; so does an
// in-process mux with both, Protect's challenge kept. Without it, the
// proxy's mux copies the message of an Unauthenticated status. A status
// that is not grpcjwt's (the service's own Unauthenticated "nope") is left
// as the gateway answers it, in every mode; a refusal that is not about
// authentication gets no challenge.
func TestChallenges(t *testing.T) {
	const resource = "https://reports.example"
	f := newFixtureWith(t, nil,
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: resource}),
		grpcjwt.WithStepUp(exportMethod, grpcjwt.StepUp{ACRValues: []string{"urn:logto:acr:mfa"}, MaxAge: 5 * time.Minute}))
	svc := &reports{}
	servers := map[string]*httptest.Server{
		"proxy":                     f.proxy(t, svc, f.withChallenges()),
		"proxy, default handler":    f.proxy(t, svc),
		"in-process":                nil,
		"in-process, ErrorHandler":  nil,
		"proxy, ErrorHandler, next": f.proxy(t, svc, runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(f.policy, plainErrors))),
	}
	servers["in-process"], _ = f.inProcess(t, svc)
	servers["in-process, ErrorHandler"], _ = f.inProcessWith(t, svc, []runtime.ServeMuxOption{f.withChallenges()})

	login := func(acr string, ago time.Duration) string {
		return f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read reports:export", "acr": acr, "auth_time": time.Now().Add(-ago).Unix()})
	}
	reader := f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"})
	const (
		rm       = `resource_metadata="` + resource + `/.well-known/oauth-protected-resource"`
		dpop     = `, DPoP algs="ES256", ` + rm
		stepUp   = `Bearer error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa", max_age=300, ` + rm + dpop
		exported = `{"format":"csv"}`
	)
	for _, tc := range []struct {
		name, method, path, body string
		header                   http.Header
		code                     int
		message                  string // the status message
		challenge                string // in the modes with Protect or ErrorHandler, next the default handler
	}{
		{"no token", "GET", "/v1/reports", "", nil, 401, grpcjwt.CodeHeaderMissing, `Bearer ` + rm + dpop},
		{"bad token", "GET", "/v1/reports", "", bearer("x.y.z"), 401, grpcjwt.CodeInvalidToken, `Bearer error="invalid_token", ` + rm + dpop},
		{"missing scope", "DELETE", "/v1/reports/r1", "", bearer(reader), 403, grpcjwt.CodeInsufficientScope, `Bearer error="insufficient_scope", scope="reports:delete", ` + rm + dpop},
		{"one factor", "POST", "/v1/reports/r1:export", exported, bearer(login("urn:logto:acr:1fa", 0)), 401, grpcjwt.CodeInsufficientUserAuthentication, stepUp},
		{"login too old", "POST", "/v1/reports/r1:export", exported, bearer(login("urn:logto:acr:mfa", time.Hour)), 401, grpcjwt.CodeInsufficientUserAuthentication, stepUp},
		{"organization", "GET", "/v1/organizations/globex/reports/r1", "", bearer(f.iss.Token(map[string]any{"sub": "alice"}, grpcjwttest.WithOrganization("acme"))), 403, grpcjwt.CodeOrganizationMismatch, ""},
		{"the service's own status", "GET", "/v1/reports/nope", "", bearer(reader), 401, "nope", "nope"},
		{"admitted", "POST", "/v1/reports/r1:export", exported, bearer(login("urn:logto:acr:mfa", 0)), 200, "", ""},
	} {
		for mode, srv := range servers {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				got := send(t, srv, tc.method, tc.path, tc.body, tc.header)
				want := tc.challenge
				switch mode {
				case "proxy, default handler":
					want = ""
					if tc.code == 401 {
						want = tc.message // the gateway's copy
					}
				case "proxy, ErrorHandler, next":
					if tc.code != 200 && (want == "" || tc.message == "nope") {
						want = "plain" // plainErrors' own, for what is not grpcjwt's challenge
					}
				}
				if got.code != tc.code || got.challenge != want {
					t.Errorf("got %d, WWW-Authenticate %q (%s); want %d, %q", got.code, got.challenge, got.raw, tc.code, want)
				}
			})
		}
	}
}

// plainErrors is a user's error handler: the status code, the message as
// text, and a WWW-Authenticate of its own.
func plainErrors(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	s := status.Convert(err)
	w.Header().Set("WWW-Authenticate", "plain")
	w.WriteHeader(runtime.HTTPStatusFromCode(s.Code()))
	_, _ = io.WriteString(w, s.Message())
}

// TestErrorHandlerNeedsAPolicy: ErrorHandler refuses a nil policy.
func TestErrorHandlerNeedsAPolicy(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("ErrorHandler(nil, nil) did not panic")
		}
	}()
	grpcjwtgateway.ErrorHandler(nil, nil)
}
