// Command client calls the greeter example server with an OAuth 2.0 access
// token, which it sends the way Go clients should: as per-RPC credentials
// (grpc.WithPerRPCCredentials), not as hand-written metadata.
//
//	go run ./examples/greeter/client -addr 127.0.0.1:50051 -plaintext -token "$TOKEN"
//	go run ./examples/greeter/client -addr api.example.com:443 -token-file token.txt -method chat
//
// With -client-credentials it obtains tokens itself, with the OAuth 2.0
// client credentials grant (golang.org/x/oauth2/clientcredentials), from a
// token endpoint given by -token-url or found through the discovery
// document of -issuer, and refreshes them as they expire:
//
//	GREETER_CLIENT_SECRET=... go run ./examples/greeter/client -client-credentials \
//		-issuer https://tenant.logto.app/oidc -client-id m2m-app \
//		-resource https://api.example.com -scopes "greet:read greet:write"
//
// It prints the server's replies and the token subject the server saw, and
// exits 0; when the call fails it prints the status code and message (and
// the grpcjwt error detail) and exits 1. Usage errors exit 2.
//
// Credentials that carry a token require TLS, as gRPC's own
// credentials/oauth types do: a bearer token sent in the clear can be
// stolen and replayed. -plaintext lifts that for a server on loopback only
// (127.0.0.1, ::1, localhost), such as the server run locally without
// -tls-cert; the client refuses to send a token in plaintext anywhere else.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/status"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	addr             string
	token, tokenFile string
	name             string
	method           greeter.Method
	plaintext        bool
	caFile           string
	timeout          time.Duration

	// The client credentials grant.
	clientCredentials      bool
	issuer, tokenURL       string
	clientID, clientSecret string
	audience, resource     string
	scopes                 string
}

// errReported is a usage error already printed by the flag package.
var errReported = errors.New("usage error")

// parseFlags returns the configuration, or an error to report with the
// usage (exit status 2).
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: client [-addr host:port] [-token TOKEN | -token-file FILE | -client-credentials ...] [flags]

Calls the greeter example server with an access token.

Flags:
`)
		fs.PrintDefaults()
	}
	addr := "127.0.0.1:50051"
	if v, ok := os.LookupEnv("GREETER_ADDR"); ok {
		addr = v
	}
	fs.StringVar(&c.addr, "addr", addr, "the server's `host:port` [GREETER_ADDR]")
	fs.StringVar(&c.token, "token", "", "the access `token`, without \"Bearer \"")
	fs.StringVar(&c.tokenFile, "token-file", "", "read the access token from `file` (surrounding white space is ignored)")
	fs.StringVar(&c.name, "name", "Alice", "who to greet; with -method org, the organization's ID (the request names organizations/<ID>)")
	method := fs.String("method", string(greeter.Hello), "the RPC to call: hello (SayHello), stream (SayHelloStream), chat (Chat), org (GreetOrganization) or info (Info)")
	fs.BoolVar(&c.plaintext, "plaintext", false, "connect without TLS; a token is then sent only to a loopback address")
	fs.StringVar(&c.caFile, "ca", "", "PEM `file` of the CA that signed the server's certificate; default: the system's roots")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "deadline of the call")
	fs.BoolVar(&c.clientCredentials, "client-credentials", false, "obtain tokens with the OAuth 2.0 client credentials grant instead of -token")
	fs.StringVar(&c.issuer, "issuer", os.Getenv("GRPCJWT_ISSUER"), "with -client-credentials: find the token endpoint in this `issuer`'s discovery document [GRPCJWT_ISSUER]")
	fs.StringVar(&c.tokenURL, "token-url", "", "with -client-credentials: the token endpoint `URL` (instead of -issuer)")
	fs.StringVar(&c.clientID, "client-id", os.Getenv("GREETER_CLIENT_ID"), "with -client-credentials: the client `id` [GREETER_CLIENT_ID]")
	fs.StringVar(&c.clientSecret, "client-secret", "", "with -client-credentials: the client `secret`; better given in GREETER_CLIENT_SECRET, out of the process list")
	fs.StringVar(&c.audience, "audience", "", "with -client-credentials: the \"audience\" parameter (Auth0, Hydra)")
	fs.StringVar(&c.resource, "resource", "", "with -client-credentials: the \"resource\" parameter, RFC 8707 (Logto, node-oidc-provider)")
	fs.StringVar(&c.scopes, "scopes", "", "with -client-credentials: space-separated `scopes` to ask for")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errReported
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if c.token != "" && c.tokenFile != "" {
		problems = append(problems, "give -token or -token-file, not both")
	}
	if c.clientSecret == "" {
		c.clientSecret = os.Getenv("GREETER_CLIENT_SECRET")
	}
	if c.clientCredentials {
		if c.token != "" || c.tokenFile != "" {
			problems = append(problems, "-client-credentials obtains its own tokens; drop -token and -token-file")
		}
		if (c.issuer == "") == (c.tokenURL == "") {
			problems = append(problems, "-client-credentials needs -issuer or -token-url (one of them)")
		}
		if c.clientID == "" || c.clientSecret == "" {
			problems = append(problems, "-client-credentials needs -client-id and a secret (-client-secret or GREETER_CLIENT_SECRET)")
		}
	}
	if c.plaintext && c.caFile != "" {
		problems = append(problems, "-ca is for TLS; it makes no sense with -plaintext")
	}
	m, err := greeter.ParseMethod(*method)
	if err != nil {
		problems = append(problems, "-method: "+err.Error())
	}
	c.method = m
	if c.timeout <= 0 {
		problems = append(problems, "-timeout must be positive")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "client: %v\nRun with -help for usage.\n", err)
		return 2
	}
	creds, err := perRPCCredentials(c)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 2
	}
	if err := call(c, creds, stdout); err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	return 0
}

// perRPCCredentials returns the credentials the flags ask for, or nil to
// call without a token. Note that
// google.golang.org/grpc/credentials/oauth.TokenSource always requires TLS:
// over -plaintext the token sources need a wrapper whose
// RequireTransportSecurity returns false, as [greeter.BearerToken] and
// [greeter.TokenSource] have.
func perRPCCredentials(c *config) (credentials.PerRPCCredentials, error) {
	if c.plaintext && (c.clientCredentials || c.token != "" || c.tokenFile != "") && !isLoopback(c.addr) {
		return nil, fmt.Errorf("refusing to send a token without TLS to %s: -plaintext is for servers on loopback (127.0.0.1, ::1, localhost)", c.addr)
	}
	if c.clientCredentials {
		ts, err := clientCredentials(c)
		if err != nil {
			return nil, err
		}
		if c.plaintext {
			return greeter.TokenSource{Source: ts, AllowPlaintext: true}, nil
		}
		return oauth.TokenSource{TokenSource: ts}, nil
	}
	token := c.token
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading -token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("-token-file %s is empty", c.tokenFile)
		}
	}
	if token == "" {
		return nil, nil
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("the token contains white space; give the bare token, without \"Bearer \"")
	}
	return greeter.BearerToken{Token: token, AllowPlaintext: c.plaintext}, nil
}

// clientCredentials returns a token source for the client credentials
// grant, which caches its token and fetches a new one when it expires.
func clientCredentials(c *config) (oauth2.TokenSource, error) {
	tokenURL := c.tokenURL
	if tokenURL == "" {
		u, err := tokenEndpoint(c.issuer, c.timeout)
		if err != nil {
			return nil, err
		}
		tokenURL = u
	}
	params := url.Values{}
	if c.audience != "" {
		params.Set("audience", c.audience)
	}
	if c.resource != "" {
		params.Set("resource", c.resource)
	}
	cc := clientcredentials.Config{
		ClientID:       c.clientID,
		ClientSecret:   c.clientSecret,
		TokenURL:       tokenURL,
		Scopes:         strings.Fields(c.scopes),
		EndpointParams: params,
	}
	return cc.TokenSource(context.Background()), nil
}

// tokenEndpoint reads token_endpoint from issuer's discovery document,
// whose "issuer" must be issuer exactly.
func tokenEndpoint(issuer string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("-issuer: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery: GET %s: %s", u, resp.Status)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery: %s: %w", u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("discovery: issuer mismatch: -issuer %q, the document says %q", issuer, doc.Issuer)
	}
	if doc.TokenEndpoint == "" {
		return "", fmt.Errorf("discovery: %s has no token_endpoint", u)
	}
	return doc.TokenEndpoint, nil
}

// isLoopback reports whether addr ("host:port") names this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func transportCredentials(c *config) (credentials.TransportCredentials, error) {
	switch {
	case c.plaintext:
		return insecure.NewCredentials(), nil
	case c.caFile != "":
		tc, err := credentials.NewClientTLSFromFile(c.caFile, "")
		if err != nil {
			return nil, fmt.Errorf("loading -ca: %w", err)
		}
		return tc, nil
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}), nil
}

// call makes the call and prints the reply.
func call(c *config, creds credentials.PerRPCCredentials, stdout io.Writer) error {
	tc, err := transportCredentials(c)
	if err != nil {
		return err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(tc)}
	if creds != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(creds))
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	reply, err := greeter.Invoke(ctx, greeterv1.NewGreeterClient(conn), c.method, c.name)
	if err != nil {
		return fmt.Errorf("%s failed: %s", c.method.RPC(), describe(err))
	}
	for _, m := range reply.Messages {
		fmt.Fprintln(stdout, m)
	}
	sub := reply.Subject
	if sub == "" {
		sub = "(none)"
	}
	fmt.Fprintf(stdout, "subject: %s\n", sub)
	return nil
}

// describe formats a call's error as its status code and message, and the
// reason of a google.rpc.ErrorInfo detail when there is one.
func describe(err error) string {
	s := status.Convert(err)
	msg := fmt.Sprintf("%s: %s", s.Code(), s.Message())
	for _, d := range s.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			msg += fmt.Sprintf(" (reason %s, domain %s)", info.GetReason(), info.GetDomain())
		}
	}
	return msg
}
