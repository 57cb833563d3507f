// Command server runs the greeter example API, protected by grpcjwt,
// against a real OAuth 2.0 / OpenID Connect provider:
//
//	go run ./examples/greeter/server -issuer https://<tenant>/oidc -audience https://api.example.com
//
// -audience-prefix accepts, beside -audience, any audience that starts with
// a prefix, such as Logto's organization tokens (aud
// "urn:logto:organization:<id>"), -organization-claim names the claim in
// which -issuer asserts a token's organization (Logto: organization_id),
// and -trust-issuer trusts one more issuer, with audiences of its own (and
// organizations only if its value says so); -audience-prefix and
// -trust-issuer may be repeated:
//
//	go run ./examples/greeter/server -issuer https://<tenant>/oidc -audience https://api.example.com \
//		-audience-prefix urn:logto:organization: -organization-claim organization_id \
//		-trust-issuer issuer=https://<partner>/,audience=https://api.example.com
//
// The single-valued flags fall back to environment variables (GREETER_ADDR,
// GRPCJWT_ISSUER, GRPCJWT_AUDIENCE, GRPCJWT_JWKS_URL, GREETER_TLS_CERT,
// GREETER_TLS_KEY, GREETER_LOG_LEVEL). The server finds every issuer's keys
// through OIDC discovery (or -jwks-url) before it serves; when it cannot
// within -issuer-timeout it exits 1. It logs the rule of every method, as
// grpcjwt.Policy.Audit resolves it, and exits 1 when Audit finds one wrong. Once
// serving it prints "listening on <host:port>" on standard output, the
// actual address even for port 0, and logs to standard error. The health
// service and server reflection need no token, so grpcurl works against
// it:
//
//	grpcurl -plaintext 127.0.0.1:50051 list
//	grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{"name":"Alice"}' \
//		127.0.0.1:50051 greeter.v1.Greeter/SayHello
//	grpcurl -plaintext -H "authorization: Bearer $ORG_TOKEN" -d '{"parent":"organizations/<id>"}' \
//		127.0.0.1:50051 greeter.v1.Greeter/GreetOrganization
//
// -introspection-client-id and -introspection-client-secret (better given
// as GRPCJWT_INTROSPECTION_CLIENT_SECRET) give -issuer an introspection
// endpoint (RFC 7662; its discovery document's, or -introspection-endpoint),
// through which -issuer's opaque tokens are accepted, each checked there.
//
// With -http-addr it also serves the greeter over HTTP, under the same
// policy (package greeterhttp): connect-go's Connect protocol, gRPC and
// gRPC-Web at /greeter.v1.Greeter/…, REST through the gRPC-Gateway at
// /v1/… (-rest-mode proxy, the default, or in-process), and the RFC 9728
// document at /.well-known/oauth-protected-resource (its resource is
// -resource, by default -audience when it is a URL). -page-addr serves a
// browser page, on its own origin, which the API allows (CORS), as it does
// every -cors-origin:
//
//	go run ./examples/greeter/server -issuer https://<tenant>/oidc -audience https://api.example.com \
//		-http-addr 127.0.0.1:8080 -page-addr 127.0.0.1:8081
//	curl -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:8080/v1/hello?name=Alice'
//	curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Alice"}' \
//		http://127.0.0.1:8080/greeter.v1.Greeter/SayHello
//
// SIGINT or SIGTERM stop it gracefully: calls in flight get up to 10
// seconds to finish.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
)

// drainTimeout bounds a graceful stop: streams still open after it (a
// health Watch, say) are cut.
const drainTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	addr, issuer, audience, jwksURL string
	audiencePrefixes                stringsFlag
	organizationClaim               string
	trustIssuers                    trustIssuerFlag
	tlsCert, tlsKey                 string
	clientCA                        string
	dpop                            bool
	debugAddr                       string
	issuerTimeout                   time.Duration
	logLevel                        slog.Level
	metricsAddr                     string
	httpAddr, pageAddr              string
	restMode                        greeterhttp.RESTMode
	corsOrigins                     stringsFlag
	resource                        string
	backgroundStart                 bool
	keyCacheDir                     string
	keyCacheMaxAge                  time.Duration
	healthMaxStale                  time.Duration
	introspectionEndpoint           string
	introspectionClientID           string
	introspectionClientSecret       string
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// parseFlags returns the configuration, or an error to report with the
// usage (exit status 2).
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: server -issuer URL -audience ID [flags]

Serves the greeter example API. Calls need an access token from the issuer
for the audience (or from an issuer of -trust-issuer, for one of its
audiences); health checks and server reflection need none.

Flags (those with a variable in brackets default to it):
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", envOr("GREETER_ADDR", "127.0.0.1:50051"), "`host:port` to listen on; port 0 picks a free one [GREETER_ADDR]")
	fs.StringVar(&c.issuer, "issuer", envOr("GRPCJWT_ISSUER", ""), "the provider's issuer `URL`, exactly as in the tokens' iss, e.g. https://tenant.logto.app/oidc (required) [GRPCJWT_ISSUER]")
	fs.StringVar(&c.audience, "audience", envOr("GRPCJWT_AUDIENCE", ""), "this API's `identifier` (resource indicator), which the tokens' aud must contain (required unless -audience-prefix is given) [GRPCJWT_AUDIENCE]")
	fs.Var(&c.audiencePrefixes, "audience-prefix", "also accept from -issuer any audience that starts with `prefix`, e.g. urn:logto:organization: for Logto organization tokens, whose rest names the organization; repeatable")
	fs.StringVar(&c.organizationClaim, "organization-claim", grpcjwt.DefaultOrganizationClaim, "the `claim` in which -issuer asserts a token's organization (Logto's organization_id by default); empty: -issuer's tokens name organizations only through -audience-prefix, and without that GreetOrganization's rule can never be met, so the server refuses to start")
	fs.Var(&c.trustIssuers, "trust-issuer", "trust one more issuer: `issuer=URL,audience=ID` with optional audience-prefix=P, organization-claim=C and jwks-url=URL; audience and audience-prefix may repeat (one of them is required); repeatable")
	fs.StringVar(&c.jwksURL, "jwks-url", envOr("GRPCJWT_JWKS_URL", ""), "the provider's JWKS `URL`, to skip OIDC discovery [GRPCJWT_JWKS_URL]")
	fs.StringVar(&c.tlsCert, "tls-cert", envOr("GREETER_TLS_CERT", ""), "PEM certificate `file` to serve TLS with; needs -tls-key [GREETER_TLS_CERT]")
	fs.StringVar(&c.tlsKey, "tls-key", envOr("GREETER_TLS_KEY", ""), "PEM private key `file` of -tls-cert [GREETER_TLS_KEY]")
	fs.StringVar(&c.clientCA, "client-ca", envOr("GREETER_CLIENT_CA", ""), "PEM `file` of the CA that signs client certificates: the server asks for one (optional) and verifies it, so that certificate-bound tokens (cnf x5t#S256) work; needs -tls-cert [GREETER_CLIENT_CA]")
	fs.BoolVar(&c.dpop, "dpop", false, "accept DPoP-bound tokens (authorization: DPoP <token> with a dpop proof), under grpcjwt's gRPC DPoP profile")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve net/http/pprof under /debug/pprof/ on this loopback `host:port` (off unless given)")
	logLevel := fs.String("log-level", envOr("GREETER_LOG_LEVEL", "info"), "debug, info, warn or error [GREETER_LOG_LEVEL]")
	fs.DurationVar(&c.issuerTimeout, "issuer-timeout", 15*time.Second, "how long to wait for the provider's discovery document and keys at startup")
	fs.BoolVar(&c.backgroundStart, "background-start", false, "serve at once, reaching the providers in the background: until an issuer's keys arrive its tokens get Unavailable temporarily_unavailable and the health service says NOT_SERVING")
	fs.StringVar(&c.keyCacheDir, "key-cache-dir", envOr("GREETER_KEY_CACHE_DIR", ""), "`directory` (existing) where the last good keys of each issuer are kept, and read at startup so that the server starts while the provider is down [GREETER_KEY_CACHE_DIR]")
	fs.DurationVar(&c.keyCacheMaxAge, "key-cache-max-age", grpcjwt.DefaultKeyCacheMaxAge, "the oldest keys from -key-cache-dir to use at startup")
	fs.DurationVar(&c.healthMaxStale, "health-max-stale", 0, "report NOT_SERVING once an issuer's keys have been stale (its provider failing) for longer than this; 0: never for staleness alone")
	fs.StringVar(&c.introspectionClientID, "introspection-client-id", envOr("GRPCJWT_INTROSPECTION_CLIENT_ID", ""), "this server's client `ID` at -issuer, for its introspection endpoint (RFC 7662): with it, -issuer's opaque tokens are accepted, each checked there; needs -introspection-client-secret [GRPCJWT_INTROSPECTION_CLIENT_ID]")
	fs.StringVar(&c.introspectionClientSecret, "introspection-client-secret", "", "the `secret` of -introspection-client-id; prefer the variable, which ps does not show (its value is never printed) [GRPCJWT_INTROSPECTION_CLIENT_SECRET]")
	fs.StringVar(&c.introspectionEndpoint, "introspection-endpoint", "", "the introspection endpoint's `URL`; default: the introspection_endpoint of -issuer's discovery document")
	fs.StringVar(&c.metricsAddr, "metrics-addr", envOr("GREETER_METRICS_ADDR", ""), "`host:port` to serve Prometheus metrics on, at /metrics; port 0 picks a free one; off when empty [GREETER_METRICS_ADDR]")
	fs.StringVar(&c.httpAddr, "http-addr", envOr("GREETER_HTTP_ADDR", ""), "`host:port` to serve the greeter over HTTP on too: Connect, gRPC and gRPC-Web (connect-go), REST (the gRPC-Gateway) and the RFC 9728 document; port 0 picks a free one; off when empty [GREETER_HTTP_ADDR]")
	restMode := fs.String("rest-mode", "proxy", "how the gRPC-Gateway serves REST on -http-addr: proxy (each request a gRPC call to this server, decided by its interceptors) or in-process (calls the service directly, decided by grpcjwtgateway.Protect; refuses GreetOrganization)")
	fs.StringVar(&c.pageAddr, "page-addr", "", "`host:port` to serve the browser page on, an origin of its own that -http-addr allows (CORS); needs -http-addr; off when empty")
	fs.Var(&c.corsOrigins, "cors-origin", "a browser `origin` (scheme://host:port) allowed to call -http-addr across origins, beside -page-addr's; repeatable")
	fs.StringVar(&c.resource, "resource", "", "the resource `URL` (the API's identifier) of the RFC 9728 document that -http-addr serves; default: -audience, when it is an http(s) URL")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errReported // the flag package has printed it
	}
	if c.introspectionClientSecret == "" {
		// Not the flag's default: -help prints defaults.
		c.introspectionClientSecret = os.Getenv("GRPCJWT_INTROSPECTION_CLIENT_SECRET")
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if c.issuer == "" {
		problems = append(problems, "-issuer is required (or set GRPCJWT_ISSUER)")
	}
	if c.audience == "" && len(c.audiencePrefixes) == 0 {
		problems = append(problems, "-audience is required (or set GRPCJWT_AUDIENCE)")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		problems = append(problems, "-tls-cert and -tls-key go together")
	}
	if c.clientCA != "" && c.tlsCert == "" {
		problems = append(problems, "-client-ca needs -tls-cert and -tls-key")
	}
	if err := c.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("-log-level %q: want debug, info, warn or error", *logLevel))
	}
	if c.issuerTimeout <= 0 {
		problems = append(problems, "-issuer-timeout must be positive")
	}
	if c.keyCacheMaxAge <= 0 {
		problems = append(problems, "-key-cache-max-age must be positive")
	}
	if (c.introspectionClientID == "") != (c.introspectionClientSecret == "") {
		problems = append(problems, "-introspection-client-id and -introspection-client-secret go together")
	}
	if c.introspectionEndpoint != "" && c.introspectionClientID == "" {
		problems = append(problems, "-introspection-endpoint needs -introspection-client-id")
	}
	if c.healthMaxStale < 0 {
		problems = append(problems, "-health-max-stale must not be negative")
	}
	if m, err := greeterhttp.ParseRESTMode(*restMode); err != nil {
		problems = append(problems, "-rest-mode: "+err.Error())
	} else {
		c.restMode = m
	}
	if c.httpAddr == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"-page-addr", c.pageAddr != ""}, {"-cors-origin", len(c.corsOrigins) > 0}, {"-resource", c.resource != ""}} {
			if f.set {
				problems = append(problems, f.name+" needs -http-addr")
			}
		}
	}
	if c.resource == "" && c.httpAddr != "" && isHTTPURL(c.audience) {
		c.resource = c.audience
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

// errReported is a usage error already printed by the flag package.
var errReported = errors.New("usage error")

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "server: %v\nRun with -help for usage.\n", err)
		return 2
	}
	if err := serve(c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the server until SIGINT or SIGTERM. Its errors are fit for
// an operator.
func serve(c *config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		srvOpts []grpc.ServerOption
		tc      *tls.Config
	)
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("loading -tls-cert and -tls-key: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if c.clientCA != "" {
			pem, err := os.ReadFile(c.clientCA)
			if err != nil {
				return fmt.Errorf("reading -client-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("-client-ca %s holds no PEM certificate", c.clientCA)
			}
			tc.ClientAuth, tc.ClientCAs = tls.VerifyClientCertIfGiven, pool
		}
		srvOpts = append(srvOpts, grpc.Creds(credentials.NewTLS(tc)))
	}

	// Listen first: a port in use is reported at once, not after the
	// provider has been reached.
	lis, err := net.Listen("tcp", c.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is already in use; stop the other server or choose another -addr", c.addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", c.addr, err)
	}
	defer lis.Close()
	face, err := listenHTTP(c, tc)
	if err != nil {
		return err
	}
	defer func() {
		if face != nil { // still serving: the gRPC server did not start, or failed
			sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			face.shutdown(sctx)
		}
	}()
	if c.debugAddr != "" {
		stopDebug, err := serveDebug(c.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	if c.tlsCert == "" && !isLoopback(lis.Addr()) {
		log.Warn("serving without TLS on a non-loopback address: access tokens will cross the network in the clear; use -tls-cert and -tls-key", "addr", lis.Addr().String())
	}
	if face != nil && c.tlsCert == "" && !isLoopback(face.api.lis.Addr()) {
		log.Warn("serving HTTP without TLS on a non-loopback address: access tokens will cross the network in the clear; use -tls-cert and -tls-key", "addr", face.api.lis.Addr().String())
	}

	var m *metrics
	if c.metricsAddr != "" {
		if m, err = listenMetrics(c.metricsAddr, c.healthMaxStale); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m.shutdown(sctx)
		}()
	}

	cfg := grpcjwt.Config{
		Issuer:            c.issuer,
		Audience:          c.audience,
		AudiencePrefixes:  c.audiencePrefixes,
		OrganizationClaim: c.organizationClaim,
		JWKSURL:           c.jwksURL,
		Issuers:           c.trustIssuers,
		Logger:            log,
		BackgroundStart:   c.backgroundStart,
		KeyCacheDir:       c.keyCacheDir,
		KeyCacheMaxAge:    c.keyCacheMaxAge,
	}
	if c.introspectionClientID != "" {
		cfg.Introspection = &grpcjwt.IntrospectionConfig{
			Endpoint:     c.introspectionEndpoint,
			ClientID:     c.introspectionClientID,
			ClientSecret: grpcjwt.Secret(c.introspectionClientSecret),
		}
		cfg.OpaqueTokenIssuer = c.issuer
	}
	if m != nil {
		cfg.Observer = m.observer
	}
	logIssuer(log, grpcjwt.IssuerConfig{Issuer: c.issuer, Audience: c.audience, AudiencePrefixes: c.audiencePrefixes, OrganizationClaim: c.organizationClaim, JWKSURL: c.jwksURL})
	for _, ic := range c.trustIssuers {
		logIssuer(log, ic)
	}
	// With several issuers, grpcjwt's errors name the one that failed.
	issuers := "issuer " + c.issuer
	if len(c.trustIssuers) > 0 {
		issuers = "issuers " + c.issuer + " " + c.trustIssuers.String()
	}
	vctx, cancel := context.WithTimeout(ctx, c.issuerTimeout)
	v, err := grpcjwt.NewValidator(vctx, cfg)
	cancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return errors.New("interrupted while fetching the provider's keys")
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("cannot reach %s within %s (-issuer-timeout): %w", issuers, c.issuerTimeout, err)
		}
		return fmt.Errorf("cannot set up token validation for %s: %w", issuers, err)
	}
	defer v.Close()
	if m != nil {
		unregister, err := m.observer.Register(v)
		if err != nil {
			return fmt.Errorf("setting up the metrics: %w", err)
		}
		defer unregister()
	}

	// The health service follows the keys: NOT_SERVING until every
	// issuer's keys are in (-background-start), and while they are stale
	// for longer than -health-max-stale.
	hs := health.NewServer()
	for _, service := range []string{"", greeterv1.Greeter_ServiceDesc.ServiceName} {
		grpcjwt.ServeHealth(ctx, v, hs, service, c.healthMaxStale)
	}
	var rules []grpcjwt.Option
	if c.dpop {
		// The replay cache is made here, not by WithDPoP, so that the
		// metrics can report how full it is.
		replay := grpcjwt.NewMemoryReplayCache(0, 0, 0)
		rules = append(rules, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: replay}))
		if m != nil {
			unregister, err := m.observer.RegisterReplayCache(replay)
			if err != nil {
				return fmt.Errorf("setting up the metrics: %w", err)
			}
			defer unregister()
		}
	}
	if face != nil && c.resource != "" {
		rules = append(rules, face.resourceMetadata(c.resource))
	}
	srv, policy, err := greeter.NewServerAndPolicy(v, greeter.ServerConfig{Logger: log, Rules: rules, ServerOptions: srvOpts, Health: hs})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("serving", "addr", lis.Addr().String(), "tls", c.tlsCert != "")
	var httpFailed <-chan error
	if face != nil {
		if err := face.serve(policy, srv, c.restMode, c.corsOrigins, log, stdout); err != nil {
			srv.Stop()
			<-served
			return err
		}
		httpFailed = face.failed
	}
	if m != nil {
		m.serve(log)
		log.Info("serving metrics", "url", "http://"+m.lis.Addr().String()+"/metrics")
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", m.lis.Addr())
	}
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case err := <-httpFailed:
		srv.Stop()
		<-served
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	if face != nil {
		// HTTP first: in proxy mode its gateway calls the gRPC server.
		sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		face.shutdown(sctx)
		cancel()
		face = nil // shut down; the deferred shutdown has nothing left to do
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(drainTimeout):
		log.Warn("calls still running after the drain timeout; cutting them", "timeout", drainTimeout)
		srv.Stop()
		<-stopped
	}
	<-served
	log.Info("stopped")
	return nil
}

// logIssuer logs where the keys of a trusted issuer are about to be
// fetched from, and the audiences accepted from it.
func logIssuer(log *slog.Logger, ic grpcjwt.IssuerConfig) {
	attrs := []any{"issuer", ic.Issuer}
	if ic.Audience != "" {
		attrs = append(attrs, "audience", ic.Audience)
	}
	if len(ic.Audiences) > 0 {
		attrs = append(attrs, "audiences", ic.Audiences)
	}
	if len(ic.AudiencePrefixes) > 0 {
		attrs = append(attrs, "audience_prefixes", ic.AudiencePrefixes)
	}
	if ic.OrganizationClaim != "" {
		attrs = append(attrs, "organization_claim", ic.OrganizationClaim)
	}
	if ic.JWKSURL != "" {
		log.Info("fetching the provider's keys", append(attrs, "jwks_url", ic.JWKSURL)...)
		return
	}
	log.Info("fetching the provider's keys through OIDC discovery", attrs...)
}

// serveDebug serves net/http/pprof on addr, which must be a loopback
// address: profiles show the server's internals. It uses a mux of its own,
// so nothing else served over HTTP gets /debug/pprof/. The returned func
// stops it.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr: %w", err)
	}
	if !isLoopback(lis.Addr()) {
		lis.Close()
		return nil, fmt.Errorf("-debug-addr %s: not a loopback address; profiles must not leave the machine", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	log.Info("serving net/http/pprof", "addr", "http://"+lis.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
