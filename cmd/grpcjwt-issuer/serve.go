package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

type serveConfig struct {
	addr, alg, path, keyFile, baseURL string
	algSet                            bool // -alg was given
	opaque                            bool // the token endpoint issues opaque tokens
	clients                           clientsFlag
}

// clientsFlag is the repeatable -client id:secret.
type clientsFlag [][2]string

func (c *clientsFlag) String() string { return fmt.Sprint(len(*c), " clients") }

func (c *clientsFlag) Set(v string) error {
	id, secret, ok := strings.Cut(v, ":")
	if !ok || id == "" || secret == "" {
		return errors.New("want id:secret")
	}
	*c = append(*c, [2]string{id, secret})
	return nil
}

func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: grpcjwt-issuer serve [-addr host:port] [-alg ALG] [-path /oidc] [-key-file FILE] [-client id:secret]... [-opaque]

Runs a local OpenID Connect issuer until SIGINT or SIGTERM, and prints its
URL (the tokens' iss) on standard output once it serves. It serves:

  <issuer>/.well-known/openid-configuration  OIDC discovery
  <issuer>/jwks                              the public key
  <issuer>/token                             client_credentials grant for -client
                                             (sub and client_id: the client id;
                                             scope; aud: resource, audience, or
                                             https://api.example.com; 1 hour);
                                             opaque tokens with -opaque
  <issuer>/introspect                        token introspection (RFC 7662) of
                                             its tokens, for -client
  <issuer>/revoke                            token revocation (RFC 7009), for
                                             -client
  <issuer>/mint                              POST a JSON object of claims, as
                                             Content-Type application/json, get
                                             the token; from loopback only (the
                                             mint command's -issuer)

Requests other than GET and HEAD (the token endpoint, /mint, ...) must name the
server in Host by an IP address, localhost or the -base-url host, else 421,
and must not be cross-origin requests from a browser, else 403: so a web
page cannot call them through the browser.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "`host:port` to listen on; port 0 picks a free one. An address of every interface (:8081, 0.0.0.0:8081) needs -base-url")
	fs.StringVar(&c.alg, "alg", "ES256", "signing `algorithm`: "+strings.Join(grpcjwttest.Algorithms(), ", ")+"; with an existing -key-file, the key's")
	fs.StringVar(&c.path, "path", "/oidc", "the issuer's `path`: the issuer URL is http://<addr><path>; \"\" for the root")
	fs.StringVar(&c.keyFile, "key-file", "", "private JWK `file` to sign with: read if it exists, else a new key is written there (mode 0600); default: a new key each run")
	fs.StringVar(&c.baseURL, "base-url", "", "the `URL` clients reach the server at, when not http://<addr> (a container name, a proxy); the issuer URL is it plus -path")
	fs.Var(&c.clients, "client", "register a client for the token endpoint's client_credentials grant, introspection and revocation, as `id:secret`; repeatable")
	fs.BoolVar(&c.opaque, "opaque", false, "the token endpoint issues opaque tokens, which resource servers introspect, instead of JWTs")
	err := parseFlags(fs, args, func() []string {
		var problems []string
		c.algSet = isSet(fs, "alg")
		if !slices.Contains(grpcjwttest.Algorithms(), c.alg) {
			problems = append(problems, fmt.Sprintf("-alg %q: want one of %s", c.alg, strings.Join(grpcjwttest.Algorithms(), ", ")))
		}
		c.path = strings.TrimSuffix(c.path, "/")
		if c.path != "" && (!strings.HasPrefix(c.path, "/") || strings.ContainsFunc(c.path, notPathChar)) {
			problems = append(problems, fmt.Sprintf("-path %q: want \"\" or /segments of letters, digits and -._~", c.path))
		}
		if c.baseURL != "" {
			c.baseURL = strings.TrimSuffix(c.baseURL, "/")
			u, err := url.Parse(c.baseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				problems = append(problems, fmt.Sprintf("-base-url %q: want an http(s) URL such as http://issuer:8081", c.baseURL))
			}
		}
		host, _, err := net.SplitHostPort(c.addr)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("-addr %q: want host:port", c.addr))
		case c.baseURL == "" && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()):
			problems = append(problems, fmt.Sprintf("-addr %s listens on every interface, so no URL follows from it: give -base-url, the URL clients reach this server at (such as http://issuer.internal:8081)", c.addr))
		}
		return problems
	})
	return c, err
}

// notPathChar reports whether r may not be in -path: only unreserved URL
// characters and "/" are, so that the path is the same in a URL and in a
// ServeMux pattern.
func notPathChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~/", r))
}

func runServe(args []string, stdout, stderr io.Writer) int {
	c, err := parseServeFlags(args, stderr)
	if err != nil {
		return usageExit("serve", err, stderr)
	}
	if err := serve(c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "grpcjwt-issuer serve: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the issuer until SIGINT or SIGTERM.
func serve(c *serveConfig, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	key, err := signingKey(c, stderr)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", c.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("cannot listen on %s: the address is already in use; stop the other server or choose another -addr", c.addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", c.addr, err)
	}

	iss := startIssuer(c, lis, key)

	fmt.Fprintf(stderr, "grpcjwt-issuer: issuer %s on %s, signing with %s key %s\n", iss.URL, lis.Addr(), key.Alg, key.KID)
	clients := "no clients; see -client"
	if len(c.clients) > 0 {
		ids := make([]string, len(c.clients))
		for n, cl := range c.clients {
			ids[n] = cl[0]
		}
		clients = "clients " + strings.Join(ids, ", ")
	}
	kind := "JWTs"
	if c.opaque {
		kind = "opaque tokens"
	}
	fmt.Fprintf(stderr, "grpcjwt-issuer: discovery %s/.well-known/openid-configuration, keys %s, token endpoint %s/token (%s, %s), introspection %s, revocation %s, mint %s/mint (loopback only)\n",
		iss.URL, iss.JWKSURL(), iss.URL, clients, kind, iss.IntrospectionURL(), iss.RevocationURL(), iss.URL)
	if t, ok := lis.Addr().(*net.TCPAddr); ok && !t.IP.IsLoopback() {
		fmt.Fprintf(stderr, "grpcjwt-issuer: warning: listening on %s, beyond loopback: whoever reaches it can use the token endpoint with the clients' secrets, over plain HTTP\n", lis.Addr())
	}
	fmt.Fprintln(stdout, iss.URL)

	<-ctx.Done()
	fmt.Fprintln(stderr, "grpcjwt-issuer: stopping")
	iss.Close()
	return nil
}

// startIssuer serves the issuer that c describes on lis, signing with
// key: discovery, the JWKS, the token endpoint for c's clients, and /mint.
func startIssuer(c *serveConfig, lis net.Listener, key *grpcjwttest.Key) *grpcjwttest.Issuer {
	var current atomic.Pointer[grpcjwttest.Issuer]
	opts := []grpcjwttest.Option{
		grpcjwttest.WithListener(lis),
		grpcjwttest.WithPath(c.path),
		grpcjwttest.WithAlgorithms(),
		grpcjwttest.WithSigningKey(key),
		grpcjwttest.WithDefaultAlgorithm(key.Alg),
		grpcjwttest.WithHandler("POST "+c.path+"/mint", mintHandler(&current)),
		grpcjwttest.WithMiddleware(guardUnsafeMethods(c.baseURL)),
	}
	if c.baseURL != "" {
		opts = append(opts, grpcjwttest.WithBaseURL(c.baseURL))
	}
	if c.opaque {
		opts = append(opts, grpcjwttest.WithOpaqueTokens())
	}
	iss := grpcjwttest.NewIssuer(opts...)
	current.Store(iss)
	for _, cl := range c.clients {
		iss.AddClient(cl[0], cl[1])
	}
	return iss
}

// signingKey returns the key of -key-file, or a new one for -alg.
func signingKey(c *serveConfig, stderr io.Writer) (*grpcjwttest.Key, error) {
	if c.keyFile == "" {
		return grpcjwttest.NewKey(c.alg)
	}
	k, created, err := loadOrCreateKey(c.keyFile, c.alg)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "grpcjwt-issuer: wrote a new %s key to %s\n", k.Alg, c.keyFile)
		return k, nil
	}
	if c.algSet && k.Alg != c.alg {
		return nil, fmt.Errorf("-alg %s, but the key in %s is for %s: drop -alg, or give another -key-file", c.alg, c.keyFile, k.Alg)
	}
	if fi, err := os.Stat(c.keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "grpcjwt-issuer: warning: the key file %s can be read by others (mode %v); chmod 600 it\n", c.keyFile, fi.Mode().Perm())
	}
	fmt.Fprintf(stderr, "grpcjwt-issuer: read the %s key in %s\n", k.Alg, c.keyFile)
	return k, nil
}

// maxMintRequest bounds the body of a /mint request.
const maxMintRequest = 64 << 10

// mintHandler serves POST <issuer>/mint: the body is a JSON object of
// claims, sent with Content-Type application/json, the response the token
// the issuer mints with them (grpcjwttest.Issuer.Token: claims given
// replace its defaults, a null removes one) and a newline. It answers only
// requests from loopback, 403 otherwise, and refuses any other Content-Type
// with 415: a web page can send text/plain, a form or multipart/form-data
// to any server without asking, but JSON across origins only after a CORS
// preflight, which serve never grants. (serve's guardUnsafeMethods has
// refused other requests from web pages already.)
func mintHandler(current *atomic.Pointer[grpcjwttest.Issuer]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "grpcjwt-issuer: mint answers only requests from loopback", http.StatusForbidden)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			http.Error(w, "grpcjwt-issuer: mint wants a body of Content-Type application/json", http.StatusUnsupportedMediaType)
			return
		}
		iss := current.Load()
		if iss == nil {
			http.Error(w, "grpcjwt-issuer: starting", http.StatusServiceUnavailable)
			return
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMintRequest))
		dec.UseNumber()
		var claims map[string]any
		if err := dec.Decode(&claims); err != nil || claims == nil || dec.Decode(&struct{}{}) != io.EOF {
			http.Error(w, "grpcjwt-issuer: the body must be one JSON object of claims", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, iss.Token(claims))
	})
}
