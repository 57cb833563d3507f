// Package interop_test runs grpcjwt against real OpenID Connect providers,
// Ory Hydra and node-oidc-provider, each started as a child process on
// loopback. Tokens come from the providers' token endpoints through
// golang.org/x/oauth2/clientcredentials (sender-constrained ones through a
// plain POST with a DPoP proof or a client certificate) and are sent to a
// greeter behind grpcjwt's interceptors.
//
// A provider that is not installed skips its tests with a message saying
// how to install it, except under CI=true, where it fails them. See
// README.md, "Running the interop tests".
package interop_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
)

const (
	apiAudience   = "https://api.example.com"   // the greeter's audience
	otherAudience = "https://other.example.com" // another API's
	clientID      = "grpcjwt-client"
	clientSecret  = "grpcjwt-secret"
	shortTTL      = 2 * time.Second // the shortest token lifetime the tests ask for
)

// allScopes are the scopes the providers' clients may have.
var allScopes = []string{"greet:read", "greet:write"}

// provider is a running OIDC provider with a client_credentials client
// clientID whose tokens are for apiAudience.
type provider interface {
	name() string
	issuer() string
	// scopeClaim is the payload claim that carries the scopes.
	scopeClaim() string
	// token gets a token with scopes, valid for an hour.
	token(t *testing.T, scopes ...string) string
	// shortToken gets a token with allScopes, valid for shortTTL.
	shortToken(t *testing.T) string
	// rotate makes the provider sign with a new key, published alongside
	// the old ones, and returns its kid.
	rotate(t *testing.T) string
	// stop stops the provider and waits until it has exited.
	stop()
}

// audienceProvider is a provider that can also issue tokens for another
// audience, or for none ("").
type audienceProvider interface {
	tokenFor(t *testing.T, audience string, scopes ...string) string
}

// tokenClient gets tokens on connections of its own: a provider restarted
// on the same port must not see a request on a connection to its
// predecessor (token requests are POSTs, which net/http does not retry).
var tokenClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: rootsWithTestCA()}},
	Timeout:   time.Minute,
}

// fetchToken gets an access token from the token endpoint with cfg.
func fetchToken(t *testing.T, cfg *clientcredentials.Config) string {
	t.Helper()
	tok, err := cfg.Token(context.WithValue(t.Context(), oauth2.HTTPClient, tokenClient))
	if err != nil {
		t.Fatalf("token from %s: %v", cfg.TokenURL, err)
	}
	return tok.AccessToken
}

// TestHydra runs the cases against Ory Hydra.
func TestHydra(t *testing.T) {
	t.Parallel()
	testProvider(t, startHydra(t, requireProvider(t, "hydra")))
}

// TestOIDCProvider runs the cases against node-oidc-provider.
func TestOIDCProvider(t *testing.T) {
	t.Parallel()
	testProvider(t, startOIDCProvider(t, requireProvider(t, "oidc-provider")))
}

// TestCrossProvider sends each provider's tokens to a server that trusts
// the other provider.
func TestCrossProvider(t *testing.T) {
	t.Parallel()
	hydraBin := requireProvider(t, "hydra")
	node := requireProvider(t, "oidc-provider")
	providers := []provider{startHydra(t, hydraBin), startOIDCProvider(t, node)}
	servers := []*server{newServer(t, providers[0].issuer(), apiAudience), newServer(t, providers[1].issuer(), apiAudience)}
	for i, from := range providers {
		to := 1 - i
		t.Run(from.name()+" token to "+providers[to].name()+" server", func(t *testing.T) {
			tok := from.token(t, allScopes...)
			servers[i].accept(t, sayHello, tok) // a good token at home
			servers[to].reject(t, tok, grpcjwt.ErrUntrustedIssuer)
		})
	}
}

// testProvider runs the cases against p in order; the last ones rotate its
// key and stop it.
func testProvider(t *testing.T, p provider) {
	s := newServer(t, p.issuer(), apiAudience)

	t.Run("fresh token", func(t *testing.T) {
		tok := p.token(t, allScopes...)
		h, payload := decodeToken(t, tok)
		t.Logf("header %+v, payload %s", h, payload)
		for _, r := range rpcs {
			got := s.accept(t, r, tok)
			if got.Subject != clientID || got.ClientID != clientID {
				t.Errorf("%s: handler saw sub %q, client ID %q; want %q for both (client_credentials)", r.name, got.Subject, got.ClientID, clientID)
			}
			if !slices.Equal(got.Scopes, allScopes) || got.ScopeClaim != p.scopeClaim() {
				t.Errorf("%s: handler saw scopes %q from %q, want %q from %q", r.name, got.Scopes, got.ScopeClaim, allScopes, p.scopeClaim())
			}
		}
		if n := s.fetches(); n != 1 {
			t.Errorf("JWKS fetched %d times, want once (at start)", n)
		}
	})

	t.Run("scopes", func(t *testing.T) {
		for _, scopes := range [][]string{nil, {"greet:read"}, {"greet:write"}} {
			tok := p.token(t, scopes...)
			for _, r := range rpcs {
				if r.scope != "" && !slices.Contains(scopes, r.scope) {
					s.deny(t, r, tok, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
					continue
				}
				if got := s.accept(t, r, tok); !slices.Equal(got.Scopes, scopes) {
					t.Errorf("%s: handler saw scopes %q, want %q", r.name, got.Scopes, scopes)
				}
			}
		}
	})

	t.Run("other audience", func(t *testing.T) {
		// A token for our API, presented to another API of the same issuer.
		other := newServer(t, p.issuer(), otherAudience)
		other.reject(t, p.token(t, allScopes...), grpcjwt.ErrAudienceMismatch)

		ap, ok := p.(audienceProvider)
		if !ok {
			return
		}
		// Tokens the provider issued for another API, and for no API.
		s.reject(t, ap.tokenFor(t, otherAudience, allScopes...), grpcjwt.ErrAudienceMismatch)
		s.reject(t, ap.tokenFor(t, "", allScopes...), grpcjwt.ErrMissingClaim)
	})

	t.Run("expired", func(t *testing.T) {
		tok := p.shortToken(t)
		got := s.accept(t, sayHello, tok)
		if life := got.Expires.Sub(got.IssuedAt); life <= 0 || life > shortTTL {
			t.Fatalf("token lives %s (iat %s, exp %s), want at most %s", life, got.IssuedAt, got.Expires, shortTTL)
		}
		t.Cleanup(s.clock.reset)
		s.clock.set(got.Expires.Add(grpcjwt.DefaultLeeway + time.Second))
		s.reject(t, tok, grpcjwt.ErrTokenExpired)
	})

	t.Run("key rotation", func(t *testing.T) {
		old := p.token(t, allScopes...)
		s.accept(t, sayHello, old)
		before := s.fetches()

		kid := p.rotate(t)
		tok := p.token(t, allScopes...)
		h, _ := decodeToken(t, tok)
		if h.Kid != kid {
			t.Fatalf("new token signed with kid %q (%s), want the new key %q", h.Kid, h.Alg, kid)
		}
		for _, r := range rpcs {
			s.accept(t, r, tok)
		}
		if n := s.fetches() - before; n != 1 {
			t.Errorf("the new key cost %d JWKS fetches, want 1", n)
		}
		// The old key is still published: tokens signed with it still work.
		s.accept(t, sayHello, old)
		s.accept(t, sayHello, p.token(t, allScopes...))
		if n := s.fetches() - before; n != 1 {
			t.Errorf("%d JWKS fetches since the rotation, want 1", n)
		}
	})

	t.Run("provider stops", func(t *testing.T) {
		used := p.token(t, allScopes...)
		s.accept(t, sayHello, used)
		unused := p.token(t, allScopes...)
		before := s.fetches()
		p.stop()

		// The keys are held, so tokens verify without the provider: one
		// already seen (and cached) and one never seen before.
		s.accept(t, sayHello, used)
		got := s.accept(t, sayHello, unused)
		if n := s.fetches() - before; n != 0 {
			t.Errorf("%d JWKS fetches after the provider stopped, want 0", n)
		}

		// Until they expire. (By then a periodic JWKS refresh is due; it
		// fails in the background and the keys are kept.)
		t.Cleanup(s.clock.reset)
		s.clock.set(got.Expires.Add(-time.Second))
		s.accept(t, sayHello, unused)
		s.clock.set(got.Expires.Add(grpcjwt.DefaultLeeway + time.Second))
		s.reject(t, unused, grpcjwt.ErrTokenExpired)
	})
}
