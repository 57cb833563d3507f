package grpcjwt_test

import (
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
)

// TestIssuerStateReady: an issuer is ready with keys, unless they have
// been stale for longer than maxStale (when positive); a State is ready
// when each of its issuers is.
func TestIssuerStateReady(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	fresh := grpcjwt.IssuerState{Issuer: "a", Keys: 2, LastSuccess: now.Add(-time.Hour)}
	staleFor := func(d time.Duration) grpcjwt.IssuerState {
		is := fresh
		is.StaleSince = now.Add(-d)
		return is
	}
	for _, tc := range []struct {
		name     string
		is       grpcjwt.IssuerState
		maxStale time.Duration
		want     bool
	}{
		{"fresh", fresh, time.Minute, true},
		{"no keys", grpcjwt.IssuerState{Issuer: "a"}, 0, false},
		{"no keys, stale bound", grpcjwt.IssuerState{Issuer: "a"}, time.Minute, false},
		{"stale within the bound", staleFor(time.Minute), time.Minute, true},
		{"stale past the bound", staleFor(time.Minute + time.Nanosecond), time.Minute, false},
		{"stale, no bound", staleFor(1000 * time.Hour), 0, true},
		{"stale, negative bound", staleFor(1000 * time.Hour), -time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.is.Ready(now, tc.maxStale); got != tc.want {
				t.Errorf("IssuerState.Ready = %v, want %v", got, tc.want)
			}
			// A State of it and a fresh issuer is ready when it is.
			s := grpcjwt.State{Issuers: []grpcjwt.IssuerState{fresh, tc.is}}
			if got := s.Ready(now, tc.maxStale); got != tc.want {
				t.Errorf("State.Ready = %v, want %v", got, tc.want)
			}
		})
	}
}
