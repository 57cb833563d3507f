package grpcjwt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// twoIssuers starts a validator that trusts a and b; b's API audience is
// made different from a's first.
func twoIssuers(t *testing.T, a, b *grpcjwttest.Issuer, mod ...func(*grpcjwt.Config)) *grpcjwt.Validator {
	t.Helper()
	b.Audience = "https://b-api.example.com"
	return newValidator(t, a, append([]func(*grpcjwt.Config){func(c *grpcjwt.Config) {
		c.Issuers = []grpcjwt.IssuerConfig{{Issuer: b.URL, Audience: b.Audience}}
	}}, mod...)...)
}

func TestSeveralIssuers(t *testing.T) {
	a, b, stranger := newIssuer(t), newIssuer(t), newIssuer(t)
	v := twoIssuers(t, a, b)
	for _, iss := range []*grpcjwttest.Issuer{a, b} {
		c, err := v.Validate(context.Background(), iss.Token(nil))
		if err != nil {
			t.Fatalf("token of %s: %v", iss.URL, err)
		}
		if c.Issuer != iss.URL || c.MatchedAudience != iss.Audience {
			t.Errorf("Claims say issuer %q audience %q, want %q %q", c.Issuer, c.MatchedAudience, iss.URL, iss.Audience)
		}
	}

	t.Run("each issuer verifies with its own keys only", func(t *testing.T) {
		// b's key under a's name: routed to a, whose JWKS lacks the kid.
		tok := b.Token(map[string]any{"iss": a.URL, "aud": a.Audience})
		wantReject(t, v, tok, grpcjwt.ErrUnknownKey)
		// a's audience is not b's.
		wantReject(t, v, b.Token(map[string]any{"aud": a.Audience}), grpcjwt.ErrAudienceMismatch)
	})

	t.Run("an untrusted issuer costs no request", func(t *testing.T) {
		fetches := func() int64 {
			return a.JWKSFetches() + b.JWKSFetches() + stranger.JWKSFetches() +
				a.DiscoveryFetches() + b.DiscoveryFetches() + stranger.DiscoveryFetches()
		}
		before := fetches()
		for range 5 {
			_, err := v.Validate(context.Background(), stranger.Token(nil))
			if !errors.Is(err, grpcjwt.ErrUntrustedIssuer) {
				t.Fatalf("Validate = %v, want %v", err, grpcjwt.ErrUntrustedIssuer)
			}
		}
		if after := fetches(); after != before {
			t.Errorf("an untrusted iss caused %d requests", after-before)
		}
	})
}

// TestIssuerOutageIsIsolated: while issuer a hangs on its JWKS, with a
// caller waiting on it for an unknown kid, b's tokens, known and new keys
// alike, flow; and a's unknown-kid rate limit does not limit b.
func TestIssuerOutageIsIsolated(t *testing.T) {
	a, b := newIssuer(t), newIssuer(t)
	v := twoIssuers(t, a, b)

	a.SetJWKSMode(grpcjwttest.Hang)
	before := a.JWKSFetches()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hung := make(chan error, 1)
	go func() {
		_, err := v.Validate(ctx, a.Token(nil, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))))
		hung <- err
	}()
	waitFor(t, func() bool { return a.JWKSFetches() > before }) // a's refresh hangs now

	for i := range 20 {
		if _, err := v.Validate(context.Background(), b.Token(map[string]any{"jti": fmt.Sprint(i)})); err != nil {
			t.Fatalf("b's token while a hangs: %v", err)
		}
	}
	b.RotateKey("ES256")
	if _, err := v.Validate(context.Background(), b.Token(nil, grpcjwttest.WithKeyFor("ES256"))); err != nil {
		t.Fatalf("b's new key while a hangs: %v", err)
	}
	select {
	case err := <-hung:
		t.Fatalf("a's caller returned (%v) before it gave up", err)
	default:
	}
	cancel()
	if err := <-hung; !errors.Is(err, grpcjwt.ErrUnknownKey) {
		t.Errorf("a's caller: %v", err)
	}
}

// TestUnknownKIDLimitIsPerIssuer: a storm of unknown kids at issuer a uses
// up a's refreshes, not b's.
func TestUnknownKIDLimitIsPerIssuer(t *testing.T) {
	a, b := newIssuer(t), newIssuer(t)
	v := twoIssuers(t, a, b)
	for range 10 {
		wantReject(t, v, a.Token(nil, grpcjwttest.WithKey(grpcjwttest.MustKey("ES256"))), grpcjwt.ErrUnknownKey)
	}
	a.RotateKey("RS256")
	wantReject(t, v, a.Token(nil), grpcjwt.ErrUnknownKey) // a is rate-limited now
	b.RotateKey("RS256")
	if _, err := v.Validate(context.Background(), b.Token(nil)); err != nil {
		t.Fatalf("b's new key after a's storm: %v", err)
	}
}

func TestNewValidatorWithAnIssuerDown(t *testing.T) {
	a, b := newIssuer(t), newIssuer(t)
	b.SetJWKSMode(grpcjwttest.Fail)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer: a.URL, Audience: a.Audience,
		Issuers: []grpcjwt.IssuerConfig{{Issuer: b.URL, Audience: b.Audience}},
	})
	if !errors.Is(err, grpcjwt.ErrKeySet) || !strings.Contains(err.Error(), b.URL) || strings.Contains(err.Error(), fmt.Sprintf("%q", a.URL)) {
		t.Fatalf("NewValidator = %v; want ErrKeySet naming %s only", err, b.URL)
	}
}

func TestIssuerConfigErrors(t *testing.T) {
	a := newIssuer(t)
	for name, cfg := range map[string]grpcjwt.Config{
		"same issuer twice":   {Issuer: a.URL, Audience: "x", Issuers: []grpcjwt.IssuerConfig{{Issuer: a.URL, Audience: "y"}}},
		"no audience":         {Issuers: []grpcjwt.IssuerConfig{{Issuer: a.URL}}},
		"empty prefix":        {Issuer: a.URL, AudiencePrefixes: []string{""}},
		"empty audience":      {Issuer: a.URL, Audience: "x", Audiences: []string{""}},
		"bad scope claim":     {Issuer: a.URL, Audience: "x", ScopeClaims: []string{"realm_access."}},
		"audience, no issuer": {Audience: "x", Issuers: []grpcjwt.IssuerConfig{{Issuer: a.URL, Audience: "y"}}},
		"HS256 for one":       {Issuer: a.URL, Audience: "x", Issuers: []grpcjwt.IssuerConfig{{Issuer: "https://b", Audience: "y", Algorithms: []string{"HS256"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := grpcjwt.NewValidator(context.Background(), cfg); !errors.Is(err, grpcjwt.ErrConfig) {
				t.Fatalf("NewValidator = %v, want ErrConfig", err)
			}
		})
	}
	// Only Issuers, no Config.Issuer: fine.
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuers: []grpcjwt.IssuerConfig{{Issuer: a.URL, Audience: a.Audience}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Validate(context.Background(), a.Token(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestAudienceSets(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.Audience = ""
		c.Audiences = []string{"https://api-a", "https://api-b"}
		c.AudiencePrefixes = []string{grpcjwttest.OrganizationAudiencePrefix}
	})
	cases := []struct {
		aud             any
		matched, suffix string
		cause           error
	}{
		{"https://api-b", "https://api-b", "", nil},
		{[]string{"https://other", "https://api-a"}, "https://api-a", "", nil},
		{"urn:logto:organization:org-a", "urn:logto:organization:org-a", "org-a", nil},
		{[]string{"urn:logto:organization:org-a", "https://api-b"}, "https://api-b", "", nil}, // exact first
		{"urn:logto:organization:", "", "", grpcjwt.ErrAudienceMismatch},                      // nothing after the prefix
		{"URN:logto:organization:org-a", "", "", grpcjwt.ErrAudienceMismatch},
		{"https://api-a/", "", "", grpcjwt.ErrAudienceMismatch},
	}
	for _, tc := range cases {
		tok := iss.Token(map[string]any{"aud": tc.aud})
		if tc.cause != nil {
			wantReject(t, v, tok, tc.cause)
			continue
		}
		c, err := v.Validate(context.Background(), tok)
		if err != nil {
			t.Fatalf("aud %v: %v", tc.aud, err)
		}
		if c.MatchedAudience != tc.matched || c.AudienceSuffix != tc.suffix {
			t.Errorf("aud %v: matched %q suffix %q, want %q %q", tc.aud, c.MatchedAudience, c.AudienceSuffix, tc.matched, tc.suffix)
		}
	}
	c, err := v.Validate(context.Background(), iss.Token(nil, grpcjwttest.WithOrganizationAudience("acme")))
	if err != nil || c.AudienceSuffix != "acme" {
		t.Fatalf("organization token: %v, suffix %q", err, c.AudienceSuffix)
	}
}

func TestScopeClaims(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) {
		c.ScopeClaims = []string{"permissions", "realm_access.roles", "extra"}
	})
	c, err := v.Validate(context.Background(), iss.Token(map[string]any{
		"scope":        "openid",
		"permissions":  []string{"read:messages", "bad item"},
		"realm_access": map[string]any{"roles": []string{"admin"}, "Roles": []string{"root"}},
		"extra":        "a b",
		"Permissions":  []string{"write:all"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Scopes); got != "[openid read:messages admin a b]" {
		t.Errorf("Scopes = %s", got)
	}
	wantReject(t, v, iss.Token(map[string]any{"permissions": 5}), grpcjwt.ErrTokenMalformed)
	// Without the setting, permissions are not scopes.
	plain := newValidator(t, iss)
	c, err = plain.Validate(context.Background(), iss.Token(map[string]any{"permissions": []string{"read:messages"}}))
	if err != nil || c.HasScope("read:messages") {
		t.Errorf("permissions counted as scopes by default: %v %v", c.Scopes, err)
	}
}
