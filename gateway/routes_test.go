package grpcjwtgateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	reportsv1 "github.com/grpcjwt/grpcjwt/gateway/internal/testpb/reports/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestPatternString: the route a template is kept under is the String of
// the pattern the gateway's runtime compiles from it, which is what a
// middleware sees of the route a request matched.
func TestPatternString(t *testing.T) {
	for _, tc := range []struct{ template, path string }{
		{"/", "/"},
		{"/v1/status", "/v1/status"},
		{"/v1/{name}", "/v1/r1"},
		{"/v1/{name=*}", "/v1/r1"},
		{"/v1/{name=reports/*}", "/v1/reports/r1"},
		{"/v1/{name=reports/*}:export", "/v1/reports/r1:export"},
		{"/v1/{parent=shelves/*}/books/{book}", "/v1/shelves/s1/books/b1"},
		{"/v1/{name}:cancel", "/v1/op1:cancel"},
		{"/v1/reports:batchGet", "/v1/reports:batchGet"},
		{"/v1/*/x/**", "/v1/a/x/b/c"},
		{"/v1/{path=**}", "/v1/a/b/c"},
		{"/v1/{a.b.c}", "/v1/x"},
		{"/reports.v1.Reports/GetStatus", "/reports.v1.Reports/GetStatus"},
	} {
		mux := runtime.NewServeMux()
		var got string
		if err := mux.HandlePath("GET", tc.template, func(_ http.ResponseWriter, r *http.Request, _ map[string]string) {
			p, _ := runtime.HTTPPattern(r.Context())
			got = p.String()
		}); err != nil {
			t.Fatalf("%s: %v", tc.template, err)
		}
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
		if want := patternString(tc.template); got != want {
			t.Errorf("%s: the runtime's pattern is %q, patternString says %q", tc.template, got, want)
		}
	}
}

// TestRouteTable: every binding of the test service maps to its method,
// a method without a binding to its generate_unbound_methods route, and
// WithRoute adds and overrides.
func TestRouteTable(t *testing.T) {
	table, err := routeTable(protoregistry.GlobalFiles, []explicitRoute{
		{route{"GET", "/healthz"}, "/grpc.health.v1.Health/Check"},
		{route{"GET", "/v1/status"}, "/reports.v1.Reports/ListReports"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, want := range map[route]string{
		{"GET", "/v1/status"}:                                "/reports.v1.Reports/ListReports",
		{"GET", "/v1/reports"}:                               "/reports.v1.Reports/ListReports",
		{"GET", "/v1/{parent=shelves/*}/reports"}:            "/reports.v1.Reports/ListReports",
		{"GET", "/v1/{name=reports/*}"}:                      "/reports.v1.Reports/GetReport",
		{"DELETE", "/v1/{name=reports/*}"}:                   "/reports.v1.Reports/DeleteReport",
		{"POST", "/v1/{name=reports/*}:export"}:              "/reports.v1.Reports/ExportReport",
		{"GET", "/v1/{name=organizations/*/reports/*}"}:      "/reports.v1.Reports/GetOrganizationReport",
		{"GET", "/healthz"}:                                  "/grpc.health.v1.Health/Check",
		{"POST", "/reports.v1.Reports/GetStatus"}:            "",
		{"POST", "/reports.v1.Reports/ExportReport"}:         "",
		{"PATCH", "/v1/{name=reports/*}"}:                    "",
		{"GET", "/v1/{name=organizations/*/reports/*}:list"}: "",
	} {
		if got := table[r]; got != want {
			t.Errorf("%s %s: %q, want %q", r.verb, r.path, got, want)
		}
	}
}

// TestRouteTableUnboundMethods: a method without a google.api.http rule
// gets the POST route of generate_unbound_methods.
func TestRouteTableUnboundMethods(t *testing.T) {
	files := new(protoregistry.Files)
	fdp := reportsV2()
	for _, m := range fdp.Service[0].Method {
		m.Options = nil
	}
	register(t, files, fdp)
	table, err := routeTable(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := table[route{"POST", "/reports.v2.Reports/DeleteReport"}]; got != "/reports.v2.Reports/DeleteReport" {
		t.Errorf("unbound route: %q", got)
	}
	if len(table) != 6 {
		t.Errorf("%d routes, want 6: %v", len(table), table)
	}
}

// TestRouteTableConflict: two methods that declare one route are an
// error that names both, unless WithRoute settles it.
func TestRouteTableConflict(t *testing.T) {
	files := new(protoregistry.Files)
	register(t, files, protodesc.ToFileDescriptorProto(reportsv1.File_reports_v1_reports_proto))
	fdp := reportsV2()
	fdp.Service[0].Method = fdp.Service[0].Method[:1] // GetStatus, on GET /v1/status
	register(t, files, fdp)
	_, err := routeTable(files, nil)
	if err == nil || !strings.Contains(err.Error(), "GET /v1/status is declared by /reports.v1.Reports/GetStatus and by /reports.v2.Reports/GetStatus") {
		t.Errorf("error %v", err)
	}
	table, err := routeTable(files, []explicitRoute{{route{"GET", "/v1/status"}, "/reports.v2.Reports/GetStatus"}})
	if err != nil || table[route{"GET", "/v1/status"}] != "/reports.v2.Reports/GetStatus" {
		t.Errorf("settled: %v, %v", err, table[route{"GET", "/v1/status"}])
	}
}

// reportsV2 is the test service's file as package reports.v2.
func reportsV2() *descriptorpb.FileDescriptorProto {
	fdp := protodesc.ToFileDescriptorProto(reportsv1.File_reports_v1_reports_proto)
	fdp.Name = proto.String("reports/v2/reports.proto")
	fdp.Package = proto.String("reports.v2")
	v2 := func(name *string) *string {
		return proto.String(strings.Replace(*name, ".reports.v1.", ".reports.v2.", 1))
	}
	for _, m := range fdp.Service[0].Method {
		m.InputType, m.OutputType = v2(m.InputType), v2(m.OutputType)
	}
	for _, m := range fdp.MessageType {
		for _, f := range m.Field {
			if f.TypeName != nil {
				f.TypeName = v2(f.TypeName)
			}
		}
	}
	return fdp
}

// register adds fdp, whose imports are in the global registry, to files.
func register(t *testing.T, files *protoregistry.Files, fdp *descriptorpb.FileDescriptorProto) {
	t.Helper()
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
}
