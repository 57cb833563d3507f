// Package demo is the scenario that `go run ./examples/greeter` runs and
// prints: local OIDC issuers (one of which introspects its opaque tokens
// and revokes tokens), the greeter's gRPC server and its HTTP face
// (Connect, gRPC-Web, REST through the gRPC-Gateway in both modes, the
// RFC 9728 document) behind one grpcjwt policy, and a client that calls
// each in the ways a call can go right or wrong. [Run] makes the calls,
// [WriteTable] prints them.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Result is the outcome of one call of the demo.
type Result struct {
	Code    codes.Code // the status code the client received
	Message string     // the status message; "" on success
	// StepUp is what a step-up refusal's ErrorInfo tells the client to
	// log in again with (RFC 9470), e.g. "acr_values=urn:logto:acr:mfa
	// max_age=300"; "" for other answers.
	StepUp  string
	Subject string // the token subject the server's handler saw; "" for none
	// Replies is how many response messages the client received, before
	// the error if any. In an expected Result it is the fewest acceptable:
	// how many greetings arrive before a token expires mid-stream depends
	// on timing.
	Replies int

	// Cause is why the server refused the call, as its
	// [grpcjwt.WithRejectHook] saw it: the client only ever sees Message.
	// In an expected Result it is a sentinel such as
	// [grpcjwt.ErrTokenExpired], matched with errors.Is, or nil for a call
	// that must not be refused.
	Cause error
}

// Row is one call of the demo: what was expected and what happened.
type Row struct {
	Call string // the RPC and how it was authenticated, e.g. "SayHello: expired token"
	Want Result
	Got  Result
}

// OK reports whether the call went as expected.
func (r Row) OK() bool {
	sameCause := r.Got.Cause == nil
	if r.Want.Cause != nil {
		sameCause = errors.Is(r.Got.Cause, r.Want.Cause)
	}
	return r.Got.Code == r.Want.Code && r.Got.Message == r.Want.Message && r.Got.StepUp == r.Want.StepUp &&
		r.Got.Subject == r.Want.Subject && r.Got.Replies >= r.Want.Replies && sameCause
}

// demoCall is one call of the scenario.
type demoCall struct {
	method greeter.Method
	org    string                        // for GreetOrganization, the organization the request names
	how    string                        // how the call is authenticated, for the table
	token  string                        // sent with BearerToken credentials when not empty
	mint   func() string                 // otherwise, mints a token sent likewise, when the call starts
	creds  credentials.PerRPCCredentials // otherwise, the call's credentials when not nil
	// learn sends the call on the connection whose client interceptor
	// keeps the demo's DPoP credentials up with the server's nonces and
	// makes a call refused for its nonce again, once.
	learn  bool
	header []string // otherwise, raw "authorization" values sent as metadata
	// interval, for SayHelloStream, asks for the most greetings the
	// service sends, this far apart, instead of Invoke's three at once.
	interval time.Duration
	// door, when not nil, makes the call through one of the greeter's
	// HTTP doors instead of the gRPC server, with token if any.
	door door
	// before, when not nil, runs just before the call, and after just
	// after it: what happens at the issuer meanwhile (a token revoked,
	// the introspection endpoint down for this call).
	before, after func()
	// probe, when not nil, is a request that is no call of the greeter (a
	// CORS preflight, the metadata document), described by how; it
	// returns what came back.
	probe func(context.Context) Result
	want  Result
}

// The subject and scopes of the demo's good tokens, and the two
// organizations of the GreetOrganization calls.
const (
	demoSubject = "alice"
	demoScopes  = "greet:read greet:write"
	demoOrgA    = "A"
	demoOrgB    = "B"
	demoACR     = "urn:logto:acr:mfa" // SayHelloStepUp's acr_values
	demoACR1FA  = "urn:logto:acr:1fa" // a one-factor login, not enough
)

// The greeter server's client credentials at the first issuer, with which
// it asks the issuer's introspection endpoint about tokens.
const (
	demoClientID     = "greeter"
	demoClientSecret = "greeter-secret"
)

// scenario returns the demo's calls: every RPC with a valid token, the
// public Info without one, a token from the second issuer the server
// trusts, then each way a call can be refused, then GreetOrganization for
// the token's organization and for another, with the organization in a
// claim and in the audience, then a DPoP-bound token with its proof, as a
// bearer token, with a proof by another key and with its proof replayed,
// then a stream whose token expires while it runs, then introspection: an
// opaque token, a JWT revoked at the issuer on SayHelloStream (which
// checks revocation) and on SayHello (which does not), the opaque token
// revoked, and an opaque token while the introspection endpoint is down;
// and last the HTTP doors of web: Connect and gRPC-Web with a valid token,
// REST through the gateway in each mode with a valid token and without
// one, a CORS preflight and the metadata document. Tokens come from iss,
// which the server trusts for its API's audience and for organization
// tokens, and which introspects its opaque tokens, except those from
// second, which it trusts too, and from untrusted, which it does not.
func scenario(iss, second, untrusted *grpcjwttest.Issuer, web *doors, dpop *grpcjwt.DPoPCredentials, bind func(string)) ([]demoCall, error) {
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": demoSubject, "scope": demoScopes}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	valid := iss.Token(claims(nil))
	// Both carry greet:read, which GreetOrganization requires besides the
	// organization.
	forOrgA := iss.Token(claims(nil), grpcjwttest.WithOrganization(demoOrgA))
	orgTokenA := iss.Token(claims(nil), grpcjwttest.WithOrganizationAudience(demoOrgA))
	ok := Result{Code: codes.OK, Subject: demoSubject}
	refused := func(cause error) Result {
		return Result{Code: codes.Unauthenticated, Message: cause.Error(), Cause: cause}
	}
	invalid := func(cause error) Result {
		return Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Cause: cause}
	}
	denied := Result{Code: codes.PermissionDenied, Message: grpcjwt.CodeInsufficientScope, Cause: grpcjwt.ErrInsufficientScope}
	otherOrg := Result{Code: codes.PermissionDenied, Message: grpcjwt.CodeOrganizationMismatch, Cause: grpcjwt.ErrOrganizationMismatch}
	orgClaim := "token with organization_id " + demoOrgA
	orgAudience := "token with aud " + grpcjwt.DefaultOrganizationAudiencePrefix + demoOrgA

	// The client's DPoP key and a token bound to it, sent with a fresh
	// proof per call; someone else's key with the same token, as a thief
	// would try; and a recorder of the proofs sent, so that one can be
	// replayed, as by someone who captured a call's metadata.
	bound := iss.Token(claims(nil), grpcjwttest.WithDPoPBinding(dpop.Thumbprint()))
	bind(bound)
	thief, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", func(context.Context) (string, error) { return bound, nil })
	if err != nil {
		return nil, err
	}
	sent := &recorder{creds: dpop}

	// Logins for SayHelloStepUp, whose rule asks for a multi-factor login
	// (acr urn:logto:acr:mfa) of the last 300 seconds, and greet:write or
	// else greet:read.
	login := func(acr string, ago time.Duration, scope string) string {
		return iss.Token(claims(map[string]any{
			"acr": acr, "amr": []string{"pwd", "otp"}, "auth_time": time.Now().Add(-ago).Unix(), "scope": scope,
		}))
	}
	stepUp := Result{
		Code: codes.Unauthenticated, Message: grpcjwt.CodeInsufficientUserAuthentication,
		StepUp: "acr_values=" + demoACR + " max_age=300", Cause: grpcjwt.ErrInsufficientUserAuthentication,
	}

	// An opaque token, which only the issuer's introspection endpoint can
	// verify, and a JWT, each to be revoked at the issuer.
	opaque, revokedJWT := iss.OpaqueToken(claims(nil)), iss.Token(claims(nil))

	return []demoCall{
		{method: greeter.Hello, how: "valid token", token: valid, want: ok},
		{method: greeter.Stream, how: "valid token", token: valid, want: ok},
		{method: greeter.Chat, how: "valid token", token: valid, want: ok},
		{method: greeter.Info, how: "no token (public)", want: Result{Code: codes.OK}},
		{method: greeter.Hello, how: "token from the second trusted issuer", token: second.Token(claims(nil)), want: ok},
		{method: greeter.Hello, how: "no token", want: refused(grpcjwt.ErrHeaderMissing)},
		{method: greeter.Hello, how: "Basic credentials", header: []string{"Basic YWxpY2U6c2VjcmV0"}, want: refused(grpcjwt.ErrSchemeNotSupported)},
		{method: greeter.Hello, how: `header "Bearer" alone`, header: []string{"Bearer"}, want: refused(grpcjwt.ErrInvalidFormat)},
		{method: greeter.Hello, how: "two authorization values", header: []string{"Bearer " + valid, "Bearer " + valid}, want: refused(grpcjwt.ErrInvalidFormat)},
		{method: greeter.Hello, how: "expired token", token: iss.Token(claims(map[string]any{
			"iat": time.Now().Add(-2 * time.Hour).Unix(),
			"exp": time.Now().Add(-time.Hour).Unix(),
		})), want: invalid(grpcjwt.ErrTokenExpired)},
		{method: greeter.Hello, how: "token for another audience", token: iss.Token(claims(map[string]any{"aud": "https://other-api.example.com"})), want: invalid(grpcjwt.ErrAudienceMismatch)},
		{method: greeter.Hello, how: "token from an untrusted issuer", token: untrusted.Token(claims(nil)), want: invalid(grpcjwt.ErrUntrustedIssuer)},
		{method: greeter.Hello, how: "token signed by an unknown key", token: iss.Token(claims(nil), grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))), want: invalid(grpcjwt.ErrUnknownKey)},
		{method: greeter.Hello, how: "token without greet:read", token: iss.Token(claims(map[string]any{"scope": "greet:write"})), want: denied},
		{method: greeter.Chat, how: "token without greet:write", token: iss.Token(claims(map[string]any{"scope": "greet:read"})), want: denied},
		{method: greeter.Org, org: demoOrgA, how: orgClaim, token: forOrgA, want: ok},
		{method: greeter.Org, org: demoOrgB, how: orgClaim, token: forOrgA, want: otherOrg},
		{method: greeter.Org, org: demoOrgA, how: orgAudience, token: orgTokenA, want: ok},
		{method: greeter.Org, org: demoOrgB, how: orgAudience, token: orgTokenA, want: otherOrg},
		{method: greeter.Org, org: demoOrgA, how: "second issuer's " + orgClaim, token: second.Token(claims(nil), grpcjwttest.WithOrganization(demoOrgA)), want: otherOrg},
		{method: greeter.StepUp, how: "MFA login 1 min ago, greet:read (2nd any-of group)", token: login(demoACR, time.Minute, "greet:read"), want: ok},
		{method: greeter.StepUp, how: "MFA login 1 h ago (max_age 300)", token: login(demoACR, time.Hour, demoScopes), want: stepUp},
		{method: greeter.StepUp, how: "one-factor login (acr " + demoACR1FA + ")", token: login(demoACR1FA, time.Minute, demoScopes), want: stepUp},
		{method: greeter.Hello, how: "DPoP proof without the server's nonce", creds: sent, want: Result{
			Code: codes.Unauthenticated, Message: grpcjwt.CodeUseDPoPNonce, Cause: grpcjwt.ErrUseDPoPNonce,
		}},
		// The client interceptor reads the nonce of the refusal and makes
		// the call again with it: the server saw the first attempt's
		// refusal, the client only the success.
		{method: greeter.Hello, how: "DPoP, retried with the server's nonce", creds: sent, learn: true, want: Result{
			Code: codes.OK, Subject: demoSubject, Cause: grpcjwt.ErrUseDPoPNonce,
		}},
		{method: greeter.Hello, how: "DPoP-bound token with its proof", creds: sent, want: ok},
		{method: greeter.Hello, how: "DPoP-bound token sent as Bearer", token: bound, want: invalid(grpcjwt.ErrDPoPBoundToken)},
		{method: greeter.Hello, how: "DPoP-bound token, proof by another key", creds: thief, want: invalid(grpcjwt.ErrDPoPKeyMismatch)},
		{method: greeter.Hello, how: "DPoP proof replayed", creds: replay{sent}, want: Result{
			Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidDPoPProof, Cause: grpcjwt.ErrInvalidDPoPProof,
		}},
		{
			method: greeter.Stream, how: "token expiring mid-stream", interval: streamInterval,
			// Minted when the stream opens, with an exp 1 to 2 seconds
			// ahead (exp is whole seconds): the stream ends at exp plus
			// the server's leeway, one second, so 2 to 3 seconds in.
			mint: func() string {
				return iss.Token(claims(map[string]any{"exp": time.Now().Add(2 * time.Second).Unix()}))
			},
			want: Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Subject: demoSubject, Cause: grpcjwt.ErrTokenExpired, Replies: 1},
		},
		{method: greeter.Hello, how: "opaque token (introspected)", token: opaque, want: ok},
		{
			method: greeter.Stream, how: "JWT revoked at the issuer (revocation check)", token: revokedJWT,
			before: func() { iss.Revoke(revokedJWT) }, want: invalid(grpcjwt.ErrTokenInactive),
		},
		// Its signature still verifies: only a method that asks the
		// issuer sees the revocation.
		{method: greeter.Hello, how: "the revoked JWT (no revocation check)", token: revokedJWT, want: ok},
		{
			method: greeter.Stream, how: "the opaque token, revoked at the issuer", token: opaque,
			before: func() { iss.Revoke(opaque) }, want: invalid(grpcjwt.ErrTokenInactive),
		},
		// A new opaque token: the revoked one's refusal is remembered for
		// a few seconds (NegativeCacheTTL) and would not ask the endpoint.
		{
			method: greeter.Hello, how: "opaque token, introspection endpoint down", token: iss.OpaqueToken(claims(nil)),
			before: func() { iss.SetIntrospectionMode(grpcjwttest.Fail) }, after: func() { iss.SetIntrospectionMode(grpcjwttest.Serve) },
			want: Result{Code: codes.Unavailable, Message: grpcjwt.CodeTemporarilyUnavailable, Cause: grpcjwt.ErrIntrospectionUnavailable},
		},
		{method: greeter.Hello, door: web.connect, how: "valid token", token: valid, want: ok},
		{method: greeter.Hello, door: web.grpcWeb, how: "valid token", token: valid, want: ok},
		{method: greeter.Hello, door: web.proxy, how: "valid token", token: valid, want: ok},
		{method: greeter.Hello, door: web.proxy, how: "no token", want: refused(grpcjwt.ErrHeaderMissing)},
		{method: greeter.Hello, door: web.inProcess, how: "valid token", token: valid, want: ok},
		{method: greeter.Hello, door: web.inProcess, how: "no token", want: refused(grpcjwt.ErrHeaderMissing)},
		{how: "CORS preflight from " + demoOrigin, probe: web.preflight, want: Result{Code: codes.OK}},
		{how: "GET " + greeterhttp.MetadataPath, probe: web.metadata(iss, second), want: Result{Code: codes.OK, Replies: 1}},
	}, nil
}

// streamInterval is the time between greetings on the demo's stream whose
// token expires while it runs.
const streamInterval = 200 * time.Millisecond

// callTimeout bounds each call of the demo.
const callTimeout = 10 * time.Second

// run makes the call on client (or through its door, or runs its probe)
// and reads the cause the server saw.
func (c demoCall) run(ctx context.Context, client, learning greeterv1.GreeterClient, causes *rejections) Row {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	causes.take() // anything recorded before this call is not about it
	if c.before != nil {
		c.before()
	}
	if c.after != nil {
		defer c.after()
	}
	if c.probe != nil {
		got := c.probe(ctx)
		got.Cause = causes.take()
		return Row{Call: c.how, Want: c.want, Got: got}
	}
	var opts []grpc.CallOption
	token := c.token
	if c.mint != nil {
		token = c.mint()
	}
	switch {
	case c.door != nil:
	case token != "":
		// The demo's server is on loopback and has no TLS certificate.
		opts = append(opts, grpc.PerRPCCredentials(greeter.BearerToken{Token: token, AllowPlaintext: true}))
	case c.creds != nil:
		opts = append(opts, grpc.PerRPCCredentials(c.creds))
	}
	for _, h := range c.header {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", h)
	}
	if c.learn {
		client = learning
	}
	name, call := "Alice", c.method.RPC()
	if c.org != "" {
		name, call = c.org, call+"("+c.org+")"
	}
	var (
		reply *greeter.Reply
		err   error
	)
	switch {
	case c.door != nil:
		call = c.door.label(c.method)
		reply, err = c.door.call(ctx, c.method, name, token)
	case c.interval > 0:
		reply, err = greeter.StreamHello(ctx, client, &greeterv1.SayHelloStreamRequest{
			Name: name, Count: greeter.MaxStreamCount, IntervalMs: int32(c.interval / time.Millisecond),
		}, opts...)
	default:
		reply, err = greeter.Invoke(ctx, client, c.method, name, opts...)
	}
	got := Result{Cause: causes.take()}
	if reply != nil {
		got.Subject, got.Replies = reply.Subject, len(reply.Messages)
	}
	if err != nil {
		s := status.Convert(err)
		got.Code, got.Message, got.StepUp = s.Code(), s.Message(), stepUpOf(s)
	}
	return Row{Call: call + ": " + c.how, Want: c.want, Got: got}
}

// stepUpOf returns what the ErrorInfo of s tells the client to log in
// again with, "acr_values=… max_age=…" (either may be missing), or "".
func stepUpOf(s *status.Status) string {
	for _, d := range s.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		var parts []string
		for _, k := range []string{grpcjwt.ACRValuesKey, grpcjwt.MaxAgeKey} {
			if v, ok := info.GetMetadata()[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// Run runs the demo of `go run ./examples/greeter` within ctx: it starts
// three local issuers (two the server trusts, one it does not), a greeter
// server from [greeter.NewServerAndPolicy] on a loopback port, and its HTTP
// face ([greeterhttp.New]) twice, with the gRPC-Gateway in each mode, on
// two more; makes the scenario's calls one after the other, with gRPC,
// connect-go and net/http clients; stops everything, and returns a row per
// call. The server trusts the first issuer for its API's audience and to
// assert organizations, by Logto's claim
// ([grpcjwt.DefaultOrganizationClaim]) and organization tokens (audiences
// starting with [grpcjwt.DefaultOrganizationAudiencePrefix]), and the
// second, through [grpcjwt.Config.Issuers], for its API's audience only:
// the second issuer's tokens never speak for an organization. It verifies
// opaque tokens at the first issuer's introspection endpoint (RFC 7662,
// [grpcjwt.Config.OpaqueTokenIssuer]), keeping no answer
// ([grpcjwt.IntrospectionConfig.CacheTTL] -1) so that a revocation shows on
// the next call, and asks that endpoint about every token of
// SayHelloStream, JWTs too ([grpcjwt.WithRevocationCheck]), which takes
// only the first issuer's tokens. It accepts DPoP-bound tokens
// ([grpcjwt.WithDPoP]), allows one second of clock skew rather than the
// default 30 ([grpcjwt.Config.Leeway]), so that the stream whose token
// expires ends soon after, serves its RFC 9728 document
// ([grpcjwt.WithResourceMetadata], the resource being the API's audience),
// and answers CORS for one web origin, https://app.example.com. An error
// means the demo could not be set up; calls that go wrong are rows whose OK
// is false.
func Run(ctx context.Context) ([]Row, error) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	second := grpcjwttest.NewIssuer()
	defer second.Close()
	untrusted := grpcjwttest.NewIssuer()
	defer untrusted.Close()

	// The server's client at the first issuer, for its introspection
	// endpoint; in production, the secret comes from a secret store.
	iss.AddClient(demoClientID, demoClientSecret)
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		AudiencePrefixes:  []string{grpcjwt.DefaultOrganizationAudiencePrefix},
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
		// The endpoint its discovery names. CacheTTL -1 keeps no answer,
		// so that a revocation shows on the next call; in production a
		// short TTL bounds how long one goes unseen, at a request per
		// token per TTL.
		Introspection:     &grpcjwt.IntrospectionConfig{ClientID: demoClientID, ClientSecret: demoClientSecret, CacheTTL: -1},
		OpaqueTokenIssuer: iss.URL,
		Issuers:           []grpcjwt.IssuerConfig{{Issuer: second.URL, Audience: second.Audience}},
		Leeway:            time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer v.Close()

	// Listen first: the metadata document's URL names the HTTP port.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer lis.Close()
	web, err := listenDoors()
	if err != nil {
		return nil, err
	}
	defer web.close()

	// The secret of the server's DPoP nonces; in production, from a
	// secret store, the same on every replica.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	causes := &rejections{}
	srv, policy, err := greeter.NewServerAndPolicy(v, greeter.ServerConfig{Rules: []grpcjwt.Option{
		grpcjwt.WithRejectHook(causes.record),
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Nonce: &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{secret}}}),
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: iss.Audience, URL: web.proxyURL + greeterhttp.MetadataPath}),
		// SayHelloStream asks the issuer whether even a valid JWT is still
		// active. The second issuer has no introspection endpoint, so
		// the method takes the first one's tokens only: Audit refuses a
		// revocation check that an accepted issuer cannot answer. (A Go
		// rule replaces the method's .proto rule; SayHelloStream has none.)
		grpcjwt.WithRevocationCheck(greeterv1.Greeter_SayHelloStream_FullMethodName),
		grpcjwt.WithIssuers(greeterv1.Greeter_SayHelloStream_FullMethodName, iss.URL),
	}})
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()
	if err := web.serve(policy, srv); err != nil {
		return nil, err
	}

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)

	// The client's DPoP key, whose token the scenario mints, and a second
	// connection whose interceptor keeps it up with the server's nonces.
	var bound string
	dpop, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", func(context.Context) (string, error) { return bound, nil })
	if err != nil {
		return nil, err
	}
	learningConn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(dpop.UnaryClientInterceptor()))
	if err != nil {
		return nil, err
	}
	defer learningConn.Close()
	learning := greeterv1.NewGreeterClient(learningConn)

	calls, err := scenario(iss, second, untrusted, web, dpop, func(t string) { bound = t })
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, c := range calls {
		rows = append(rows, c.run(ctx, client, learning, causes))
	}
	return rows, nil
}

// rejections keeps the cause of the last call the server refused, as its
// reject hook saw it, which tells why a call failed when the client cannot
// know.
type rejections struct {
	mu    sync.Mutex
	cause error
}

func (r *rejections) record(_ context.Context, _ string, err error) {
	r.mu.Lock()
	r.cause = err
	r.mu.Unlock()
}

// take returns the cause recorded since the last take, if any.
func (r *rejections) take() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cause
	r.cause = nil
	return c
}
