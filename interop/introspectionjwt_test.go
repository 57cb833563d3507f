package interop_test

import (
	"mime"
	"net/http"
	"sync"
	"testing"

	"github.com/grpcjwt/grpcjwt"
)

// mediaTypes is an http.RoundTripper that records the media type of every
// answer it passes on.
type mediaTypes struct {
	mu   sync.Mutex
	seen []string
}

func (m *mediaTypes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		m.mu.Lock()
		m.seen = append(m.seen, mt)
		m.mu.Unlock()
	}
	return resp, err
}

// TestOIDCProviderSignedIntrospection: node-oidc-provider answering
// introspection with JWTs (RFC 9701, its features.jwtIntrospection), which
// its discovery offers. By default the server asks for them, verifies them
// with the provider's keys and accepts its opaque tokens on every method;
// a token revoked at the provider is refused on the next call (answers are
// kept for no time). With SignedResponsesOff it asks for, and gets, plain
// JSON.
func TestOIDCProviderSignedIntrospection(t *testing.T) {
	t.Parallel()
	p := &opaqueOIDCProvider{startOIDCProviderWith(t, requireProvider(t, "oidc-provider"), []string{"ACCESS_TOKEN_FORMAT=opaque", "JWT_INTROSPECTION=1"})}
	for _, tc := range []struct {
		name string
		mode grpcjwt.SignedResponses
		want string // the media type of every answer
	}{
		{"offered", grpcjwt.SignedResponsesIfOffered, "application/token-introspection+jwt"},
		{"off", grpcjwt.SignedResponsesOff, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			types := &mediaTypes{}
			ic := p.introspection()
			ic.CacheTTL, ic.SignedResponses, ic.HTTPClient = -1, tc.mode, &http.Client{Transport: types}
			s := newServerFor(t, grpcjwt.Config{Issuer: p.iss, Audience: apiAudience, OpaqueTokenIssuer: p.iss, Introspection: ic})
			tok := p.token(t, allScopes...)
			for _, r := range rpcs {
				if got := s.accept(t, r, tok); !got.Introspected || got.ClientID != clientID || got.Issuer != p.iss {
					t.Errorf("%s: the handler saw %+v, want the introspected claims of %s's token", r.name, got, clientID)
				}
			}
			p.revoke(t, tok)
			s.reject(t, tok, grpcjwt.ErrTokenInactive)
			types.mu.Lock()
			defer types.mu.Unlock()
			if len(types.seen) < len(rpcs)+1 {
				t.Fatalf("%d introspection answers, want one per call", len(types.seen))
			}
			for _, mt := range types.seen {
				if mt != tc.want {
					t.Fatalf("answers of media types %q, want %s alone", types.seen, tc.want)
				}
			}
		})
	}
}
