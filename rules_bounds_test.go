package grpcjwt

import (
	"fmt"
	"strings"
	"sync"
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
	if n := c.len(); n != 0 {
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
	if n := c.len(); n != len(known) {
		t.Fatalf("%d names cached, want %d", n, len(known))
	}
	for _, name := range []string{known[0].name, known[1].name, unknown[0].name, unknown[1].name} {
		var buf compiledRule
		if a := testing.AllocsPerRun(100, func() { p.rule(name, &buf) }); a != 0 {
			t.Errorf("rule lookup of %.40q: %v allocations, want 0", name, a)
		}
	}
}

// len returns how many rules c keeps.
func (c *ruleCache) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// TestRuleCacheConcurrent: goroutines resolving known names at once each
// get the one rule kept for a name, and every name is kept once.
func TestRuleCacheConcurrent(t *testing.T) {
	var opts []Option
	var names []string
	for i := range 64 {
		name := fmt.Sprintf("/made.v1.S/M%d", i)
		names = append(names, name)
		opts = append(opts, WithScopes(name, fmt.Sprint("s", i)))
	}
	p := &Policy{opts: evaluateOptions(opts)}
	got := make([][]*compiledRule, 8)
	var wg sync.WaitGroup
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range names {
				got[g] = append(got[g], p.rule(name, new(compiledRule)))
			}
		}()
	}
	wg.Wait()
	for i, name := range names {
		for g := range got {
			if got[g][i] != got[0][i] || got[g][i].Scopes[0] != fmt.Sprint("s", i) {
				t.Fatalf("%s: goroutines got different rules, or the wrong one", name)
			}
		}
	}
	if n := p.rules.len(); n != len(names) {
		t.Fatalf("%d rules kept, want %d", n, len(names))
	}
}
