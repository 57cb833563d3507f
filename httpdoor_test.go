package grpcjwt_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	_ "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1" // registers /tenant.v1.Projects/GetProject and its organization rule
)

// The full methods the REST routes of the net/http tests are guarded as.
const (
	exportMethod = "/reports.v1.Reports/Export" // scopes reports:export, in Go
	statusMethod = "/reports.v1.Reports/Status" // public
	listMethod   = "/reports.v1.Reports/List"   // optional
	orgMethod    = "/tenant.v1.Projects/GetProject"
)

func httpPolicy(t *testing.T, iss *grpcjwttest.Issuer, opts ...grpcjwt.Option) *grpcjwt.Policy {
	t.Helper()
	return restPolicy(t, newValidator(t, iss), opts...)
}

// restPolicy is the policy of the REST routes of restMux, of v, with opts
// after the routes' own rules.
func restPolicy(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) *grpcjwt.Policy {
	t.Helper()
	opts = append([]grpcjwt.Option{
		grpcjwt.WithScopes(exportMethod, "reports:export"),
		grpcjwt.WithPublic(statusMethod),
		grpcjwt.WithOptional(listMethod),
	}, opts...)
	p, err := grpcjwt.NewPolicy(v, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// whoami answers 200 with the subject of the claims in its context, or
// "anonymous", and 204 to a CORS preflight it is handed.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sub := "anonymous"
	if c, ok := grpcjwt.ClaimsFromContext(r.Context()); ok {
		sub = c.Subject
	}
	_, _ = io.WriteString(w, sub)
})

// restMux routes each test path to whoami behind the policy, as the
// method of the same name.
func restMux(p *grpcjwt.Policy) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/export", p.HTTPHandler(exportMethod, whoami))
	mux.Handle("/status", p.HTTPHandler(statusMethod, whoami))
	mux.Handle("/list", p.HTTPHandler(listMethod, whoami))
	mux.Handle("/projects", p.HTTPHandler(orgMethod, whoami))
	return mux
}

// httpResult is what a client got.
type httpResult struct {
	status    int
	challenge string
	body      string
}

func do(t *testing.T, client *http.Client, method, url string, header http.Header) httpResult {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)}
}

func errorBody(code string) string { return `{"error":"` + code + `"}` + "\n" }

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestHTTPHandler: over real HTTP, each route follows its method's rule,
// refuses with the status, the RFC 6750 challenge and the wire code a gRPC
// client gets, and hands the claims to the handler.
func TestHTTPHandler(t *testing.T) {
	iss := newIssuer(t)
	srv := httptest.NewServer(restMux(httpPolicy(t, iss)))
	t.Cleanup(srv.Close)

	good := iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"})
	unscoped := iss.Token(map[string]any{"sub": "bob"})
	expired := iss.Token(map[string]any{"sub": "alice", "scope": "reports:export", "exp": time.Now().Add(-time.Hour).Unix()})
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		want               httpResult
	}{
		{"valid token", "GET", "/export", bearer(good), httpResult{200, "", "alice"}},
		{"no token", "GET", "/export", nil, httpResult{401, "Bearer", errorBody(grpcjwt.CodeHeaderMissing)}},
		{"empty header", "GET", "/export", http.Header{"Authorization": {""}}, httpResult{401, "Bearer", errorBody(grpcjwt.CodeHeaderMissing)}},
		{"malformed", "GET", "/export", http.Header{"Authorization": {"Bearer"}}, httpResult{401, `Bearer error="invalid_request"`, errorBody(grpcjwt.CodeInvalidFormat)}},
		{"two headers", "GET", "/export", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, httpResult{401, `Bearer error="invalid_request"`, errorBody(grpcjwt.CodeInvalidFormat)}},
		{"basic", "GET", "/export", http.Header{"Authorization": {"Basic YWxpY2U6cHc="}}, httpResult{401, "Bearer", errorBody(grpcjwt.CodeSchemeNotSupported)}},
		{"expired", "GET", "/export", bearer(expired), httpResult{401, `Bearer error="invalid_token"`, errorBody(grpcjwt.CodeInvalidToken)}},
		{"garbage", "GET", "/export", bearer("a.b.c"), httpResult{401, `Bearer error="invalid_token"`, errorBody(grpcjwt.CodeInvalidToken)}},
		{"missing scope", "POST", "/export", bearer(unscoped), httpResult{403, `Bearer error="insufficient_scope", scope="reports:export"`, errorBody(grpcjwt.CodeInsufficientScope)}},
		{"public, no token", "GET", "/status", nil, httpResult{200, "", "anonymous"}},
		{"public, junk token", "GET", "/status", bearer("junk"), httpResult{200, "", "anonymous"}},
		{"optional, no token", "GET", "/list", nil, httpResult{200, "", "anonymous"}},
		{"optional, token", "GET", "/list", bearer(unscoped), httpResult{200, "", "bob"}},
		{"optional, bad token", "GET", "/list", bearer(expired), httpResult{401, `Bearer error="invalid_token"`, errorBody(grpcjwt.CodeInvalidToken)}},
		{"organization rule, no message", "GET", "/projects", bearer(good), httpResult{403, "", errorBody(grpcjwt.CodeOrganizationMismatch)}},
		{"CORS preflight", "OPTIONS", "/export", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}, httpResult{204, "", ""}},
		{"OPTIONS, not a preflight", "OPTIONS", "/export", nil, httpResult{401, "Bearer", errorBody(grpcjwt.CodeHeaderMissing)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, srv.Client(), tc.method, srv.URL+tc.path, tc.header)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestHTTPHandlerRefusalHeaders: a refusal is JSON that browsers do not
// sniff, and the handler behind the door never runs.
func TestHTTPHandlerRefusalHeaders(t *testing.T) {
	iss := newIssuer(t)
	ran := false
	h := httpPolicy(t, iss).HTTPHandler(exportMethod, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if ct, nosniff := resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"); ct != "application/json" || nosniff != "nosniff" {
		t.Errorf("Content-Type %q, X-Content-Type-Options %q", ct, nosniff)
	}
	if body["error"] != grpcjwt.CodeHeaderMissing || len(body) != 1 {
		t.Errorf("body %v", body)
	}
	if ran {
		t.Error("the handler ran for a refused request")
	}
}

// TestHTTPHandlerDPoP: a DPoP-bound token is accepted with a proof of the
// request's method and URL (RFC 9449 §4.3: no query), and refused with
// RFC 9449's challenge otherwise.
func TestHTTPHandlerDPoP(t *testing.T) {
	iss := newIssuer(t)
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	srv := httptest.NewServer(restMux(httpPolicy(t, iss, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}))))
	t.Cleanup(srv.Close)

	dpop := func(htm, htu string) http.Header {
		proof, err := creds.Proof(htm, htu, tok)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {proof}}
	}
	const refused = `DPoP error="invalid_dpop_proof", algs="ES256"`
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		want               httpResult
	}{
		{"proof of the request", "POST", "/export?format=csv", dpop("POST", srv.URL+"/export"), httpResult{200, "", "alice"}},
		{"proof of another method", "POST", "/export", dpop("GET", srv.URL+"/export"), httpResult{401, refused, errorBody(grpcjwt.CodeInvalidDPoPProof)}},
		{"proof of another path", "POST", "/export", dpop("POST", srv.URL+"/list"), httpResult{401, refused, errorBody(grpcjwt.CodeInvalidDPoPProof)}},
		{"proof with the query", "POST", "/export?format=csv", dpop("POST", srv.URL+"/export?format=csv"), httpResult{401, refused, errorBody(grpcjwt.CodeInvalidDPoPProof)}},
		{"proof for https", "POST", "/export", dpop("POST", strings.Replace(srv.URL, "http:", "https:", 1)+"/export"), httpResult{401, refused, errorBody(grpcjwt.CodeInvalidDPoPProof)}},
		{"no proof", "POST", "/export", http.Header{"Authorization": {"DPoP " + tok}}, httpResult{401, refused, errorBody(grpcjwt.CodeInvalidDPoPProof)}},
		{"as a bearer token", "POST", "/export", bearer(tok), httpResult{401, `Bearer error="invalid_token", DPoP algs="ES256"`, errorBody(grpcjwt.CodeInvalidToken)}},
		{"no token", "POST", "/export", nil, httpResult{401, `Bearer, DPoP algs="ES256"`, errorBody(grpcjwt.CodeHeaderMissing)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, srv.Client(), tc.method, srv.URL+tc.path, tc.header)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("a proof replayed", func(t *testing.T) {
		h := dpop("GET", srv.URL+"/export")
		if got := do(t, srv.Client(), "GET", srv.URL+"/export", h); got.status != 200 {
			t.Fatalf("first use: %+v", got)
		}
		if got := do(t, srv.Client(), "GET", srv.URL+"/export", h); got.status != 401 || got.challenge != refused {
			t.Errorf("replay: %+v", got)
		}
	})
}

// TestHTTPHandlerIntrospection: through the net/http door, an opaque token
// is introspected at its issuer and reaches the handler; revoked at the
// issuer, it is refused as any bad token is (401 invalid_token, cause
// ErrTokenInactive), and so is a revoked JWT on a route whose method
// checks revocation, while a route without the check still takes it. A
// DPoP-bound opaque token (cnf.jkt in the answer) needs a proof of its
// key. The endpoint failing is 503 temporarily_unavailable (cause
// ErrIntrospectionUnavailable) with no challenge, for opaque tokens and on
// the revocation-checked route, and JWTs elsewhere never notice.
func TestHTTPHandlerIntrospection(t *testing.T) {
	iss := newIssuer(t)
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	// No answer is kept, so that a revocation shows on the next request.
	v := newValidator(t, iss, issuerIntrospection(iss, func(ic *grpcjwt.IntrospectionConfig) { ic.CacheTTL = -1 }))
	var why causes
	p := restPolicy(t, v, grpcjwt.WithRevocationCheck(exportMethod), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}), why.hook())
	srv := httptest.NewServer(restMux(p))
	t.Cleanup(srv.Close)

	claims := map[string]any{"sub": "alice", "scope": "reports:export"}
	opaque, jwt := iss.OpaqueToken(claims), iss.Token(claims)
	bound := iss.OpaqueToken(claims, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	proof, err := creds.Proof("GET", srv.URL+"/export", bound)
	if err != nil {
		t.Fatal(err)
	}
	alice := httpResult{200, "", "alice"}
	invalid := httpResult{401, `Bearer error="invalid_token", DPoP algs="ES256"`, errorBody(grpcjwt.CodeInvalidToken)}
	unavailable := httpResult{503, "", errorBody(grpcjwt.CodeTemporarilyUnavailable)}
	for _, step := range []struct {
		name   string
		before func()
		path   string
		header http.Header
		want   httpResult
		cause  error
	}{
		{"opaque token", nil, "/export", bearer(opaque), alice, nil},
		{"JWT, revocation check", nil, "/export", bearer(jwt), alice, nil},
		{"JWT revoked, revocation check", func() { iss.Revoke(jwt) }, "/export", bearer(jwt), invalid, grpcjwt.ErrTokenInactive},
		{"JWT revoked, no revocation check", nil, "/list", bearer(jwt), alice, nil},
		{"opaque token revoked", func() { iss.Revoke(opaque) }, "/list", bearer(opaque), invalid, grpcjwt.ErrTokenInactive},
		{"DPoP-bound opaque token, its proof", nil, "/export", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {proof}}, alice, nil},
		{"DPoP-bound opaque token as a bearer token", nil, "/export", bearer(bound), invalid, grpcjwt.ErrDPoPBoundToken},
		{"endpoint failing, opaque token", func() { iss.SetIntrospectionMode(grpcjwttest.Fail) }, "/list", bearer(iss.OpaqueToken(claims)), unavailable, grpcjwt.ErrIntrospectionUnavailable},
		{"endpoint failing, JWT, revocation check", nil, "/export", bearer(iss.Token(claims)), unavailable, grpcjwt.ErrIntrospectionUnavailable},
		{"endpoint failing, JWT, no revocation check", nil, "/list", bearer(iss.Token(claims)), alice, nil},
	} {
		if step.before != nil {
			step.before()
		}
		got := do(t, srv.Client(), "GET", srv.URL+step.path, step.header)
		cause := why.take()
		if got != step.want {
			t.Errorf("%s: got %+v, want %+v (cause %v)", step.name, got, step.want, cause)
		}
		if step.cause == nil && cause != nil || step.cause != nil && !errors.Is(cause, step.cause) {
			t.Errorf("%s: the reject hook saw %v, want %v", step.name, cause, step.cause)
		}
	}
}

// TestHTTPHandlerCertificateBound: a certificate-bound token is accepted
// over TLS from the certificate it is bound to, from r.TLS, and from no
// other.
func TestHTTPHandlerCertificateBound(t *testing.T) {
	iss := newIssuer(t)
	pki := newPKI(t)
	alice, mallory := pki.issue(t, "alice", false), pki.issue(t, "mallory", false)
	srv := httptest.NewUnstartedServer(restMux(httpPolicy(t, iss)))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(cert tls.Certificate) *http.Client {
		c := srv.Client()
		tr := c.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
		return &http.Client{Transport: tr}
	}
	tok := iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"}, grpcjwttest.WithCertificateBinding(alice.Certificate[0]))
	if got := do(t, client(alice), "GET", srv.URL+"/export", bearer(tok)); got != (httpResult{200, "", "alice"}) {
		t.Errorf("bound certificate: %+v", got)
	}
	if got := do(t, client(mallory), "GET", srv.URL+"/export", bearer(tok)); got != (httpResult{401, `Bearer error="invalid_token"`, errorBody(grpcjwt.CodeInvalidToken)}) {
		t.Errorf("another certificate: %+v", got)
	}
}

// TestHTTPHandlerRejectHook: the reject hook sees a refusal under the
// route's method, with its cause.
func TestHTTPHandlerRejectHook(t *testing.T) {
	iss := newIssuer(t)
	type rejected struct {
		method string
		err    error
	}
	got := make(chan rejected, 1)
	p := httpPolicy(t, iss, grpcjwt.WithRejectHook(func(_ context.Context, method string, err error) {
		got <- rejected{method, err}
	}))
	srv := httptest.NewServer(restMux(p))
	t.Cleanup(srv.Close)
	expired := iss.Token(map[string]any{"scope": "reports:export", "exp": time.Now().Add(-time.Hour).Unix()})
	do(t, srv.Client(), "GET", srv.URL+"/export", bearer(expired))
	r := <-got
	if r.method != exportMethod || grpcjwt.CauseOf(r.err) != "expired" {
		t.Errorf("reject hook got %s %v", r.method, r.err)
	}
}

// TestMethodsAudit: Audit lists the methods HTTP routes are guarded as,
// with their rules, beside the server's, and still refuses a rule that
// names a method nothing has.
func TestMethodsAudit(t *testing.T) {
	iss := newIssuer(t)
	p := httpPolicy(t, iss)
	rules, err := p.Audit(grpcjwt.Methods(nil, exportMethod, statusMethod, listMethod, listMethod))
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	var lines []string
	for _, r := range rules {
		lines = append(lines, r.String())
	}
	want := []string{
		exportMethod + " required scopes=reports:export (go:method)",
		listMethod + " optional (go:method)",
		statusMethod + " public (go:method)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Audit:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := p.Audit(grpcjwt.Methods(nil, exportMethod)); err == nil || !strings.Contains(err.Error(), statusMethod) {
		t.Errorf("Audit without the public route: %v", err)
	}
}

// TestHTTPHandlerPanicsOnABadMethod: a route must name a full method.
func TestHTTPHandlerPanicsOnABadMethod(t *testing.T) {
	iss := newIssuer(t)
	p := httpPolicy(t, iss)
	for _, m := range []string{"", "Export", "/reports.v1.Reports", "reports.v1.Reports/Export", "/reports.v1.Reports/", "//Export", "/a/b/c"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HTTPHandler(%q) did not panic", m)
				}
			}()
			p.HTTPHandler(m, whoami)
		}()
	}
}
