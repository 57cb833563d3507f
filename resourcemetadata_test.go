package grpcjwt_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	testResource    = "https://api.example.com"
	testMetadataURL = "https://api.example.com/.well-known/oauth-protected-resource"
)

// TestResourceMetadataDocument: the RFC 9728 document, byte for byte,
// over a real HTTP server, for the policy and the methods of a real
// server, with each member the policy can state.
func TestResourceMetadataDocument(t *testing.T) {
	a, b := newIssuer(t), newIssuer(t)
	v := newValidator(t, a, func(c *grpcjwt.Config) {
		c.Issuers = []grpcjwt.IssuerConfig{{Issuer: b.URL, Audience: b.Audience}}
	})
	servers := []string{a.URL, b.URL}
	slices.Sort(servers)
	issuers := `"authorization_servers":["` + strings.Join(servers, `","`) + `"]`
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServer(srv, greeter{})
	// The Go rule adds greet:stream to the .proto's greet:read and
	// greet:write; the catalog and Info are public.
	stream := grpcjwt.WithScopes("/greeter.v1.Greeter/SayHelloStream", "greet:stream")
	dpop := grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256", "EdDSA"}})
	const scopes = `"scopes_supported":["greet:read","greet:stream","greet:write"],"bearer_methods_supported":["header"]`
	for _, tc := range []struct {
		name string
		opts []grpcjwt.Option
		want string
	}{
		{
			"resource only",
			[]grpcjwt.Option{grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}), stream},
			`{"resource":"https://api.example.com",` + issuers + `,` + scopes + `}`,
		},
		{
			"every member, DPoP required",
			[]grpcjwt.Option{grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{
				Resource:      testResource,
				Name:          "Greeter & co",
				Documentation: "https://docs.example.com/api?lang=en&v=1",
			}), stream, dpop, grpcjwt.WithSenderConstrainedEverywhere()},
			`{"resource":"https://api.example.com",` + issuers + `,` + scopes +
				`,"resource_name":"Greeter & co","resource_documentation":"https://docs.example.com/api?lang=en&v=1"` +
				`,"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true}`,
		},
		{
			"DPoP accepted, not required",
			[]grpcjwt.Option{grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}), stream, dpop},
			`{"resource":"https://api.example.com",` + issuers + `,` + scopes + `,"dpop_signing_alg_values_supported":["ES256","EdDSA"]}`,
		},
		{
			// A certificate-bound token also meets the sender constraint:
			// DPoP is not required.
			"bound required, certificates too",
			[]grpcjwt.Option{grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource, CertificateBoundTokens: true}), stream, dpop, grpcjwt.WithSenderConstrainedEverywhere()},
			`{"resource":"https://api.example.com",` + issuers + `,` + scopes + `,"tls_client_certificate_bound_access_tokens":true,"dpop_signing_alg_values_supported":["ES256","EdDSA"]}`,
		},
		{
			// Only Chat is sender-constrained: DPoP is not required of
			// every method.
			"one method bound",
			[]grpcjwt.Option{grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}), dpop, grpcjwt.WithSenderConstrained("/greeter.v1.Greeter/Chat"), grpcjwt.WithScopes("/greeter.v1.Greeter/Chat", "greet:write")},
			`{"resource":"https://api.example.com",` + issuers + `,"scopes_supported":["greet:read","greet:write"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := policyOf(t, v, tc.opts...).ResourceMetadataHandler(srv)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("/.well-known/oauth-protected-resource", h)
			hs := httptest.NewServer(mux)
			defer hs.Close()
			resp, body := httpDo(t, http.MethodGet, hs.URL+"/.well-known/oauth-protected-resource", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := string(body); got != tc.want+"\n" {
				t.Errorf("document:\n got %s\nwant %s", got, tc.want)
			}
			for name, want := range map[string]string{
				"Content-Type":                "application/json",
				"Cache-Control":               "public, max-age=3600",
				"Access-Control-Allow-Origin": "*",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestResourceMetadataHTTP: HEAD, revalidation by ETag, and methods other
// than GET and HEAD.
func TestResourceMetadataHTTP(t *testing.T) {
	v := newValidator(t, newIssuer(t))
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServer(srv, greeter{})
	h, err := policyOf(t, v, grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource})).ResourceMetadataHandler(srv)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()

	get, doc := httpDo(t, http.MethodGet, hs.URL, nil)
	etag := get.Header.Get("ETag")
	if len(etag) != 34 || etag[0] != '"' || etag[33] != '"' {
		t.Fatalf("ETag %q", etag)
	}
	head, body := httpDo(t, http.MethodHead, hs.URL, nil)
	if head.StatusCode != http.StatusOK || len(body) != 0 || head.ContentLength != int64(len(doc)) || head.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %d, ETag %q; GET: %d bytes, ETag %q", head.StatusCode, len(body), head.ContentLength, head.Header.Get("ETag"), len(doc), etag)
	}
	for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag} {
		resp, body := httpDo(t, http.MethodGet, hs.URL, map[string]string{"If-None-Match": inm})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, resp.StatusCode, len(body))
		}
	}
	if resp, _ := httpDo(t, http.MethodGet, hs.URL, map[string]string{"If-None-Match": `"other"`}); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match another tag: %d", resp.StatusCode)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		resp, _ := httpDo(t, m, hs.URL, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}

	if _, err := policyOf(t, v).ResourceMetadataHandler(srv); err == nil || !strings.Contains(err.Error(), "WithResourceMetadata") {
		t.Errorf("without WithResourceMetadata: %v", err)
	}
}

// httpDo makes one request with headers and returns the response and its
// body.
func httpDo(t *testing.T, method, url string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestResourceMetadataURLs: the default URL is the well-known one of the
// resource (RFC 9728 §3.1); a URL given is used as it is; URLs a
// challenge could not carry, or that are not absolute http(s) URLs, are
// refused by NewPolicy.
func TestResourceMetadataURLs(t *testing.T) {
	v := newValidator(t, newIssuer(t))
	for _, tc := range []struct {
		m    grpcjwt.ResourceMetadata
		want string // the URL, or what the error says
	}{
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com"}, "https://api.example.com/.well-known/oauth-protected-resource"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/"}, "https://api.example.com/.well-known/oauth-protected-resource"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/v1"}, "https://api.example.com/.well-known/oauth-protected-resource/v1"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com:8443/v1/?tenant=a"}, "https://api.example.com:8443/.well-known/oauth-protected-resource/v1/?tenant=a"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/?tenant=a"}, "https://api.example.com/.well-known/oauth-protected-resource?tenant=a"},
		{grpcjwt.ResourceMetadata{Resource: "HTTPS://api.example.com/v%201"}, "https://api.example.com/.well-known/oauth-protected-resource/v%201"},
		{grpcjwt.ResourceMetadata{Resource: "http://127.0.0.1:8080"}, "http://127.0.0.1:8080/.well-known/oauth-protected-resource"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com", URL: "https://meta.example.com/api.json"}, "https://meta.example.com/api.json"},

		{grpcjwt.ResourceMetadata{}, "Resource is required"},
		{grpcjwt.ResourceMetadata{Resource: "api.example.com"}, "Resource: "},
		{grpcjwt.ResourceMetadata{Resource: "ftp://api.example.com"}, "Resource: "},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/#top"}, "fragment"},
		{grpcjwt.ResourceMetadata{Resource: "https://me@api.example.com"}, "has a user"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/a b"}, "percent-encode"},
		{grpcjwt.ResourceMetadata{Resource: `https://api.example.com/a"b`}, "percent-encode"},
		{grpcjwt.ResourceMetadata{Resource: `https://api.example.com/a\b`}, "percent-encode"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com/é"}, "percent-encode"},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com", URL: "/.well-known/oauth-protected-resource"}, "URL: "},
		{grpcjwt.ResourceMetadata{Resource: "https://api.example.com", Documentation: "docs"}, "Documentation: "},
	} {
		p, err := grpcjwt.NewPolicy(v, grpcjwt.WithResourceMetadata(tc.m))
		if !strings.HasPrefix(tc.want, "http") {
			if err == nil || !strings.Contains(err.Error(), "WithResourceMetadata: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: NewPolicy = %v, want an error saying %q", tc.m, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.m, err)
			continue
		}
		if got, want := p.Challenge(grpcjwt.ErrHeaderMissing, false), `Bearer resource_metadata="`+tc.want+`"`; got != want {
			t.Errorf("%+v: challenge %s, want %s", tc.m, got, want)
		}
	}
}

// TestChallengeNamesResourceMetadata: with WithResourceMetadata, every
// challenge of every refusal that has one carries resource_metadata, and
// the rest of it is what it is without (TestChallenge).
func TestChallengeNamesResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	prm := grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource})
	scope := grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read")
	bearer := policyOf(t, v, scope, prm)
	both := policyOf(t, v, scope, prm, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}))
	const rm = `resource_metadata="` + testMetadataURL + `"`
	for _, tc := range []struct {
		p    *grpcjwt.Policy
		auth []string
		dpop bool
		want string
	}{
		{bearer, nil, false, `Bearer ` + rm},
		{both, nil, false, `Bearer ` + rm + `, DPoP algs="ES256", ` + rm},
		{bearer, []string{"Bearer"}, false, `Bearer error="invalid_request", ` + rm},
		{bearer, []string{"Bearer x.y.z"}, false, `Bearer error="invalid_token", ` + rm},
		{both, []string{"DPoP x.y.z"}, true, `Bearer ` + rm + `, DPoP error="invalid_token", algs="ES256", ` + rm},
		{bearer, []string{"Bearer " + iss.Token(nil)}, false, `Bearer error="insufficient_scope", scope="greet:read", ` + rm},
		{both, []string{"DPoP " + iss.Token(map[string]any{"cnf": map[string]any{"jkt": "x"}, "scope": "greet:read"})}, true, `DPoP error="invalid_dpop_proof", algs="ES256", ` + rm},
	} {
		_, err := tc.p.Check(context.Background(), &grpcjwt.Call{Method: "/greeter.v1.Greeter/SayHello", Authorization: tc.auth}, nil)
		if err == nil {
			t.Fatalf("%q accepted", tc.auth)
		}
		if got := tc.p.Challenge(err, tc.dpop); got != tc.want {
			t.Errorf("%q: Challenge = %s, want %s", tc.auth, got, tc.want)
		}
	}
}

// refusalsServer serves the greeter behind the interceptors of opts, and
// returns a client and the policy.
func refusalsServer(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) (greeterv1.GreeterClient, *grpcjwt.Policy) {
	t.Helper()
	p := policyOf(t, v, opts...)
	return serve(t, greeter{},
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor())), p
}

// TestRefusalsNameResourceMetadata: over real gRPC, each refusal of each
// kind of call, unary and streaming, carries the resource_metadata URL in
// its ErrorInfo, beside what it carries without; an Authorizer's own
// status is sent as it is.
func TestRefusalsNameResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	own := status.New(codes.FailedPrecondition, "not today")
	client, p := refusalsServer(t, v,
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}),
		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"),
		grpcjwt.WithAuthorizer(func(_ context.Context, _ string, c *grpcjwt.Claims) error {
			if c.Subject == "refused" {
				return own.Err()
			}
			return nil
		}))
	for _, tc := range refusalCases(iss) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := calls[tc.kind](tc.ctx, client)
			got := status.Convert(err)
			if tc.want == nil {
				if !proto.Equal(got.Proto(), own.Proto()) {
					t.Fatalf("got %v, want the authorizer's own status", got.Proto())
				}
				return
			}
			want := grpcjwt.Status(tc.want)
			if got.Code() != want.Code() || got.Message() != want.Message() {
				t.Fatalf("got %v %q, want %v %q", got.Code(), got.Message(), want.Code(), want.Message())
			}
			info := errorInfo(t, got)
			wantMeta := map[string]string{"code": want.Message(), grpcjwt.ResourceMetadataKey: testMetadataURL}
			maps.Copy(wantMeta, tc.meta)
			if info.GetDomain() != grpcjwt.ErrorDomain || info.GetReason() != errorInfo(t, want).GetReason() || !mapsEqual(info.GetMetadata(), wantMeta) {
				t.Errorf("ErrorInfo %v, want metadata %v", info, wantMeta)
			}
			if tc.meta == nil && !proto.Equal(got.Proto(), p.Status(tc.want).Proto()) {
				t.Errorf("got %v, want Policy.Status %v", got.Proto(), p.Status(tc.want).Proto())
			}
		})
	}
}

// TestStreamedMessageRefusalNamesResourceMetadata: a stream ended by a
// message for another organization carries the URL too, as does a unary
// call refused for its organization.
func TestStreamedMessageRefusalNamesResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	client, _, _ := tenantServer(t, iss, grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}))
	ctx := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganization("acme")))
	s, err := client.SyncProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Send(&tenantv1.Project{OrganizationId: "globex"})
	_, streamErr := s.Recv()
	_, unaryErr := client.GetProject(ctx, &tenantv1.GetProjectRequest{Name: "organizations/globex/projects/p"})
	for name, err := range map[string]error{"stream": streamErr, "unary": unaryErr} {
		wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
		if got := errorInfo(t, status.Convert(err)).GetMetadata()[grpcjwt.ResourceMetadataKey]; got != testMetadataURL {
			t.Errorf("%s: resource_metadata %q", name, got)
		}
	}
}

// TestRefusalsUnchangedWithoutResourceMetadata: without the option, a
// refusal over real gRPC is the package's Status, byte for byte (with, for
// a missing scope, the scopes of the method's rule in its ErrorInfo
// metadata), and Policy.Status is Status itself.
func TestRefusalsUnchangedWithoutResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	client, p := refusalsServer(t, v, grpcjwt.WithScopes("/greeter.v1.Greeter/SayHello", "greet:read"))
	det := proto.MarshalOptions{Deterministic: true}
	for _, tc := range refusalCases(iss) {
		if tc.want == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			_, err := calls[tc.kind](tc.ctx, client)
			got, err := det.Marshal(status.Convert(err).Proto())
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := grpcjwt.Status(tc.want).Proto()
			if tc.meta != nil {
				wantStatus = withMetadata(t, wantStatus, tc.meta)
			}
			want, err := det.Marshal(wantStatus)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got %x\nwant %x", got, want)
			}
			if p.Status(tc.want) != grpcjwt.Status(tc.want) {
				t.Error("Policy.Status is not Status")
			}
		})
	}
	if p.Status(nil) != nil {
		t.Error("Policy.Status(nil) is not nil")
	}
}

type refusalCase struct {
	name string
	kind string // a key of calls
	ctx  context.Context
	want error // nil: the authorizer's own status
	// meta is what the method's rule adds to the ErrorInfo metadata of
	// the status: the scopes that would succeed.
	meta map[string]string
}

// refusalCases are calls to the greeter of refusalsServer that it refuses,
// each with the sentinel it is refused for.
func refusalCases(iss *grpcjwttest.Issuer) []refusalCase {
	var cases []refusalCase
	for _, kind := range []string{"unary", "server-stream", "bidi"} {
		cases = append(cases,
			refusalCase{kind + ", no token", kind, context.Background(), grpcjwt.ErrHeaderMissing, nil},
			refusalCase{kind + ", malformed", kind, withAuth("Bearer"), grpcjwt.ErrInvalidFormat, nil},
			refusalCase{kind + ", Basic", kind, withAuth("Basic YQ=="), grpcjwt.ErrSchemeNotSupported, nil},
			refusalCase{kind + ", bad token", kind, withAuth("Bearer x.y.z"), grpcjwt.ErrInvalidToken, nil},
			refusalCase{kind + ", expired", kind, withAuth("Bearer " + iss.Token(map[string]any{"exp": 1})), grpcjwt.ErrInvalidToken, nil},
			refusalCase{kind + ", authorizer", kind, withAuth("Bearer " + iss.Token(map[string]any{"sub": "refused", "scope": "greet:read greet:write"})), nil, nil},
		)
	}
	return append(cases,
		refusalCase{"unary, no scope", "unary", withAuth("Bearer " + iss.Token(nil)), grpcjwt.ErrInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:read"}},
		refusalCase{"bidi, no scope", "bidi", withAuth("Bearer " + iss.Token(nil)), grpcjwt.ErrInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:write"}},
	)
}

// withMetadata returns a copy of s whose ErrorInfo metadata also has md.
func withMetadata(t *testing.T, s *spb.Status, md map[string]string) *spb.Status {
	t.Helper()
	s = proto.Clone(s).(*spb.Status)
	for i, d := range s.GetDetails() {
		var info errdetails.ErrorInfo
		if d.UnmarshalTo(&info) != nil {
			continue
		}
		maps.Copy(info.Metadata, md)
		a := new(anypb.Any)
		if err := anypb.MarshalFrom(a, &info, proto.MarshalOptions{Deterministic: true}); err != nil {
			t.Fatal(err)
		}
		s.Details[i] = a
		return s
	}
	t.Fatalf("status %v has no ErrorInfo", s)
	return nil
}

func errorInfo(t *testing.T, s *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range s.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("status %v has no ErrorInfo", s.Proto())
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRefusalCostsNoMoreWithResourceMetadata: a refusal by the unary
// interceptor allocates no more with the resource_metadata URL than
// without, and Policy.Status allocates nothing.
func TestRefusalCostsNoMoreWithResourceMetadata(t *testing.T) {
	v := newValidator(t, newIssuer(t))
	plain := policyOf(t, v)
	named := policyOf(t, v, grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}))
	info := &grpc.UnaryServerInfo{FullMethod: "/greeter.v1.Greeter/SayHello", Server: greeter{}}
	handler := func(context.Context, any) (any, error) { return nil, errors.New("the handler ran") }
	req := &greeterv1.SayHelloRequest{Name: "x"}
	for _, auth := range [][]string{nil, {"Bearer"}, {"Bearer x.y.z"}} {
		md := metadata.MD{}
		for _, a := range auth {
			md.Append("authorization", a)
		}
		ctx := metadata.NewIncomingContext(context.Background(), md)
		allocs := func(p *grpcjwt.Policy) float64 {
			interceptor := p.UnaryServerInterceptor()
			return testing.AllocsPerRun(200, func() {
				if _, err := interceptor(ctx, req, info, handler); status.Code(err) != codes.Unauthenticated {
					t.Fatalf("%q: %v", auth, err)
				}
			})
		}
		if without, with := allocs(plain), allocs(named); with > without {
			t.Errorf("%q: %v allocations a refusal with the resource_metadata URL, %v without", auth, with, without)
		}
	}
	if n := testing.AllocsPerRun(100, func() { named.Status(grpcjwt.ErrHeaderMissing) }); n != 0 {
		t.Errorf("Policy.Status: %v allocations", n)
	}
}
