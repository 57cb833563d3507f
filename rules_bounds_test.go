package grpcjwt

import (
	"fmt"
	"strings"
	"testing"

	_ "google.golang.org/grpc/health/grpc_health_v1" // registers grpc.health.v1 in the protobuf registry
)

// TestRuleCacheKeepsOnlyKnownNames: names a Go option gives or the protobuf
// registry has are cached; made-up ones are resolved, correctly and without
// allocating, and never kept.
func TestRuleCacheKeepsOnlyKnownNames(t *testing.T) {
	o := evaluateOptions([]Option{
		WithPublic("/made.v1.Public/"),
		WithScopes("/made.v1.Scoped/Get", "read"),
		WithPublic("/grpc.health.v1.Health/"),
	})
	p := &Policy{opts: o}
	c := &p.rules
	unknown := []struct {
		name   string
		access Access
		source string
	}{
		{"/made.v1.Public/" + strings.Repeat("x", 16<<10), AccessPublic, "go:service"},
		{"/made.v1.Scoped/Other", AccessRequired, "default"},
		{"/grpc.health.v1.Health/NoSuchMethod", AccessPublic, "go:service"},
		{"/" + strings.Repeat("a.", 1<<10) + "S/M", AccessRequired, "default"},
		{"no slash", AccessRequired, "default"},
		{"", AccessRequired, "default"},
	}
	for i := range 1000 {
		for _, u := range unknown {
			name := u.name
			if i > 0 {
				name += fmt.Sprint(i)
			}
			if r := p.rule(name, new(compiledRule)); r.Access != u.access || r.Source != u.source {
				t.Fatalf("rule of %.40q = %v (%s), want %v (%s)", name, r.Access, r.Source, u.access, u.source)
			}
		}
	}
	if n := c.n.Load(); n != 0 {
		t.Fatalf("%d made-up names cached", n)
	}
	known := []struct {
		name   string
		access Access
		source string
	}{
		{"/made.v1.Scoped/Get", AccessRequired, "go:method"},
		{"/grpc.health.v1.Health/Check", AccessPublic, "go:service"},
	}
	for _, k := range known {
		if r := p.rule(k.name, new(compiledRule)); r.Access != k.access || r.Source != k.source {
			t.Fatalf("rule of %q = %v (%s), want %v (%s)", k.name, r.Access, r.Source, k.access, k.source)
		}
	}
	if n := c.n.Load(); n != int64(len(known)) {
		t.Fatalf("%d names cached, want %d", n, len(known))
	}
	for _, name := range []string{known[0].name, known[1].name, unknown[0].name, unknown[1].name} {
		var buf compiledRule
		if a := testing.AllocsPerRun(100, func() { p.rule(name, &buf) }); a != 0 {
			t.Errorf("rule lookup of %.40q: %v allocations, want 0", name, a)
		}
	}
}
