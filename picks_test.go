package grpcjwt

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// checkPicks checks that each path of an issuer's claims, looked up from
// the members parsePayload took in its pass, reads what a pass of its own
// over payload (lookupPath) reads, null being absent for both.
func checkPicks(t *testing.T, payload string, ics []IssuerConfig, paths []string) {
	t.Helper()
	p := picks{names: pickNames(ics)}
	if _, _, err := parsePayload([]byte(payload), &p); err != nil {
		return // refused before any claim is looked up
	}
	for _, path := range paths {
		split := strings.Split(path, ".")
		got, want := p.lookup([]byte(payload), split), lookupPath([]byte(payload), split)
		if string(got) == "null" {
			got = nil
		}
		if string(want) == "null" {
			want = nil
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%s, path %q (names %q): took %q, a pass of its own reads %q", payload, path, p.names, got, want)
		}
	}
}

// TestPicks: the organization and scope claims read from the members
// parsePayload took are those a second pass over the payload would read,
// for top-level and nested paths, registered names, null and absent
// members, several issuers, and more distinct names than a picks takes.
func TestPicks(t *testing.T) {
	payloads := []string{
		`{"iss":"https://a","organization_id":"org1","roles":["r1","r2"],"ext":{"perms":"a b","org":{"id":"o"}},"aud":"api"}`,
		`{"organization_id":null,"roles":null,"ext":null}`,
		`{"ext":"not an object","roles":"x y"}`,
		`{"ext":{"perms":null}}`,
		`{}`,
		`{"scp":["a"],"azp":"client","pad":"` + strings.Repeat("x", 4096) + `","organization_id":"late"}`,
	}
	paths := []string{"organization_id", "roles", "ext.perms", "ext.org.id", "aud", "azp", "scp", "missing", "missing.deeper"}
	configs := map[string][]IssuerConfig{
		"one issuer": {{OrganizationClaim: "organization_id", ScopeClaims: []string{"roles", "ext.perms"}}},
		"two issuers": {
			{OrganizationClaim: "ext.org.id", ScopeClaims: []string{"scp"}},
			{OrganizationClaim: "organization_id", ScopeClaims: []string{"roles"}},
		},
		"registered names": {{OrganizationClaim: "azp", ScopeClaims: []string{"aud", "scp"}}},
		"too many names":   {{OrganizationClaim: "organization_id", ScopeClaims: []string{"roles", "ext.perms", "aud", "azp", "scp"}}},
		"none":             {{}},
	}
	for name, ics := range configs {
		for i, payload := range payloads {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) { checkPicks(t, payload, ics, paths) })
		}
	}
	if names := pickNames(configs["too many names"]); names != nil {
		t.Errorf("pickNames with %d distinct names = %q, want nil (each claim looked up by a pass of its own)", 6, names)
	}
	if names := pickNames(configs["two issuers"]); strings.Join(names, " ") != "scp ext roles organization_id" {
		t.Errorf("pickNames of two issuers = %q, want each first name once", names)
	}
}

// FuzzPicks: on any payload, the members taken in parsePayload's pass read
// what a pass of its own reads.
func FuzzPicks(f *testing.F) {
	f.Add(`{"organization_id":"o","roles":["a"]}`, "organization_id", "roles", "ext.id")
	f.Add(`{"a":{"b":{"c":null}},"a2":1}`, "a.b.c", "a.b", "a2")
	f.Add(`{"x":1,"x":2}`, "x", "y", "z")
	f.Fuzz(func(t *testing.T, payload, org, scope1, scope2 string) {
		ics := []IssuerConfig{{OrganizationClaim: org, ScopeClaims: []string{scope1}}, {ScopeClaims: []string{scope2}}}
		checkPicks(t, payload, ics, []string{org, scope1, scope2})
	})
}
