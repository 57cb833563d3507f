package grpcjwt_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestRediscovery: without Config.JWKSURL, a periodic refresh reads the
// discovery document again, so that a provider that moves its jwks_uri has
// its new keys found at the next refresh, and the keys only the old URL
// published stop verifying.
func TestRediscovery(t *testing.T) {
	iss, moved := newIssuer(t), newIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	exp := time.Now().Add(24 * time.Hour).Unix()
	before := iss.Token(map[string]any{"exp": exp})
	after := moved.Token(map[string]any{"iss": iss.URL, "aud": iss.Audience, "exp": exp})
	if _, err := v.Validate(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	discoveries := iss.DiscoveryFetches()
	wantReject(t, v, after, grpcjwt.ErrUnknownKey) // spends the free unknown-kid refresh
	if n := iss.DiscoveryFetches() - discoveries; n != 0 {
		t.Errorf("a refresh for an unknown kid read the discovery document %d times", n)
	}

	iss.SetJWKSURI(moved.JWKSURL())
	now.Add(int64(2 * grpcjwt.DefaultRefreshInterval)) // a periodic refresh is due
	waitFor(t, func() bool {
		_, _ = v.Validate(context.Background(), before) // starts it
		_, err := v.Validate(context.Background(), after)
		return err == nil
	})
	wantReject(t, v, before, grpcjwt.ErrUnknownKey)
}

// TestRefreshSurvivesDiscoveryOutage: when discovery fails at a periodic
// refresh, the JWKS is fetched from the jwks_uri it gave last, so that the
// keys stay fresh and a new key is found.
func TestRefreshSurvivesDiscoveryOutage(t *testing.T) {
	iss := newIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	rec := &recorder{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
		c.Observer = rec
	})
	exp := time.Now().Add(24 * time.Hour).Unix()
	before := iss.Token(map[string]any{"exp": exp})
	if _, err := v.Validate(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	iss.SetDiscoveryMode(grpcjwttest.Fail)
	discoveries, fetches := iss.DiscoveryFetches(), iss.JWKSFetches()
	iss.RotateKey("RS256")
	after := iss.Token(map[string]any{"exp": exp})
	now.Add(int64(2 * grpcjwt.DefaultRefreshInterval)) // a periodic refresh is due
	waitFor(t, func() bool {
		_, _ = v.Validate(context.Background(), before) // starts it
		_, _, f := rec.snapshot()
		return len(f) > 0 && f[len(f)-1] == "periodic ok"
	})
	if iss.DiscoveryFetches() == discoveries || iss.JWKSFetches() == fetches {
		t.Errorf("the periodic refresh made %d discovery and %d JWKS requests, want one of each",
			iss.DiscoveryFetches()-discoveries, iss.JWKSFetches()-fetches)
	}
	if st := v.State().Issuers[0]; st.LastError != nil || !st.StaleSince.IsZero() {
		t.Errorf("state %+v after a refresh that fetched the JWKS", st)
	}
	if _, err := v.Validate(context.Background(), after); err != nil {
		t.Errorf("the rotated key: %v", err)
	}
	if _, _, f := rec.snapshot(); f[len(f)-1] != "periodic ok" {
		t.Errorf("fetches %q: the rotated key was not in the periodic refresh's keys", f)
	}
}
