package grpcjwt_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	grpcjwtv1 "github.com/grpcjwt/grpcjwt/proto/grpcjwt/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// optionalScopedService is a service registered in the protobuf registry,
// as generated code would, whose method Get is optional and scoped in its
// .proto options, and whose method Fine is only optional.
const optionalScopedService = "grpcjwt.audittest.v1.Optional"

var registerOptionalScoped = sync.OnceValue(func() error {
	rule := func(r *grpcjwtv1.Rule) *descriptorpb.MethodOptions {
		o := &descriptorpb.MethodOptions{}
		proto.SetExtension(o, grpcjwtv1.E_Method, r)
		return o
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("grpcjwt/audittest/v1/optional.proto"),
		Package:    proto.String("grpcjwt.audittest.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Optional"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{
					Name:       proto.String("Get"),
					InputType:  proto.String(".google.protobuf.Empty"),
					OutputType: proto.String(".google.protobuf.Empty"),
					Options:    rule(&grpcjwtv1.Rule{Optional: true, Scopes: []string{"read"}}),
				},
				{
					Name:       proto.String("Fine"),
					InputType:  proto.String(".google.protobuf.Empty"),
					OutputType: proto.String(".google.protobuf.Empty"),
					Options:    rule(&grpcjwtv1.Rule{Optional: true}),
				},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	return protoregistry.GlobalFiles.RegisterFile(fd)
})

// optionalScopedServer returns a server with the health service and the
// optionalScopedService registered.
func optionalScopedServer(t *testing.T) *grpc.Server {
	t.Helper()
	if err := registerOptionalScoped(); err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: optionalScopedService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Get", Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) { return nil, nil }},
			{MethodName: "Fine", Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) { return nil, nil }},
		},
	}, struct{}{})
	t.Cleanup(srv.Stop)
	return srv
}

// TestAuditOptionalWithScopes: a rule that is optional and scoped lets
// callers without a token in while refusing callers whose token lacks the
// scopes; Audit refuses it, from Go options and from .proto options alike.
func TestAuditOptionalWithScopes(t *testing.T) {
	srv := optionalScopedServer(t)
	const check = "/grpc.health.v1.Health/Check"
	const get = "/" + optionalScopedService + "/Get"
	// The Go option that makes the .proto rule of Get acceptable: it drops
	// the scopes, and leaves Get optional.
	fixGet := grpcjwt.WithScopes(get)
	for _, tc := range []struct {
		name string
		opts []grpcjwt.Option
		want []string // each must appear in the error; none: no error
	}{
		{"proto:method", nil, []string{get + " is optional and has scopes", "proto:method"}},
		{"go:method", []grpcjwt.Option{fixGet, grpcjwt.WithOptional(check), grpcjwt.WithScopes(check, "health")}, []string{check + " is optional and has scopes", "go:method"}},
		{"go:service", []grpcjwt.Option{fixGet, grpcjwt.WithOptional("/grpc.health.v1.Health/"), grpcjwt.WithScopes("/grpc.health.v1.Health/", "health")}, []string{check + " is optional", "/grpc.health.v1.Health/Watch is optional", "go:service"}},
		{"optional alone", []grpcjwt.Option{fixGet, grpcjwt.WithOptional(check)}, nil},
		{"scopes alone", []grpcjwt.Option{fixGet, grpcjwt.WithScopes(check, "health")}, nil},
		// Go options set what they name, and leave the rest to the .proto.
		{"Go scopes keep the .proto optional", []grpcjwt.Option{grpcjwt.WithScopes(get, "write")}, []string{get + ` is optional and has scopes ["write"]`, "go:method+proto:method:access"}},
		{"Go optional keeps the .proto scopes", []grpcjwt.Option{grpcjwt.WithOptional(get)}, []string{get + ` is optional and has scopes ["read"]`, "go:method+proto:method:scopes"}},
		{"a scope no token can grant", []grpcjwt.Option{fixGet, grpcjwt.WithScopes(check, "read all")}, []string{check + ` requires scope "read all"`, "scope-token"}},
		{"an empty scope", []grpcjwt.Option{fixGet, grpcjwt.WithScopes(check, "")}, []string{check + ` requires scope ""`}},
		{"a non-ASCII scope", []grpcjwt.Option{fixGet, grpcjwt.WithScopes(check, "read:all\u00a0")}, []string{check + " requires scope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := auditOf(t, srv, tc.opts...)
			var fine grpcjwt.MethodRule
			for _, r := range rules {
				if r.FullMethod == "/"+optionalScopedService+"/Fine" {
					fine = r
				}
			}
			if fine.Access != grpcjwt.AccessOptional || fine.Source != "proto:method" {
				t.Errorf("Audit says %v; want Fine optional from its .proto option", fine)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Audit: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Audit found no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Audit error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Fine") {
				t.Errorf("Audit error %q names a method that is only optional", err)
			}
		})
	}
}
