package grpcjwt

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// testNonces returns the nonces of secrets with lifetime N, on a clock the
// test moves.
func testNonces(t *testing.T, lifetime time.Duration, secrets ...[]byte) (*dpopNonces, *time.Time) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	n, err := newDPoPNonces(&DPoPNonceConfig{Secrets: secrets, Lifetime: lifetime}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return n, &now
}

// TestDPoPNonceIssue: the server hands out one nonce per step of N/4 (in
// whole seconds), issued at the start of the step, the same from every
// server with the same first secret, and makes it once.
func TestDPoPNonceIssue(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	n, now := testNonces(t, 10*time.Second, secret) // steps of 2s (2.5 rounded down)
	replica, rnow := testNonces(t, 10*time.Second, secret, bytes.Repeat([]byte{8}, 32))
	start := *now // 1_800_000_000 is a multiple of 2
	first := n.issue()
	if len(first) != encodedNonceLen || encodedNonceLen != 55 {
		t.Fatalf("nonce %q of %d characters, want %d = 55", first, len(first), encodedNonceLen)
	}
	for _, tc := range []struct {
		at   time.Duration
		same bool
	}{
		{0, true},
		{time.Second, true},
		{2*time.Second - 1, true},
		{2 * time.Second, false},
	} {
		*now, *rnow = start.Add(tc.at), start.Add(tc.at)
		got := n.issue()
		if (got == first) != tc.same {
			t.Errorf("at start+%s: %q, first %q, want the same: %v", tc.at, got, first, tc.same)
		}
		if r := replica.issue(); r != got {
			t.Errorf("at start+%s: a replica hands out %q, want %q", tc.at, r, got)
		}
	}
}

// TestDPoPNonceCheck: a nonce the server issued is accepted by every server
// with its secret, and any change to it is refused, as is any nonce of
// another length, unread.
func TestDPoPNonceCheck(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	n, _ := testNonces(t, time.Minute, a)
	rotated, _ := testNonces(t, time.Minute, b, a)
	other, _ := testNonces(t, time.Minute, b)
	nonce := []byte(n.issue())
	for name, s := range map[string]*dpopNonces{"its server": n, "a server that has its secret second": rotated} {
		if err := s.check(nonce); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := other.check(nonce); !errors.Is(err, ErrUseDPoPNonce) {
		t.Errorf("a server without its secret: %v, want ErrUseDPoPNonce", err)
	}
	for i := range nonce {
		for bit := range 8 {
			changed := bytes.Clone(nonce)
			changed[i] ^= 1 << bit
			if err := n.check(changed); !errors.Is(err, ErrUseDPoPNonce) {
				t.Fatalf("byte %d, bit %d changed: %v, want ErrUseDPoPNonce", i, bit, err)
			}
		}
	}
	for _, l := range []int{0, 1, encodedNonceLen - 1, encodedNonceLen + 1, 8 << 10} {
		if err := n.check(bytes.Repeat([]byte{'A'}, l)); !errors.Is(err, ErrUseDPoPNonce) {
			t.Errorf("a nonce of %d bytes: %v, want ErrUseDPoPNonce", l, err)
		}
	}
}
