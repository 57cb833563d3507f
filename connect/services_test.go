package grpcjwtconnect_test

import (
	"reflect"
	"strings"
	"testing"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtconnect "github.com/grpcjwt/grpcjwt/connect"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
)

// Audit reads a Connect server as it reads a gRPC one: every procedure
// with its rule, from the .proto options and Go options alike, and an
// error for a rule that names a procedure the server does not have.
func TestAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, grpcjwt.WithScopes(demo.Watch, "watch"))
	server := connect.NewServer(grpcjwtconnect.NewInterceptor(e.policy))
	demo.Register(server)
	rules, err := e.policy.Audit(grpcjwtconnect.ServicesOf(server))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.String())
	}
	want := []string{
		"/demo.v1.Greeter/Chat required scopes=greet:write organization=organization~organizations/{organization} from claim or audience (proto:method)",
		"/demo.v1.Greeter/GetOrganization required organization=name~organizations/{organization} from claim or audience (proto:method)",
		"/demo.v1.Greeter/Info public (proto:method)",
		"/demo.v1.Greeter/SayHello required scopes=greet:read (proto:method)",
		"/demo.v1.Greeter/Watch required scopes=watch (go:method)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := rules[0]; !r.ClientStream || !r.ServerStream || rules[4].ClientStream || !rules[4].ServerStream || rules[3].ServerStream {
		t.Errorf("streaming flags: %+v", rules)
	}

	// The registry's description of the service is the same.
	byName, err := grpcjwtconnect.Services("demo.v1.Greeter")
	if err != nil {
		t.Fatal(err)
	}
	rules2, err := e.policy.Audit(byName)
	if err != nil || !reflect.DeepEqual(rules, rules2) {
		t.Fatalf("Services: %v, %v; want %v", rules2, err, rules)
	}
	for _, name := range []string{"demo.v1.Nope", "demo.v1.SayHelloRequest"} {
		if _, err := grpcjwtconnect.Services(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Services(%q): %v, want an error naming it", name, err)
		}
	}

	// A rule for a procedure the server lacks.
	typo := newEnv(t, nil, grpcjwt.WithScopes("/demo.v1.Greeter/SayHelo", "greet:read"))
	if _, err := typo.policy.Audit(grpcjwtconnect.ServicesOf(server)); err == nil || !strings.Contains(err.Error(), `"/demo.v1.Greeter/SayHelo"`) {
		t.Fatalf("Audit with a rule for a missing procedure: %v", err)
	}
}
