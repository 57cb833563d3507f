package grpcjwt_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	ledgerv1 "github.com/grpcjwt/grpcjwt/internal/testpb/ledger/v1"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	vaultv1 "github.com/grpcjwt/grpcjwt/internal/testpb/vault/v1"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestGoOptionsAddToProtoRules: over real gRPC, a Go option that gives
// SayHello, whose .proto option requires greet:read, one more requirement
// adds it: a token that meets it but lacks the scope is refused with
// insufficient_scope, which names the .proto scope; one that has the scope
// but does not meet it is refused by it; one that meets both gets in.
func TestGoOptionsAddToProtoRules(t *testing.T) {
	iss, other := newIssuer(t), newIssuer(t)
	iss.AddClient("rs", "rs-secret")
	const reports = "https://reports.example.com"
	other.Audience = "https://other-api.example.com"
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Audiences = []string{reports}
		c.Introspection = &grpcjwt.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret", CacheTTL: -1, NegativeCacheTTL: -1}
		c.Issuers = []grpcjwt.IssuerConfig{{Issuer: other.URL, Audience: other.Audience}}
	})
	sayHello := func(client greeterv1.GreeterClient, tok string) error {
		_, err := client.SayHello(withAuth("Bearer "+tok), &greeterv1.SayHelloRequest{})
		return err
	}
	// scoped adds the scope SayHello's .proto option requires to claims.
	scoped := func(claims map[string]any, scope bool) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		if scope {
			c["scope"] = "greet:read"
		}
		return c
	}
	for _, tc := range []struct {
		name string
		opt  grpcjwt.Option
		// call calls SayHello on the server at addr with a token that
		// carries greet:read if scope says so, and meets the option's
		// requirement if meets says so.
		call      func(t *testing.T, addr string, scope, meets bool) error
		code      codes.Code // of a token that has the scope and does not meet the requirement
		msg       string
		source    string // of SayHello's rule in Audit
		requiring string // what MethodRule.String shows of the requirement
	}{
		{
			name: "WithRevocationCheck", opt: grpcjwt.WithRevocationCheck(mSayHello),
			call: func(t *testing.T, addr string, scope, meets bool) error {
				tok := iss.Token(scoped(nil, scope))
				if !meets {
					iss.Revoke(tok)
				}
				return sayHello(dial(t, addr), tok)
			},
			code: codes.Unauthenticated, msg: grpcjwt.CodeInvalidToken, requiring: "revocation-checked",
		},
		{
			name: "WithStepUp", opt: grpcjwt.WithStepUp(mSayHello, grpcjwt.StepUp{ACRValues: []string{acrMFA}}),
			call: func(t *testing.T, addr string, scope, meets bool) error {
				acr := acr1FA
				if meets {
					acr = acrMFA
				}
				return sayHello(dial(t, addr), iss.Token(scoped(map[string]any{"acr": acr}, scope)))
			},
			code: codes.Unauthenticated, msg: grpcjwt.CodeInsufficientUserAuthentication, requiring: "step-up(acr=" + acrMFA + ")",
		},
		{
			name: "WithIssuers", opt: grpcjwt.WithIssuers(mSayHello, other.URL),
			call: func(t *testing.T, addr string, scope, meets bool) error {
				by := iss
				if meets {
					by = other
				}
				return sayHello(dial(t, addr), by.Token(scoped(nil, scope)))
			},
			code: codes.Unauthenticated, msg: grpcjwt.CodeInvalidToken, requiring: "issuers=" + other.URL,
		},
		{
			name: "WithAudiences", opt: grpcjwt.WithAudiences(mSayHello, reports),
			call: func(t *testing.T, addr string, scope, meets bool) error {
				aud := iss.Audience
				if meets {
					aud = reports
				}
				return sayHello(dial(t, addr), iss.Token(scoped(map[string]any{"aud": aud}, scope)))
			},
			code: codes.Unauthenticated, msg: grpcjwt.CodeInvalidToken, requiring: "audiences=" + reports,
		},
		{
			name: "WithSenderConstrained", opt: grpcjwt.WithSenderConstrained(mSayHello),
			call: func(t *testing.T, addr string, scope, meets bool) error {
				if meets {
					_, err := dpopClient(t, iss, addr, scoped(nil, scope)).SayHello(context.Background(), &greeterv1.SayHelloRequest{})
					return err
				}
				return sayHello(dial(t, addr), iss.Token(scoped(nil, scope)))
			},
			code: codes.Unauthenticated, msg: grpcjwt.CodeInvalidToken, requiring: "sender-constrained",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveDPoP(t, v, tc.opt, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
			if err := tc.call(t, addr, true, true); err != nil {
				t.Fatalf("the scope and the requirement: %v", err)
			}
			wantMetadata(t, tc.call(t, addr, false, true), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:read"})
			wantStatus(t, tc.call(t, addr, true, false), tc.code, tc.msg)

			srv := grpc.NewServer()
			greeterv1.RegisterGreeterServer(srv, greeter{})
			rules, _ := auditOf(t, srv, tc.opt)
			want := "/greeter.v1.Greeter/SayHello required scopes=greet:read "
			if got := ruleOf(rules, mSayHello); !strings.HasPrefix(got, want) || !strings.Contains(got, " "+tc.requiring+" ") || !strings.HasSuffix(got, "(go:method+proto:method:scopes)") {
				t.Errorf("Audit shows %q, want %q…%s…(go:method+proto:method:scopes)", got, want, tc.requiring)
			}
		})
	}
}

// TestGoRulesCompose: over real gRPC, a Go method rule adds to its Go
// service rule, dimension by dimension: a method's step-up beside its
// service's scope; WithScopes with no scope drops them; a method of a
// public service that a method rule gives a scope needs a token.
func TestGoRulesCompose(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	tok := func(acr, scope string) context.Context {
		return withAuth("Bearer " + iss.Token(map[string]any{"sub": "alice", "acr": acr, "scope": scope}))
	}
	stream := func(ctx context.Context, client greeterv1.GreeterClient) error {
		_, err := calls["server-stream"](ctx, client)
		return err
	}

	t.Run("service scope and method step-up", func(t *testing.T) {
		client := protected(t, v,
			grpcjwt.WithScopes(sGreeter, "greet:stream"),
			grpcjwt.WithStepUp(mStream, grpcjwt.StepUp{ACRValues: []string{acrMFA}}),
			grpcjwt.WithScopes(mChat))
		if err := stream(tok(acrMFA, "greet:stream"), client); err != nil {
			t.Fatalf("both: %v", err)
		}
		wantMetadata(t, stream(tok(acrMFA, ""), client), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:stream"})
		wantMetadata(t, stream(tok(acr1FA, "greet:stream"), client), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.ACRValuesKey: acrMFA})

		// The service's scope replaces the .proto's greet:read on SayHello.
		_, err := client.SayHello(tok("", "greet:read"), &greeterv1.SayHelloRequest{})
		wantMetadata(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: "greet:stream"})
		if _, err := client.SayHello(tok("", "greet:stream"), &greeterv1.SayHelloRequest{}); err != nil {
			t.Errorf("SayHello with the service's scope: %v", err)
		}
		// WithScopes(mChat) drops the service's scope, and the .proto's
		// greet:write: Chat takes any valid token, and only a valid one.
		if sub, err := calls["bidi"](tok("", ""), client); err != nil || sub != "alice" {
			t.Errorf("Chat, whose scopes were dropped: %q, %v", sub, err)
		}
		_, err = calls["bidi"](withAuth(), client)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeHeaderMissing)
	})

	t.Run("public service, scoped method", func(t *testing.T) {
		client := protected(t, v, grpcjwt.WithPublic(sGreeter), grpcjwt.WithScopes(mStream, "greet:stream"))
		wantStatus(t, stream(withAuth(), client), codes.Unauthenticated, grpcjwt.CodeHeaderMissing)
		wantStatus(t, stream(tok("", ""), client), codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
		if err := stream(tok("", "greet:stream"), client); err != nil {
			t.Errorf("with the method's scope: %v", err)
		}
		// The others stay public, their .proto scopes ignored.
		if _, err := client.SayHello(withAuth("Bearer garbage"), &greeterv1.SayHelloRequest{}); err != nil {
			t.Errorf("SayHello, public by its service: %v", err)
		}
		if sub, err := calls["bidi"](withAuth(), client); err != nil || sub != "" {
			t.Errorf("Chat, public by its service: %q, %v", sub, err)
		}
	})

	t.Run("public and scoped by one name", func(t *testing.T) {
		srv := grpc.NewServer()
		greeterv1.RegisterGreeterServer(srv, greeter{})
		rules, err := auditOf(t, srv, grpcjwt.WithPublic(mStream), grpcjwt.WithScopes(mStream, "greet:stream"))
		if err == nil || !strings.Contains(err.Error(), `"/greeter.v1.Greeter/SayHelloStream" is public and has scopes`) {
			t.Errorf("Audit: %v", err)
		}
		if got := ruleOf(rules, mStream); got != mStream+" public (go:method)" {
			t.Errorf("Audit shows %q", got)
		}
	})
}

// ruleOf returns what rules show of method, or "".
func ruleOf(rules []grpcjwt.MethodRule, method string) string {
	for _, r := range rules {
		if r.FullMethod == method {
			return r.String()
		}
	}
	return ""
}

// TestAuditComposition: Audit shows each method's rule composed of its
// levels, and names in its Source every level that gave it something.
func TestAuditComposition(t *testing.T) {
	const (
		withdraw     = "/vault.v1.Vault/Withdraw"
		publicStepUp = "/vault.v1.Misconfigured/PublicStepUp"
		deleteP      = "/tenant.v1.Projects/DeleteProject"
		transfer     = "/ledger.v1.Ledger/Transfer"
		sProjects    = "/tenant.v1.Projects/"
		projectOrg   = "organization=name~organizations/{organization}/projects/* from claim or audience"
		withdrawUp   = "step-up(acr=urn:logto:acr:mfa|urn:example:acr:hardware max_age=5m0s)"
	)
	mfa := grpcjwt.StepUp{ACRValues: []string{acrMFA}}
	const mfaUp = "step-up(acr=" + acrMFA + ")"
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServer(srv, greeter{})
	vaultv1.RegisterVaultServer(srv, vault{})
	vaultv1.RegisterMisconfiguredServer(srv, vaultv1.UnimplementedMisconfiguredServer{})
	tenantv1.RegisterProjectsServer(srv, &projects{})
	ledgerv1.RegisterLedgerServer(srv, ledger{})

	for _, tc := range []struct {
		name   string
		opts   []grpcjwt.Option
		method string
		want   string // the rule's String, without the method
		err    string // in an error of Audit about the method; "": none
	}{
		{"the .proto alone", nil, mSayHello, "required scopes=greet:read (proto:method)", ""},
		{"a Go revocation check", []grpcjwt.Option{grpcjwt.WithRevocationCheck(mSayHello)}, mSayHello,
			"required scopes=greet:read revocation-checked (go:method+proto:method:scopes)", "checks revocation"},
		{"Go scopes replace the .proto's", []grpcjwt.Option{grpcjwt.WithScopes(mSayHello, "x"), grpcjwt.WithStepUp(mSayHello, mfa)}, mSayHello,
			"required scopes=x " + mfaUp + " (go:method)", ""},
		{"a Go service rule over the .proto", []grpcjwt.Option{grpcjwt.WithScopes(sGreeter, "pay"), grpcjwt.WithStepUp(sGreeter, mfa), grpcjwt.WithRevocationCheck(mSayHello)}, mSayHello,
			"required scopes=pay " + mfaUp + " revocation-checked (go:method+go:service:scopes,step_up)", "checks revocation"},
		{"a method step-up in a scoped service", []grpcjwt.Option{grpcjwt.WithScopes(sGreeter, "pay"), grpcjwt.WithStepUp(mStream, mfa)}, mStream,
			"required scopes=pay " + mfaUp + " (go:method+go:service:scopes)", ""},
		{"WithScopes with none drops the service's and the .proto's", []grpcjwt.Option{grpcjwt.WithScopes(sGreeter, "pay"), grpcjwt.WithScopes(mChat)}, mChat,
			"required (go:method)", ""},
		{"WithIssuers with none drops the service's", []grpcjwt.Option{grpcjwt.WithIssuers(sGreeter, "https://a.example"), grpcjwt.WithIssuers(mSayHello)}, mSayHello,
			"required scopes=greet:read (go:method+proto:method:scopes)", ""},
		{"public service, scoped method", []grpcjwt.Option{grpcjwt.WithPublic(sGreeter), grpcjwt.WithScopes(mStream, "x")}, mStream,
			"required scopes=x (go:method)", ""},
		{"public service over the .proto scopes", []grpcjwt.Option{grpcjwt.WithPublic(sGreeter), grpcjwt.WithScopes(mStream, "x")}, mSayHello,
			"public (go:service)", ""},
		{"public method in a scoped service", []grpcjwt.Option{grpcjwt.WithScopes(sGreeter, "x"), grpcjwt.WithStepUp(sGreeter, mfa), grpcjwt.WithPublic(mSayHello)}, mSayHello,
			"public (go:method)", ""},
		{"optional service, method scopes", []grpcjwt.Option{grpcjwt.WithOptional(sGreeter), grpcjwt.WithScopes(mStream)}, mStream,
			"optional (go:method+go:service:access)", ""},
		{"Go optional keeps the .proto scopes", []grpcjwt.Option{grpcjwt.WithOptional(mSayHello)}, mSayHello,
			"optional scopes=greet:read (go:method+proto:method:scopes)", "is optional and has scopes"},
		{"a scope on a .proto public method", []grpcjwt.Option{grpcjwt.WithScopes(mInfo, "x")}, mInfo,
			"required scopes=x (go:method)", ""},
		{"Go optional over .proto public", []grpcjwt.Option{grpcjwt.WithOptional(mInfo)}, mInfo,
			"optional (go:method)", ""},
		{"a requirement the .proto public rule ignored applies once a token is needed", []grpcjwt.Option{grpcjwt.WithScopes(publicStepUp, "x")}, publicStepUp,
			"required scopes=x step-up(max_age=1m0s) (go:method+proto:method:step_up)", ""},
		{"the .proto public rule ignores its step-up", nil, publicStepUp,
			"public (proto:method)", "sets step_up, which only a token can meet"},
		{"Go scopes keep the .proto step-up", []grpcjwt.Option{grpcjwt.WithScopes(withdraw, "vault:admin")}, withdraw,
			"required scopes=vault:admin " + withdrawUp + " (go:method+proto:method:step_up)", ""},
		{"a service step-up over the .proto's", []grpcjwt.Option{grpcjwt.WithStepUp("/vault.v1.Vault/", mfa)}, withdraw,
			"required scopes=vault:write " + mfaUp + " (go:service+proto:method:scopes)", ""},
		{"a service scope keeps the .proto organization", []grpcjwt.Option{grpcjwt.WithScopes(sProjects, "projects:read")}, getProject,
			"required scopes=projects:read " + projectOrg + " (go:service+proto:method:organization)", ""},
		{"Go public over a .proto organization", []grpcjwt.Option{grpcjwt.WithPublic(getProject)}, getProject,
			"required " + projectOrg + " (go:method+proto:method:organization)", "WithoutOrganization"},
		{"Go public over a .proto organization, removed", []grpcjwt.Option{grpcjwt.WithPublic(getProject), grpcjwt.WithoutOrganization(getProject)}, getProject,
			"public (go:method)", ""},
		{"the .proto organization removed", []grpcjwt.Option{grpcjwt.WithoutOrganization(sProjects)}, getProject,
			"required (default)", ""},
		{"a Go organization rule replaces the .proto's", []grpcjwt.Option{grpcjwt.WithOrganization(getProject, grpcjwt.OrganizationRule{Field: "name", Token: grpcjwt.OrganizationFromClaim})}, getProject,
			"required organization=name from claim (go:method)", ""},
		{"Go scopes keep the .proto sender constraint", []grpcjwt.Option{grpcjwt.WithScopes(deleteP, "x")}, deleteP,
			"required scopes=x sender-constrained (go:method+proto:method:sender_constrained)", ""},
		{"Go scopes keep the .proto revocation check", []grpcjwt.Option{grpcjwt.WithScopes(transfer)}, transfer,
			"required revocation-checked (go:method+proto:method:revocation_check)", "checks revocation"},
		{"sender-constrained everywhere is no level", []grpcjwt.Option{grpcjwt.WithSenderConstrainedEverywhere()}, mSayHello,
			"required scopes=greet:read sender-constrained (proto:method)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := auditOf(t, srv, tc.opts...)
			if got, want := ruleOf(rules, tc.method), tc.method+" "+tc.want; got != want {
				t.Errorf("Audit shows\n%s\nwant\n%s", got, want)
			}
			var about []string
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if mentions(line, tc.method) {
						about = append(about, line)
					}
				}
			}
			switch {
			case tc.err == "" && len(about) > 0:
				t.Errorf("Audit: %s", strings.Join(about, "\n"))
			case tc.err != "" && !strings.Contains(strings.Join(about, "\n"), tc.err):
				t.Errorf("Audit says %q of %s, want %q", about, tc.method, tc.err)
			}
		})
	}
}

// mentions reports whether line names method, and not only a method whose
// name it starts.
func mentions(line, method string) bool {
	for i := strings.Index(line, method); i >= 0; i = strings.Index(line, method) {
		line = line[i+len(method):]
		if line == "" || !unicode.IsLetter(rune(line[0])) && !unicode.IsDigit(rune(line[0])) {
			return true
		}
	}
	return false
}

// scopedService is a service registered in the protobuf registry, as
// generated code would, whose .proto service option requires svc:read,
// and which has one method, Get.
const scopedService = "grpcjwt.composetest.v1.Scoped"

var registerScopedService = sync.OnceValue(func() error {
	opts := &descriptorpb.ServiceOptions{}
	proto.SetExtension(opts, grpcjwtv1.E_Service, &grpcjwtv1.Rule{Scopes: []string{"svc:read"}})
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("grpcjwt/composetest/v1/scoped.proto"),
		Package:    proto.String("grpcjwt.composetest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:    proto.String("Scoped"),
			Options: opts,
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("Get"),
				InputType:  proto.String(".google.protobuf.Empty"),
				OutputType: proto.String(".google.protobuf.Empty"),
			}},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	return protoregistry.GlobalFiles.RegisterFile(fd)
})

// TestServiceRulesCompose: over real gRPC, on a server that serves any
// method, a Go service rule composes with a .proto service option, on a
// method the registry has and on one it does not (whose rule is resolved
// on every call and never kept), and the refusals tell the client the
// requirements of the composed rule.
func TestServiceRulesCompose(t *testing.T) {
	if err := registerScopedService(); err != nil {
		t.Fatal(err)
	}
	iss := newIssuer(t)
	v := newValidator(t, iss)
	svc := "/" + scopedService + "/"
	tok := func(acr, scope string) context.Context {
		return withAuth("Bearer " + iss.Token(map[string]any{"acr": acr, "scope": scope}))
	}
	for _, tc := range []struct {
		name  string
		opts  []grpcjwt.Option
		scope string // the scope a refusal names
	}{
		{"a Go step-up beside the .proto scope", []grpcjwt.Option{grpcjwt.WithStepUp(svc, grpcjwt.StepUp{ACRValues: []string{acrMFA}})}, "svc:read"},
		{"a Go scope and step-up", []grpcjwt.Option{grpcjwt.WithStepUp(svc, grpcjwt.StepUp{ACRValues: []string{acrMFA}}), grpcjwt.WithScopes(svc, "svc:write")}, "svc:write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyOf(t, v, tc.opts...)
			conn := listen(t, grpc.NewServer(
				grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
					if err := s.RecvMsg(&emptypb.Empty{}); err != nil {
						return err
					}
					return s.SendMsg(&emptypb.Empty{})
				}),
				grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
				grpc.ChainStreamInterceptor(p.StreamServerInterceptor())))
			for _, m := range []string{"Get", "Unregistered"} {
				invoke := func(ctx context.Context) error {
					return conn.Invoke(ctx, svc+m, &emptypb.Empty{}, &emptypb.Empty{})
				}
				wantMetadata(t, invoke(tok(acrMFA, "")), codes.PermissionDenied, grpcjwt.CodeInsufficientScope, map[string]string{grpcjwt.ScopeKey: tc.scope})
				wantMetadata(t, invoke(tok(acr1FA, tc.scope)), codes.Unauthenticated, grpcjwt.CodeInsufficientUserAuthentication, map[string]string{grpcjwt.ACRValuesKey: acrMFA})
				wantStatus(t, invoke(withAuth()), codes.Unauthenticated, grpcjwt.CodeHeaderMissing)
				if err := invoke(tok(acrMFA, tc.scope)); err != nil {
					t.Errorf("%s with the scope and the login: %v", m, err)
				}
			}
		})
	}
}
