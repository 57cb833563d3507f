package grpcjwtgateway_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtgateway "github.com/grpcjwt/grpcjwt/gateway"
	reportsv1 "github.com/grpcjwt/grpcjwt/gateway/internal/testpb/reports/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// reports answers with the subject of the claims it sees, and counts its
// calls.
type reports struct {
	reportsv1.UnimplementedReportsServer
	calls atomic.Int64
}

func (s *reports) subject(ctx context.Context) string {
	s.calls.Add(1)
	if c, ok := grpcjwt.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return ""
}

func (s *reports) GetStatus(ctx context.Context, _ *reportsv1.GetStatusRequest) (*reportsv1.GetStatusResponse, error) {
	return &reportsv1.GetStatusResponse{Status: "ok", Subject: s.subject(ctx)}, nil
}

func (s *reports) ListReports(ctx context.Context, r *reportsv1.ListReportsRequest) (*reportsv1.ListReportsResponse, error) {
	return &reportsv1.ListReportsResponse{Reports: []*reportsv1.Report{{Name: r.GetParent() + "reports/r1"}}, Subject: s.subject(ctx)}, nil
}

// errNope is the service's own refusal, of report "reports/nope".
var errNope = status.Error(codes.Unauthenticated, "nope")

func (s *reports) GetReport(ctx context.Context, r *reportsv1.GetReportRequest) (*reportsv1.GetReportResponse, error) {
	if r.GetName() == "reports/nope" {
		s.calls.Add(1)
		return nil, errNope
	}
	return &reportsv1.GetReportResponse{Report: &reportsv1.Report{Name: r.GetName()}, Subject: s.subject(ctx)}, nil
}

func (s *reports) DeleteReport(ctx context.Context, _ *reportsv1.DeleteReportRequest) (*reportsv1.DeleteReportResponse, error) {
	return &reportsv1.DeleteReportResponse{Subject: s.subject(ctx)}, nil
}

func (s *reports) ExportReport(ctx context.Context, r *reportsv1.ExportReportRequest) (*reportsv1.ExportReportResponse, error) {
	return &reportsv1.ExportReportResponse{Name: r.GetName(), Format: r.GetFormat(), Subject: s.subject(ctx)}, nil
}

func (s *reports) GetOrganizationReport(ctx context.Context, r *reportsv1.GetOrganizationReportRequest) (*reportsv1.GetOrganizationReportResponse, error) {
	return &reportsv1.GetOrganizationReportResponse{Report: &reportsv1.Report{Name: r.GetName()}, Subject: s.subject(ctx)}, nil
}

// fixture is an issuer, a policy that takes DPoP proofs and reads the
// issuer's organization claim, and a DPoP key with a token bound to it.
type fixture struct {
	iss    *grpcjwttest.Issuer
	policy *grpcjwt.Policy
	dpop   *grpcjwt.DPoPCredentials
	bound  string // a token bound to dpop, with every scope
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture whose Validator's Config cfg changes, if
// not nil, and whose policy has opts besides.
func newFixtureWith(t *testing.T, cfg func(*grpcjwt.Config), opts ...grpcjwt.Option) *fixture {
	t.Helper()
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim}
	if cfg != nil {
		cfg(&c)
	}
	v, err := grpcjwt.NewValidator(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	p, err := grpcjwt.NewPolicy(v, append([]grpcjwt.Option{grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	dpop, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	bound := iss.Token(map[string]any{"sub": "alice", "scope": "reports:read reports:export"}, grpcjwttest.WithDPoPBinding(dpop.Thumbprint()))
	return &fixture{iss: iss, policy: p, dpop: dpop, bound: bound}
}

// grpcServer serves svc on loopback behind the policy's interceptors and
// returns its address.
func (f *fixture) grpcServer(t *testing.T, svc reportsv1.ReportsServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(f.policy.UnaryServerInterceptor()))
	reportsv1.RegisterReportsServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// serve serves mux on loopback.
func serve(t *testing.T, mux http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// withChallenges configures a mux with the policy's ErrorHandler.
func (f *fixture) withChallenges() runtime.ServeMuxOption {
	return runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(f.policy, nil))
}

// proxy is a gateway in proxy mode, its mux configured by muxOpts, in
// front of a gRPC server protected by the policy's interceptors.
func (f *fixture) proxy(t *testing.T, svc reportsv1.ReportsServer, muxOpts ...runtime.ServeMuxOption) *httptest.Server {
	t.Helper()
	mux := runtime.NewServeMux(muxOpts...)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := reportsv1.RegisterReportsHandlerFromEndpoint(t.Context(), mux, f.grpcServer(t, svc), opts); err != nil {
		t.Fatal(err)
	}
	return serve(t, mux)
}

// inProcess is a gateway in in-process mode, protected by Protect.
func (f *fixture) inProcess(t *testing.T, svc reportsv1.ReportsServer, opts ...grpcjwtgateway.Option) (*httptest.Server, *runtime.ServeMux) {
	t.Helper()
	return f.inProcessWith(t, svc, nil, opts...)
}

// inProcessWith is inProcess whose mux muxOpts configure too, after
// Protect.
func (f *fixture) inProcessWith(t *testing.T, svc reportsv1.ReportsServer, muxOpts []runtime.ServeMuxOption, opts ...grpcjwtgateway.Option) (*httptest.Server, *runtime.ServeMux) {
	t.Helper()
	protect, err := grpcjwtgateway.Protect(f.policy, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := runtime.NewServeMux(append([]runtime.ServeMuxOption{protect}, muxOpts...)...)
	if err := reportsv1.RegisterReportsHandlerServer(t.Context(), mux, svc); err != nil {
		t.Fatal(err)
	}
	return serve(t, mux), mux
}

// reply is what an HTTP client got: the status code, the challenge, and
// the JSON body, the service's reply or the gateway's google.rpc.Status.
type reply struct {
	code      int
	challenge string
	body      map[string]any
	raw       string
}

// rpcError is the gateway's JSON form of a google.rpc.Status with an
// ErrorInfo detail.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type     string            `json:"@type"`
		Reason   string            `json:"reason"`
		Domain   string            `json:"domain"`
		Metadata map[string]string `json:"metadata"`
	} `json:"details"`
}

func (r reply) rpcError(t *testing.T) rpcError {
	t.Helper()
	var e rpcError
	if err := json.Unmarshal([]byte(r.raw), &e); err != nil {
		t.Fatalf("body %q: %v", r.raw, err)
	}
	return e
}

func send(t *testing.T, srv *httptest.Server, method, path, body string, header http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{code: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// refusal is what a refused call gets, in one mode.
type refusal struct {
	code      int    // HTTP status
	grpcCode  int    // code in the body
	message   string // the wire code
	challenge string
	meta      map[string]string // ErrorInfo metadata beside the code
}

// TestModes: the same requests through a gateway in proxy mode (decided
// by the server's interceptors, answered with ErrorHandler) and in
// in-process mode (decided by Protect) meet the same rules and get the
// same status codes, bodies and RFC 6750/9449 challenges.
func TestModes(t *testing.T) {
	f := newFixture(t)
	svc := &reports{}
	servers := map[string]*httptest.Server{"proxy": f.proxy(t, svc, f.withChallenges())}
	servers["in-process"], _ = f.inProcess(t, svc)

	reader := f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"})
	exporter := f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"})
	expired := f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read", "exp": time.Now().Add(-time.Hour).Unix()})
	acme := f.iss.Token(map[string]any{"sub": "alice"}, grpcjwttest.WithOrganization("acme"))

	const dpopAlgs = `DPoP algs="ES256"`
	missing := refusal{401, 16, grpcjwt.CodeHeaderMissing, "Bearer, " + dpopAlgs, nil}
	invalid := refusal{401, 16, grpcjwt.CodeInvalidToken, `Bearer error="invalid_token", ` + dpopAlgs, nil}
	malformed := refusal{401, 16, grpcjwt.CodeInvalidFormat, `Bearer error="invalid_request", ` + dpopAlgs, nil}
	scope := func(scope string) refusal {
		return refusal{403, 7, grpcjwt.CodeInsufficientScope, `Bearer error="insufficient_scope", scope="` + scope + `", ` + dpopAlgs, map[string]string{grpcjwt.ScopeKey: scope}}
	}
	org := refusal{403, 7, grpcjwt.CodeOrganizationMismatch, "", nil}
	badProof := refusal{401, 16, grpcjwt.CodeInvalidDPoPProof, `DPoP error="invalid_dpop_proof", algs="ES256"`, map[string]string{grpcjwt.AlgsKey: "ES256"}}

	dpopHeader := func(srv *httptest.Server, htm, path string) http.Header {
		proof, err := f.dpop.Proof(htm, srv.URL+path, f.bound)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {proof}}
	}
	type request struct {
		method, path, body string
		header             func(srv *httptest.Server) http.Header
	}
	with := func(h http.Header) func(*httptest.Server) http.Header {
		return func(*httptest.Server) http.Header { return h }
	}
	for _, tc := range []struct {
		name string
		request
		subject string             // admitted: the subject the service saw
		refused map[string]refusal // by mode; a mode not named admits the call
	}{
		{name: "public, no token", request: request{"GET", "/v1/status", "", with(nil)}},
		{name: "scoped, token", request: request{"GET", "/v1/reports", "", with(bearer(reader))}, subject: "alice"},
		{name: "scoped, additional binding", request: request{"GET", "/v1/shelves/s1/reports", "", with(bearer(reader))}, subject: "alice"},
		{name: "scoped, no token", request: request{"GET", "/v1/reports", "", with(nil)}, refused: map[string]refusal{"proxy": missing, "in-process": missing}},
		{name: "scoped, expired", request: request{"GET", "/v1/reports/r1", "", with(bearer(expired))}, refused: map[string]refusal{"proxy": invalid, "in-process": invalid}},
		{name: "two authorization headers", request: request{"GET", "/v1/reports/r1", "", with(http.Header{"Authorization": {"Bearer " + reader, "Bearer " + reader}})}, refused: map[string]refusal{"proxy": malformed, "in-process": malformed}},
		{name: "GET on a shared path", request: request{"GET", "/v1/reports/r1", "", with(bearer(reader))}, subject: "alice"},
		{name: "DELETE on a shared path", request: request{"DELETE", "/v1/reports/r1", "", with(bearer(reader))}, refused: map[string]refusal{"proxy": scope("reports:delete"), "in-process": scope("reports:delete")}},
		{name: "custom verb", request: request{"POST", "/v1/reports/r1:export", `{"format":"csv"}`, with(bearer(exporter))}, subject: "alice"},
		{name: "custom verb, wrong scope", request: request{"POST", "/v1/reports/r1:export", `{"format":"csv"}`, with(bearer(reader))}, refused: map[string]refusal{"proxy": scope("reports:export"), "in-process": scope("reports:export")}},
		// The organization rule reads the request message, which only the
		// server's interceptors see.
		{name: "organization, same", request: request{"GET", "/v1/organizations/acme/reports/r1", "", with(bearer(acme))}, subject: "alice", refused: map[string]refusal{"in-process": org}},
		{name: "organization, other", request: request{"GET", "/v1/organizations/globex/reports/r1", "", with(bearer(acme))}, refused: map[string]refusal{"proxy": org, "in-process": org}},
		// A REST client's proof is for the REST request; the gateway does
		// not forward it, and the gRPC call it makes could not match it.
		{name: "DPoP", request: request{"GET", "/v1/reports/r1", "", func(srv *httptest.Server) http.Header {
			return dpopHeader(srv, "GET", "/v1/reports/r1")
		}}, subject: "alice", refused: map[string]refusal{"proxy": badProof}},
		{name: "DPoP, proof of another request", request: request{"GET", "/v1/reports/r1", "", func(srv *httptest.Server) http.Header {
			return dpopHeader(srv, "GET", "/v1/reports/r2")
		}}, refused: map[string]refusal{"proxy": badProof, "in-process": badProof}},
	} {
		for _, mode := range []string{"proxy", "in-process"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				srv := servers[mode]
				before := svc.calls.Load()
				got := send(t, srv, tc.method, tc.path, tc.body, tc.header(srv))
				want, refused := tc.refused[mode]
				if !refused {
					if got.code != 200 || got.body["subject"] != tc.subject {
						t.Fatalf("got %d %s, want 200 with subject %q", got.code, got.raw, tc.subject)
					}
					return
				}
				e := got.rpcError(t)
				if got.code != want.code || e.Code != want.grpcCode || e.Message != want.message {
					t.Errorf("got %d %s, want %d, code %d, message %q", got.code, got.raw, want.code, want.grpcCode, want.message)
				}
				wantMeta := map[string]string{"code": want.message}
				maps.Copy(wantMeta, want.meta)
				if len(e.Details) != 1 || e.Details[0].Type != "type.googleapis.com/google.rpc.ErrorInfo" || e.Details[0].Domain != grpcjwt.ErrorDomain || !maps.Equal(e.Details[0].Metadata, wantMeta) {
					t.Errorf("details %+v, want ErrorInfo metadata %v", e.Details, wantMeta)
				}
				if got.challenge != want.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got.challenge, want.challenge)
				}
				if n := svc.calls.Load() - before; n != 0 {
					t.Errorf("the service ran %d times for a refused call", n)
				}
			})
		}
	}
}

// TestInProcessWithoutProtectIsOpen: the trap. Registered in-process on a
// mux without Protect, the service is called without a token, though the
// method requires one: no interceptor runs.
func TestInProcessWithoutProtectIsOpen(t *testing.T) {
	svc := &reports{}
	mux := runtime.NewServeMux()
	if err := reportsv1.RegisterReportsHandlerServer(t.Context(), mux, svc); err != nil {
		t.Fatal(err)
	}
	if got := send(t, serve(t, mux), "DELETE", "/v1/reports/r1", "", nil); got.code != 200 || svc.calls.Load() != 1 {
		t.Fatalf("got %d %s: the trap is gone? Then the docs must say so", got.code, got.raw)
	}
}

// TestProtectedClaimsAndOtherMiddlewares: middlewares after Protect see
// the claims, and an admitted request keeps its body.
func TestProtectedClaimsAndOtherMiddlewares(t *testing.T) {
	f := newFixture(t)
	protect, err := grpcjwtgateway.Protect(f.policy)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	audit := func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, p map[string]string) {
			c, _ := grpcjwt.ClaimsFromContext(r.Context())
			seen <- c.Subject
			next(w, r, p)
		}
	}
	mux := runtime.NewServeMux(protect, runtime.WithMiddlewares(audit))
	svc := &reports{}
	if err := reportsv1.RegisterReportsHandlerServer(t.Context(), mux, svc); err != nil {
		t.Fatal(err)
	}
	tok := f.iss.Token(map[string]any{"sub": "bob", "scope": "reports:export"})
	got := send(t, serve(t, mux), "POST", "/v1/reports/r1:export", `{"format":"pdf"}`, bearer(tok))
	if got.code != 200 || got.body["format"] != "pdf" || got.body["subject"] != "bob" {
		t.Fatalf("got %d %s", got.code, got.raw)
	}
	if sub := <-seen; sub != "bob" {
		t.Errorf("the next middleware saw subject %q", sub)
	}
}

// TestProtectedUnmappedRoute: a route no rule declares is refused (fail
// closed) until WithRoute maps it to a method, whose rule it then follows.
func TestProtectedUnmappedRoute(t *testing.T) {
	f := newFixture(t)
	var ran atomic.Int64
	custom := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ran.Add(1)
		_, _ = io.WriteString(w, `{"custom":true}`)
	}
	_, mux := f.inProcess(t, &reports{})
	if err := mux.HandlePath("GET", "/v1/custom/{id}", custom); err != nil {
		t.Fatal(err)
	}
	if got := send(t, serve(t, mux), "GET", "/v1/custom/1", "", nil); got.code != 500 || got.rpcError(t).Code != 13 || ran.Load() != 0 {
		t.Errorf("unmapped: %d %s, ran %d", got.code, got.raw, ran.Load())
	}

	_, mux = f.inProcess(t, &reports{}, grpcjwtgateway.WithRoute("GET", "/v1/custom/{id}", "/reports.v1.Reports/ListReports"))
	if err := mux.HandlePath("GET", "/v1/custom/{id}", custom); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, mux)
	if got := send(t, srv, "GET", "/v1/custom/1", "", nil); got.code != 401 || ran.Load() != 0 {
		t.Errorf("mapped, no token: %d %s", got.code, got.raw)
	}
	tok := f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"})
	if got := send(t, srv, "GET", "/v1/custom/1", "", bearer(tok)); got.code != 200 || ran.Load() != 1 {
		t.Errorf("mapped, token: %d %s", got.code, got.raw)
	}
}

// TestProtectedWrongMapping: a route decided as one method whose
// generated handler calls another is aborted before the service runs.
func TestProtectedWrongMapping(t *testing.T) {
	f := newFixture(t)
	svc := &reports{}
	srv, _ := f.inProcess(t, svc, grpcjwtgateway.WithRoute("DELETE", "/v1/{name=reports/*}", "/reports.v1.Reports/GetStatus"))
	req, err := http.NewRequestWithContext(t.Context(), "DELETE", srv.URL+"/v1/reports/r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want the request aborted", resp.Status)
	}
	if n := svc.calls.Load(); n != 0 {
		t.Errorf("the service ran %d times", n)
	}
}

// TestProtectFormFallback: a form POST that the mux sends on to a GET
// route is decided as that route's method.
func TestProtectFormFallback(t *testing.T) {
	f := newFixture(t)
	srv, _ := f.inProcess(t, &reports{})
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if got := send(t, srv, "POST", "/v1/reports", "parent=x", form); got.code != 401 || got.rpcError(t).Message != grpcjwt.CodeHeaderMissing {
		t.Errorf("no token: %d %s", got.code, got.raw)
	}
	form.Set("Authorization", "Bearer "+f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"}))
	if got := send(t, srv, "POST", "/v1/reports", "parent=x", form); got.code != 200 || got.body["subject"] != "alice" {
		t.Errorf("token: %d %s", got.code, got.raw)
	}
}

// TestProtectNeedsAPolicy: Protect refuses a nil policy.
func TestProtectNeedsAPolicy(t *testing.T) {
	if _, err := grpcjwtgateway.Protect(nil); err == nil {
		t.Error("Protect(nil) succeeded")
	}
}

// TestProtectedCORS: a CORS preflight never reaches Protect: the mux routes
// no OPTIONS request (it answers 501 itself), and a CORS handler in front
// of the mux answers preflights before it, without a token.
func TestProtectedCORS(t *testing.T) {
	f := newFixture(t)
	svc := &reports{}
	_, mux := f.inProcess(t, svc)
	cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, DPoP, Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		mux.ServeHTTP(w, r)
	})
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}
	if got := send(t, serve(t, mux), "OPTIONS", "/v1/reports", "", preflight); got.code != 501 {
		t.Errorf("preflight to the mux alone: %d %s", got.code, got.raw)
	}
	srv := serve(t, cors)
	if got := send(t, srv, "OPTIONS", "/v1/reports", "", preflight); got.code != 204 {
		t.Errorf("preflight: %d %s", got.code, got.raw)
	}
	h := bearer(f.iss.Token(map[string]any{"sub": "alice", "scope": "reports:read"}))
	h.Set("Origin", "https://app.example")
	if got := send(t, srv, "GET", "/v1/reports", "", h); got.code != 200 || got.body["subject"] != "alice" {
		t.Errorf("cross-origin call: %d %s", got.code, got.raw)
	}
	if n := svc.calls.Load(); n != 1 {
		t.Errorf("the service ran %d times, want 1", n)
	}
}
