package greeter

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
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
	Subject string     // the token subject the server's handler saw; "" for none
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
	return r.Got.Code == r.Want.Code && r.Got.Message == r.Want.Message &&
		r.Got.Subject == r.Want.Subject && r.Got.Replies >= r.Want.Replies && sameCause
}

// demoCall is one call of the scenario.
type demoCall struct {
	method Method
	org    string                        // for GreetOrganization, the organization the request names
	how    string                        // how the call is authenticated, for the table
	token  string                        // sent with BearerToken credentials when not empty
	mint   func() string                 // otherwise, mints a token sent likewise, when the call starts
	creds  credentials.PerRPCCredentials // otherwise, the call's credentials when not nil
	header []string                      // otherwise, raw "authorization" values sent as metadata
	// interval, for SayHelloStream, asks for the most greetings the
	// service sends, this far apart, instead of Invoke's three at once.
	interval time.Duration
	want     Result
}

// The subject and scopes of the demo's good tokens, and the two
// organizations of the GreetOrganization calls.
const (
	demoSubject = "alice"
	demoScopes  = "greet:read greet:write"
	demoOrgA    = "A"
	demoOrgB    = "B"
)

// scenario returns the demo's calls: every RPC with a valid token, the
// public Info without one, a token from the second issuer the server
// trusts, then each way a call can be refused, then GreetOrganization for
// the token's organization and for another, with the organization in a
// claim and in the audience, then a DPoP-bound token with its proof, as a
// bearer token, with a proof by another key and with its proof replayed,
// and last a stream whose token expires while it runs. Tokens come from
// iss, which the server trusts for its API's audience and for organization
// tokens, except those from second, which it trusts too, and from
// untrusted, which it does not.
func scenario(iss, second, untrusted *grpcjwttest.Issuer) ([]demoCall, error) {
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
	var bound string
	boundToken := func(context.Context) (string, error) { return bound, nil }
	dpop, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", boundToken)
	if err != nil {
		return nil, err
	}
	bound = iss.Token(claims(nil), grpcjwttest.WithDPoPBinding(dpop.Thumbprint()))
	thief, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", boundToken)
	if err != nil {
		return nil, err
	}
	sent := &recorder{creds: dpop}

	return []demoCall{
		{method: Hello, how: "valid token", token: valid, want: ok},
		{method: Stream, how: "valid token", token: valid, want: ok},
		{method: Chat, how: "valid token", token: valid, want: ok},
		{method: Info, how: "no token (public)", want: Result{Code: codes.OK}},
		{method: Hello, how: "token from the second trusted issuer", token: second.Token(claims(nil)), want: ok},
		{method: Hello, how: "no token", want: refused(grpcjwt.ErrHeaderMissing)},
		{method: Hello, how: "Basic credentials", header: []string{"Basic YWxpY2U6c2VjcmV0"}, want: refused(grpcjwt.ErrSchemeNotSupported)},
		{method: Hello, how: `header "Bearer" alone`, header: []string{"Bearer"}, want: refused(grpcjwt.ErrInvalidFormat)},
		{method: Hello, how: "two authorization values", header: []string{"Bearer " + valid, "Bearer " + valid}, want: refused(grpcjwt.ErrInvalidFormat)},
		{method: Hello, how: "expired token", token: iss.Token(claims(map[string]any{
			"iat": time.Now().Add(-2 * time.Hour).Unix(),
			"exp": time.Now().Add(-time.Hour).Unix(),
		})), want: invalid(grpcjwt.ErrTokenExpired)},
		{method: Hello, how: "token for another audience", token: iss.Token(claims(map[string]any{"aud": "https://other-api.example.com"})), want: invalid(grpcjwt.ErrAudienceMismatch)},
		{method: Hello, how: "token from an untrusted issuer", token: untrusted.Token(claims(nil)), want: invalid(grpcjwt.ErrUntrustedIssuer)},
		{method: Hello, how: "token signed by an unknown key", token: iss.Token(claims(nil), grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))), want: invalid(grpcjwt.ErrUnknownKey)},
		{method: Hello, how: "token without greet:read", token: iss.Token(claims(map[string]any{"scope": "greet:write"})), want: denied},
		{method: Chat, how: "token without greet:write", token: iss.Token(claims(map[string]any{"scope": "greet:read"})), want: denied},
		{method: Org, org: demoOrgA, how: orgClaim, token: forOrgA, want: ok},
		{method: Org, org: demoOrgB, how: orgClaim, token: forOrgA, want: otherOrg},
		{method: Org, org: demoOrgA, how: orgAudience, token: orgTokenA, want: ok},
		{method: Org, org: demoOrgB, how: orgAudience, token: orgTokenA, want: otherOrg},
		{method: Org, org: demoOrgA, how: "second issuer's " + orgClaim, token: second.Token(claims(nil), grpcjwttest.WithOrganization(demoOrgA)), want: otherOrg},
		{method: Hello, how: "DPoP-bound token with its proof", creds: sent, want: ok},
		{method: Hello, how: "DPoP-bound token sent as Bearer", token: bound, want: invalid(grpcjwt.ErrDPoPBoundToken)},
		{method: Hello, how: "DPoP-bound token, proof by another key", creds: thief, want: invalid(grpcjwt.ErrDPoPKeyMismatch)},
		{method: Hello, how: "DPoP proof replayed", creds: replay{sent}, want: Result{
			Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidDPoPProof, Cause: grpcjwt.ErrInvalidDPoPProof,
		}},
		{
			method: Stream, how: "token expiring mid-stream", interval: streamInterval,
			// Minted when the stream opens, with an exp 1 to 2 seconds
			// ahead (exp is whole seconds): the stream ends at exp plus
			// the server's leeway, one second, so 2 to 3 seconds in.
			mint: func() string {
				return iss.Token(claims(map[string]any{"exp": time.Now().Add(2 * time.Second).Unix()}))
			},
			want: Result{Code: codes.Unauthenticated, Message: grpcjwt.CodeInvalidToken, Subject: demoSubject, Cause: grpcjwt.ErrTokenExpired, Replies: 1},
		},
	}, nil
}

// streamInterval is the time between greetings on the demo's stream whose
// token expires while it runs.
const streamInterval = 200 * time.Millisecond

// callTimeout bounds each call of the demo.
const callTimeout = 10 * time.Second

// run makes the call on client and reads the cause the server saw.
func (c demoCall) run(ctx context.Context, client greeterv1.GreeterClient, causes *rejections) Row {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var opts []grpc.CallOption
	token := c.token
	if c.mint != nil {
		token = c.mint()
	}
	switch {
	case token != "":
		// The demo's server is on loopback and has no TLS certificate.
		opts = append(opts, grpc.PerRPCCredentials(BearerToken{Token: token, AllowPlaintext: true}))
	case c.creds != nil:
		opts = append(opts, grpc.PerRPCCredentials(c.creds))
	}
	for _, h := range c.header {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", h)
	}
	name, call := "Alice", c.method.RPC()
	if c.org != "" {
		name, call = c.org, call+"("+c.org+")"
	}
	causes.take() // anything recorded before this call is not about it
	var (
		reply *Reply
		err   error
	)
	if c.interval > 0 {
		reply, err = streamHello(ctx, client, &greeterv1.SayHelloStreamRequest{
			Name: name, Count: maxStreamCount, IntervalMs: int32(c.interval / time.Millisecond),
		}, opts)
	} else {
		reply, err = Invoke(ctx, client, c.method, name, opts...)
	}
	got := Result{Cause: causes.take()}
	if reply != nil {
		got.Subject, got.Replies = reply.Subject, len(reply.Messages)
	}
	if err != nil {
		s := status.Convert(err)
		got.Code, got.Message = s.Code(), s.Message()
	}
	return Row{Call: call + ": " + c.how, Want: c.want, Got: got}
}

// RunDemo runs the demo of `go run ./examples/greeter` within ctx: it
// starts three local issuers (two the server trusts, one it does not), a
// greeter server from [NewServer] on a loopback port and a client, makes
// the scenario's calls one after the other, stops everything, and returns
// a row per call. The server trusts the first issuer for its API's
// audience and to assert organizations, by Logto's claim
// ([grpcjwt.DefaultOrganizationClaim]) and organization tokens (audiences
// starting with [grpcjwt.DefaultOrganizationAudiencePrefix]), and the
// second, through [grpcjwt.Config.Issuers], for its API's audience only:
// the second issuer's tokens never speak for an organization. It accepts
// DPoP-bound tokens ([grpcjwt.WithDPoP]), and allows one second of clock
// skew rather than the default 30 ([grpcjwt.Config.Leeway]), so that the
// stream whose token expires ends soon after. An error means the demo
// could not be set up; calls that go wrong are rows whose OK is false.
func RunDemo(ctx context.Context) ([]Row, error) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	second := grpcjwttest.NewIssuer()
	defer second.Close()
	untrusted := grpcjwttest.NewIssuer()
	defer untrusted.Close()

	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		AudiencePrefixes:  []string{grpcjwt.DefaultOrganizationAudiencePrefix},
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
		Issuers:           []grpcjwt.IssuerConfig{{Issuer: second.URL, Audience: second.Audience}},
		Leeway:            time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	causes := &rejections{}
	srv, err := NewServer(v, ServerConfig{Rules: []grpcjwt.Option{grpcjwt.WithRejectHook(causes.record), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{})}})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)

	calls, err := scenario(iss, second, untrusted)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, c := range calls {
		rows = append(rows, c.run(ctx, client, causes))
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
