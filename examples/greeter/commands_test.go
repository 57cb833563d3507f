package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// deadline bounds every wait on a process: a start, a call, an exit.
const deadline = 30 * time.Second

// TestCommands builds the demo, the server and the client, and runs them
// as processes: the demo on its own, the server against a grpcjwttest
// issuer in this process, and the client against that server.
func TestCommands(t *testing.T) {
	demo, server, client := buildCommands(t)

	t.Run("demo", func(t *testing.T) {
		t.Parallel()
		r := run(t, demo, nil)
		r.wantExit(t, 0)
		r.wantStdout(t, " 1  SayHello: valid token", "ok: all 43 calls went as expected.")
		if strings.Contains(r.stdout, "FAIL") {
			t.Errorf("the demo printed a failure:\n%s", r.stdout)
		}
	})

	t.Run("server and client", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		// The issuer and audience come from the environment, the address
		// from a flag.
		srv := startServer(t, server, []string{"GRPCJWT_ISSUER=" + iss.URL, "GRPCJWT_AUDIENCE=" + iss.Audience}, "-addr", "127.0.0.1:0")

		iss.AddClient("m2m", "s3cret")
		good := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"})
		tokenFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokenFile, []byte(good+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		expired := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read", "exp": time.Now().Add(-time.Hour).Unix()})
		readOnly := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
		runClient(t, client, srv.addr, []clientCall{
			{"hello", []string{"-token", good}, 0, []string{"Hello, Alice!\nsubject: alice\n"}, nil},
			{"stream", []string{"-token", good, "-method", "stream", "-name", "Bob"}, 0, []string{"Hello #1, Bob!\nHello #2, Bob!\nHello #3, Bob!\nsubject: alice\n"}, nil},
			{"chat with a token file", []string{"-token-file", tokenFile, "-method", "chat"}, 0, []string{"Hello, you said \"hi\"\nHello, you said \"how are you?\"\nsubject: alice\n"}, nil},
			{"public info without a token", []string{"-method", "info"}, 0, []string{"greeter-example", "authenticated: false\nsubject: (none)\n"}, nil},
			{"no token", nil, 1, nil, []string{"SayHello failed: Unauthenticated: auth.authorization_header_missing (reason AUTHORIZATION_HEADER_MISSING, domain grpcjwt)"}},
			{"expired token", []string{"-token", expired}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token (reason INVALID_TOKEN"}},
			{"missing scope", []string{"-token", readOnly, "-method", "chat"}, 1, nil, []string{"Chat failed: PermissionDenied: insufficient_scope"}},
			// The client credentials grant against the issuer's token
			// endpoint: found by discovery, or given.
			{"client credentials via discovery", []string{"-client-credentials", "-issuer", iss.URL, "-client-id", "m2m", "-client-secret", "s3cret", "-resource", iss.Audience, "-scopes", "greet:read greet:write", "-method", "chat"}, 0, []string{"subject: m2m\n"}, nil},
			{"client credentials via token URL", []string{"-client-credentials", "-token-url", iss.URL + "/token", "-client-id", "m2m", "-client-secret", "s3cret", "-audience", iss.Audience, "-scopes", "greet:read"}, 0, []string{"Hello, Alice!\nsubject: m2m\n"}, nil},
			{"client credentials, scope not asked for", []string{"-client-credentials", "-issuer", iss.URL, "-client-id", "m2m", "-client-secret", "s3cret", "-resource", iss.Audience, "-scopes", "greet:read", "-method", "chat"}, 1, nil, []string{"Chat failed: PermissionDenied: insufficient_scope"}},
			{"client credentials, wrong secret", []string{"-client-credentials", "-issuer", iss.URL, "-client-id", "m2m", "-client-secret", "wrong"}, 1, nil, []string{"SayHello failed: Unauthenticated: transport: per-RPC creds failed", "invalid_client"}},
			{"client credentials, wrong issuer", []string{"-client-credentials", "-issuer", iss.URL + "/", "-client-id", "m2m", "-client-secret", "s3cret"}, 2, nil, []string{"issuer mismatch"}},
		})

		t.Run("health without a token", func(t *testing.T) {
			conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "greeter.v1.Greeter"})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health: %v, want SERVING", r.GetStatus())
			}
		})

		t.Run("port in use", func(t *testing.T) {
			r := run(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience, "-addr", srv.addr)
			r.wantExit(t, 1)
			r.wantStderr(t, "server: cannot listen on "+srv.addr+": the address is already in use")
		})

		srv.stop(t)
		srv.wantStderr(t, `msg="authorization rule" method=/greeter.v1.Greeter/SayHello access=required scopes=[greet:read]`, "msg=stopped")
	})

	t.Run("server with two issuers and organization tokens", func(t *testing.T) {
		t.Parallel()
		iss, second, untrusted := newIssuer(t), newIssuer(t), newIssuer(t)
		srv := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience,
			"-audience-prefix", "urn:logto:organization:", "-organization-claim", "organization_id",
			"-trust-issuer", "issuer="+second.URL+",audience="+second.Audience,
			"-addr", "127.0.0.1:0")

		claims := map[string]any{"sub": "alice", "scope": "greet:read"}
		forOrgA := iss.Token(claims, grpcjwttest.WithOrganization("A"))
		orgTokenA := iss.Token(claims, grpcjwttest.WithOrganizationAudience("A"))
		login := func(acr string, ago time.Duration) string {
			return iss.Token(map[string]any{"sub": "alice", "scope": "greet:read", "acr": acr, "auth_time": time.Now().Add(-ago).Unix()})
		}
		runClient(t, client, srv.addr, []clientCall{
			{"second issuer", []string{"-token", second.Token(claims)}, 0, []string{"Hello, Alice!\nsubject: alice\n"}, nil},
			{"untrusted issuer", []string{"-token", untrusted.Token(claims)}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"organization_id for its organization", []string{"-token", forOrgA, "-method", "org", "-name", "A"}, 0, []string{"Hello, members of organizations/A!\nsubject: alice\n"}, nil},
			{"organization_id for another", []string{"-token", forOrgA, "-method", "org", "-name", "B"}, 1, nil, []string{"GreetOrganization failed: PermissionDenied: organization_mismatch (reason ORGANIZATION_MISMATCH, domain grpcjwt)"}},
			{"organization token for its organization", []string{"-token", orgTokenA, "-method", "org", "-name", "A"}, 0, []string{"Hello, members of organizations/A!\nsubject: alice\n"}, nil},
			{"organization token for another", []string{"-token", orgTokenA, "-method", "org", "-name", "B"}, 1, nil, []string{"GreetOrganization failed: PermissionDenied: organization_mismatch"}},
			{"second issuer's organization_id", []string{"-token", second.Token(claims, grpcjwttest.WithOrganization("A")), "-method", "org", "-name", "A"}, 1, nil, []string{"GreetOrganization failed: PermissionDenied: organization_mismatch"}},
			{"step-up: recent MFA login", []string{"-token", login("urn:logto:acr:mfa", time.Minute), "-method", "stepup"}, 0, []string{"Hello, Alice, freshly logged in!\nsubject: alice\n"}, nil},
			{"step-up: login too old", []string{"-token", login("urn:logto:acr:mfa", time.Hour), "-method", "stepup"}, 1, nil, []string{
				"SayHelloStepUp failed: Unauthenticated: insufficient_user_authentication (reason INSUFFICIENT_USER_AUTHENTICATION, domain grpcjwt)",
				"the server needs a stronger or more recent login: acr_values=urn:logto:acr:mfa max_age=300",
				"next: re-authenticate the user with these",
			}},
		})

		srv.stop(t)
		srv.wantStderr(t,
			`msg="fetching the provider's keys through OIDC discovery" issuer=`+iss.URL+` audience=`+iss.Audience+` audience_prefixes=[urn:logto:organization:] organization_claim=organization_id`,
			`msg="fetching the provider's keys through OIDC discovery" issuer=`+second.URL+` audiences=[`+second.Audience+`]`,
			`msg="authorization rule" method=/greeter.v1.Greeter/GreetOrganization access=required scopes=[greet:read] organization="organization=parent~organizations/{organization} from claim or audience"`,
			`cause="organization_mismatch: the token is for organization \"A\", the request for \"B\""`)
	})

	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		cert, key := selfSignedCert(t)
		srv := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience, "-addr", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key)
		token := iss.Token(map[string]any{"sub": "carol", "scope": "greet:read"})

		r := run(t, client, nil, "-addr", srv.addr, "-ca", cert, "-token", token)
		r.wantExit(t, 0)
		r.wantStdout(t, "Hello, Alice!\nsubject: carol\n")

		// Without -ca the server's certificate is not trusted.
		r = run(t, client, nil, "-addr", srv.addr, "-token", token)
		r.wantExit(t, 1)
		r.wantStderr(t, "SayHello failed: Unavailable", "certificate")
		srv.stop(t)
	})

	// The server command has no DPoP or client-certificate option, so the
	// client runs against greeter.NewServer in this process, with a
	// validator set up for them.
	t.Run("client with DPoP", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		iss.AddClient("m2m", "s3cret")
		addr := serveInProcess(t, iss, []grpcjwt.Option{grpcjwt.WithDPoP(grpcjwt.DPoPConfig{})})

		key, other := grpcjwttest.MustKey("ES256"), grpcjwttest.MustKey("EdDSA")
		keyFile, otherFile := writeJWK(t, key), writeJWK(t, other)
		bound := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"}, grpcjwttest.WithDPoPBinding(thumbprint(t, key)))
		cc := []string{"-client-credentials", "-client-id", "m2m", "-client-secret", "s3cret", "-resource", iss.Audience, "-scopes", "greet:read"}
		runClient(t, client, addr, []clientCall{
			// A DPoP proof goes to the token endpoint, which binds the
			// token to the key, then with every call.
			{"client credentials, generated key", append([]string{"-dpop", "generate", "-token-url", iss.URL + "/token"}, cc...), 0, []string{"Hello, Alice!\nsubject: m2m\n"}, nil},
			{"client credentials, key file, via discovery", append([]string{"-dpop", keyFile, "-issuer", iss.URL, "-method", "stream"}, cc...), 0, []string{"Hello #3, Alice!\nsubject: m2m\n"}, nil},
			{"client credentials without DPoP", append([]string{"-token-url", iss.URL + "/token"}, cc...), 0, []string{"subject: m2m\n"}, nil},
			{"bound token, its key", []string{"-token", bound, "-dpop", keyFile, "-method", "chat"}, 0, []string{"Hello, you said \"hi\"\n", "subject: alice\n"}, nil},
			{"bound token as Bearer", []string{"-token", bound}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"bound token, another key", []string{"-token", bound, "-dpop", otherFile}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"missing key file", []string{"-token", bound, "-dpop", filepath.Join(t.TempDir(), "none")}, 2, nil, []string{"client: reading -dpop:"}},
		})
	})

	t.Run("server with -dpop", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		iss.AddClient("m2m", "s3cret")
		srv := startServer(t, server, nil, "-addr", "127.0.0.1:0", "-issuer", iss.URL, "-audience", iss.Audience, "-dpop")
		key := grpcjwttest.MustKey("ES256")
		bound := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}, grpcjwttest.WithDPoPBinding(thumbprint(t, key)))
		runClient(t, client, srv.addr, []clientCall{
			{"client credentials, generated key", []string{"-dpop", "generate", "-token-url", iss.URL + "/token", "-client-credentials", "-client-id", "m2m", "-client-secret", "s3cret", "-resource", iss.Audience, "-scopes", "greet:read"}, 0, []string{"subject: m2m\n"}, nil},
			{"bound token, its key", []string{"-token", bound, "-dpop", writeJWK(t, key)}, 0, []string{"subject: alice\n"}, nil},
			{"bound token as Bearer", []string{"-token", bound}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
		})
	})

	t.Run("client certificate", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		serverCert, serverKey := selfSignedCert(t)
		clientCert, clientKey := selfSignedCert(t)
		otherCert, otherKey := selfSignedCert(t)
		tlsCert, err := tls.LoadX509KeyPair(serverCert, serverKey)
		if err != nil {
			t.Fatal(err)
		}
		// Client certificates are asked for, not required, so that a call
		// without one reaches the interceptors.
		creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{tlsCert}, ClientAuth: tls.RequestClientCert})
		addr := serveInProcess(t, iss, nil, grpc.Creds(creds))

		bound := iss.Token(map[string]any{"sub": "dave", "scope": "greet:read"}, grpcjwttest.WithCertificateBinding(certDER(t, clientCert)))
		for _, tc := range []clientCall{
			{"its certificate", []string{"-cert", clientCert, "-key", clientKey}, 0, []string{"Hello, Alice!\nsubject: dave\n"}, nil},
			{"no certificate", nil, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"another certificate", []string{"-cert", otherCert, "-key", otherKey}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, client, nil, append([]string{"-addr", addr, "-ca", serverCert, "-token", bound}, tc.args...)...)
				r.wantExit(t, tc.exit)
				r.wantStdout(t, tc.stdout...)
				r.wantStderr(t, tc.stderr...)
			})
		}
	})

	t.Run("server refuses to start", func(t *testing.T) {
		t.Parallel()
		iss := newIssuer(t)
		hanging := newIssuer(t)
		hanging.SetDiscoveryMode(grpcjwttest.Hang)
		gone := grpcjwttest.NewIssuer()
		gone.Close()
		for _, tc := range []struct {
			name   string
			args   []string
			exit   int
			stderr []string
		}{
			{"no flags", nil, 2, []string{"server: -issuer is required (or set GRPCJWT_ISSUER); -audience is required (or set GRPCJWT_AUDIENCE)"}},
			{"unknown flag", []string{"-isuer", iss.URL}, 2, []string{"flag provided but not defined: -isuer", "Usage: server"}},
			{"bad log level", []string{"-issuer", iss.URL, "-audience", "a", "-log-level", "loud"}, 2, []string{`-log-level "loud": want debug, info, warn or error`}},
			{"bad REST mode", []string{"-issuer", iss.URL, "-audience", "a", "-http-addr", "127.0.0.1:0", "-rest-mode", "both"}, 2, []string{`-rest-mode: unknown REST mode "both" (want proxy or in-process)`}},
			{"page without HTTP", []string{"-issuer", iss.URL, "-audience", "a", "-page-addr", "127.0.0.1:0", "-cors-origin", "https://app.example.com"}, 2, []string{"-page-addr needs -http-addr; -cors-origin needs -http-addr"}},
			{"half a TLS pair", []string{"-issuer", iss.URL, "-audience", "a", "-tls-cert", "cert.pem"}, 2, []string{"-tls-cert and -tls-key go together"}},
			{"introspection client without a secret", []string{"-issuer", iss.URL, "-audience", "a", "-introspection-client-id", "api"}, 2, []string{"-introspection-client-id and -introspection-client-secret go together"}},
			{"introspection endpoint without a client", []string{"-issuer", iss.URL, "-audience", "a", "-introspection-endpoint", iss.IntrospectionURL()}, 2, []string{"-introspection-endpoint needs -introspection-client-id"}},
			{"missing TLS files", []string{"-issuer", iss.URL, "-audience", "a", "-tls-cert", "nonexistent.pem", "-tls-key", "nonexistent.key"}, 1, []string{"server: loading -tls-cert and -tls-key:"}},
			{"issuer not a URL", []string{"-issuer", "tenant.example.com", "-audience", "a", "-addr", "127.0.0.1:0"}, 1, []string{`server: cannot set up token validation for issuer tenant.example.com: grpcjwt: Config.Issuer: "tenant.example.com" is not an absolute http(s) URL`}},
			{"unreachable issuer", []string{"-issuer", gone.URL, "-audience", "a", "-addr", "127.0.0.1:0"}, 1, []string{"server: cannot set up token validation for issuer " + gone.URL + ": grpcjwt: OIDC discovery:", "connection refused"}},
			{"hanging issuer", []string{"-issuer", hanging.URL, "-audience", "a", "-addr", "127.0.0.1:0", "-issuer-timeout", "300ms"}, 1, []string{"server: cannot reach issuer " + hanging.URL + " within 300ms (-issuer-timeout)"}},
			{"wrong issuer", []string{"-issuer", iss.URL + "/", "-audience", "a", "-addr", "127.0.0.1:0"}, 1, []string{`issuer mismatch: configured "` + iss.URL + `/", discovery says "` + iss.URL + `"`}},
			{"trusted issuer without an audience", []string{"-issuer", iss.URL, "-audience", "a", "-trust-issuer", "issuer=" + iss.URL}, 2, []string{"invalid value", "-trust-issuer: audience= (or audience-prefix=) is required", "Usage: server"}},
			{"trusted issuer with an unknown key", []string{"-issuer", iss.URL, "-audience", "a", "-trust-issuer", "url=" + iss.URL + ",audience=a"}, 2, []string{`-trust-issuer: unknown key "url" (keys: issuer, audience, audience-prefix, organization-claim, jwks-url)`}},
			{"issuer trusted twice", []string{"-issuer", iss.URL, "-audience", "a", "-trust-issuer", "issuer=" + iss.URL + ",audience=b", "-addr", "127.0.0.1:0"}, 1, []string{"server: cannot set up token validation for issuers " + iss.URL + " " + iss.URL + `: grpcjwt: Config.Issuers[0].Issuer: "` + iss.URL + `" is configured twice`}},
			{"unreachable trusted issuer", []string{"-issuer", iss.URL, "-audience", "a", "-trust-issuer", "issuer=" + gone.URL + ",audience=a", "-addr", "127.0.0.1:0"}, 1, []string{"server: cannot set up token validation for issuers " + iss.URL + " " + gone.URL + `: issuer "` + gone.URL + `": grpcjwt: OIDC discovery:`, "connection refused"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, server, nil, tc.args...)
				r.wantExit(t, tc.exit)
				r.wantStderr(t, tc.stderr...)
				if strings.Contains(r.stdout, "listening on") {
					t.Errorf("the server said it was listening:\n%s", r.stdout)
				}
			})
		}
	})

	t.Run("help prints no secret", func(t *testing.T) {
		t.Parallel()
		r := run(t, server, []string{"GRPCJWT_INTROSPECTION_CLIENT_SECRET=do-not-print-me"}, "-help")
		r.wantExit(t, 0)
		r.wantStderr(t, "-introspection-client-secret")
		if strings.Contains(r.stdout+r.stderr, "do-not-print-me") {
			t.Errorf("-help printed the introspection client secret:\n%s", r.stderr)
		}
	})

	t.Run("client usage errors", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			args   []string
			stderr string
		}{
			{"plaintext off loopback", []string{"-addr", "api.example.com:443", "-plaintext", "-token", "t"}, "client: refusing to send a token without TLS to api.example.com:443: -plaintext is for servers on loopback"},
			{"unknown method", []string{"-method", "SayHello"}, `client: -method: unknown method "SayHello" (want one of hello, stream, chat, org, stepup, info)`},
			{"token and token file", []string{"-token", "t", "-token-file", "f"}, "client: give -token or -token-file, not both"},
			{"Bearer prefix", []string{"-plaintext", "-token", "Bearer t"}, `client: the token contains white space; give the bare token, without "Bearer "`},
			{"missing token file", []string{"-token-file", filepath.Join(t.TempDir(), "none")}, "client: reading -token-file:"},
			{"DPoP without a token", []string{"-dpop", "generate"}, "client: -dpop needs a token: -token, -token-file or -client-credentials"},
			{"generated DPoP key for a given token", []string{"-token", "t", "-dpop", "generate"}, "client: -dpop generate makes a new key, to which no given token is bound"},
			{"DPoP key file that is no JWK", []string{"-token", "t", "-dpop", "commands_test.go"}, "client: -dpop commands_test.go: grpcjwttest: private JWK:"},
			{"half a certificate pair", []string{"-token", "t", "-cert", "cert.pem"}, "client: -cert and -key go together"},
			{"certificate over plaintext", []string{"-plaintext", "-token", "t", "-cert", "cert.pem", "-key", "key.pem"}, "client: -cert is for TLS; it makes no sense with -plaintext"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, client, nil, tc.args...)
				r.wantExit(t, 2)
				r.wantStderr(t, tc.stderr)
			})
		}
	})
}

// buildCommands builds the demo, the server and the client into a
// directory of the test's, and returns their paths.
func buildCommands(t *testing.T) (demo, server, client string) {
	t.Helper()
	dir := t.TempDir()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the commands: %v", err)
	}
	const pkg = "github.com/grpcjwt/grpcjwt/examples/greeter"
	build := exec.Command(goCmd, "build", "-o", dir+string(filepath.Separator), pkg, pkg+"/server", pkg+"/client")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "greeter"), filepath.Join(dir, "server"), filepath.Join(dir, "client")
}

// serveInProcess serves greeter.NewServer on loopback in this process, with
// a validator of iss's tokens and rules added to the server's own, and
// returns its address. The server stops with the test.
func serveInProcess(t *testing.T, iss *grpcjwttest.Issuer, rules []grpcjwt.Option, opts ...grpc.ServerOption) string {
	t.Helper()
	cfg := grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, OrganizationClaim: grpcjwt.DefaultOrganizationClaim}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	srv, err := greeter.NewServer(v, greeter.ServerConfig{Rules: rules, ServerOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// writeJWK writes k as a private JWK file and returns its path.
func writeJWK(t *testing.T, k *grpcjwttest.Key) string {
	t.Helper()
	b, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dpop.jwk")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// thumbprint is the jkt of tokens bound to k, as DPoP credentials see it.
func thumbprint(t *testing.T, k *grpcjwttest.Key) string {
	t.Helper()
	d, err := grpcjwt.NewDPoPCredentials(k.Signer(), k.Alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.Thumbprint()
}

// certDER returns the DER bytes of the PEM certificate in file.
func certDER(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM block in %s", file)
	}
	return block.Bytes
}

// newIssuer starts a grpcjwttest issuer that ends with the test.
func newIssuer(t *testing.T) *grpcjwttest.Issuer {
	t.Helper()
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	return iss
}

// clientCall is one run of the client and how it must end.
type clientCall struct {
	name   string
	args   []string // after -addr and -plaintext
	exit   int
	stdout []string // parts stdout must contain
	stderr []string
}

// runClient runs the client once per call, each a subtest, against the
// plaintext server at addr.
func runClient(t *testing.T, client, addr string, calls []clientCall) {
	t.Helper()
	base := []string{"-addr", addr, "-plaintext"}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, client, nil, append(base, tc.args...)...)
			r.wantExit(t, tc.exit)
			r.wantStdout(t, tc.stdout...)
			r.wantStderr(t, tc.stderr...)
		})
	}
}

// result is how a process ended.
type result struct {
	exit           int
	stdout, stderr string
}

// run runs a command to its end, with env added to this process's.
func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s: %v", filepath.Base(bin), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not end within %s; stderr:\n%s", filepath.Base(bin), args, deadline, stderr.String())
	}
	return result{exit: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.exit != code {
		t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exit, code, r.stdout, r.stderr)
	}
}

func (r result) wantStdout(t *testing.T, parts ...string) {
	t.Helper()
	wantContains(t, "stdout", r.stdout, parts)
}

func (r result) wantStderr(t *testing.T, parts ...string) {
	t.Helper()
	wantContains(t, "stderr", r.stderr, parts)
}

func wantContains(t *testing.T, name, s string, parts []string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s lacks %q:\n%s", name, p, s)
		}
	}
}

// serverProcess is a server started by startServer.
type serverProcess struct {
	cmd        *exec.Cmd
	addr       string
	metricsURL string // announced before addr, with -metrics-addr
	httpURL    string // announced before addr, with -http-addr
	pageURL    string // announced before addr, with -page-addr
	stderr     *syncBuffer
	exited     chan struct{} // closed when the process has ended
	err        error         // of Wait, once exited is closed
}

// startServer starts the server and waits for the line announcing its
// address. It kills the server at the end of the test if it still runs.
func startServer(t *testing.T, bin string, env []string, args ...string) *serverProcess {
	t.Helper()
	s := &serverProcess{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// Each is read once addr is received.
			if u, ok := strings.CutPrefix(sc.Text(), "metrics on "); ok {
				s.metricsURL = u
			}
			if u, ok := strings.CutPrefix(sc.Text(), "http on "); ok {
				s.httpURL = u
			}
			if u, ok := strings.CutPrefix(sc.Text(), "page on "); ok {
				s.pageURL = u
			}
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				select {
				case addrs <- a:
				default:
				}
			}
		}
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case s.addr = <-addrs:
	case <-s.exited:
		t.Fatalf("the server exited before listening: %v\n%s", s.err, s.stderr)
	case <-time.After(deadline):
		t.Fatalf("the server did not say where it listens within %s:\n%s", deadline, s.stderr)
	}
	return s
}

// stop sends SIGTERM and checks that the server exits 0.
func (s *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(deadline):
		t.Fatalf("the server did not stop within %s of SIGTERM:\n%s", deadline, s.stderr)
	}
	if s.err != nil {
		t.Errorf("the server exited with %v after SIGTERM:\n%s", s.err, s.stderr)
	}
}

func (s *serverProcess) wantStderr(t *testing.T, parts ...string) {
	t.Helper()
	wantContains(t, "the server's stderr", s.stderr.String(), parts)
}

// syncBuffer is a bytes.Buffer safe to write from the exec package's
// copying goroutine while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key as PEM
// files and returns their paths.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "greeter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
