package grpcjwt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	mSayHello = "/greeter.v1.Greeter/SayHello"
	mStream   = "/greeter.v1.Greeter/SayHelloStream"
	mChat     = "/greeter.v1.Greeter/Chat"
	mInfo     = "/greeter.v1.Greeter/Info"
	sGreeter  = "/greeter.v1.Greeter/"
)

func info(ctx context.Context, c greeterv1.GreeterClient) (string, error) {
	r, err := c.Info(ctx, &greeterv1.InfoRequest{})
	return r.GetSubject(), err
}

// ruleCase is one call and what must come of it: an error status, or
// success with the handler seeing subject sub ("" for no claims).
type ruleCase struct {
	name string
	do   call
	auth []string
	code codes.Code // OK for success
	sub  string
}

func runRuleCases(t *testing.T, client greeterv1.GreeterClient, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := tc.do(withAuth(tc.auth...), client)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				if sub != tc.sub {
					t.Errorf("handler saw subject %q, want %q", sub, tc.sub)
				}
				return
			}
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.code)
			}
		})
	}
}

func TestRules(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	tok := func(scope string) string {
		return "Bearer " + iss.Token(map[string]any{"sub": "alice", "scope": scope})
	}
	all := tok("greet:read greet:write greet:stream")
	none := tok("")
	garbage := "Bearer garbage"

	t.Run("proto options", func(t *testing.T) {
		c := protected(t, v)
		runRuleCases(t, c, []ruleCase{
			{"SayHello with greet:read", calls["unary"], []string{tok("greet:read")}, codes.OK, "alice"},
			{"SayHello without greet:read", calls["unary"], []string{tok("greet:write")}, codes.PermissionDenied, ""},
			{"SayHello with a longer scope", calls["unary"], []string{tok("greet:read:all")}, codes.PermissionDenied, ""},
			{"SayHello with a prefix scope", calls["unary"], []string{tok("greet")}, codes.PermissionDenied, ""},
			{"SayHello without token", calls["unary"], nil, codes.Unauthenticated, ""},
			{"Chat with greet:write", calls["bidi"], []string{tok("greet:write")}, codes.OK, "alice"},
			{"Chat without greet:write", calls["bidi"], []string{tok("greet:read")}, codes.PermissionDenied, ""},
			{"stream with no scope", calls["server-stream"], []string{none}, codes.OK, "alice"},
			{"Info public without token", info, nil, codes.OK, ""},
			{"Info public parses no token", info, []string{garbage}, codes.OK, ""},
			{"Info public ignores a good token", info, []string{all}, codes.OK, ""},
		})
	})

	t.Run("go options", func(t *testing.T) {
		c := protected(t, v,
			grpcjwt.WithPublic(mSayHello),
			grpcjwt.WithOptional(mStream),
			grpcjwt.WithScopes(mChat, "greet:write", "greet:admin"),
			grpcjwt.WithOptional(mInfo))
		runRuleCases(t, c, []ruleCase{
			{"public unary, no token", calls["unary"], nil, codes.OK, ""},
			{"public unary parses no token", calls["unary"], []string{garbage}, codes.OK, ""},
			{"optional stream, no token", calls["server-stream"], nil, codes.OK, ""},
			{"optional stream, good token", calls["server-stream"], []string{none}, codes.OK, "alice"},
			{"optional stream, bad token", calls["server-stream"], []string{garbage}, codes.Unauthenticated, ""},
			{"optional stream, malformed header", calls["server-stream"], []string{"Bearer"}, codes.Unauthenticated, ""},
			{"optional stream, Basic", calls["server-stream"], []string{"Basic x"}, codes.Unauthenticated, ""},
			{"bidi needs both scopes", calls["bidi"], []string{tok("greet:write")}, codes.PermissionDenied, ""},
			{"bidi with both scopes", calls["bidi"], []string{tok("greet:admin greet:write")}, codes.OK, "alice"},
			{"Go optional overrides proto public", info, nil, codes.OK, ""},
			{"Go optional parses a token proto made public", info, []string{none}, codes.OK, "alice"},
		})
	})

	t.Run("service rule and method override", func(t *testing.T) {
		c := protected(t, v,
			grpcjwt.WithScopes(sGreeter, "greet:stream"),
			grpcjwt.WithPublic(mInfo),
			grpcjwt.WithScopes(mChat, "greet:write"))
		runRuleCases(t, c, []ruleCase{
			{"service scope on unary", calls["unary"], []string{tok("greet:read")}, codes.PermissionDenied, ""},
			{"service scope satisfied", calls["unary"], []string{tok("greet:stream")}, codes.OK, "alice"},
			{"service scope on stream", calls["server-stream"], []string{tok("greet:read")}, codes.PermissionDenied, ""},
			{"method scopes replace the service's", calls["bidi"], []string{tok("greet:write")}, codes.OK, "alice"},
			{"public method in a scoped service", info, nil, codes.OK, ""},
		})
	})

	t.Run("public service", func(t *testing.T) {
		c := protected(t, v, grpcjwt.WithPublic(sGreeter), grpcjwt.WithScopes(mChat, "greet:write"))
		runRuleCases(t, c, []ruleCase{
			{"unary", calls["unary"], nil, codes.OK, ""},
			{"stream", calls["server-stream"], []string{garbage}, codes.OK, ""},
			{"method still protected", calls["bidi"], nil, codes.Unauthenticated, ""},
		})
	})
}

func TestAuthorizerHook(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	var seen []string
	hook := func(ctx context.Context, method string, c *grpcjwt.Claims) error {
		seen = append(seen, method)
		var org string
		if ok, _ := c.Get("organization_id", &org); !ok {
			return errors.New("no organization")
		}
		if org == "suspended" {
			return status.Error(codes.FailedPrecondition, "organization suspended")
		}
		return nil
	}
	c := protected(t, v, grpcjwt.WithAuthorizer(hook), grpcjwt.WithPublic(mSayHello))
	tok := func(claims map[string]any) string { return "Bearer " + iss.Token(claims) }
	runRuleCases(t, c, []ruleCase{
		{"org present", calls["server-stream"], []string{tok(map[string]any{"organization_id": "acme"})}, codes.OK, "user-123"},
		{"org missing", calls["server-stream"], []string{tok(nil)}, codes.PermissionDenied, ""},
		{"hook status passes through", calls["server-stream"], []string{tok(map[string]any{"organization_id": "suspended"})}, codes.FailedPrecondition, ""},
		{"public method skips the hook", calls["unary"], nil, codes.OK, ""},
	})
	_, err := calls["server-stream"](withAuth(tok(nil)), c)
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
	if len(seen) != 4 || seen[0] != mStream {
		t.Errorf("hook saw %q", seen)
	}
}

func TestAudit(t *testing.T) {
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServer(srv, greeter{})
	rules, err := auditOf(t, srv, grpcjwt.WithOptional(mStream))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.String())
	}
	want := []string{
		"/greeter.v1.Greeter/Chat required scopes=greet:write (proto:method)",
		"/greeter.v1.Greeter/Info public (proto:method)",
		"/greeter.v1.Greeter/SayHello required scopes=greet:read (proto:method)",
		"/greeter.v1.Greeter/SayHelloStream optional (go:method)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Audit =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !rules[0].ClientStream || !rules[0].ServerStream || rules[2].ClientStream {
		t.Errorf("stream flags wrong: %+v", rules)
	}

	for _, bad := range []grpcjwt.Option{
		grpcjwt.WithPublic("/greeter.v1.Greeter/SayHelo"),
		grpcjwt.WithScopes("/greeter.v1.Greter/", "x"),
		grpcjwt.WithOptional("greeter.v1.Greeter/Chat"),
	} {
		if _, err := auditOf(t, srv, bad); err == nil || !strings.Contains(err.Error(), "does not have") {
			t.Errorf("typo not reported: %v", err)
		}
	}
	if _, err := auditOf(t, srv, grpcjwt.WithPublic(mChat), grpcjwt.WithScopes(mChat, "x")); err == nil {
		t.Error("public method with scopes not reported")
	}
}

// overriding handles its own authentication through go-grpc-middleware's
// ServiceAuthFuncOverride.
type overriding struct{ greeter }

func (overriding) AuthFuncOverride(ctx context.Context, fullMethod string) (context.Context, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("x-api-key")) == 1 && md.Get("x-api-key")[0] == "secret" {
		return ctx, nil
	}
	return nil, status.Error(codes.Unauthenticated, "api key required")
}

func TestComposition(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	good := "Bearer " + iss.Token(map[string]any{"scope": "greet:read greet:write"})

	t.Run("selector", func(t *testing.T) {
		p := policyOf(t, v)
		notChat := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return c.FullMethod() != mChat })
		c := serve(t, greeter{},
			grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(p.UnaryServerInterceptor(), notChat)),
			grpc.ChainStreamInterceptor(selector.StreamServerInterceptor(p.StreamServerInterceptor(), notChat)))
		runRuleCases(t, c, []ruleCase{
			{"selected unary needs a token", calls["unary"], nil, codes.Unauthenticated, ""},
			{"selected unary with token", calls["unary"], []string{good}, codes.OK, "user-123"},
			{"selected stream needs a token", calls["server-stream"], nil, codes.Unauthenticated, ""},
			{"unselected bidi runs without", calls["bidi"], nil, codes.OK, ""},
		})
	})
	t.Run("AuthFunc with selector", func(t *testing.T) {
		onlyHello := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return c.FullMethod() == mSayHello })
		c := serve(t, greeter{},
			grpc.ChainUnaryInterceptor(selector.UnaryServerInterceptor(policyOf(t, v, grpcjwt.WithScopes(mSayHello, "greet:write")).UnaryServerInterceptor(), onlyHello)))
		runRuleCases(t, c, []ruleCase{
			{"rule applies", calls["unary"], []string{"Bearer " + iss.Token(map[string]any{"scope": "greet:read"})}, codes.PermissionDenied, ""},
			{"rule satisfied", calls["unary"], []string{good}, codes.OK, "user-123"},
			{"Info unselected", info, nil, codes.OK, ""},
		})
	})
	p := policyOf(t, v)
	t.Run("ServiceAuthFuncOverride", func(t *testing.T) {
		c := serve(t, overriding{},
			grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
		ctx := metadata.AppendToOutgoingContext(withAuth(), "x-api-key", "secret")
		for kind, do := range calls {
			if _, err := do(ctx, c); err != nil {
				t.Errorf("%s with API key: %v", kind, err)
			}
			_, err := do(withAuth(good), c)
			if status.Convert(err).Message() != "api key required" {
				t.Errorf("%s: the override was not used: %v", kind, err)
			}
		}
	})
}
