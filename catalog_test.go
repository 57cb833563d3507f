package grpcjwt_test

import (
	"context"
	"net"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	tenantv1 "github.com/grpcjwt/grpcjwt/internal/testpb/tenant/v1"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// catalogServer serves the greeter, the tenant projects and the catalog
// behind the interceptors of the policy of opts, with a validator of iss
// that asserts organizations, and returns a catalog client, the policy and
// the server.
func catalogServer(t *testing.T, iss *grpcjwttest.Issuer, opts ...grpcjwt.Option) (grpcjwtv1.CatalogClient, *grpcjwt.Policy, *grpc.Server) {
	t.Helper()
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim
		c.AudiencePrefixes = []string{grpcjwt.DefaultOrganizationAudiencePrefix}
	})
	p := policyOf(t, v, opts...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	tenantv1.RegisterProjectsServer(srv, &projects{})
	grpcjwtv1.RegisterCatalogServer(srv, p.Catalog(srv))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return grpcjwtv1.NewCatalogClient(conn), p, srv
}

// TestCatalog: over real gRPC and without a token, the catalog lists
// every method the server serves, itself included, with the rule of the
// .proto and Go options, exactly as Audit reports them.
func TestCatalog(t *testing.T) {
	client, p, srv := catalogServer(t, newIssuer(t),
		grpcjwt.WithScopes("/greeter.v1.Greeter/SayHelloStream", "greet:stream"),
		grpcjwt.WithSenderConstrained("/tenant.v1.Projects/DescribeProject"),
		grpcjwt.WithOrganization("/tenant.v1.Projects/DescribeProject", grpcjwt.OrganizationRule{Field: "organization", Token: grpcjwt.OrganizationFromClaim}))
	resp, err := client.ListMethods(context.Background(), &grpcjwtv1.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}

	const (
		required = grpcjwtv1.Access_ACCESS_REQUIRED
		public   = grpcjwtv1.Access_ACCESS_PUBLIC
	)
	projects := "organizations/{organization}/projects/*"
	want := []*grpcjwtv1.Method{
		{FullMethod: "/greeter.v1.Greeter/Chat", ClientStreaming: true, ServerStreaming: true, Access: required, Scopes: []string{"greet:write"}},
		{FullMethod: "/greeter.v1.Greeter/Info", Access: public},
		{FullMethod: "/greeter.v1.Greeter/SayHello", Access: required, Scopes: []string{"greet:read"}},
		{FullMethod: "/greeter.v1.Greeter/SayHelloStream", ServerStreaming: true, Access: required, Scopes: []string{"greet:stream"}},
		{FullMethod: "/grpcjwt.v1.Catalog/ListMethods", Access: public},
		{FullMethod: "/tenant.v1.Projects/ArchiveProject", Access: required, Organization: &grpcjwtv1.Organization{Field: "name", Pattern: projects, Issuers: []string{"https://tenant.example/oidc"}}},
		{FullMethod: "/tenant.v1.Projects/DeleteProject", Access: required, SenderConstrained: true},
		{FullMethod: "/tenant.v1.Projects/DescribeProject", Access: required, SenderConstrained: true, Organization: &grpcjwtv1.Organization{Field: "organization", Token: grpcjwtv1.TokenOrganization_TOKEN_ORGANIZATION_CLAIM}},
		{FullMethod: "/tenant.v1.Projects/GetProject", Access: required, Organization: &grpcjwtv1.Organization{Field: "name", Pattern: projects}},
		{FullMethod: "/tenant.v1.Projects/ListProjects", ServerStreaming: true, Access: required, Organization: &grpcjwtv1.Organization{Field: "parent", Pattern: "organizations/{organization}/**", Token: grpcjwtv1.TokenOrganization_TOKEN_ORGANIZATION_AUDIENCE}},
		{FullMethod: "/tenant.v1.Projects/SyncProjects", ClientStreaming: true, ServerStreaming: true, Access: required, Organization: &grpcjwtv1.Organization{Field: "organization_id"}},
		{FullMethod: "/tenant.v1.Projects/UpdateProject", Access: required, Organization: &grpcjwtv1.Organization{Field: "project.organization_id", Token: grpcjwtv1.TokenOrganization_TOKEN_ORGANIZATION_CLAIM}},
	}
	if !proto.Equal(resp, &grpcjwtv1.ListMethodsResponse{Methods: want}) {
		t.Errorf("ListMethods:\n got %v\nwant %v", resp, &grpcjwtv1.ListMethodsResponse{Methods: want})
	}

	// The same, from Audit's rules, field by field.
	rules, _ := p.Audit(srv)
	if len(rules) != len(resp.GetMethods()) {
		t.Fatalf("%d methods listed, Audit reports %d", len(resp.GetMethods()), len(rules))
	}
	access := map[grpcjwt.Access]grpcjwtv1.Access{grpcjwt.AccessRequired: required, grpcjwt.AccessOptional: grpcjwtv1.Access_ACCESS_OPTIONAL, grpcjwt.AccessPublic: public}
	for i, r := range rules {
		m := &grpcjwtv1.Method{
			FullMethod:        r.FullMethod,
			ClientStreaming:   r.ClientStream,
			ServerStreaming:   r.ServerStream,
			Access:            access[r.Access],
			Scopes:            r.Scopes,
			SenderConstrained: r.SenderConstrained,
		}
		if o := r.Organization; o != nil {
			m.Organization = &grpcjwtv1.Organization{Field: o.Field, Pattern: o.Pattern, Token: grpcjwtv1.TokenOrganization(o.Token), Issuers: o.Issuers}
		}
		if got := resp.GetMethods()[i]; !proto.Equal(got, m) {
			t.Errorf("listed %v, Audit reports %s", got, r)
		}
	}
}

// TestCatalogOptional: an optional method is listed as such.
func TestCatalogOptional(t *testing.T) {
	client, _, _ := catalogServer(t, newIssuer(t), grpcjwt.WithOptional("/greeter.v1.Greeter/SayHelloStream"))
	resp, err := client.ListMethods(context.Background(), &grpcjwtv1.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m := listed(resp, "/greeter.v1.Greeter/SayHelloStream"); m.GetAccess() != grpcjwtv1.Access_ACCESS_OPTIONAL {
		t.Errorf("listed %v", m)
	}
}

// listed returns the method of resp named fullMethod, or nil.
func listed(resp *grpcjwtv1.ListMethodsResponse, fullMethod string) *grpcjwtv1.Method {
	for _, m := range resp.GetMethods() {
		if m.GetFullMethod() == fullMethod {
			return m
		}
	}
	return nil
}

// TestCatalogProtectedByGoRule: a Go rule takes precedence over the
// catalog's public .proto rule, as over any .proto rule.
func TestCatalogProtectedByGoRule(t *testing.T) {
	iss := newIssuer(t)
	client, _, _ := catalogServer(t, iss, grpcjwt.WithScopes("/grpcjwt.v1.Catalog/", "catalog:read"))

	_, err := client.ListMethods(context.Background(), &grpcjwtv1.ListMethodsRequest{})
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeHeaderMissing)
	_, err = client.ListMethods(withAuth("Bearer "+iss.Token(nil)), &grpcjwtv1.ListMethodsRequest{})
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
	resp, err := client.ListMethods(withAuth("Bearer "+iss.Token(map[string]any{"scope": "catalog:read"})), &grpcjwtv1.ListMethodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &grpcjwtv1.Method{FullMethod: "/grpcjwt.v1.Catalog/ListMethods", Access: grpcjwtv1.Access_ACCESS_REQUIRED, Scopes: []string{"catalog:read"}}
	if m := listed(resp, want.GetFullMethod()); !proto.Equal(m, want) {
		t.Errorf("listed %v, want %v", m, want)
	}
}
