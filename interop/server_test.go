package interop_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// seen is what the greeter's handler found in its context: the verified
// claims. The server reports it, as JSON, in the seenHeader response header
// of every call that reaches the handler.
type seen struct {
	Issuer   string    `json:"iss"`
	Subject  string    `json:"sub"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes"`
	IssuedAt time.Time `json:"iat"`
	Expires  time.Time `json:"exp"`
	// ScopeClaim names the payload claims the scopes came from: "scope"
	// (a space-separated string), "scp" (Hydra's array) or "scope+scp".
	ScopeClaim string `json:"scope_claim"`
	// The organization claims: Claims.MatchedAudience, AudienceSuffix
	// and Organization.
	MatchedAudience string `json:"matched_aud"`
	AudienceSuffix  string `json:"aud_suffix"`
	Organization    string `json:"organization"`
	// Introspected is Claims.Introspected: the token is opaque, and its
	// issuer's introspection endpoint vouched for it.
	Introspected bool `json:"introspected"`
}

// seenHeader is the response header that carries what the handler saw.
const seenHeader = "x-interop-seen"

// seenMD reports the claims in ctx as the seenHeader metadata; a call that
// reaches a protected handler without claims is an error.
func seenMD(ctx context.Context) (metadata.MD, error) {
	b, err := seenJSON(ctx)
	if err != nil {
		return nil, err
	}
	return metadata.Pairs(seenHeader, string(b)), nil
}

// seenJSON returns the claims in ctx as a seen, in JSON; a call that
// reaches a protected handler without claims is an error.
func seenJSON(ctx context.Context) ([]byte, error) {
	c, ok := grpcjwt.ClaimsFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "handler found no claims")
	}
	var from []string
	for _, name := range []string{"scope", "scp"} {
		if ok, _ := c.Get(name, new(json.RawMessage)); ok {
			from = append(from, name)
		}
	}
	return json.Marshal(seen{
		Issuer:          c.Issuer,
		Subject:         c.Subject,
		ClientID:        c.ClientID,
		Scopes:          c.Scopes,
		IssuedAt:        c.IssuedAt,
		Expires:         c.ExpiresAt,
		ScopeClaim:      strings.Join(from, "+"),
		MatchedAudience: c.MatchedAudience,
		AudienceSuffix:  c.AudienceSuffix,
		Organization:    c.Organization,
		Introspected:    c.Introspected(),
	})
}

// reportSeen and reportSeenStream run after grpcjwt's interceptors, right
// before the greeter's handler, with the context the handler gets: they send
// the claims in it as the seenHeader response header.
func reportSeen(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, err := seenMD(ctx)
	if err == nil {
		err = grpc.SetHeader(ctx, md)
	}
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func reportSeenStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, err := seenMD(ss.Context())
	if err == nil {
		err = ss.SetHeader(md)
	}
	if err != nil {
		return err
	}
	return handler(srv, ss)
}

// reply is what a call got back: the seenHeader response header, and the
// subject the greeter's handler put in its reply.
type reply struct {
	seen    string
	subject string
}

// seenIn returns the seenHeader value in md.
func seenIn(md metadata.MD) string {
	if v := md.Get(seenHeader); len(v) == 1 {
		return v[0]
	}
	return ""
}

// rpc is one protected greeter method and the scope greeter.proto makes it
// require.
type rpc struct {
	name  string
	scope string // "" when any valid token will do
	call  func(context.Context, greeterv1.GreeterClient) (reply, error)
}

var (
	sayHello = rpc{"SayHello", "greet:read", func(ctx context.Context, c greeterv1.GreeterClient) (reply, error) {
		var md metadata.MD
		r, err := c.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "interop"}, grpc.Header(&md))
		return reply{seenIn(md), r.GetSubject()}, err
	}}
	sayHelloStream = rpc{"SayHelloStream", "", func(ctx context.Context, c greeterv1.GreeterClient) (reply, error) {
		s, err := c.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{Name: "interop", Count: 2})
		if err != nil {
			return reply{}, err
		}
		var msgs []*greeterv1.SayHelloStreamResponse
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return reply{}, err
			}
			msgs = append(msgs, r)
		}
		if len(msgs) != 2 || msgs[0].GetIndex() != 1 || msgs[1].GetIndex() != 2 || msgs[0].GetSubject() != msgs[1].GetSubject() {
			return reply{}, fmt.Errorf("stream sent %v, want greetings 1 and 2 for one subject", msgs)
		}
		md, err := s.Header()
		return reply{seenIn(md), msgs[0].GetSubject()}, err
	}}
	chat = rpc{"Chat", "greet:write", func(ctx context.Context, c greeterv1.GreeterClient) (reply, error) {
		s, err := c.Chat(ctx)
		if err != nil {
			return reply{}, err
		}
		// A refused stream makes Send fail with io.EOF; Recv has the status.
		if err := s.Send(&greeterv1.ChatRequest{Message: "hi"}); err != nil && !errors.Is(err, io.EOF) {
			return reply{}, err
		}
		r, err := s.Recv()
		if err != nil {
			return reply{}, err
		}
		md, err := s.Header()
		if err != nil {
			return reply{}, err
		}
		return reply{seenIn(md), r.GetSubject()}, s.CloseSend()
	}}

	// rpcs are the greeter's protected methods: unary, server streaming and
	// bidirectional streaming.
	rpcs = []rpc{sayHello, sayHelloStream, chat}
)

// clock is a Validator's clock: real time plus an offset that a test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// set moves the clock so that it reads at now.
func (c *clock) set(at time.Time) { c.offset.Store(int64(time.Until(at))) }

// reset puts the clock back to real time.
func (c *clock) reset() { c.offset.Store(0) }

// fetchCounter is an http.RoundTripper that counts the requests for some
// URLs (the providers' jwks_uri) before passing every request on.
type fetchCounter struct {
	base *http.Transport
	n    map[string]*atomic.Int64 // by URL; the map is not changed after it is made
}

func (f *fetchCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if n := f.n[r.URL.String()]; n != nil {
		n.Add(1)
	}
	return f.base.RoundTrip(r)
}

// server is the example's greeter on loopback behind grpcjwt's unary and
// stream interceptors, whose Validator trusts one issuer for one audience
// (newServer) or what a Config says (newServerFor).
type server struct {
	v      *grpcjwt.Validator
	policy *grpcjwt.Policy         // the interceptors' policy
	grpc   *grpc.Server            // the greeter's gRPC server
	addr   string                  // where the greeter listens: 127.0.0.1:port
	client greeterv1.GreeterClient // a plaintext client; nil on a TLS server
	clock  *clock                  // the Validator's clock
	jwks   *fetchCounter           // the Validator's JWKS fetches, the first included
	jwksOf map[string]string       // each issuer's jwks_uri
	first  string                  // the Config's Issuer

	mu    sync.Mutex
	cause error // why the last refused call was refused, as the reject hook saw it
}

// newServer starts a protected greeter for issuer and audience. Its
// Validator finds the keys through discovery, logs to t and counts its
// fetches of the jwks_uri that discovery names. Everything stops when t
// ends.
func newServer(t *testing.T, issuer, audience string) *server {
	t.Helper()
	return newServerFor(t, grpcjwt.Config{Issuer: issuer, Audience: audience})
}

// newServerFor starts a protected greeter whose Validator has cfg, with the
// HTTP client, clock and logger of newServer: it counts the fetches of each
// issuer's jwks_uri (cfg.Issuer's and those of cfg.Issuers), found through
// discovery.
func newServerFor(t *testing.T, cfg grpcjwt.Config, rules ...grpcjwt.Option) *server {
	t.Helper()
	return newServerWith(t, cfg, nil, rules...)
}

// newServerWith is newServerFor with the greeter serving over creds, or
// plaintext when creds is nil. Only a plaintext server has a client; dial
// connects to any.
func newServerWith(t *testing.T, cfg grpcjwt.Config, creds credentials.TransportCredentials, rules ...grpcjwt.Option) *server {
	t.Helper()
	s := &server{
		clock:  &clock{},
		jwks:   &fetchCounter{base: http.DefaultTransport.(*http.Transport).Clone(), n: map[string]*atomic.Int64{}},
		jwksOf: map[string]string{},
		first:  cfg.Issuer,
	}
	issuers := []string{cfg.Issuer}
	for _, ic := range cfg.Issuers {
		issuers = append(issuers, ic.Issuer)
	}
	for _, iss := range issuers {
		u := discover(t, iss).JWKSURI
		s.jwksOf[iss] = u
		s.jwks.n[u] = new(atomic.Int64)
	}
	s.jwks.base.TLSClientConfig = &tls.Config{RootCAs: rootsWithTestCA()}
	t.Cleanup(s.jwks.base.CloseIdleConnections)
	cfg.HTTPClient = &http.Client{Transport: s.jwks}
	cfg.Now = s.clock.now
	cfg.Logger = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	v, err := grpcjwt.NewValidator(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	s.v = v
	for _, iss := range issuers {
		if n := s.fetchesAt(iss); n != 1 {
			t.Fatalf("NewValidator fetched %s %d times, want once", s.jwksOf[iss], n)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.cause = err
	})
	policy, err := grpcjwt.NewPolicy(v, append(rules, hook)...)
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor(), reportSeen),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor(), reportSeenStream),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	greeterv1.RegisterGreeterServer(srv, greeter.Service{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	s.policy, s.grpc = policy, srv
	s.addr = lis.Addr().String()
	if creds == nil {
		s.client = s.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return s
}

// dial returns a client of the greeter on a connection of its own with
// opts, which must include the transport credentials. The connection is
// closed when t ends.
func (s *server) dial(t *testing.T, opts ...grpc.DialOption) greeterv1.GreeterClient {
	t.Helper()
	conn, err := grpc.NewClient(s.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return greeterv1.NewGreeterClient(conn)
}

// fetches returns how many times the Validator has requested the JWKS of
// the Config's Issuer.
func (s *server) fetches() int64 { return s.fetchesAt(s.first) }

// fetchesAt returns how many times the Validator has requested the JWKS of
// issuer.
func (s *server) fetchesAt(issuer string) int64 { return s.jwks.n[s.jwksOf[issuer]].Load() }

// takeCause returns why the server refused a call, as its reject hook saw
// it, and forgets it: nil when no call has been refused since the last
// takeCause.
func (s *server) takeCause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.cause
	s.cause = nil
	return err
}

// do calls r with token as the bearer token.
func (s *server) do(t *testing.T, r rpc, token string) (reply, error) {
	return callOn(t, s.client, r, "authorization", "Bearer "+token)
}

// callOn calls r on c with the metadata md (key, value, ...).
func callOn(t *testing.T, c greeterv1.GreeterClient, r rpc, md ...string) (reply, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return r.call(metadata.AppendToOutgoingContext(ctx, md...), c)
}

// accept asserts that r succeeds with token and returns what the handler
// saw.
func (s *server) accept(t *testing.T, r rpc, token string) seen {
	t.Helper()
	return acceptOn(t, s.client, r, "authorization", "Bearer "+token)
}

// acceptOn asserts that r on c with the metadata md succeeds and returns
// what the handler saw.
func acceptOn(t *testing.T, c greeterv1.GreeterClient, r rpc, md ...string) seen {
	t.Helper()
	rep, err := callOn(t, c, r, md...)
	if err != nil {
		t.Fatalf("%s: %v, want success", r.name, err)
	}
	var got seen
	if err := json.Unmarshal([]byte(rep.seen), &got); err != nil {
		t.Fatalf("%s: %s header %q: %v", r.name, seenHeader, rep.seen, err)
	}
	if rep.subject != got.Subject {
		t.Fatalf("%s: the handler replied for subject %q, the claims in its context are for %q", r.name, rep.subject, got.Subject)
	}
	return got
}

// deny asserts that r fails with token with the gRPC status code and
// message.
func (s *server) deny(t *testing.T, r rpc, token string, code codes.Code, msg string) {
	t.Helper()
	_, err := s.do(t, r, token)
	if st, ok := status.FromError(err); !ok || st.Code() != code || st.Message() != msg {
		t.Errorf("%s: err = %v, want %v %q", r.name, err, code, msg)
	}
}

// reject asserts that every RPC refuses token with Unauthenticated
// "invalid_token", and that the Validator's reason (which never reaches the
// client) is cause.
func (s *server) reject(t *testing.T, token string, cause error) {
	t.Helper()
	for _, r := range rpcs {
		s.deny(t, r, token, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	}
	if _, err := s.v.Validate(t.Context(), token); !errors.Is(err, cause) || !errors.Is(err, grpcjwt.ErrInvalidToken) {
		t.Errorf("Validate: %v, want invalid_token: %v", err, cause)
	}
}

// testLog is an io.Writer that logs each write, a slog record, to t.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// dropTime removes the time from log records: t.Log output has enough.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// httpClient fetches discovery documents and key sets for the tests: it
// trusts the test CA, which issued the certificate of an HTTPS provider.
var httpClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootsWithTestCA()}}}

// discovery is the part of an OpenID Provider Configuration the tests use.
type discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
}

// discover fetches issuer's OpenID Provider Configuration and checks that
// it names issuer exactly.
func discover(t *testing.T, issuer string) discovery {
	t.Helper()
	var doc discovery
	getJSON(t, issuer+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != issuer || doc.JWKSURI == "" || doc.TokenEndpoint == "" {
		t.Fatalf("discovery of %s: %+v", issuer, doc)
	}
	return doc
}

// getJSON GETs u (within a minute) and decodes its JSON body into v.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	if err := fetchJSON(t.Context(), u, v); err != nil {
		t.Fatal(err)
	}
}

// fetchJSON GETs u (within a minute) and decodes its JSON body into v.
func fetchJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w in %s", u, err, body)
	}
	return nil
}

// jwsHeader is the part of a token's JOSE header the tests look at.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// decodeToken decodes, without verifying, a compact JWS's header and its
// payload.
func decodeToken(t *testing.T, token string) (jwsHeader, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	var h jwsHeader
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err == nil {
		err = json.Unmarshal(hb, &h)
	}
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || err2 != nil {
		t.Fatalf("token is not a compact JWS: %v %v", err, err2)
	}
	return h, string(pb)
}
