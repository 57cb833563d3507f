package grpcjwt_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	vaultv1 "github.com/grpcjwt/grpcjwt/internal/testpb/vault/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Logto's acr values (docs.logto.io, "Step-up authentication").
const (
	acrMFA = "urn:logto:acr:mfa"
	acr1FA = "urn:logto:acr:1fa"
	// acrHardware is Withdraw's second acr value in vault.proto.
	acrHardware = "urn:example:acr:hardware"
)

// vault is the test service of vault.proto: each method answers with the
// subject of the claims it was let in with.
type vault struct {
	vaultv1.UnimplementedVaultServer
}

func (vault) Withdraw(ctx context.Context, _ *vaultv1.WithdrawRequest) (*vaultv1.WithdrawResponse, error) {
	return &vaultv1.WithdrawResponse{Subject: subject(ctx)}, nil
}

func (vault) Audit(ctx context.Context, _ *vaultv1.AuditRequest) (*vaultv1.AuditResponse, error) {
	return &vaultv1.AuditResponse{Subject: subject(ctx)}, nil
}

func (vault) Balance(ctx context.Context, _ *vaultv1.BalanceRequest) (*vaultv1.BalanceResponse, error) {
	return &vaultv1.BalanceResponse{Subject: subject(ctx)}, nil
}

func (vault) Settle(ctx context.Context, _ *vaultv1.SettleRequest) (*vaultv1.SettleResponse, error) {
	return &vaultv1.SettleResponse{Subject: subject(ctx)}, nil
}

// Watch sends one message, then waits for its context to end.
func (vault) Watch(_ *vaultv1.WatchRequest, s grpc.ServerStreamingServer[vaultv1.WatchResponse]) error {
	if err := s.Send(&vaultv1.WatchResponse{Subject: subject(s.Context())}); err != nil {
		return err
	}
	<-s.Context().Done()
	return s.Context().Err()
}

// serveVault starts the vault on loopback behind p's interceptors and
// returns a client.
func serveVault(t *testing.T, p *grpcjwt.Policy) vaultv1.VaultClient {
	t.Helper()
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
	vaultv1.RegisterVaultServer(srv, vault{})
	return vaultv1.NewVaultClient(listen(t, srv))
}

// login returns the claims of a token from a login with acr and amr
// (omitted when empty), ago before now (auth_time omitted when negative),
// with scope.
func login(acr string, amr []string, ago time.Duration, scope string) map[string]any {
	c := map[string]any{"sub": "alice", "scope": scope}
	if acr != "" {
		c["acr"] = acr
	}
	if amr != nil {
		c["amr"] = amr
	}
	if ago >= 0 {
		c["auth_time"] = time.Now().Add(-ago).Unix()
	}
	return c
}

// wantMetadata asserts err is a status with code and message whose
// ErrorInfo metadata is exactly the code and md.
func wantMetadata(t *testing.T, err error, code codes.Code, msg string, md map[string]string) {
	t.Helper()
	wantStatus(t, err, code, msg)
	want := map[string]string{"code": msg}
	for k, v := range md {
		want[k] = v
	}
	if got := errorInfo(t, status.Convert(err)).GetMetadata(); !mapsEqual(got, want) {
		t.Errorf("ErrorInfo metadata %v, want %v", got, want)
	}
}

// TestStepUp: over real gRPC, the .proto step-up rules of the vault let in
// the logins that meet them and refuse the others with
// insufficient_user_authentication, whose ErrorInfo tells the acr_values
// and max_age that would succeed and nothing of why; a login that falls
// short is told so before a missing scope is.
func TestStepUp(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	var rejected atomic.Pointer[error]
	client := serveVault(t, policyOf(t, v, grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		rejected.Store(&err)
	})))
	withdraw := func(claims map[string]any) error {
		_, err := client.Withdraw(withAuth("Bearer "+iss.Token(claims)), &vaultv1.WithdrawRequest{Amount: 1})
		return err
	}
	audit := func(claims map[string]any) error {
		_, err := client.Audit(withAuth("Bearer "+iss.Token(claims)), &vaultv1.AuditRequest{})
		return err
	}
	stepUp := map[string]string{
		grpcjwt.ACRValuesKey: acrMFA + " " + acrHardware,
		grpcjwt.MaxAgeKey:    "300",
	}
	for _, tc := range []struct {
		name   string
		call   func(map[string]any) error
		claims map[string]any
		code   codes.Code // OK: let in
		msg    string
		md     map[string]string
		cause  string // in the reject hook's error
	}{
		{"mfa, a minute ago", withdraw, login(acrMFA, []string{"pwd", "otp"}, time.Minute, "vault:write"), codes.OK, "", nil, ""},
		{"the second acr value", withdraw, login(acrHardware, nil, time.Minute, "vault:write"), codes.OK, "", nil, ""},
		{"one factor", withdraw, login(acr1FA, []string{"pwd"}, time.Minute, "vault:write"), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, `acr "urn:logto:acr:1fa" is not one of`},
		{"no acr", withdraw, login("", nil, time.Minute, "vault:write"), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "no acr"},
		{"an acr of another case", withdraw, login(strings.ToUpper(acrMFA), nil, time.Minute, "vault:write"), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "is not one of"},
		{"mfa, ten minutes ago", withdraw, login(acrMFA, nil, 10*time.Minute, "vault:write"), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "more than max_age 5m0s"},
		{"mfa, within the leeway", withdraw, login(acrMFA, nil, 5*time.Minute+10*time.Second, "vault:write"), codes.OK, "", nil, ""},
		{"mfa, no auth_time", withdraw, login(acrMFA, nil, -1, "vault:write"), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "no auth_time"},
		{"client credentials", withdraw, map[string]any{"sub": "m2m", "scope": "vault:write"}, codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "no acr"},
		{"mfa, no scope", withdraw, login(acrMFA, nil, time.Minute, ""), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "vault:write"}, `lacks scope "vault:write"`},
		{"one factor, no scope: the login first", withdraw, login(acr1FA, nil, time.Minute, ""), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, stepUp, "is not one of"},
		{"auth_time as a string", withdraw, map[string]any{"acr": acrMFA, "auth_time": "1700000000", "scope": "vault:write"}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, nil, "wrong type"},
		{"otp among the methods", audit, login("", []string{"pwd", "otp"}, -1, ""), codes.OK, "", nil, ""},
		{"no otp", audit, login(acrMFA, []string{"pwd", "hwk"}, time.Minute, ""), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, nil, `lacks "otp"`},
		{"no amr", audit, login(acrMFA, nil, time.Minute, ""), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, nil, `lacks "otp"`},
		{"amr as a string", audit, map[string]any{"amr": "otp"}, codes.Unauthenticated, grpcjwt.CodeInvalidToken, nil, "wrong type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejected.Store(nil)
			err := tc.call(tc.claims)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if tc.msg == grpcjwt.CodeInvalidToken {
				wantStatus(t, err, tc.code, tc.msg)
			} else {
				wantMetadata(t, err, tc.code, tc.msg, tc.md)
			}
			r := rejected.Load()
			if r == nil {
				t.Fatal("the reject hook saw nothing")
			}
			if !strings.Contains((*r).Error(), tc.cause) {
				t.Errorf("the reject hook saw %q, want it to say %q", *r, tc.cause)
			}
			if tc.msg == grpcjwt.CodeInsufficientUserAuthentication {
				if !errors.Is(*r, grpcjwt.ErrInsufficientUserAuthentication) || grpcjwt.CauseOf(*r) != "insufficient_user_authentication" {
					t.Errorf("the reject hook saw %v, cause %q", *r, grpcjwt.CauseOf(*r))
				}
			}
		})
	}
}

// TestStepUpGoOption: WithStepUp overrides the step-up of a less specific
// level and applies to a service, and the .proto scopes stay; the last one
// given for a method wins.
func TestStepUpGoOption(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	client := protected(t, v,
		grpcjwt.WithStepUp(sGreeter, grpcjwt.StepUp{ACRValues: []string{acrHardware}}),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{AMR: []string{"hwk"}}),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{MaxAge: time.Minute}),
		grpcjwt.WithPublic(mInfo))
	tok := func(claims map[string]any) context.Context { return withAuth("Bearer " + iss.Token(claims)) }

	// SayHello: the last rule (max_age 60), and the .proto scope.
	if _, err := client.SayHello(tok(login("", nil, 30*time.Second, "greet:read")), &greeterv1.SayHelloRequest{}); err != nil {
		t.Errorf("SayHello, a login 30 s ago: %v", err)
	}
	_, err := client.SayHello(tok(login("", nil, 30*time.Second, "")), &greeterv1.SayHelloRequest{})
	wantMetadata(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:read"})
	_, err = client.SayHello(tok(login(acrHardware, []string{"hwk"}, 2*time.Minute, "greet:read")), &greeterv1.SayHelloRequest{})
	wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.MaxAgeKey: "60"})

	// Chat: the service's step-up, and the .proto scope.
	_, err = calls["bidi"](tok(login(acrMFA, nil, 0, "greet:write")), client)
	wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.ACRValuesKey: acrHardware})
	if _, err := calls["bidi"](tok(login(acrHardware, nil, -1, "greet:write")), client); err != nil {
		t.Errorf("Chat with the service's acr: %v", err)
	}
	if _, err := info(context.Background(), client); err != nil {
		t.Errorf("Info, public: %v", err)
	}
}

// TestStepUpHTTP: over real HTTP, the net/http door refuses a login that
// falls short with 401 and the RFC 9470 challenge, and names the
// resource's metadata and the DPoP algorithms beside it.
func TestStepUpHTTP(t *testing.T) {
	iss := newIssuer(t)
	p := httpPolicy(t, iss,
		grpcjwt.WithStepUp(exportMethod, grpcjwt.StepUp{ACRValues: []string{acrMFA, acrHardware}, MaxAge: 5 * time.Minute}))
	ageOnly := httpPolicy(t, iss,
		grpcjwt.WithStepUp(exportMethod, grpcjwt.StepUp{MaxAge: time.Minute}))
	named := httpPolicy(t, iss,
		grpcjwt.WithStepUp(exportMethod, grpcjwt.StepUp{ACRValues: []string{acrMFA}}),
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}),
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Algorithms: []string{"ES256"}}))
	srv := httptest.NewServer(restMux(p))
	t.Cleanup(srv.Close)
	namedSrv := httptest.NewServer(restMux(named))
	t.Cleanup(namedSrv.Close)
	ageSrv := httptest.NewServer(restMux(ageOnly))
	t.Cleanup(ageSrv.Close)

	const rm = `resource_metadata="` + testMetadataURL + `"`
	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		path   string
		claims map[string]any
		want   httpResult
	}{
		{"mfa", srv, "/export", login(acrMFA, nil, time.Minute, "reports:export"), httpResult{200, "", "alice"}},
		{"one factor", srv, "/export", login(acr1FA, nil, time.Minute, "reports:export"), httpResult{401,
			`Bearer error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa urn:example:acr:hardware", max_age=300`,
			errorBody(grpcjwt.CodeInsufficientUserAuthentication)}},
		{"too old", ageSrv, "/export", login(acrMFA, nil, 2*time.Minute, "reports:export"), httpResult{401,
			`Bearer error="insufficient_user_authentication", max_age=60`,
			errorBody(grpcjwt.CodeInsufficientUserAuthentication)}},
		{"no scope, a good login", srv, "/export", login(acrMFA, nil, 0, ""), httpResult{403,
			`Bearer error="insufficient_scope", scope="reports:export"`,
			errorBody(grpcjwt.CodeInsufficientScope)}},
		{"with resource metadata and DPoP", namedSrv, "/export", login(acr1FA, nil, 0, "reports:export"), httpResult{401,
			`Bearer error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa", ` + rm + `, DPoP algs="ES256", ` + rm,
			errorBody(grpcjwt.CodeInsufficientUserAuthentication)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, tc.srv.Client(), "GET", tc.srv.URL+tc.path, bearer(iss.Token(tc.claims)))
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// A DPoP call gets the error on its DPoP challenge.
	_, err := named.Check(context.Background(), &grpcjwt.Call{Method: exportMethod, Authorization: []string{"Bearer " + iss.Token(login(acr1FA, nil, 0, "reports:export"))}}, nil)
	if got, want := named.Challenge(err, true), `Bearer `+rm+`, DPoP error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa", algs="ES256", `+rm; got != want {
		t.Errorf("DPoP call: Challenge = %s, want %s", got, want)
	}
}

// TestStreamEndsWhenLoginTooOld: a stream of a method with a max_age is
// decided when it opens, and ends when its login gets older than max_age
// (before its token expires) with insufficient_user_authentication naming
// the max_age; a stream whose token expires first ends with
// invalid_token; WithoutStreamExpiry lets both run on. auth_time is a
// fractional NumericDate, so that the login gets too old a fraction of a
// second after the stream opens.
func TestStreamEndsWhenLoginTooOld(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway = -1 })
	var causes []error
	causeCh := make(chan error, 10)
	hook := grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) { causeCh <- err })
	// Watch's .proto rule: max_age_seconds 60.
	client := serveVault(t, policyOf(t, v, hook))
	authTime := func(in time.Duration) float64 {
		return float64(time.Now().Add(in-time.Minute).UnixMilli()) / 1000
	}
	watch := func(ctx context.Context, claims map[string]any) (time.Time, error) {
		s, err := client.Watch(withAuthOn(ctx, "Bearer "+iss.Token(claims)), &vaultv1.WatchRequest{})
		if err != nil {
			return time.Time{}, err
		}
		for {
			if _, err = s.Recv(); err != nil {
				return time.Now(), err
			}
		}
	}

	t.Run("login too old first", func(t *testing.T) {
		at := authTime(500 * time.Millisecond)
		ended, err := watch(context.Background(), map[string]any{"auth_time": at})
		wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.MaxAgeKey: "60"})
		tooOld := time.UnixMilli(int64(at*1000) + time.Minute.Milliseconds())
		if late := ended.Sub(tooOld); late < 0 || late > time.Second {
			t.Errorf("the stream ended %v after its login got too old", late)
		}
		causes = append(causes, <-causeCh)
		if !errors.Is(causes[0], grpcjwt.ErrInsufficientUserAuthentication) || !strings.Contains(causes[0].Error(), "outlived its login") {
			t.Errorf("the reject hook saw %v", causes[0])
		}
	})
	t.Run("token expires first", func(t *testing.T) {
		exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
		_, err := watch(context.Background(), map[string]any{"auth_time": authTime(time.Minute), "exp": exp.Unix()})
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		if cause := <-causeCh; !errors.Is(cause, grpcjwt.ErrTokenExpired) {
			t.Errorf("the reject hook saw %v", cause)
		}
	})
	t.Run("already too old at open", func(t *testing.T) {
		_, err := watch(context.Background(), map[string]any{"auth_time": authTime(-time.Second)})
		wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.MaxAgeKey: "60"})
		if cause := <-causeCh; !strings.Contains(cause.Error(), "more than max_age") {
			t.Errorf("the reject hook saw %v", cause)
		}
	})
	t.Run("opt-out", func(t *testing.T) {
		optOut := serveVault(t, policyOf(t, v, grpcjwt.WithoutStreamExpiry()))
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		s, err := optOut.Watch(withAuthOn(ctx, "Bearer "+iss.Token(map[string]any{"auth_time": authTime(300 * time.Millisecond)})), &vaultv1.WatchRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("with WithoutStreamExpiry the stream ended with %v; want it to run on to the client's deadline", err)
		}
	})
}

// TestAuthFuncStreamEndsWithLogin: a stream admitted by AuthFunc on a
// method with a max_age has a context that ends when the login gets too
// old, with ErrInsufficientUserAuthentication as its cause.
func TestAuthFuncStreamEndsWithLogin(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway = -1 })
	g := &causeGreeter{}
	f := policyOf(t, v, grpcjwt.WithStepUp(mStream, grpcjwt.StepUp{MaxAge: time.Minute})).AuthFunc()
	client := serve(t, g, grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(f)))
	at := float64(time.Now().Add(300*time.Millisecond-time.Minute).UnixMilli()) / 1000
	ctx, cancel := context.WithTimeout(withAuth("Bearer "+iss.Token(map[string]any{"auth_time": at})), 10*time.Second)
	defer cancel()
	s, err := client.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = s.Recv()
	}
	waitFor(t, func() bool { return g.cause.Load() != nil })
	if cause := *g.cause.Load(); !errors.Is(cause, grpcjwt.ErrInsufficientUserAuthentication) {
		t.Errorf("the handler's context ended with cause %v, want ErrInsufficientUserAuthentication", cause)
	}
}

// withAuthOn is withAuth on ctx.
func withAuthOn(ctx context.Context, values ...string) context.Context {
	for _, v := range values {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", v)
	}
	return ctx
}

// incoming is the context of a call that came with the authorization
// value auth, as an interceptor sees it.
func incoming(auth string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", auth))
}

// TestRuleRefusalsCostNothingMore: a refusal that tells what would succeed
// (the scopes, the acr_values and max_age of the method's rule, prebuilt)
// allocates no more through the unary interceptor than one that tells
// nothing of the rule (an authorizer's), and Policy.Status and
// Policy.Challenge of it allocate nothing.
func TestRuleRefusalsCostNothingMore(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	p := policyOf(t, v,
		grpcjwt.WithResourceMetadata(grpcjwt.ResourceMetadata{Resource: testResource}),
		grpcjwt.WithScopes(mSayHello, "greet:read"),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{ACRValues: []string{acrMFA}, MaxAge: time.Minute}),
		grpcjwt.WithAuthorizer(func(_ context.Context, _ string, c *grpcjwt.Claims) error {
			if c.Subject == "refused" {
				return errors.New("no")
			}
			return nil
		}))
	interceptor := p.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: mSayHello, Server: greeter{}}
	handler := func(context.Context, any) (any, error) { return nil, errors.New("the handler ran") }
	req := &greeterv1.SayHelloRequest{}
	allocs := func(claims map[string]any, want string) float64 {
		ctx := incoming("Bearer " + iss.Token(claims))
		return testing.AllocsPerRun(200, func() {
			if _, err := interceptor(ctx, req, info, handler); status.Convert(err).Message() != want {
				t.Fatalf("%v, want %s", err, want)
			}
		})
	}
	authorizer := allocs(map[string]any{"sub": "refused", "acr": acrMFA, "auth_time": time.Now().Unix(), "scope": "greet:read"}, grpcjwt.CodeInsufficientScope)
	scope := allocs(login(acrMFA, nil, 0, ""), grpcjwt.CodeInsufficientScope)
	stepUp := allocs(login(acr1FA, nil, 0, "greet:read"), grpcjwt.CodeInsufficientUserAuthentication)
	t.Logf("allocations a refusal: %v for a missing scope, %v for a login, %v for an authorizer's", scope, stepUp, authorizer)
	if scope > authorizer || stepUp > authorizer {
		t.Errorf("allocations a refusal: %v for a missing scope, %v for a login, %v for an authorizer's", scope, stepUp, authorizer)
	}

	_, err := p.Check(context.Background(), &grpcjwt.Call{Method: mSayHello, Authorization: []string{"Bearer " + iss.Token(login(acr1FA, nil, 0, "greet:read"))}}, nil)
	if n := testing.AllocsPerRun(100, func() { p.Status(err); p.Challenge(err, false) }); n != 0 {
		t.Errorf("Policy.Status and Policy.Challenge of a step-up refusal: %v allocations", n)
	}
}
