package grpcjwtconnect_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
)

// transports are the HTTP versions a protocol's calls are tested over.
func transports(pr protocol) []string {
	if pr.http1 {
		return []string{"h2c", "http1"}
	}
	return []string{"h2c"}
}

// A valid token gets through on unary calls and server streams for every
// protocol, over HTTP/1.1 and h2c, and on bidirectional streams over h2c;
// the handler sees the claims.
func TestAdmitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tok := e.token("greet:read greet:write")
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			for _, tr := range transports(pr) {
				t.Run(m.name+"/"+pr.name+"/"+tr, func(t *testing.T) {
					t.Parallel()
					c := client(httpClient(tr == "h2c"), srv.URL, pr, "Authorization", "Bearer "+tok)
					res, err := c.SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"})
					if err != nil {
						t.Fatal(err)
					}
					if res.GetMessage() != "Hello, Alice!" || res.GetSubject() != "alice" {
						t.Fatalf("SayHello: %v", res)
					}
					// GetOrganization is side-effect free: the Connect
					// client calls it with GET.
					org, err := c.GetOrganization(t.Context(), &demov1.GetOrganizationRequest{Name: "organizations/acme"})
					if err != nil {
						t.Fatal(err)
					}
					if org.GetSubject() != "alice" {
						t.Fatalf("GetOrganization: %v", org)
					}
					ws, err := c.Watch(t.Context(), &demov1.WatchRequest{})
					if err != nil {
						t.Fatal(err)
					}
					var w demov1.WatchResponse
					if err := ws.Receive(&w); err != nil || w.GetSubject() != "alice" {
						t.Fatalf("Watch: %v, %v", &w, err)
					}
					_ = ws.Close()
					if tr != "h2c" {
						return // bidirectional streams need HTTP/2
					}
					cs, err := c.Chat(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					defer cs.Close()
					for _, said := range []string{"hi", "bye"} {
						if err := cs.Send(&demov1.ChatRequest{Organization: "organizations/acme", Message: said}); err != nil {
							t.Fatal(err)
						}
						var r demov1.ChatResponse
						if err := cs.Receive(&r); err != nil || r.GetMessage() != "you said "+said {
							t.Fatalf("Chat: %v, %v", &r, err)
						}
					}
					if err := cs.CloseSend(); err != nil {
						t.Fatal(err)
					}
					if err := cs.Receive(&demov1.ChatResponse{}); !errors.Is(err, io.EOF) {
						t.Fatalf("Chat end: %v, want EOF", err)
					}
				})
			}
		}
	}
}

// Each refusal reaches every protocol's client with the message and the
// ErrorInfo a gRPC client gets, before the request's body is read.
func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cases := []struct {
		name      string
		auth      []string // authorization values
		procedure string
		want      error
		meta      []string // ErrorInfo metadata beside the code
	}{
		{"missing", nil, demo.SayHello, grpcjwt.ErrHeaderMissing, nil},
		{"empty", []string{""}, demo.SayHello, grpcjwt.ErrHeaderMissing, nil},
		{"malformed", []string{"Bearer a b"}, demo.SayHello, grpcjwt.ErrInvalidFormat, nil},
		{"two values", []string{"Bearer " + e.token("greet:read"), "Bearer " + e.token("greet:read")}, demo.SayHello, grpcjwt.ErrInvalidFormat, nil},
		{"basic", []string{"Basic YWxpY2U6c2VjcmV0"}, demo.SayHello, grpcjwt.ErrSchemeNotSupported, nil},
		{"invalid token", []string{"Bearer not.a.token"}, demo.SayHello, grpcjwt.ErrInvalidToken, nil},
		{"expired", []string{"Bearer " + e.iss.Token(map[string]any{"exp": 1000})}, demo.SayHello, grpcjwt.ErrInvalidToken, nil},
		{"insufficient scope", []string{"Bearer " + e.token("greet:write")}, demo.SayHello, grpcjwt.ErrInsufficientScope, []string{grpcjwt.ScopeKey, "greet:read"}},
		{"stream, invalid token", []string{"Bearer not.a.token"}, demo.Watch, grpcjwt.ErrInvalidToken, nil},
		{"bidi stream, insufficient scope", []string{"Bearer " + e.token("greet:read")}, demo.Chat, grpcjwt.ErrInsufficientScope, []string{grpcjwt.ScopeKey, "greet:write"}},
	}
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			for _, tc := range cases {
				t.Run(m.name+"/"+pr.name+"/"+tc.name, func(t *testing.T) {
					var kv []string
					for _, a := range tc.auth {
						kv = append(kv, "Authorization", a)
					}
					c := client(httpClient(true), srv.URL, pr, kv...)
					before := srv.bodyReads.Load()
					var err error
					switch tc.procedure {
					case demo.SayHello:
						_, err = c.SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"})
					case demo.Watch:
						var s connect.ClientStream
						if s, err = c.Watch(t.Context(), &demov1.WatchRequest{}); err == nil {
							err = s.Receive(&demov1.WatchResponse{})
						}
					case demo.Chat:
						var s connect.ClientStream
						if s, err = c.Chat(t.Context()); err == nil {
							defer s.Close()
							if err = s.Send(&demov1.ChatRequest{Organization: "organizations/acme"}); err == nil || errors.Is(err, io.EOF) {
								err = s.Receive(&demov1.ChatResponse{})
							}
						}
					}
					wantRefusal(t, err, tc.want, tc.meta...)
					if n := srv.bodyReads.Load() - before; n != 0 {
						t.Errorf("the request body was read %d times before the refusal", n)
					}
				})
			}
		}
	}
}

// A Connect unary refusal is an HTTP status with a WWW-Authenticate
// challenge (RFC 6750 §3), as curl sees it.
func TestChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cases := []struct {
		name       string
		auth       string
		status     int
		challenge  string
		wantInBody string
	}{
		{"missing", "", http.StatusUnauthorized, "Bearer", `"message":"auth.authorization_header_missing"`},
		{"malformed", "Bearer", http.StatusUnauthorized, `Bearer error="invalid_request"`, `"message":"auth.authorization_token_invalid_format"`},
		{"basic", "Basic YWxpY2U6c2VjcmV0", http.StatusUnauthorized, "Bearer", `"message":"auth.authorization_token_type_not_supported"`},
		{"invalid token", "Bearer not.a.token", http.StatusUnauthorized, `Bearer error="invalid_token"`, `"code":"unauthenticated","message":"invalid_token"`},
		{"insufficient scope", "Bearer " + e.token("greet:write"), http.StatusForbidden, `Bearer error="insufficient_scope", scope="greet:read"`, `"code":"permission_denied","message":"insufficient_scope"`},
	}
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				var kv []string
				if tc.auth != "" {
					kv = []string{"Authorization", tc.auth}
				}
				res, body := post(t, httpClient(false), srv.URL, demo.SayHello, `{"name":"Alice"}`, kv...)
				if res.StatusCode != tc.status || res.Header.Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("%d, WWW-Authenticate %q; want %d, %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
				}
				if !strings.Contains(body, tc.wantInBody) || !strings.Contains(body, `"type":"google.rpc.ErrorInfo"`) {
					t.Fatalf("body %s, want %s and an ErrorInfo", body, tc.wantInBody)
				}
			})
		}
	}
}

// The organization rule is checked on the request of a unary call, over
// POST and GET, and on every message of a stream: a later message about
// another organization ends the stream, for every protocol.
func TestOrganization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tok := e.token("greet:read greet:write")
	t.Run("calls", func(t *testing.T) { testOrganization(t, e, tok) })
	var mismatches int
	for _, err := range e.rejected() {
		if errors.Is(err, grpcjwt.ErrOrganizationMismatch) {
			mismatches++
		}
	}
	if want := 2 * len(modes) * len(protocols); mismatches != want {
		t.Errorf("the reject hook saw %d organization mismatches, want %d", mismatches, want)
	}
}

func testOrganization(t *testing.T, e *env, tok string) {
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				t.Parallel()
				c := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+tok)
				_, err := c.GetOrganization(t.Context(), &demov1.GetOrganizationRequest{Name: "organizations/other"})
				wantRefusal(t, err, grpcjwt.ErrOrganizationMismatch)

				cs, err := c.Chat(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()
				if err := cs.Send(&demov1.ChatRequest{Organization: "organizations/acme", Message: "hi"}); err != nil {
					t.Fatal(err)
				}
				if err := cs.Receive(&demov1.ChatResponse{}); err != nil {
					t.Fatalf("first message: %v", err)
				}
				if err := cs.Send(&demov1.ChatRequest{Organization: "organizations/other", Message: "hi"}); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				wantRefusal(t, cs.Receive(&demov1.ChatResponse{}), grpcjwt.ErrOrganizationMismatch)
			})
		}
	}
}

// A public procedure never parses a token: a garbage one passes, and the
// handler sees no claims.
func TestPublic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				t.Parallel()
				c := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer garbage")
				res, err := c.Info(t.Context(), &demov1.InfoRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if res.GetAuthenticated() {
					t.Fatal("a public procedure saw claims")
				}
			})
		}
	}
	if r := e.rejected(); len(r) != 0 {
		t.Errorf("refusals on a public procedure: %v", r)
	}
}

// Requests that are no call: a CORS preflight passes without a token; any
// other request behind the middleware is decided by the policy, fail
// closed, and refused as an HTTP client expects.
func TestNonProcedureRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv := e.serve(t, modes[0], nil)
	hc := httpClient(false)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, srv.URL+demo.SayHello, nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	res, _ := do(t, hc, req)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}

	// An OPTIONS request that is no preflight needs what any request does.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodOptions, srv.URL+demo.SayHello, nil)
	if res, _ := do(t, hc, req); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("OPTIONS without a preflight's headers: %d, want 401", res.StatusCode)
	}

	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/healthz", nil)
	res, body := do(t, hc, req)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != "Bearer" || !strings.Contains(body, grpcjwt.CodeHeaderMissing) {
		t.Fatalf("GET /healthz without a token: %d %q %s", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(""))
	if res, _ := do(t, hc, req); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /healthz with a token: %d, want the mux's 404", res.StatusCode)
	}
}

// A path made of dots (4 MiB, in process: a server's header limit would
// refuse it), the worst case of a protobuf registry lookup by prefix, is
// decided at once by the policy's one lookup of its rule, and answered by
// the mux behind the middleware; the middleware used to look it up in the
// registry again, in time quadratic in its length.
func TestDottedPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cs := connect.NewServer(grpcjwtconnect.NewInterceptor(e.policy))
	demo.Register(cs)
	mux := http.NewServeMux()
	connecthttp.Mount(mux, cs)
	h := grpcjwtconnect.NewMiddleware(e.policy).Wrap(mux)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader("{}"))
	req.URL.Path = "/" + strings.Repeat("a.", 2<<20) + "S/M"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token(""))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a hang guard, far above the milliseconds it takes
		t.Fatal("a dotted path of 4 MiB was not answered within 30 s")
	}
	if rec.Code != http.StatusNotFound {
		t.Fatalf("POST to a dotted path with a token: %d, want the mux's 404", rec.Code)
	}
}

// The middleware without the interceptor is a misconfiguration: a call to
// a procedure is then refused before its message is read (POST) or its
// answer sent (GET), so that no rule the middleware cannot apply is
// skipped.
func TestMiddlewareWithoutInterceptor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	srv := e.serve(t, mode{name: "middleware only", middleware: true}, nil)
	tok := e.token("greet:read greet:write")
	const want = "internal: grpcjwtconnect: the call was admitted by the middleware, but the server has no grpcjwtconnect interceptor"
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			c := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+tok)
			ctx, info := connect.NewClientContext(t.Context())
			_, err := c.GetOrganization(ctx, &demov1.GetOrganizationRequest{Name: "organizations/other"})
			if err == nil || err.Error() != want {
				t.Fatalf("GetOrganization: %v, want %s", err, want)
			}
			wantMethod := http.MethodPost
			if pr.name == "connect" {
				wantMethod = http.MethodGet // its message in the URL, its answer replaced
			}
			if hi, _ := info.TransportInfo.(*connecthttp.ClientInfo); hi.HTTPMethod() != wantMethod {
				t.Errorf("GetOrganization went as %s, want %s", hi.HTTPMethod(), wantMethod)
			}
			_, err = c.SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"})
			if err == nil || err.Error() != want {
				t.Fatalf("SayHello: %v, want %s", err, want)
			}
		})
	}
	// Refusals are still the middleware's.
	c := client(httpClient(true), srv.URL, protocols[0])
	_, err := c.SayHello(t.Context(), &demov1.SayHelloRequest{})
	wantRefusal(t, err, grpcjwt.ErrHeaderMissing)
}
