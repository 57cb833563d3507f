package grpcjwt_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

const (
	getProject      = "/tenant.v1.Projects/GetProject"
	describeProject = "/tenant.v1.Projects/DescribeProject"
	orgAudience     = grpcjwttest.OrganizationAudiencePrefix
)

// twoTenants returns the tenant's own issuer, a partner issuer, and a
// validator that trusts both: the tenant's to assert organizations (by
// Logto's claim and audience prefix), the partner's as partner configures.
func twoTenants(t *testing.T, partner grpcjwt.IssuerConfig) (own, other *grpcjwttest.Issuer, v *grpcjwt.Validator) {
	t.Helper()
	own, other = newIssuer(t), newIssuer(t)
	partner.Issuer, partner.Audience = other.URL, other.Audience
	v = newValidator(t, own, func(c *grpcjwt.Config) {
		c.AudiencePrefixes = []string{orgAudience}
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim
		c.Issuers = []grpcjwt.IssuerConfig{partner}
	})
	return own, other, v
}

// getAs calls GetProject for organization acme with a token of iss.
func getAs(client tenantv1.ProjectsClient, iss *grpcjwttest.Issuer, claims map[string]any, opts ...grpcjwttest.TokenOption) error {
	_, err := client.GetProject(withAuth("Bearer "+iss.Token(claims, opts...)), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"})
	return err
}

// TestOrganizationsBelongToIssuers: a trusted issuer that is not configured
// to assert organizations never satisfies an organization rule, by claim
// or by audience, whatever its tokens say.
func TestOrganizationsBelongToIssuers(t *testing.T) {
	own, partner, v := twoTenants(t, grpcjwt.IssuerConfig{})
	client, _, causes := tenantServerFor(t, v)
	if err := getAs(client, own, nil, grpcjwttest.WithOrganization("acme")); err != nil {
		t.Fatalf("the tenant's own token for acme: %v", err)
	}
	for name, claims := range map[string]map[string]any{
		"organization_id claim":       {"organization_id": "acme"},
		"a second, organization aud":  {"aud": []string{partner.Audience, orgAudience + "acme"}},
		"claim and audience together": {"organization_id": "acme", "aud": []string{partner.Audience, orgAudience + "acme"}},
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, getAs(client, partner, claims), codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
			if last := (*causes)[len(*causes)-1]; !strings.Contains(last.Error(), "asserts no organization") {
				t.Errorf("cause %v", last)
			}
		})
	}
	t.Run("audience only: the partner accepts no organization audience", func(t *testing.T) {
		err := getAs(client, partner, map[string]any{"aud": orgAudience + "acme"})
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	})
	t.Run("audience-only rule", func(t *testing.T) {
		s, err := client.ListProjects(withAuth("Bearer "+partner.Token(map[string]any{"aud": []string{partner.Audience, orgAudience + "acme"}})),
			&tenantv1.ListProjectsRequest{Parent: "organizations/acme"})
		if err == nil {
			_, err = s.Recv()
		}
		wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	})
}

// TestOrganizationRuleIssuers: an issuer configured to assert
// organizations does so for every rule that does not name issuers; a rule
// that names them accepts only theirs, from Go and from .proto alike.
func TestOrganizationRuleIssuers(t *testing.T) {
	own, partner, v := twoTenants(t, grpcjwt.IssuerConfig{OrganizationClaim: "tenant"})
	client, _, _ := tenantServerFor(t, v, grpcjwt.WithOrganization(describeProject, grpcjwt.OrganizationRule{
		Field: "organization", Issuers: []string{own.URL},
	}))
	if err := getAs(client, partner, map[string]any{"tenant": "acme"}); err != nil {
		t.Fatalf("a partner configured with its organization claim: %v", err)
	}
	// The partner's organization_id is not the claim it is trusted for.
	wantStatus(t, getAs(client, partner, map[string]any{"organization_id": "acme"}), codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)

	describe := func(iss *grpcjwttest.Issuer, claims map[string]any) error {
		_, err := client.DescribeProject(withAuth("Bearer "+iss.Token(claims)), &tenantv1.DescribeProjectRequest{Organization: "acme"})
		return err
	}
	if err := describe(own, map[string]any{"organization_id": "acme"}); err != nil {
		t.Fatalf("a rule naming the tenant's issuer, its token: %v", err)
	}
	wantStatus(t, describe(partner, map[string]any{"tenant": "acme"}), codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)

	// ArchiveProject's .proto rule accepts https://tenant.example/oidc only.
	_, err := client.ArchiveProject(withAuth("Bearer "+own.Token(nil, grpcjwttest.WithOrganization("acme"))), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"})
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)

	srv := grpc.NewServer()
	tenantv1.RegisterProjectsServer(srv, &projects{})
	rules, err := policyOf(t, v, grpcjwt.WithOrganization(describeProject, grpcjwt.OrganizationRule{Field: "organization", Issuers: []string{own.URL}})).Audit(srv)
	if err == nil || !strings.Contains(err.Error(), `/tenant.v1.Projects/ArchiveProject: the organization rule names issuer "https://tenant.example/oidc", which the Validator does not trust`) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("Audit = %v, want one error: ArchiveProject's issuer is not trusted", err)
	}
	shown := map[string]string{}
	for _, r := range rules {
		shown[r.FullMethod] = r.String()
	}
	for method, want := range map[string]string{
		"/tenant.v1.Projects/ArchiveProject": "of issuers https://tenant.example/oidc",
		describeProject:                      "of issuers " + own.URL,
	} {
		if !strings.Contains(shown[method], want) {
			t.Errorf("Audit shows %q, want it to contain %q", shown[method], want)
		}
	}
}

// TestOrganizationAudienceNeedsThePrefix: an issuer without audience
// prefixes asserts no organization by audience, even from a second "aud"
// entry that looks like Logto's.
func TestOrganizationAudienceNeedsThePrefix(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim })
	client, _, _ := tenantServerWith(t, v, false)
	// Audit says so at startup: the rule that reads the audience only can
	// never be satisfied.
	srv := grpc.NewServer()
	tenantv1.RegisterProjectsServer(srv, &projects{})
	if _, err := policyOf(t, v).Audit(srv); err == nil || !strings.Contains(err.Error(), "/tenant.v1.Projects/ListProjects: no trusted issuer it accepts asserts organizations where it reads them") {
		t.Errorf("Audit = %v", err)
	}
	tok := iss.Token(map[string]any{"aud": []string{iss.Audience, orgAudience + "acme"}})
	s, err := client.ListProjects(withAuth("Bearer "+tok), &tenantv1.ListProjectsRequest{Parent: "organizations/acme", Count: 1})
	if err == nil {
		_, err = s.Recv()
	}
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	wantStatus(t, getAs(client, iss, map[string]any{"aud": []string{iss.Audience, orgAudience + "acme"}}), codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
}

// TestOrganizationTokenNeverOnClaimOnlyRules: a token accepted only by an
// audience prefix is refused, as on a method with no organization rule, by
// a rule that reads the claim only, even if it carries the claim.
func TestOrganizationTokenNeverOnClaimOnlyRules(t *testing.T) {
	iss := newIssuer(t)
	client, _, causes := tenantServer(t, iss)
	tok := iss.Token(nil, grpcjwttest.WithOrganizationAudience("acme"), grpcjwttest.WithOrganization("acme"))
	_, err := client.UpdateProject(withAuth("Bearer "+tok), &tenantv1.UpdateProjectRequest{Project: &tenantv1.Project{OrganizationId: "acme"}})
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if last := (*causes)[len(*causes)-1]; !errors.Is(last, grpcjwt.ErrAudienceMismatch) {
		t.Errorf("cause %v, want ErrAudienceMismatch", last)
	}
	// The same token where the audience counts.
	if err := getAs(client, iss, nil, grpcjwttest.WithOrganizationAudience("acme"), grpcjwttest.WithOrganization("acme")); err != nil {
		t.Fatalf("on a claim-or-audience rule: %v", err)
	}
}

// TestOrganizationSurvivesGoOverrides: a Go rule for a method, or for its
// service, keeps the method's .proto organization rule; making it public
// does not switch isolation off unless WithoutOrganization says so, and
// Audit refuses the attempt.
func TestOrganizationSurvivesGoOverrides(t *testing.T) {
	iss := newIssuer(t)
	globex := iss.Token(map[string]any{"scope": "projects:read"}, grpcjwttest.WithOrganization("globex"))
	acme := iss.Token(map[string]any{"scope": "projects:read"}, grpcjwttest.WithOrganization("acme"))
	for name, opts := range map[string][]grpcjwt.Option{
		"service scope": {grpcjwt.WithScopes("/tenant.v1.Projects/", "projects:read")},
		"method scope":  {grpcjwt.WithScopes(getProject, "projects:read")},
		"method access": {grpcjwt.WithOptional(getProject)},
	} {
		t.Run(name, func(t *testing.T) {
			srv := grpc.NewServer()
			tenantv1.RegisterProjectsServer(srv, &projects{})
			rules, _ := auditOf(t, srv, opts...)
			for _, r := range rules {
				if r.FullMethod == getProject && (r.Organization == nil || !strings.Contains(r.Source, "proto:method:organization")) {
					t.Errorf("Audit shows %s", r)
				}
			}
			client, _, _ := tenantServerUnaudited(t, iss, opts...)
			_, err := client.GetProject(withAuth("Bearer "+globex), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"})
			wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
			if _, err := client.GetProject(withAuth("Bearer "+acme), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"}); err != nil {
				t.Fatalf("the right organization: %v", err)
			}
		})
	}
	t.Run("made public", func(t *testing.T) {
		srv := grpc.NewServer()
		tenantv1.RegisterProjectsServer(srv, &projects{})
		_, err := auditOf(t, srv, grpcjwt.WithPublic(getProject))
		if err == nil || !strings.Contains(err.Error(), "WithoutOrganization") {
			t.Fatalf("Audit = %v, want it to refuse a public override of an organization rule", err)
		}
		client, _, _ := tenantServerUnaudited(t, iss, grpcjwt.WithPublic(getProject))
		_, err = client.GetProject(context.Background(), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"})
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeHeaderMissing)
		_, err = client.GetProject(withAuth("Bearer "+globex), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"})
		wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	})
	t.Run("removed explicitly", func(t *testing.T) {
		opts := []grpcjwt.Option{grpcjwt.WithPublic(getProject), grpcjwt.WithoutOrganization(getProject)}
		client, _, _ := tenantServer(t, iss, opts...) // Audit passes
		if _, err := client.GetProject(context.Background(), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"}); err != nil {
			t.Fatalf("public, organization rule removed: %v", err)
		}
		client, _, _ = tenantServer(t, iss, grpcjwt.WithoutOrganization("/tenant.v1.Projects/"))
		if _, err := client.GetProject(withAuth("Bearer "+globex), &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p1"}); err != nil {
			t.Fatalf("the .proto rule without its organization rule: %v", err)
		}
	})
	t.Run("WithoutOrganization of an unknown method", func(t *testing.T) {
		srv := grpc.NewServer()
		tenantv1.RegisterProjectsServer(srv, &projects{})
		_, err := auditOf(t, srv, grpcjwt.WithoutOrganization("/tenant.v1.Projects/GetProjects"))
		if err == nil || !strings.Contains(err.Error(), "GetProjects") {
			t.Fatalf("Audit = %v", err)
		}
	})
}

// tenantServerUnaudited is tenantServer for options Audit refuses.
func tenantServerUnaudited(t *testing.T, iss *grpcjwttest.Issuer, opts ...grpcjwt.Option) (tenantv1.ProjectsClient, *projects, *[]error) {
	t.Helper()
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.AudiencePrefixes = []string{orgAudience}
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim
	})
	return tenantServerWith(t, v, false, opts...)
}

// TestResourceNamesAreCanonical: a name with ".", ".." or empty segments
// or a percent-escape never matches, wherever it is.
func TestResourceNamesAreCanonical(t *testing.T) {
	iss := newIssuer(t)
	client, _, _ := tenantServer(t, iss)
	org := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganizationAudience("acme")))
	list := func(parent string) error {
		s, err := client.ListProjects(org, &tenantv1.ListProjectsRequest{Parent: parent, Count: 1})
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	if err := list("organizations/acme/projects/p1"); err != nil {
		t.Fatalf("a canonical name: %v", err)
	}
	for _, name := range []string{
		"organizations/acme/../globex/projects/p1",
		"organizations/acme/..",
		"organizations/acme/./projects",
		"organizations/acme//projects",
		"organizations/acme/projects/",
		"organizations/acme/%2e%2e/globex",
		"organizations/ac%6De",
		"/organizations/acme",
	} {
		wantStatus(t, list(name), codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	}
	acme := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganization("acme")))
	for _, name := range []string{"organizations/acme/projects/..", "organizations/acme/projects/."} {
		_, err := client.GetProject(acme, &tenantv1.GetProjectRequest{Name: name})
		wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	}
}

// TestTopLevelSettingsApplyToEveryIssuer: with only Issuers, the top-level
// Algorithms and RequireATJWT still hold, and are checked.
func TestTopLevelSettingsApplyToEveryIssuer(t *testing.T) {
	iss, other := newIssuer(t), newIssuer(t)
	only := func(mod func(*grpcjwt.Config)) grpcjwt.Config {
		c := grpcjwt.Config{Issuers: []grpcjwt.IssuerConfig{{Issuer: iss.URL, Audience: iss.Audience}}}
		mod(&c)
		return c
	}
	for name, cfg := range map[string]grpcjwt.Config{
		"HS256":           only(func(c *grpcjwt.Config) { c.Algorithms = []string{"HS256"} }),
		"none":            only(func(c *grpcjwt.Config) { c.Algorithms = []string{"none"} }),
		"unknown":         only(func(c *grpcjwt.Config) { c.Algorithms = []string{"RS1"} }),
		"entry HS256":     only(func(c *grpcjwt.Config) { c.Issuers[0].Algorithms = []string{"HS256"} }),
		"entry widens":    only(func(c *grpcjwt.Config) { c.Algorithms, c.Issuers[0].Algorithms = []string{"ES256"}, []string{"RS256"} }),
		"ScopeClaims":     only(func(c *grpcjwt.Config) { c.ScopeClaims = []string{"permissions"} }),
		"org claim":       only(func(c *grpcjwt.Config) { c.OrganizationClaim = "organization_id" }),
		"bad org claim":   {Issuer: iss.URL, Audience: iss.Audience, OrganizationClaim: "a..b"},
		"main widens":     {Issuer: iss.URL, Audience: iss.Audience, Algorithms: []string{"ES256"}, Issuers: []grpcjwt.IssuerConfig{{Issuer: other.URL, Audience: other.Audience, Algorithms: []string{"RS256"}}}},
		"main with HS384": {Issuer: iss.URL, Audience: iss.Audience, Algorithms: []string{"HS384"}},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := grpcjwt.NewValidator(context.Background(), cfg)
			if err == nil {
				v.Close()
			}
			if !errors.Is(err, grpcjwt.ErrConfig) {
				t.Fatalf("NewValidator = %v, want ErrConfig", err)
			}
		})
	}
	validate := func(cfg grpcjwt.Config, tok string) error {
		v, err := grpcjwt.NewValidator(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		_, err = v.Validate(context.Background(), tok)
		return err
	}
	rs256 := iss.Token(nil)
	if err := validate(only(func(c *grpcjwt.Config) { c.Algorithms = []string{"ES256"} }), rs256); !errors.Is(err, grpcjwt.ErrAlgorithmNotAllowed) {
		t.Errorf("Algorithms ES256, an RS256 token: %v", err)
	}
	if err := validate(only(func(c *grpcjwt.Config) { c.Algorithms = []string{"RS256", "ES256"} }), rs256); err != nil {
		t.Errorf("Algorithms RS256, ES256, an RS256 token: %v", err)
	}
	typJWT := iss.Token(nil, grpcjwttest.WithHeader("typ", "JWT"))
	if err := validate(only(func(c *grpcjwt.Config) { c.RequireATJWT = true }), typJWT); !errors.Is(err, grpcjwt.ErrJWTTypeNotAllowed) {
		t.Errorf("RequireATJWT, a JWT-typed token: %v", err)
	}
	// Beside Config.Issuer, the entries get the top-level settings too.
	cfg := grpcjwt.Config{Issuer: other.URL, Audience: other.Audience, RequireATJWT: true, Algorithms: []string{"ES256"},
		Issuers: []grpcjwt.IssuerConfig{{Issuer: iss.URL, Audience: iss.Audience}}}
	if err := validate(cfg, rs256); !errors.Is(err, grpcjwt.ErrAlgorithmNotAllowed) {
		t.Errorf("an entry under Algorithms ES256, an RS256 token: %v", err)
	}
	cfg.Algorithms = nil
	if err := validate(cfg, typJWT); !errors.Is(err, grpcjwt.ErrJWTTypeNotAllowed) {
		t.Errorf("an entry under RequireATJWT, a JWT-typed token: %v", err)
	}
}

// TestStreamExpiryIsOneDecision: a stream ended by its token's expiry was
// decided once, when it opened.
func TestStreamExpiryIsOneDecision(t *testing.T) {
	iss := newIssuer(t)
	rec := &recorder{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway, c.Observer = -1, rec })
	var ended atomic.Int32
	client := serve(t, &slowGreeter{}, grpc.ChainStreamInterceptor(policyOf(t, v,
		grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
			if errors.Is(err, grpcjwt.ErrTokenExpired) {
				ended.Add(1)
			}
		})).StreamServerInterceptor()))
	tok := iss.Token(map[string]any{"exp": time.Now().Add(1500 * time.Millisecond).Unix()})
	s, err := client.SayHelloStream(withAuth("Bearer "+tok), &greeterv1.SayHelloStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = s.Recv()
	}
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	waitFor(t, func() bool { return ended.Load() == 1 })
	decisions, _, _ := rec.snapshot()
	if len(decisions) != 1 || decisions[0].Result != grpcjwt.ResultOK {
		t.Errorf("decisions %+v, want one, ok", decisions)
	}
}

// TestAuthFuncStreamEndsWithToken: a stream admitted by AuthFunc through
// go-grpc-middleware's auth interceptor has a context that ends at the
// token's expiry, with ErrTokenExpired as its cause; a unary call's
// context gets no deadline.
func TestAuthFuncStreamEndsWithToken(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway = -1 })
	g := &causeGreeter{}
	f := policyOf(t, v).AuthFunc()
	client := serve(t, g,
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(f)),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(f)))
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	tok := iss.Token(map[string]any{"exp": exp.Unix(), "scope": "greet:read greet:write"})
	if _, err := client.SayHello(withAuth("Bearer "+tok), &greeterv1.SayHelloRequest{}); err != nil {
		t.Fatal(err)
	}
	if g.unaryDeadline.Load() {
		t.Error("a unary call's context got a deadline")
	}
	ctx, cancel := context.WithTimeout(withAuth("Bearer "+tok), 10*time.Second)
	defer cancel()
	s, err := client.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = s.Recv()
	}
	if late := time.Since(exp); late < 0 || late > time.Second {
		t.Errorf("the stream ended %v after exp (%v)", late, err)
	}
	waitFor(t, func() bool { return g.cause.Load() != nil })
	if cause := *g.cause.Load(); !errors.Is(cause, grpcjwt.ErrTokenExpired) {
		t.Errorf("the handler's context ended with cause %v, want ErrTokenExpired", cause)
	}
}

// causeGreeter records whether SayHello's context had a deadline, and
// streams until its context ends, recording the cause.
type causeGreeter struct {
	greeter
	unaryDeadline atomic.Bool
	cause         atomic.Pointer[error]
}

func (g *causeGreeter) SayHello(ctx context.Context, r *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
	_, ok := ctx.Deadline()
	g.unaryDeadline.Store(ok)
	return g.greeter.SayHello(ctx, r)
}

func (g *causeGreeter) SayHelloStream(_ *greeterv1.SayHelloStreamRequest, s grpc.ServerStreamingServer[greeterv1.SayHelloStreamResponse]) error {
	<-s.Context().Done()
	cause := context.Cause(s.Context())
	g.cause.Store(&cause)
	return s.Context().Err()
}
