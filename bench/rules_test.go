package bench

import (
	"context"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// BenchmarkRules calls the grpcjwt unary interceptor, cache hit, on
// SayHello: under its .proto rule alone (scope greet:read), then under
// every rule that composes (a step-up rule with acr values and a max_age,
// alternatives of scopes, the issuers and audiences it accepts), which
// the token meets; the difference is what those checks cost. Then two
// refusals that tell the client what would succeed, from statuses built
// once: a missing scope (the scope in the ErrorInfo) and a login too weak
// (acr_values and max_age).
func BenchmarkRules(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	v := memoize(b, "rules validator", func() (*grpcjwt.Validator, error) {
		return NewValidator(context.Background(), f.Issuer, 0, 0)
	})
	const method = greeterv1.Greeter_SayHello_FullMethodName
	plain := mustPolicy(v)
	composed := mustPolicy(v,
		grpcjwt.WithScopes(method, "greet:read"),
		grpcjwt.WithStepUp(method, grpcjwt.StepUp{ACRValues: []string{"urn:logto:acr:mfa"}, AMR: []string{"otp"}, MaxAge: time.Hour}),
		grpcjwt.WithAnyScopes(method, []string{"greet:all"}, []string{"greet:write", "profile"}),
		grpcjwt.WithIssuers(method, f.Issuer.URL),
		grpcjwt.WithAudiences(method, f.Issuer.Audience),
	)
	login := func(acr, scope string) string {
		c := TokenClaims(time.Now())
		c["acr"], c["amr"], c["auth_time"], c["scope"] = acr, []string{"pwd", "otp"}, time.Now().Unix(), scope
		return f.Issuer.Token(c, grpcjwttest.WithKeyFor(alg))
	}
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	info := &grpc.UnaryServerInfo{FullMethod: method}
	for _, r := range []struct {
		name   string
		policy *grpcjwt.Policy
		token  string
		refuse string // the message of the refusal, or "" to let in
	}{
		{"sayhello", plain, login("urn:logto:acr:mfa", Scopes), ""},
		{"composed", composed, login("urn:logto:acr:mfa", Scopes), ""},
		{"refusal-scope", composed, login("urn:logto:acr:mfa", "profile"), grpcjwt.CodeInsufficientScope},
		{"refusal-stepup", composed, login("urn:logto:acr:1fa", Scopes), grpcjwt.CodeInsufficientUserAuthentication},
	} {
		b.Run(alg+"/interceptor-cachehit-"+r.name, func(b *testing.B) {
			icpt := r.policy.UnaryServerInterceptor()
			ctx := CallContext(method, r.token)
			if _, err := icpt(ctx, req, info, handler); status.Convert(err).Message() != r.refuse {
				b.Fatalf("got %v, want %q", err, r.refuse)
			}
			benchPaired(b, f.Issuer, func() { _, _ = icpt(ctx, req, info, handler) }, nil, false)
		})
	}
}
