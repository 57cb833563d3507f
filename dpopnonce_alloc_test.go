//go:build !race

// The race detector makes a sync.Pool drop what is put in it, at random:
// these counts hold without it.

package grpcjwt

import (
	"bytes"
	"testing"
	"time"
)

// TestDPoPNonceAllocations: issuing the current nonce and checking one,
// whichever secret signed it, allocate nothing.
func TestDPoPNonceAllocations(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	n, _ := testNonces(t, time.Minute, a)
	rotated, _ := testNonces(t, time.Minute, b, a)
	nonce := []byte(n.issue())
	if allocs := testing.AllocsPerRun(100, func() { _ = n.issue() }); allocs != 0 {
		t.Errorf("issuing the current nonce: %v allocations, want 0", allocs)
	}
	for name, s := range map[string]*dpopNonces{"signed by the first secret": n, "by the second": rotated} {
		if allocs := testing.AllocsPerRun(100, func() { _ = s.check(nonce) }); allocs != 0 {
			t.Errorf("checking a nonce %s: %v allocations, want 0", name, allocs)
		}
	}
}
