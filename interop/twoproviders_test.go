package interop_test

import (
	"slices"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
)

// TestTwoProviders runs one server that trusts node-oidc-provider
// (Config.Issuer) and Ory Hydra (Config.Issuers) at once: each provider's
// tokens are verified with its own keys, under its own audiences, and
// rotating or stopping one provider leaves the other's tokens and key
// fetches alone.
func TestTwoProviders(t *testing.T) {
	t.Parallel()
	hydraBin := requireProvider(t, "hydra")
	node := requireProvider(t, "oidc-provider")
	h := startHydra(t, hydraBin)
	op := startOIDCProvider(t, node)
	s := newServerFor(t, grpcjwt.Config{
		Issuer:            op.issuer(),
		Audience:          apiAudience,
		AudiencePrefixes:  []string{grpcjwt.DefaultOrganizationAudiencePrefix},
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
		Issuers:           []grpcjwt.IssuerConfig{{Issuer: h.issuer(), Audience: apiAudience}},
	})
	providers := []provider{op, h}

	// unchanged asserts that the server has fetched p's JWKS as often as
	// before says it had.
	unchanged := func(t *testing.T, p provider, before int64) {
		t.Helper()
		if n := s.fetchesAt(p.issuer()) - before; n != 0 {
			t.Errorf("%d fetches of %s's JWKS, want none", n, p.name())
		}
	}

	t.Run("each provider's tokens", func(t *testing.T) {
		for _, p := range providers {
			tok := p.token(t, allScopes...)
			for _, r := range rpcs {
				got := s.accept(t, r, tok)
				if got.Issuer != p.issuer() || got.MatchedAudience != apiAudience {
					t.Errorf("%s token, %s: handler saw iss %q, audience %q", p.name(), r.name, got.Issuer, got.MatchedAudience)
				}
				if !slices.Equal(got.Scopes, allScopes) || got.ScopeClaim != p.scopeClaim() {
					t.Errorf("%s token, %s: handler saw scopes %q from %q, want %q from %q", p.name(), r.name, got.Scopes, got.ScopeClaim, allScopes, p.scopeClaim())
				}
			}
		}
		// Audiences are per issuer: an organization audience is accepted
		// for node-oidc-provider only.
		s.accept(t, greetOrganization("acme"), op.organizationToken(t, "acme", allScopes...))
		s.reject(t, h.tokenFor(t, organizationAudience("acme"), allScopes...), grpcjwt.ErrAudienceMismatch)
		for _, p := range providers {
			if n := s.fetchesAt(p.issuer()); n != 1 {
				t.Errorf("%s's JWKS fetched %d times, want once (at start)", p.name(), n)
			}
		}
	})

	// rotate rotates p's key and checks that only p's JWKS is fetched
	// again, once, and that the other's tokens, old and new, still work.
	rotate := func(t *testing.T, p, other provider) {
		pOld, otherOld := p.token(t, allScopes...), other.token(t, allScopes...)
		s.accept(t, sayHello, pOld)
		s.accept(t, sayHello, otherOld)
		pBefore, otherBefore := s.fetchesAt(p.issuer()), s.fetchesAt(other.issuer())

		kid := p.rotate(t)
		s.accept(t, sayHello, otherOld)
		s.accept(t, sayHello, other.token(t, allScopes...))
		tok := p.token(t, allScopes...)
		if hd, _ := decodeToken(t, tok); hd.Kid != kid {
			t.Fatalf("new %s token signed with kid %q, want %q", p.name(), hd.Kid, kid)
		}
		s.accept(t, sayHello, tok)
		s.accept(t, sayHello, pOld)
		if n := s.fetchesAt(p.issuer()) - pBefore; n != 1 {
			t.Errorf("%s's new key cost %d fetches of its JWKS, want 1", p.name(), n)
		}
		unchanged(t, other, otherBefore)
	}
	t.Run("node-oidc-provider rotates", func(t *testing.T) { rotate(t, op, h) })
	t.Run("Hydra rotates", func(t *testing.T) { rotate(t, h, op) })

	t.Run("Hydra stops", func(t *testing.T) {
		opUsed, hUsed := op.token(t, allScopes...), h.token(t, allScopes...)
		s.accept(t, sayHello, opUsed)
		s.accept(t, sayHello, hUsed)
		opUnused, hUnused := op.token(t, allScopes...), h.token(t, allScopes...)
		// A Hydra token signed with a key the server has never seen.
		h.rotate(t)
		hNewKey := h.token(t, allScopes...)
		opBefore, hBefore := s.fetchesAt(op.issuer()), s.fetchesAt(h.issuer())
		h.stop()

		// Both providers' tokens, cached or not, verify with the keys held.
		for _, tok := range []string{opUsed, opUnused, hUsed, hUnused} {
			s.accept(t, sayHello, tok)
		}
		unchanged(t, op, opBefore)
		unchanged(t, h, hBefore)

		// Each issuer has had its one free unknown-kid refresh (the
		// rotations above); a minute on, each may have another. Periodic
		// refreshes are not due: neither provider sends a Cache-Control
		// max-age, so they come after RefreshInterval, an hour.
		t.Cleanup(s.clock.reset)
		s.clock.set(time.Now().Add(grpcjwt.DefaultMinRefreshInterval + time.Second))

		// Hydra's new key cannot be fetched: its token is refused after one
		// failed fetch, at Hydra only.
		s.reject(t, hNewKey, grpcjwt.ErrUnknownKey)
		if n := s.fetchesAt(h.issuer()) - hBefore; n != 1 {
			t.Errorf("%d fetches of Hydra's JWKS for an unknown kid, want 1 (then rate-limited)", n)
		}
		unchanged(t, op, opBefore)

		// node-oidc-provider's tokens, new ones and ones signed with a key
		// it rotates to now, still work, at the cost of one fetch of its
		// own JWKS.
		s.accept(t, sayHello, op.token(t, allScopes...))
		op.rotate(t)
		for _, r := range rpcs {
			s.accept(t, r, op.token(t, allScopes...))
		}
		s.accept(t, greetOrganization("globex"), op.organizationResourceToken(t, "globex", allScopes...))
		s.accept(t, sayHello, opUsed)
		if n := s.fetchesAt(op.issuer()) - opBefore; n != 1 {
			t.Errorf("%d fetches of node-oidc-provider's JWKS, want 1 (for its new key)", n)
		}
	})
}
