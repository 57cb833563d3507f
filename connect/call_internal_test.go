package grpcjwtconnect

import (
	"strings"
	"testing"
)

// FuzzIsDPoP: isDPoP agrees with the rule written plainly: one value, whose
// first whitespace-separated field is "DPoP" in any case.
func FuzzIsDPoP(f *testing.F) {
	for _, s := range []string{"", "DPoP", "dpop a.b.c", " \tDPoP\ta", "DPoPx a", "DPo a", "Bearer a", "DPOP\x00a", "\vdPoP\f", "\u212aDPoP a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fields := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) })
		want := len(fields) > 0 && len(fields[0]) == len("DPoP") && strings.EqualFold(fields[0], "DPoP")
		if got := isDPoP([]string{v}); got != want {
			t.Fatalf("isDPoP(%q) = %v; the rule says %v", v, got, want)
		}
	})
}

// isDPoP refuses anything but one value.
func TestIsDPoPValues(t *testing.T) {
	for _, vals := range [][]string{nil, {}, {"DPoP a", "DPoP a"}} {
		if isDPoP(vals) {
			t.Errorf("isDPoP(%q) = true, want false", vals)
		}
	}
}
