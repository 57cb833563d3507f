package grpcjwt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// projects echoes what it receives; seen records every message a handler
// got, and cancelled whether SyncProjects saw its context end.
type projects struct {
	tenantv1.UnimplementedProjectsServer
	mu        sync.Mutex
	seen      []string
	cancelled bool
}

func (p *projects) saw(s string) {
	p.mu.Lock()
	p.seen = append(p.seen, s)
	p.mu.Unlock()
}

func (p *projects) GetProject(_ context.Context, r *tenantv1.GetProjectRequest) (*tenantv1.Project, error) {
	p.saw(r.GetName())
	return &tenantv1.Project{Name: r.GetName()}, nil
}

func (p *projects) UpdateProject(_ context.Context, r *tenantv1.UpdateProjectRequest) (*tenantv1.Project, error) {
	p.saw(r.GetProject().GetOrganizationId())
	return r.GetProject(), nil
}

func (p *projects) DeleteProject(_ context.Context, r *tenantv1.GetProjectRequest) (*tenantv1.Project, error) {
	return &tenantv1.Project{Name: r.GetName()}, nil
}

func (p *projects) ArchiveProject(_ context.Context, r *tenantv1.GetProjectRequest) (*tenantv1.Project, error) {
	return &tenantv1.Project{Name: r.GetName()}, nil
}

func (p *projects) DescribeProject(_ context.Context, r *tenantv1.DescribeProjectRequest) (*tenantv1.Project, error) {
	p.saw(r.GetOrganization())
	return &tenantv1.Project{OrganizationId: r.GetOrganization()}, nil
}

func (p *projects) ListProjects(r *tenantv1.ListProjectsRequest, s grpc.ServerStreamingServer[tenantv1.Project]) error {
	p.saw(r.GetParent())
	for range r.GetCount() {
		if err := s.Send(&tenantv1.Project{Name: r.GetParent() + "/projects/p"}); err != nil {
			return err
		}
	}
	return nil
}

func (p *projects) SyncProjects(s grpc.BidiStreamingServer[tenantv1.Project, tenantv1.Project]) error {
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			<-s.Context().Done()
			p.mu.Lock()
			p.cancelled = true
			p.mu.Unlock()
			return err
		}
		p.saw(m.GetOrganizationId())
		if err := s.Send(m); err != nil {
			return err
		}
	}
}

// tenantServer serves projects behind both interceptors on loopback, with
// a validator that accepts the API audience and Logto organization tokens,
// and Logto's organization claim.
func tenantServer(t *testing.T, iss *grpcjwttest.Issuer, opts ...grpcjwt.Option) (tenantv1.ProjectsClient, *projects, *[]error) {
	t.Helper()
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.AudiencePrefixes = []string{grpcjwt.DefaultOrganizationAudiencePrefix}
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim
	})
	return tenantServerFor(t, v, opts...)
}

// tenantServerFor serves projects behind both interceptors with v, and
// fails the test if Audit refuses opts.
func tenantServerFor(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) (tenantv1.ProjectsClient, *projects, *[]error) {
	t.Helper()
	return tenantServerWith(t, v, true, opts...)
}

func tenantServerWith(t *testing.T, v *grpcjwt.Validator, audit bool, opts ...grpcjwt.Option) (tenantv1.ProjectsClient, *projects, *[]error) {
	t.Helper()
	var mu sync.Mutex
	var causes []error
	opts = append(opts, grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		mu.Lock()
		causes = append(causes, err)
		mu.Unlock()
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	policy := policyOf(t, v, opts...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(policy.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(policy.StreamServerInterceptor()))
	p := &projects{}
	tenantv1.RegisterProjectsServer(srv, p)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := policy.Audit(srv); audit && withoutArchiveProject(err) != nil {
		t.Fatalf("Audit: %v", withoutArchiveProject(err))
	}
	return tenantv1.NewProjectsClient(conn), p, &causes
}

func TestOrganizationRules(t *testing.T) {
	iss := newIssuer(t)
	client, _, causes := tenantServer(t, iss)
	bearer := func(opts ...grpcjwttest.TokenOption) context.Context {
		return withAuth("Bearer " + iss.Token(nil, opts...))
	}
	acme, globex := grpcjwttest.WithOrganization("acme"), grpcjwttest.WithOrganization("globex")
	orgToken := grpcjwttest.WithOrganizationAudience("acme")
	get := func(ctx context.Context, name string) error {
		_, err := client.GetProject(ctx, &tenantv1.GetProjectRequest{Name: name})
		return err
	}
	update := func(ctx context.Context, p *tenantv1.Project) error {
		_, err := client.UpdateProject(ctx, &tenantv1.UpdateProjectRequest{Project: p})
		return err
	}
	list := func(ctx context.Context, parent string) error {
		s, err := client.ListProjects(ctx, &tenantv1.ListProjectsRequest{Parent: parent, Count: 2})
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
	const p1 = "organizations/acme/projects/p1"
	cases := []struct {
		name string
		err  error
		ok   bool
	}{
		{"resource name, claim of the same organization", get(bearer(acme), p1), true},
		{"resource name, organization token of the same organization", get(bearer(orgToken), p1), true},
		{"resource name, another organization", get(bearer(globex), p1), false},
		{"resource name, token without organization", get(bearer(), p1), false},
		{"resource name, claim and audience disagree", get(bearer(orgToken, globex), p1), false},
		{"resource name, claim and audience agree", get(bearer(orgToken, acme), p1), true},
		{"resource name not matching the pattern", get(bearer(acme), "organizations/acme"), false},
		{"resource name with an extra segment", get(bearer(acme), p1+"/x"), false},
		{"resource name of another kind", get(bearer(acme), "users/acme/projects/p1"), false},
		{"empty resource name", get(bearer(acme), ""), false},
		{"empty organization segment", get(bearer(acme), "organizations//projects/p1"), false},
		{"nested field, claim", update(bearer(acme), &tenantv1.Project{OrganizationId: "acme"}), true},
		{"nested field, another organization", update(bearer(acme), &tenantv1.Project{OrganizationId: "globex"}), false},
		{"nested field absent", update(bearer(acme), nil), false},
		{"server stream, organization token", list(bearer(orgToken), "organizations/acme"), true},
		{"server stream, ** spans segments", list(bearer(orgToken), "organizations/acme/projects/p1"), true},
		{"server stream, audience only: a claim does not count", list(bearer(acme), "organizations/acme"), false},
		{"server stream, another organization", list(bearer(orgToken), "organizations/globex"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ok {
				if tc.err != nil {
					t.Fatalf("refused: %v", tc.err)
				}
				return
			}
			wantStatus(t, tc.err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
		})
	}
	for _, err := range *causes {
		if !errors.Is(err, grpcjwt.ErrOrganizationMismatch) {
			t.Errorf("reject hook cause %v, want ErrOrganizationMismatch", err)
		}
	}
	// The client learns nothing of the token's organization; the hook does.
	err := get(bearer(globex), p1)
	if strings.Contains(err.Error(), "globex") {
		t.Errorf("the client was told the token's organization: %v", err)
	}
	if last := (*causes)[len(*causes)-1]; !strings.Contains(last.Error(), `"globex"`) || !strings.Contains(last.Error(), `"acme"`) {
		t.Errorf("the reject hook's cause names neither organization: %v", last)
	}
}

// TestOrganizationBidiChecksEveryMessage: a message about another
// organization ends the stream before the handler sees it, and cancels the
// handler's context.
func TestOrganizationBidiChecksEveryMessage(t *testing.T) {
	iss := newIssuer(t)
	client, p, _ := tenantServer(t, iss)
	ctx := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganization("acme")))
	s, err := client.SyncProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"acme", "acme"} {
		if err := s.Send(&tenantv1.Project{OrganizationId: org}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("message for %s: %v", org, err)
		}
	}
	_ = s.Send(&tenantv1.Project{OrganizationId: "globex"})
	_, err = s.Recv()
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.Join(p.seen, ",") != "acme,acme" {
		t.Errorf("the handler saw %q", p.seen)
	}
	if !p.cancelled {
		t.Error("the handler's context was not cancelled")
	}
}

func TestOrganizationGoOption(t *testing.T) {
	iss := newIssuer(t)
	const describe = "/tenant.v1.Projects/DescribeProject"
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.OrganizationClaim = "tenant" })
	client, _, _ := tenantServerWith(t, v, false, grpcjwt.WithOrganization(describe, grpcjwt.OrganizationRule{
		Field: "organization", Token: grpcjwt.OrganizationFromClaim,
	}))
	ok := withAuth("Bearer " + iss.Token(map[string]any{"tenant": "acme", "organization_id": "globex"}))
	if _, err := client.DescribeProject(ok, &tenantv1.DescribeProjectRequest{Organization: "acme"}); err != nil {
		t.Fatalf("the issuer's own organization claim, same organization: %v", err)
	}
	// organization_id is not the claim this issuer asserts organizations by.
	_, err := client.DescribeProject(ok, &tenantv1.DescribeProjectRequest{Organization: "globex"})
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
}

func TestAuditOrganizationRules(t *testing.T) {
	srv := grpc.NewServer()
	tenantv1.RegisterProjectsServer(srv, &projects{})
	const describe = "/tenant.v1.Projects/DescribeProject"
	rule := func(r grpcjwt.OrganizationRule) grpcjwt.Option { return grpcjwt.WithOrganization(describe, r) }
	rules, err := auditOf(t, srv)
	if err != nil {
		t.Fatalf("the .proto rules: %v", err)
	}
	for _, r := range rules {
		if r.FullMethod == "/tenant.v1.Projects/GetProject" && !strings.Contains(r.String(), "organization=name~organizations/{organization}/projects/*") {
			t.Errorf("Audit shows %s", r)
		}
	}
	for name, tc := range map[string]struct {
		opt  grpcjwt.Option
		want string
	}{
		"typo":                 {rule(grpcjwt.OrganizationRule{Field: "organisation"}), `no field "organisation"`},
		"not a string":         {rule(grpcjwt.OrganizationRule{Field: "number"}), "not a string"},
		"repeated":             {rule(grpcjwt.OrganizationRule{Field: "tags"}), "repeated"},
		"a message":            {rule(grpcjwt.OrganizationRule{Field: "project"}), "not a string"},
		"nested typo":          {rule(grpcjwt.OrganizationRule{Field: "project.org"}), `no field "org"`},
		"through a string":     {rule(grpcjwt.OrganizationRule{Field: "organization.x"}), "not a message"},
		"no field":             {rule(grpcjwt.OrganizationRule{}), "no request field"},
		"pattern without org":  {rule(grpcjwt.OrganizationRule{Field: "organization", Pattern: "organizations/*"}), "no {organization}"},
		"** not last":          {rule(grpcjwt.OrganizationRule{Field: "organization", Pattern: "**/{organization}"}), "last segment"},
		"empty segment":        {rule(grpcjwt.OrganizationRule{Field: "organization", Pattern: "organizations//{organization}"}), "not a name"},
		"organization twice":   {rule(grpcjwt.OrganizationRule{Field: "organization", Pattern: "{organization}/{organization}"}), "twice"},
		"unknown token source": {rule(grpcjwt.OrganizationRule{Field: "organization", Token: 7}), "token source"},
		"empty issuer":         {rule(grpcjwt.OrganizationRule{Field: "organization", Issuers: []string{""}}), "empty issuer"},
		"optional": {grpcjwt.Option(func() grpcjwt.Option {
			return grpcjwt.WithOptional("/tenant.v1.Projects/GetProject")
		}()), "optional and has an organization rule"},
	} {
		t.Run(name, func(t *testing.T) {
			opts := []grpcjwt.Option{tc.opt}
			_, err := auditOf(t, srv, opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Audit = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestAuthFuncRefusesOrganizationRules: an auth function sees no request,
// so it fails closed on a method with an organization rule.
func TestAuthFuncRefusesOrganizationRules(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss)
	f := policyOf(t, v).AuthFunc()
	ctx := grpc.NewContextWithServerTransportStream(withIncomingAuth("Bearer "+iss.Token(nil, grpcjwttest.WithOrganization("acme"))),
		&methodStream{method: "/tenant.v1.Projects/GetProject"})
	_, err := f(ctx)
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeOrganizationMismatch)
}

func withIncomingAuth(v string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
}

// methodStream is the least of a grpc.ServerTransportStream: what
// grpc.Method reads.
type methodStream struct{ method string }

func (s *methodStream) Method() string               { return s.method }
func (s *methodStream) SetHeader(metadata.MD) error  { return nil }
func (s *methodStream) SendHeader(metadata.MD) error { return nil }
func (s *methodStream) SetTrailer(metadata.MD) error { return nil }

// TestOrganizationTokenOnlyWhereOrganizationIsChecked: a token accepted by
// an audience prefix (a Logto organization token) carries the
// organization's permissions, not the API's, so a method without an
// organization rule refuses it; a token for the API with an
// organization_id claim is an API token and works there.
func TestOrganizationTokenOnlyWhereOrganizationIsChecked(t *testing.T) {
	iss := newIssuer(t)
	client, _, causes := tenantServer(t, iss)
	orgToken := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganizationAudience("acme")))
	_, err := client.DescribeProject(orgToken, &tenantv1.DescribeProjectRequest{Organization: "acme"})
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if last := (*causes)[len(*causes)-1]; !errors.Is(last, grpcjwt.ErrAudienceMismatch) {
		t.Errorf("cause %v, want ErrAudienceMismatch", last)
	}
	apiToken := withAuth("Bearer " + iss.Token(nil, grpcjwttest.WithOrganization("acme")))
	if _, err := client.DescribeProject(apiToken, &tenantv1.DescribeProjectRequest{}); err != nil {
		t.Fatalf("an API token with an organization claim: %v", err)
	}
	if _, err := client.GetProject(orgToken, &tenantv1.GetProjectRequest{Name: "organizations/acme/projects/p"}); err != nil {
		t.Fatalf("the organization token where the organization is checked: %v", err)
	}
}
