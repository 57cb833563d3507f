package grpcjwt_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	vaultv1 "github.com/grpcjwt/grpcjwt/internal/testpb/vault/v1"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// TestAnyScopes: over real gRPC, alternatives of scopes from the .proto
// (Balance: read:all, or read:own and org:member) and from Go beside
// required scopes; a token meets one group whole, exactly, or is refused
// with the scopes of the first group that would succeed.
func TestAnyScopes(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	var rejected atomic.Pointer[error]
	hook := grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) { rejected.Store(&err) })
	tok := func(scope string) context.Context {
		return withAuth("Bearer " + iss.Token(map[string]any{"sub": "alice", "scope": scope}))
	}

	t.Run("proto", func(t *testing.T) {
		client := serveVault(t, policyOf(t, v, hook))
		balance := func(scope string) error {
			_, err := client.Balance(tok(scope), &vaultv1.BalanceRequest{})
			return err
		}
		for _, ok := range []string{"read:all", "read:own org:member", "org:member read:own", "read:all read:own"} {
			if err := balance(ok); err != nil {
				t.Errorf("scope %q: %v", ok, err)
			}
		}
		for _, refused := range []string{"", "read:own", "org:member", "read:all:x", "read", "Read:all"} {
			wantMetadata(t, balance(refused), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "read:all"})
			if err := *rejected.Load(); !errors.Is(err, grpcjwt.ErrInsufficientScope) || !strings.Contains(err.Error(), "no group") {
				t.Errorf("scope %q: the reject hook saw %v", refused, err)
			}
		}
	})

	t.Run("go, with required scopes", func(t *testing.T) {
		client := protected(t, v, hook,
			grpcjwt.WithScopes(mSayHello, "api"),
			grpcjwt.WithAnyScopes(mSayHello, []string{"read:all"}),
			grpcjwt.WithAnyScopes(mSayHello, []string{"read:own", "org:member"}))
		say := func(scope string) error {
			_, err := client.SayHello(tok(scope), &greeterv1.SayHelloRequest{})
			return err
		}
		for _, ok := range []string{"api read:all", "api read:own org:member"} {
			if err := say(ok); err != nil {
				t.Errorf("scope %q: %v", ok, err)
			}
		}
		want := map[string]string{grpcjwt.ScopeKey: "api read:all"}
		wantMetadata(t, say("read:own org:member"), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, want)
		if err := *rejected.Load(); !strings.Contains(err.Error(), `lacks scope "api"`) {
			t.Errorf("the reject hook saw %v", err)
		}
		wantMetadata(t, say("api read:own"), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, want)
		// The .proto's greet:read is no longer SayHello's: the Go scopes replace it.
		wantMetadata(t, say("greet:read"), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, want)
	})

	t.Run("http", func(t *testing.T) {
		p := httpPolicy(t, iss, grpcjwt.WithAnyScopes(exportMethod, []string{"reports:all"}, []string{"reports:own"}))
		srv := httptest.NewServer(restMux(p))
		t.Cleanup(srv.Close)
		// exportMethod also requires reports:export.
		if got := do(t, srv.Client(), "GET", srv.URL+"/export", bearer(iss.Token(map[string]any{"sub": "alice", "scope": "reports:export reports:own"}))); got.status != 200 {
			t.Errorf("second group: %+v", got)
		}
		got := do(t, srv.Client(), "GET", srv.URL+"/export", bearer(iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"})))
		if want := (httpResult{403, `Bearer error="insufficient_scope", scope="reports:export reports:all"`, errorBody(grpcjwt.CodeInsufficientScope)}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

// TestAuthorizerRefusalNamesNoScope: an Authorizer's refusal is sent as
// insufficient_scope without the method's scopes, which the token has.
func TestAuthorizerRefusalNamesNoScope(t *testing.T) {
	iss := newIssuer(t)
	p := httpPolicy(t, iss, grpcjwt.WithAuthorizer(func(context.Context, string, *grpcjwt.Claims) error { return errors.New("not on Sundays") }))
	_, err := p.Check(context.Background(), &grpcjwt.Call{Method: exportMethod, Authorization: []string{"Bearer " + iss.Token(map[string]any{"scope": "reports:export"})}}, nil)
	if got := p.Challenge(err, false); got != `Bearer error="insufficient_scope"` {
		t.Errorf("Challenge = %s", got)
	}
	if got := errorInfo(t, p.Status(err)).GetMetadata(); len(got) != 1 {
		t.Errorf("ErrorInfo metadata %v, want the code alone", got)
	}
}

// TestMethodIssuersAndAudiences: over real gRPC, with two trusted issuers,
// a partner's issuer is accepted on the one method that names it and
// refused on the others of the service, as invalid_token; a method that
// names an audience accepts only tokens for it that their own issuer
// accepts. The scopes of the methods' .proto options still apply.
func TestMethodIssuersAndAudiences(t *testing.T) {
	own, partner := newIssuer(t), newIssuer(t)
	const reports = "https://reports.example.com"
	v := twoIssuers(t, own, partner, func(c *grpcjwt.Config) { c.Audiences = []string{reports} })
	var rejected atomic.Pointer[error]
	client := protected(t, v,
		grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) { rejected.Store(&err) }),
		grpcjwt.WithIssuers(sGreeter, own.URL),
		grpcjwt.WithIssuers(mSayHello, own.URL, partner.URL),
		grpcjwt.WithAudiences(mStream, reports),
		grpcjwt.WithIssuers(mStream, own.URL, partner.URL),
		grpcjwt.WithPublic(mInfo))
	sayHello := func(ctx context.Context) error {
		_, err := client.SayHello(ctx, &greeterv1.SayHelloRequest{})
		return err
	}
	greetRead, greetWrite := map[string]any{"scope": "greet:read"}, map[string]any{"scope": "greet:write"}
	for _, tc := range []struct {
		name  string
		call  func(context.Context) error
		token string
		cause error // nil: let in
	}{
		{"partner on SayHello", sayHello, partner.Token(greetRead), nil},
		{"own on SayHello", sayHello, own.Token(greetRead), nil},
		{"own on Chat", func(ctx context.Context) error { _, err := calls["bidi"](ctx, client); return err }, own.Token(greetWrite), nil},
		{"partner on Chat", func(ctx context.Context) error { _, err := calls["bidi"](ctx, client); return err }, partner.Token(greetWrite), grpcjwt.ErrUntrustedIssuer},
		{"stream, its audience", func(ctx context.Context) error { _, err := calls["server-stream"](ctx, client); return err }, own.Token(map[string]any{"aud": reports}), nil},
		{"stream, both audiences", func(ctx context.Context) error { _, err := calls["server-stream"](ctx, client); return err }, own.Token(map[string]any{"aud": []string{own.Audience, reports}}), nil},
		{"stream, the issuer's other audience", func(ctx context.Context) error { _, err := calls["server-stream"](ctx, client); return err }, own.Token(nil), grpcjwt.ErrAudienceMismatch},
		{"stream, the audience from the partner", func(ctx context.Context) error { _, err := calls["server-stream"](ctx, client); return err }, partner.Token(map[string]any{"aud": []string{partner.Audience, reports}}), grpcjwt.ErrAudienceMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejected.Store(nil)
			err := tc.call(withAuth("Bearer " + tc.token))
			if tc.cause == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantMetadata(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken, nil)
			if r := rejected.Load(); r == nil || !errors.Is(*r, tc.cause) || !errors.Is(*r, grpcjwt.ErrInvalidToken) {
				t.Errorf("the reject hook saw %v, want %v", r, tc.cause)
			}
		})
	}
}

// TestAuditComposedRules: Audit shows step-up, alternatives, issuers and
// audiences from Go and .proto alike, and refuses each rule that is
// wrong: on a public method, empty, negative, fractional, unsendable, on
// an optional method, naming an issuer not trusted or an audience no
// issuer accepts.
func TestAuditComposedRules(t *testing.T) {
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServer(srv, greeter{})
	vaultv1.RegisterVaultServer(srv, vault{})
	rules, err := auditOf(t, srv,
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{ACRValues: []string{acrMFA, acr1FA}, AMR: []string{"pwd", "otp"}, MaxAge: 5 * time.Minute}),
		grpcjwt.WithScopes(mChat, "chat"),
		grpcjwt.WithAnyScopes(mChat, []string{"a"}, []string{"b", "c"}))
	// The vault's Settle names an issuer and an audience no test trusts:
	// only that is wrong.
	if err == nil || strings.Count(err.Error(), "\n") != 1 || !strings.Contains(err.Error(), "Settle accepts issuer") || !strings.Contains(err.Error(), "Settle accepts audience") {
		t.Errorf("Audit: %v", err)
	}
	var got []string
	for _, r := range rules {
		if r.FullMethod != mInfo && r.FullMethod != mStream {
			got = append(got, r.String())
		}
	}
	want := []string{
		"/greeter.v1.Greeter/Chat required scopes=chat any-scopes=a|b,c (go:method)",
		"/greeter.v1.Greeter/SayHello required scopes=greet:read step-up(acr=urn:logto:acr:mfa|urn:logto:acr:1fa amr=pwd+otp max_age=5m0s) (go:method+proto:method:scopes)",
		"/vault.v1.Vault/Audit required step-up(amr=otp) (proto:method)",
		"/vault.v1.Vault/Balance required any-scopes=read:all|read:own,org:member (proto:method)",
		"/vault.v1.Vault/Settle required issuers=https://partner.example/oidc audiences=https://api.example.com/partner (proto:method)",
		"/vault.v1.Vault/Watch required step-up(max_age=1m0s) (proto:method)",
		"/vault.v1.Vault/Withdraw required scopes=vault:write step-up(acr=urn:logto:acr:mfa|urn:example:acr:hardware max_age=5m0s) (proto:method)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Audit =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	bad := grpc.NewServer()
	greeterv1.RegisterGreeterServer(bad, greeter{})
	vaultv1.RegisterMisconfiguredServer(bad, vaultv1.UnimplementedMisconfiguredServer{})
	_, err = auditOf(t, bad,
		grpcjwt.WithPublic(mInfo),
		grpcjwt.WithStepUp(mInfo, grpcjwt.StepUp{MaxAge: time.Minute}),
		grpcjwt.WithAnyScopes(mInfo, []string{"x"}),
		grpcjwt.WithIssuers(mInfo, "https://a.example"),
		grpcjwt.WithAudiences(mInfo, "https://b.example"),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{}),
		grpcjwt.WithOptional(mStream),
		grpcjwt.WithStepUp(mStream, grpcjwt.StepUp{ACRValues: []string{"two words", ""}, AMR: []string{`"otp"`}, MaxAge: 1500 * time.Millisecond}),
		grpcjwt.WithAnyScopes(mChat, []string{"ok"}, nil, []string{"not ok"}),
		grpcjwt.WithIssuers(mChat, "https://stranger.example/oidc"),
		grpcjwt.WithAudiences(mChat, "https://nobody.example"))
	if err == nil {
		t.Fatal("Audit accepted every rule")
	}
	for _, want := range []string{
		// Go options.
		`"/greeter.v1.Greeter/Info" is public and has alternatives of scopes`,
		`"/greeter.v1.Greeter/Info" is public and has a step-up rule`,
		`"/greeter.v1.Greeter/Info" is public and has issuers`,
		`"/greeter.v1.Greeter/Info" is public and has audiences`,
		`/greeter.v1.Greeter/SayHello: its step-up rule requires nothing`,
		`/greeter.v1.Greeter/SayHelloStream is optional and has a step-up rule`,
		`/greeter.v1.Greeter/SayHelloStream: its step-up rule has acr value "two words"`,
		`/greeter.v1.Greeter/SayHelloStream: its step-up rule has acr value ""`,
		`/greeter.v1.Greeter/SayHelloStream: its step-up rule has amr value "\"otp\""`,
		`/greeter.v1.Greeter/SayHelloStream: its step-up rule has max_age 1.5s, which is not a whole number of seconds`,
		`/greeter.v1.Greeter/Chat has an empty group of alternative scopes (group 2`,
		`/greeter.v1.Greeter/Chat has alternative scope "not ok"`,
		`/greeter.v1.Greeter/Chat accepts issuer "https://stranger.example/oidc" (go:method), which the Validator does not trust`,
		`/greeter.v1.Greeter/Chat accepts audience "https://nobody.example" (go:method), which no issuer it accepts is configured to accept`,
		// .proto options.
		`/vault.v1.Misconfigured/PublicStepUp is public, and its rule (proto:method) sets step_up`,
		`/vault.v1.Misconfigured/EmptyStepUp: its step-up rule requires nothing`,
		`/vault.v1.Misconfigured/NegativeAge: its step-up rule has a negative max_age -1s`,
		`/vault.v1.Misconfigured/EmptyGroup has an empty group of alternative scopes (group 2, proto:method)`,
		`/vault.v1.Misconfigured/StrangeIssuer accepts issuer "https://stranger.example/oidc" (proto:method)`,
		`/vault.v1.Misconfigured/StrangeIssuer accepts audience "https://nobody.example" (proto:method)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Audit does not say %s", want)
		}
	}
	if t.Failed() {
		t.Logf("Audit said:\n%v", err)
	}
}

// TestCatalogComposedRules: the catalog lists step-up, alternatives,
// issuers and audiences as Audit shows them.
func TestCatalogComposedRules(t *testing.T) {
	client, _, _ := catalogServer(t, newIssuer(t),
		grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{ACRValues: []string{acrMFA}, AMR: []string{"otp"}, MaxAge: 5 * time.Minute}),
		grpcjwt.WithAnyScopes(mSayHello, []string{"a"}, []string{"b", "c"}),
		grpcjwt.WithIssuers(mSayHello, "https://a.example"),
		grpcjwt.WithAudiences(mSayHello, "https://api.example"))
	resp, err := client.ListMethods(context.Background(), &grpcjwtv1.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &grpcjwtv1.Method{
		FullMethod: mSayHello,
		Access:     grpcjwtv1.Access_ACCESS_REQUIRED,
		AnyScopes:  []*grpcjwtv1.ScopeGroup{{Scopes: []string{"a"}}, {Scopes: []string{"b", "c"}}},
		StepUp:     &grpcjwtv1.StepUp{AcrValues: []string{acrMFA}, Amr: []string{"otp"}, MaxAgeSeconds: 300},
		Issuers:    []string{"https://a.example"},
		Audiences:  []string{"https://api.example"},
	}
	if got := listed(resp, mSayHello); !proto.Equal(got, want) {
		t.Errorf("catalog lists %v, want %v", got, want)
	}
}
