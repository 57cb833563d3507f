package interop_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// cacheTTL is how long the tests' servers keep an introspection answer:
// the most a revocation goes unseen.
const cacheTTL = time.Minute

// opaqueProvider is a provider whose access tokens are opaque, verified at
// its introspection endpoint, and revocable.
type opaqueProvider interface {
	provider
	// introspection is how a resource server reaches its endpoint.
	introspection() *grpcjwt.IntrospectionConfig
	// revoke revokes a token at the provider (RFC 7009).
	revoke(t *testing.T, token string)
}

// revoke posts token to a revocation endpoint (RFC 7009) as the
// client_credentials client, and wants 200.
func revoke(t *testing.T, endpoint, token string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := tokenClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation at %s: %s", endpoint, resp.Status)
	}
}

// opaqueServer starts a greeter whose Validator trusts p, introspecting
// its opaque tokens, and keeps answers for cacheTTL.
func opaqueServer(t *testing.T, p opaqueProvider, rules ...grpcjwt.Option) *server {
	t.Helper()
	return opaqueServerTTL(t, p, cacheTTL, rules...)
}

// opaqueServerTTL is opaqueServer keeping answers for ttl (none when it is
// negative).
func opaqueServerTTL(t *testing.T, p opaqueProvider, ttl time.Duration, rules ...grpcjwt.Option) *server {
	t.Helper()
	ic := p.introspection()
	ic.CacheTTL = ttl
	return newServerFor(t, grpcjwt.Config{Issuer: p.issuer(), Audience: apiAudience, OpaqueTokenIssuer: p.issuer(), Introspection: ic}, rules...)
}

// TestHydraRevocationCheck: Hydra's JWT access tokens, on a method that
// checks revocation (grpcjwt.WithRevocationCheck), confirmed active at
// Hydra's admin introspection endpoint: a token revoked at Hydra is
// refused on the next call to that method by a server that keeps no
// answer, and still accepted by the methods that check no revocation,
// until its exp.
func TestHydraRevocationCheck(t *testing.T) {
	t.Parallel()
	h := startHydra(t, requireProvider(t, "hydra"))
	ic := h.introspection()
	ic.CacheTTL = -1
	s := newServerFor(t, grpcjwt.Config{Issuer: h.iss, Audience: apiAudience, Introspection: ic},
		grpcjwt.WithRevocationCheck(greeterv1.Greeter_SayHello_FullMethodName))
	tok := h.token(t, allScopes...)
	for _, r := range rpcs {
		if got := s.accept(t, r, tok); got.Introspected || got.Subject != clientID {
			t.Errorf("%s: the handler saw %+v, want the JWT's claims", r.name, got)
		}
	}
	h.revoke(t, tok)
	s.reject1(t, sayHello, tok, grpcjwt.ErrTokenInactive)
	s.accept(t, sayHelloStream, tok)
	s.accept(t, chat, tok)
}

// reject1 asserts that r alone refuses token with Unauthenticated
// "invalid_token", for cause.
func (s *server) reject1(t *testing.T, r rpc, token string, cause error) {
	t.Helper()
	s.takeCause()
	s.deny(t, r, token, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	if got := s.takeCause(); !errors.Is(got, cause) {
		t.Errorf("%s: the server refused the call because %v, want %v", r.name, got, cause)
	}
}

// TestHydraOpaque runs the opaque-token cases against Ory Hydra issuing
// its default, opaque access tokens ("ory_at_..."), introspected on its
// admin API.
func TestHydraOpaque(t *testing.T) {
	t.Parallel()
	h := startHydraWith(t, requireProvider(t, "hydra"), "STRATEGIES_ACCESS_TOKEN=opaque")
	testOpaque(t, h, clientID)
}

// TestOIDCProviderOpaque runs the opaque-token cases against
// node-oidc-provider issuing opaque access tokens for the resource, its
// introspection endpoint found by discovery, the resource server
// authenticating with client_secret_basic (and, in a case of its own,
// client_secret_post); and a DPoP-bound opaque token, whose cnf.jkt only
// introspection tells.
func TestOIDCProviderOpaque(t *testing.T) {
	t.Parallel()
	p := &opaqueOIDCProvider{startOIDCProviderWith(t, requireProvider(t, "oidc-provider"), []string{"ACCESS_TOKEN_FORMAT=opaque"})}
	t.Run("client_secret_post", func(t *testing.T) {
		ic := p.introspection()
		ic.ClientID, ic.AuthMethod = apiClientID+"-post", grpcjwt.ClientSecretPost
		s := newServerFor(t, grpcjwt.Config{Issuer: p.iss, Audience: apiAudience, OpaqueTokenIssuer: p.iss, Introspection: ic})
		s.accept(t, sayHello, p.token(t, allScopes...))
	})

	t.Run("DPoP-bound", func(t *testing.T) {
		s := opaqueServer(t, p, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
		k := newDPoPKey(t)
		tr, code := p.postToken(t, clientWith(t), k.proof(t, p.tokenURL))
		if code != http.StatusOK || tr.TokenType != "DPoP" || strings.Count(tr.AccessToken, ".") == 2 {
			t.Fatalf("token request: HTTP %d, %+v; want an opaque DPoP token", code, tr)
		}
		k.token = tr.AccessToken
		c := s.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(k.creds))
		for _, r := range rpcs {
			if got := acceptOn(t, c, r); !got.Introspected {
				t.Errorf("%s: the handler's claims are not introspected", r.name)
			}
		}
		s.refuseOn(t, s.client, sayHello, grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPBoundToken, "authorization", "Bearer "+k.token)
	})

	testOpaque(t, p, "") // node-oidc-provider names no sub for a client_credentials token; stops it
}

// opaqueOIDCProvider is node-oidc-provider issuing opaque tokens.
type opaqueOIDCProvider struct{ *oidcProvider }

// apiClientID is provider.mjs's client for the resource server.
const apiClientID = "grpcjwt-api"

// introspection authenticates as the resource server's client, and leaves
// the endpoint to discovery.
func (p *opaqueOIDCProvider) introspection() *grpcjwt.IntrospectionConfig {
	return &grpcjwt.IntrospectionConfig{ClientID: apiClientID, ClientSecret: "grpcjwt-api-secret"}
}

func (p *opaqueOIDCProvider) revoke(t *testing.T, token string) {
	t.Helper()
	revoke(t, discover(t, p.iss).RevocationEndpoint, token)
}

// testOpaque runs the cases against p, whose tokens are opaque and whose
// client_credentials tokens have sub sub; the last stops it.
func testOpaque(t *testing.T, p opaqueProvider, sub string) {
	s := opaqueServer(t, p)

	t.Run("fresh token", func(t *testing.T) {
		tok := p.token(t, allScopes...)
		if strings.Count(tok, ".") == 2 {
			t.Fatalf("token %q has the shape of a JWT", tok)
		}
		for _, r := range rpcs {
			got := s.accept(t, r, tok)
			if got.Subject != sub || got.ClientID != clientID || got.Issuer != p.issuer() || !got.Introspected {
				t.Errorf("%s: handler saw %+v; want sub %q, client ID %q, introspected", r.name, got, sub, clientID)
			}
			if !slices.Equal(got.Scopes, allScopes) || got.ScopeClaim != "scope" {
				t.Errorf("%s: handler saw scopes %q from %q, want %q from scope", r.name, got.Scopes, got.ScopeClaim, allScopes)
			}
		}
	})

	t.Run("scopes", func(t *testing.T) {
		tok := p.token(t, "greet:read")
		s.accept(t, sayHello, tok)
		s.deny(t, chat, tok, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
	})

	t.Run("unknown token", func(t *testing.T) {
		s.reject(t, "unknown-"+strings.Repeat("x", 40), grpcjwt.ErrTokenInactive)
	})

	if ap, ok := p.(audienceProvider); ok {
		t.Run("other audience", func(t *testing.T) {
			s.reject(t, ap.tokenFor(t, otherAudience, allScopes...), grpcjwt.ErrAudienceMismatch)
			s.reject(t, ap.tokenFor(t, "", allScopes...), grpcjwt.ErrMissingClaim)
		})
	}

	t.Run("revoked", func(t *testing.T) {
		tok := p.token(t, allScopes...)
		s.accept(t, sayHello, tok)
		p.revoke(t, tok)
		// Within CacheTTL the cached answer stands: the documented staleness.
		s.accept(t, sayHello, tok)
		t.Cleanup(s.clock.reset)
		s.clock.set(time.Now().Add(cacheTTL + time.Second))
		s.reject(t, tok, grpcjwt.ErrTokenInactive)
	})

	t.Run("revoked, no answer kept", func(t *testing.T) {
		s := opaqueServerTTL(t, p, -1)
		tok := p.token(t, allScopes...)
		s.accept(t, sayHello, tok)
		p.revoke(t, tok)
		s.reject1(t, sayHello, tok, grpcjwt.ErrTokenInactive) // the next call
	})

	t.Run("HTTP doors", func(t *testing.T) { testDoors(t, p, sub) })

	t.Run("provider stops", func(t *testing.T) {
		used := p.token(t, allScopes...)
		s.accept(t, sayHello, used)
		unused := p.token(t, allScopes...)
		p.stop()
		s.accept(t, sayHello, used) // cached
		for _, r := range rpcs {
			s.deny(t, r, unused, codes.Unavailable, grpcjwt.CodeTemporarilyUnavailable)
		}
		if _, err := s.v.Validate(t.Context(), unused); !errors.Is(err, grpcjwt.ErrIntrospectionUnavailable) {
			t.Errorf("Validate: %v, want ErrIntrospectionUnavailable", err)
		}
	})
}
