package grpcjwtconnect_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
)

// A mode is how the door is mounted: the middleware in front of a server
// with the interceptor, or the interceptor alone.
type mode struct {
	name                    string
	middleware, interceptor bool
}

var modes = []mode{
	{name: "middleware", middleware: true, interceptor: true},
	{name: "interceptor", interceptor: true},
}

// A protocol is one of the three a Connect client speaks, and whether its
// tests run over HTTP/1.1 too (gRPC needs HTTP/2).
type protocol struct {
	name  string
	opts  []connecthttp.Option
	http1 bool
}

var protocols = []protocol{
	{name: "connect", http1: true},
	{name: "grpc", opts: []connecthttp.Option{connecthttp.WithGRPC()}},
	{name: "grpcweb", opts: []connecthttp.Option{connecthttp.WithGRPCWeb()}, http1: true},
}

// env is an issuer, a Validator for it and a policy, which records what
// it refuses.
type env struct {
	iss    *grpcjwttest.Issuer
	policy *grpcjwt.Policy

	mu      sync.Mutex
	rejects []error
}

// newEnv starts an issuer and builds a policy with opts; cfg, if not nil,
// changes the Validator's Config (which accepts organizations by the
// organization_id claim).
func newEnv(t *testing.T, cfg func(*grpcjwt.Config), opts ...grpcjwt.Option) *env {
	t.Helper()
	e := &env{iss: grpcjwttest.NewIssuer()}
	t.Cleanup(e.iss.Close)
	c := grpcjwt.Config{Issuer: e.iss.URL, Audience: e.iss.Audience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim}
	if cfg != nil {
		cfg(&c)
	}
	v, err := grpcjwt.NewValidator(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	opts = append(opts, grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		e.mu.Lock()
		e.rejects = append(e.rejects, err)
		e.mu.Unlock()
	}))
	if e.policy, err = grpcjwt.NewPolicy(v, opts...); err != nil {
		t.Fatal(err)
	}
	return e
}

// rejected returns the refusals the reject hook saw.
func (e *env) rejected() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.rejects...)
}

// token mints a token with scopes for organization "acme".
func (e *env) token(scopes string, opts ...grpcjwttest.TokenOption) string {
	opts = append([]grpcjwttest.TokenOption{grpcjwttest.WithOrganization("acme")}, opts...)
	return e.iss.Token(map[string]any{"sub": "alice", "scope": scopes}, opts...)
}

// server is the demo greeter served over HTTP/1.1 and h2c (or TLS) on
// loopback, the door mounted as its mode says. bodyReads counts the reads
// of request bodies that reached Connect.
type server struct {
	*httptest.Server
	bodyReads atomic.Int64
}

// serve starts the greeter with m's door; tlsConfig, if not nil, serves
// TLS with it instead of plaintext.
func (e *env) serve(t *testing.T, m mode, tlsConfig *tls.Config) *server {
	t.Helper()
	var ics []connect.ServerInterceptor
	if m.interceptor {
		ics = append(ics, grpcjwtconnect.NewInterceptor(e.policy))
	}
	cs := connect.NewServer(ics...)
	demo.Register(cs)
	mux := http.NewServeMux()
	connecthttp.Mount(mux, cs)
	s := &server{}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, reads: &s.bodyReads}
		}
		mux.ServeHTTP(w, r)
	})
	if m.middleware {
		h = grpcjwtconnect.NewMiddleware(e.policy).Wrap(cors(h))
	}
	s.Server = httptest.NewUnstartedServer(h)
	if tlsConfig != nil {
		s.TLS = tlsConfig
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.Config.Protocols = p
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// countingBody counts the reads of a request body.
type countingBody struct {
	io.ReadCloser
	reads *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	return b.ReadCloser.Read(p)
}

// cors answers CORS preflights for any origin, as a CORS handler inside
// the middleware would, and passes every other request on.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, DPoP, Content-Type, Connect-Protocol-Version")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// httpClient returns a plaintext HTTP client speaking HTTP/1.1, or h2c.
func httpClient(h2 bool) *http.Client {
	p := new(http.Protocols)
	if h2 {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// client returns a greeter client of the server at url, speaking pr over
// hc, sending the header fields kv (name, value, ...) on every call.
func client(hc *http.Client, url string, pr protocol, kv ...string) *demo.Client {
	return demo.NewClient(connect.NewClient(transport(hc, url, pr), headers(kv...)))
}

// transport is a Connect transport to url speaking pr over hc, with
// side-effect-free unary calls over GET in the Connect protocol.
func transport(hc *http.Client, url string, pr protocol) connect.Transport {
	return connecthttp.NewTransport(hc, url, append([]connecthttp.Option{connecthttp.WithHTTPGet()}, pr.opts...)...)
}

// headers is a client interceptor that sends the header fields kv.
func headers(kv ...string) connect.ClientInterceptor {
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			info, _ := connect.CallInfoForClientContext(ctx)
			for i := 0; i+1 < len(kv); i += 2 {
				info.RequestHeader().Add(kv[i], kv[i+1])
			}
			return next(ctx, spec)
		}
	}
}

// wantRefusal checks that err is the refusal of a call for sentinel: the
// code, the exact message and the ErrorInfo of grpcjwt.Status(sentinel),
// with the metadata kv (key, value, ...) added (what the policy tells of
// the method's rule, such as the scopes it requires), as a gRPC client
// gets them.
func wantRefusal(t *testing.T, err error, sentinel error, kv ...string) {
	t.Helper()
	if err := refusal(err, sentinel, kv...); err != nil {
		t.Fatal(err)
	}
}

// refusal returns why err is not the refusal of a call for sentinel, with
// the ErrorInfo metadata kv added, or nil.
func refusal(err error, sentinel error, kv ...string) error {
	want := grpcjwt.Status(sentinel)
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		return fmt.Errorf("error %v (%T), want a *connect.Error", err, err)
	}
	if ce.Code() != connect.Code(want.Code()) || ce.Message() != want.Message() {
		return fmt.Errorf("error %d %q, want %d %q", ce.Code(), ce.Message(), want.Code(), want.Message())
	}
	wantInfo := proto.Clone(want.Details()[0].(*errdetails.ErrorInfo)).(*errdetails.ErrorInfo)
	for i := 0; i+1 < len(kv); i += 2 {
		wantInfo.Metadata[kv[i]] = kv[i+1]
	}
	var infos []*errdetails.ErrorInfo
	for _, d := range ce.Details() {
		m, err := connectproto.UnmarshalErrorDetail(d)
		if err != nil {
			return fmt.Errorf("detail %s: %v", d.Type, err)
		}
		if info, ok := m.(*errdetails.ErrorInfo); ok {
			infos = append(infos, info)
		}
	}
	if len(infos) != 1 || !proto.Equal(infos[0], wantInfo) {
		return fmt.Errorf("ErrorInfo details %v, want exactly %v", infos, wantInfo)
	}
	return nil
}

// post sends a Connect unary call with JSON body to url + procedure, with
// the header fields kv, and returns the response and its body.
func post(t *testing.T, hc *http.Client, url, procedure, body string, kv ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return do(t, hc, req)
}

// do sends req and reads the whole response.
func do(t *testing.T, hc *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}
