package grpcjwtconnect

import (
	"testing"

	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
)

// isProcedure knows the registry's procedures, and keeps those it found
// and nothing else, so that the paths clients send cannot grow it.
func TestIsProcedure(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{demo.SayHello, true},
		{demo.Watch, true},
		{"/demo.v1.Greeter/Nope", false},
		{demo.SayHello + "/more", false},
		{"/demo.v1.Nope/SayHello", false},
		{"/demo.v1.Greeter", false},
		{"/healthz", false},
		{"", false},
	} {
		for range 2 { // looked up, then, if found, remembered
			if got := isProcedure(tc.path); got != tc.want {
				t.Errorf("isProcedure(%q) = %v, want %v", tc.path, got, tc.want)
			}
		}
		if kept := (*procedures.Load())[tc.path]; kept != tc.want {
			t.Errorf("isProcedure(%q): kept %v, want %v", tc.path, kept, tc.want)
		}
	}
}
