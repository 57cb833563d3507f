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
// With -dpop the token is DPoP-bound (RFC 9449, under grpcjwt's gRPC
// profile): every call carries a fresh proof signed with the key, a
// private JWK in a file or, with -dpop generate, a new ES256 key. With
// -client-credentials the token request carries a proof too, so that the
// token endpoint binds the token to the key; with -token the token must
// already be bound to the key (cnf jkt):
//
//	go run ./examples/greeter/client -client-credentials -dpop generate ...
//	go run ./examples/greeter/client -token "$DPOP_TOKEN" -dpop key.jwk ...
//
// With -cert and -key the client presents a certificate in the TLS
// handshake, to the server and to the token endpoint, for
// certificate-bound tokens (RFC 8705).
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
	"crypto/x509"
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

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
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
	certFile         string
	keyFile          string
	dpop             string // a private JWK file, or "generate"
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
		fmt.Fprint(fs.Output(), `Usage: client [-addr host:port] [-token TOKEN | -token-file FILE | -client-credentials ...] [-dpop FILE|generate] [flags]

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
	method := fs.String("method", string(greeter.Hello), "the RPC to call: hello (SayHello), stream (SayHelloStream), chat (Chat), org (GreetOrganization), stepup (SayHelloStepUp) or info (Info)")
	fs.BoolVar(&c.plaintext, "plaintext", false, "connect without TLS; a token is then sent only to a loopback address")
	fs.StringVar(&c.caFile, "ca", "", "PEM `file` of the CA that signed the server's certificate; default: the system's roots")
	fs.StringVar(&c.certFile, "cert", "", "PEM `file` of a client certificate to present in TLS, for certificate-bound tokens; needs -key")
	fs.StringVar(&c.keyFile, "key", "", "PEM `file` of the private key of -cert")
	fs.StringVar(&c.dpop, "dpop", "", "send a DPoP-bound token with a proof per call, signed with the private JWK in `file`, or with a new ES256 key if \"generate\" (with -client-credentials only)")
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
	if (c.certFile == "") != (c.keyFile == "") {
		problems = append(problems, "-cert and -key go together")
	}
	if c.plaintext && c.certFile != "" {
		problems = append(problems, "-cert is for TLS; it makes no sense with -plaintext")
	}
	switch {
	case c.dpop == "":
	case !c.clientCredentials && c.token == "" && c.tokenFile == "":
		problems = append(problems, "-dpop needs a token: -token, -token-file or -client-credentials")
	case c.dpop == dpopGenerate && !c.clientCredentials:
		problems = append(problems, "-dpop generate makes a new key, to which no given token is bound; use it with -client-credentials, or give the key file of the token's key")
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
	var dpopKey *grpcjwttest.Key
	if c.dpop != "" {
		k, err := loadDPoPKey(c.dpop)
		if err != nil {
			return nil, err
		}
		dpopKey = k
	}
	if c.clientCredentials {
		if dpopKey != nil {
			return dpopClientCredentials(c, dpopKey)
		}
		ts, err := clientCredentials(c, nil)
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
	if dpopKey != nil {
		return grpcjwt.NewDPoPCredentials(dpopKey.Signer(), dpopKey.Alg, func(context.Context) (string, error) { return token, nil })
	}
	return greeter.BearerToken{Token: token, AllowPlaintext: c.plaintext}, nil
}

// dpopGenerate is the -dpop value that asks for a new key.
const dpopGenerate = "generate"

// loadDPoPKey returns the key of -dpop: a new ES256 key for "generate",
// else the private JWK in the file it names.
func loadDPoPKey(dpop string) (*grpcjwttest.Key, error) {
	if dpop == dpopGenerate {
		return grpcjwttest.NewKey("ES256")
	}
	b, err := os.ReadFile(dpop)
	if err != nil {
		return nil, fmt.Errorf("reading -dpop: %w", err)
	}
	k, err := grpcjwttest.ParsePrivateJWK(b)
	if err != nil {
		return nil, fmt.Errorf("-dpop %s: %w", dpop, err)
	}
	return k, nil
}

// dpopClientCredentials returns DPoP credentials whose tokens come from the
// client credentials grant, asked for with a DPoP proof of key, so that
// the token endpoint binds them to it.
func dpopClientCredentials(c *config, key *grpcjwttest.Key) (credentials.PerRPCCredentials, error) {
	var ts oauth2.TokenSource
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), key.Alg, func(context.Context) (string, error) {
		tok, err := ts.Token()
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(tok.TokenType, "DPoP") {
			return "", fmt.Errorf("the token endpoint issued a token of type %q, not a DPoP-bound one: does it support DPoP?", tok.TokenType)
		}
		return tok.AccessToken, nil
	})
	if err != nil {
		return nil, fmt.Errorf("-dpop: %w", err)
	}
	ts, err = clientCredentials(c, creds)
	if err != nil {
		return nil, err
	}
	return creds, nil
}

// clientCredentials returns a token source for the client credentials
// grant, which caches its token and fetches a new one when it expires.
// With proofs, every token request carries a DPoP proof of its key. With
// -cert, the client certificate is presented to the token endpoint, which
// may bind the token to it.
func clientCredentials(c *config, proofs *grpcjwt.DPoPCredentials) (oauth2.TokenSource, error) {
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
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading -cert and -key: %w", err)
		}
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	var rt http.RoundTripper = transport
	if proofs != nil {
		rt = dpopTransport{base: transport, proofs: proofs}
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt, Timeout: c.timeout})
	return cc.TokenSource(ctx), nil
}

// dpopTransport adds a DPoP proof of proofs' key to every request (RFC
// 9449 §5): htm the request's method, htu its URL without query and
// fragment.
type dpopTransport struct {
	base   http.RoundTripper
	proofs *grpcjwt.DPoPCredentials
}

func (t dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	u := *r.URL
	u.RawQuery, u.Fragment = "", ""
	proof, err := t.proofs.Proof(r.Method, u.String(), "")
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("DPoP", proof)
	return t.base.RoundTrip(r)
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

// transportCredentials returns plaintext, or TLS trusting -ca (default:
// the system's roots) and presenting -cert if given.
func transportCredentials(c *config) (credentials.TransportCredentials, error) {
	if c.plaintext {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		b, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("loading -ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("loading -ca: no PEM certificate in %s", c.caFile)
		}
	}
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading -cert and -key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
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
// reason of a google.rpc.ErrorInfo detail when there is one. For a step-up
// refusal (RFC 9470) it adds what the client would do next: log the user
// in again, asking the authorization server for the acr_values and
// max_age of the ErrorInfo, and make the call again with the new token.
func describe(err error) string {
	s := status.Convert(err)
	msg := fmt.Sprintf("%s: %s", s.Code(), s.Message())
	for _, d := range s.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		msg += fmt.Sprintf(" (reason %s, domain %s)", info.GetReason(), info.GetDomain())
		if s.Message() != grpcjwt.CodeInsufficientUserAuthentication {
			continue
		}
		var params []string
		for _, k := range []string{grpcjwt.ACRValuesKey, grpcjwt.MaxAgeKey} {
			if v, ok := info.GetMetadata()[k]; ok {
				params = append(params, k+"="+v)
			}
		}
		msg += fmt.Sprintf("\nthe server needs a stronger or more recent login: %s\n"+
			"next: re-authenticate the user with these as authorization request parameters (OpenID Connect's acr_values and max_age), then call again with the new token",
			strings.Join(params, " "))
	}
	return msg
}
