package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestHTTPDoors runs the server command with -http-addr and calls the
// greeter over HTTP with real clients: connect-go's, in each of its three
// protocols, and curl, for the Connect protocol's JSON and for REST
// through the gRPC-Gateway in both modes. Without curl the curl tests
// skip, except under CI=true, where they fail.
func TestHTTPDoors(t *testing.T) {
	_, server, _ := buildCommands(t)
	iss := newIssuer(t)
	proxy := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience,
		"-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0")
	if proxy.httpURL == "" {
		t.Fatalf("the server did not say where it serves HTTP:\n%s", proxy.stderr)
	}
	claims := map[string]any{"sub": "alice", "scope": "greet:read greet:write"}
	good := iss.Token(claims)
	readOnly := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
	forOrgA := iss.Token(claims, grpcjwttest.WithOrganization("A"))
	metadataURL := proxy.httpURL + greeterhttp.MetadataPath

	t.Run("connect-go", func(t *testing.T) {
		for _, p := range []struct {
			name string
			opts []connecthttp.Option
		}{
			{"Connect", nil},
			{"gRPC", []connecthttp.Option{connecthttp.WithGRPC()}},
			{"gRPC-Web", []connecthttp.Option{connecthttp.WithGRPCWeb()}},
		} {
			t.Run(p.name, func(t *testing.T) {
				client := func(token string) greeterv1connect.GreeterClient {
					var ics []connect.ClientInterceptor
					if token != "" {
						ics = append(ics, greeterhttp.Bearer(token))
					}
					// h2c: gRPC needs HTTP/2, and the streams of the
					// others go both ways on it.
					return greeterv1connect.NewGreeterClient(connect.NewClient(connecthttp.NewTransport(h2cClient(), proxy.httpURL, p.opts...), ics...))
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()

				r, err := client(good).SayHello(ctx, &greeterv1.SayHelloRequest{Name: "Alice"})
				if err != nil || r.GetMessage() != "Hello, Alice!" || r.GetSubject() != "alice" {
					t.Errorf("SayHello with a token: %v, %v", r, err)
				}
				_, err = client("").SayHello(ctx, &greeterv1.SayHelloRequest{Name: "Mallory"})
				wantConnectError(t, "SayHello without a token", err, connect.CodeUnauthenticated, grpcjwt.CodeHeaderMissing)
				info, err := client("").Info(ctx, &greeterv1.InfoRequest{})
				if err != nil || info.GetServerName() != "greeter-example" || info.GetAuthenticated() {
					t.Errorf("Info without a token: %v, %v", info, err)
				}

				stream, err := client(good).SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{Name: "Bob", Count: 3})
				if err != nil {
					t.Fatal(err)
				}
				var greetings []string
				for {
					m, err := stream.Receive()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("SayHelloStream: %v after %q", err, greetings)
					}
					greetings = append(greetings, m.GetMessage()+" "+m.GetSubject())
				}
				if strings.Join(greetings, ", ") != "Hello #1, Bob! alice, Hello #2, Bob! alice, Hello #3, Bob! alice" {
					t.Errorf("SayHelloStream sent %q", greetings)
				}

				chat, err := client(readOnly).Chat(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := chat.Send(&greeterv1.ChatRequest{Message: "hi"}); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				_, err = chat.Receive()
				wantConnectError(t, "Chat without greet:write", err, connect.CodePermissionDenied, grpcjwt.CodeInsufficientScope)
				chat.Close()

				chat, err = client(good).Chat(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := chat.Send(&greeterv1.ChatRequest{Message: "hi"}); err != nil {
					t.Fatal(err)
				}
				m, err := chat.Receive()
				if err != nil || m.GetMessage() != `Hello, you said "hi"` || m.GetSubject() != "alice" {
					t.Errorf("Chat: %v, %v", m, err)
				}
				if err := chat.CloseSend(); err != nil {
					t.Fatal(err)
				}
				if _, err := chat.Receive(); !errors.Is(err, io.EOF) {
					t.Errorf("Chat after CloseSend: %v, want io.EOF", err)
				}

				o, err := client(forOrgA).GreetOrganization(ctx, &greeterv1.GreetOrganizationRequest{Parent: "organizations/A"})
				if err != nil || o.GetSubject() != "alice" {
					t.Errorf("GreetOrganization(A) with a token for A: %v, %v", o, err)
				}
				_, err = client(forOrgA).GreetOrganization(ctx, &greeterv1.GreetOrganizationRequest{Parent: "organizations/B"})
				wantConnectError(t, "GreetOrganization(B) with a token for A", err, connect.CodePermissionDenied, grpcjwt.CodeOrganizationMismatch)
			})
		}
	})

	t.Run("curl", func(t *testing.T) {
		curl := requireCommand(t, "CURL", "curl", "curl")
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			// The Connect protocol's JSON, as in docs/connect.md.
			{"Connect JSON with a token", []string{"-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + good, "-d", `{"name":"x"}`, proxy.httpURL + "/greeter.v1.Greeter/SayHello"},
				[]string{"HTTP/1.1 200 OK", `{"message":"Hello, x!","subject":"alice"}`}},
			{"Connect JSON without a token", []string{"-H", "Content-Type: application/json", "-d", `{"name":"x"}`, proxy.httpURL + "/greeter.v1.Greeter/SayHello"},
				[]string{"HTTP/1.1 401 Unauthorized", `Www-Authenticate: Bearer resource_metadata="` + metadataURL + `"`, `"code":"unauthenticated","message":"auth.authorization_header_missing"`}},
			{"Connect JSON without greet:read", []string{"-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + iss.Token(map[string]any{"sub": "alice"}), "-d", `{"name":"x"}`, proxy.httpURL + "/greeter.v1.Greeter/SayHello"},
				[]string{"HTTP/1.1 403 Forbidden", `Www-Authenticate: Bearer error="insufficient_scope", scope="greet:read", resource_metadata="` + metadataURL + `"`, `"message":"insufficient_scope"`}},
			// REST, through the gateway in proxy mode: the server's
			// interceptors decide, organization rules included, and
			// grpcjwtgateway.ErrorHandler answers with the policy's
			// challenge.
			{"REST with a token", []string{"-H", "Authorization: Bearer " + good, proxy.httpURL + "/v1/hello?name=x"},
				[]string{"HTTP/1.1 200 OK", `{"message":"Hello, x!","subject":"alice"}`}},
			{"REST without a token", []string{proxy.httpURL + "/v1/hello?name=x"},
				[]string{"HTTP/1.1 401 Unauthorized", `Www-Authenticate: Bearer resource_metadata="` + metadataURL + `"` + "\n", `{"code":16,"message":"auth.authorization_header_missing"`, `"resource_metadata":"` + metadataURL + `"`}},
			{"REST without greet:read", []string{"-H", "Authorization: Bearer " + iss.Token(map[string]any{"sub": "alice"}), proxy.httpURL + "/v1/hello?name=x"},
				[]string{"HTTP/1.1 403 Forbidden", `Www-Authenticate: Bearer error="insufficient_scope", scope="greet:read", resource_metadata="` + metadataURL + `"` + "\n", `"message":"insufficient_scope"`}},
			{"REST organization, its token", []string{"-H", "Authorization: Bearer " + forOrgA, "-d", "{}", proxy.httpURL + "/v1/organizations/A:greet"},
				[]string{"HTTP/1.1 200 OK", `{"message":"Hello, members of organizations/A!","subject":"alice"}`}},
			{"REST organization, another's token", []string{"-H", "Authorization: Bearer " + forOrgA, "-d", "{}", proxy.httpURL + "/v1/organizations/B:greet"},
				[]string{"HTTP/1.1 403 Forbidden", `"message":"organization_mismatch"`}},
			{"REST public Info", []string{proxy.httpURL + "/v1/info"},
				[]string{"HTTP/1.1 200 OK", `"serverName":"greeter-example"`}},
			{"metadata document", []string{metadataURL},
				[]string{"HTTP/1.1 200 OK", `{"resource":"` + iss.Audience + `","authorization_servers":["` + iss.URL + `"],"scopes_supported":["greet:read","greet:write"]`}},
			{"CORS preflight from an origin not allowed", []string{"-X", "OPTIONS", "-H", "Origin: https://evil.example", "-H", "Access-Control-Request-Method: POST", proxy.httpURL + "/greeter.v1.Greeter/SayHello"},
				[]string{"HTTP/1.1 403 Forbidden"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantContains(t, "curl "+tc.name, runCurl(t, curl, tc.args...), tc.want)
			})
		}

		// The gateway in-process: grpcjwtgateway.Protect decides, and
		// refuses a method with an organization rule, which it cannot
		// check.
		inProcess := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience,
			"-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-rest-mode", "in-process")
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"with a token", []string{"-H", "Authorization: Bearer " + good, inProcess.httpURL + "/v1/hello?name=x"},
				[]string{"HTTP/1.1 200 OK", `{"message":"Hello, x!","subject":"alice"}`}},
			{"without a token", []string{inProcess.httpURL + "/v1/hello?name=x"},
				[]string{"HTTP/1.1 401 Unauthorized", `Www-Authenticate: Bearer resource_metadata="` + inProcess.httpURL + greeterhttp.MetadataPath + `"`, `{"code":16,"message":"auth.authorization_header_missing"`}},
			{"organization, its token", []string{"-H", "Authorization: Bearer " + forOrgA, "-d", "{}", inProcess.httpURL + "/v1/organizations/A:greet"},
				[]string{"HTTP/1.1 403 Forbidden", `"message":"organization_mismatch"`}},
		} {
			t.Run("in-process "+tc.name, func(t *testing.T) {
				wantContains(t, "curl "+tc.name, runCurl(t, curl, tc.args...), tc.want)
			})
		}
		inProcess.stop(t)
	})

	proxy.stop(t)
	proxy.wantStderr(t, `msg="serving HTTP: Connect, gRPC-Web and REST (gateway proxy)"`)
}

// h2cClient is an HTTP client speaking HTTP/2 without TLS, as gRPC clients
// do.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// wantConnectError checks that err is a Connect error with code and the
// exact message.
func wantConnectError(t *testing.T, call string, err error, code connect.Code, message string) {
	t.Helper()
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok || ce.Code() != code || ce.Message() != message {
		t.Errorf("%s: %v, want %v %q", call, err, code, message)
	}
}

// runCurl runs curl, silent but for errors, printing the response's
// headers and body, and returns what it printed.
func runCurl(t *testing.T, curl string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "-i", "--max-time", "10"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %q: %v\n%s", args, err, out)
	}
	head, body, _ := strings.Cut(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n\n")
	// protojson varies its spacing on purpose, from build to build: the
	// body is compared compacted.
	var compact bytes.Buffer
	if json.Compact(&compact, []byte(body)) == nil {
		body = compact.String()
	}
	return head + "\n\n" + body
}
