package interop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// normalTTL is the lifetime of node-oidc-provider's access tokens except
// for shortToken's.
const normalTTL = time.Hour

// oidcProvider is node-oidc-provider run by oidc-provider/provider.mjs. Its
// access tokens are JWTs with header typ "at+jwt", aud a string, and the
// scopes in a "scope" string; it mints Logto's organization tokens too
// (organization_test.go). Its keys and token lifetime are fixed at
// start, so changing them means a restart on the same port, which keeps the
// issuer.
type oidcProvider struct {
	node     string
	dir      string            // where the JWKS files go
	keys     []json.RawMessage // private JWKs; the first signs
	port     string            // "0" until the first start
	iss      string
	tokenURL string
	out      *syncBuffer
	proc     *process
	starts   int
	env      []string // more environment for provider.mjs (TLS_CERT ...)
}

// startOIDCProvider starts provider.mjs with node and one ES256 key, its
// client a member of memberOrganizations, and waits until it is ready. It
// is stopped when t ends.
func startOIDCProvider(t *testing.T, node string) *oidcProvider {
	t.Helper()
	return startOIDCProviderWith(t, node, nil)
}

// startOIDCProviderWith is startOIDCProvider with env added to
// provider.mjs's environment.
func startOIDCProviderWith(t *testing.T, node string, env []string) *oidcProvider {
	t.Helper()
	p := &oidcProvider{
		env:  env,
		node: node,
		dir:  t.TempDir(),
		keys: []json.RawMessage{newJWK(t, "ES256", "op-key-1")},
		port: "0",
		out:  &syncBuffer{},
	}
	logOnFailure(t, "oidc-provider", p.out)
	t.Cleanup(func() {
		if p.proc != nil {
			p.proc.stop()
		}
	})
	p.start(t, normalTTL)
	p.tokenURL = discover(t, p.iss).TokenEndpoint
	return p
}

// start stops the running provider, if any, and starts it with p.keys and
// access tokens that live ttl, on the port of the first start.
func (p *oidcProvider) start(t *testing.T, ttl time.Duration) {
	t.Helper()
	if p.proc != nil {
		p.proc.stop()
	}
	p.starts++
	jwks, err := json.Marshal(map[string]any{"keys": p.keys})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(p.dir, fmt.Sprintf("jwks-%d.json", p.starts))
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(p.out, "--- start %d: port %s, ttl %s, %d key(s)\n", p.starts, p.port, ttl, len(p.keys))
	ready := newLineWatcher("listening ")
	proc, err := startProcess(p.out, ready, append([]string{
		"PORT=" + p.port,
		"JWKS_FILE=" + file,
		"ACCESS_TOKEN_TTL=" + strconv.Itoa(int(ttl/time.Second)),
		"ORGANIZATIONS=" + strings.Join(memberOrganizations, " "),
	}, p.env...), p.node, filepath.Join("oidc-provider", "provider.mjs"))
	if err != nil {
		t.Fatalf("starting oidc-provider: %v", err)
	}
	p.proc = proc
	var iss string
	select {
	case iss = <-ready.found:
	case <-proc.exited:
		t.Fatalf("oidc-provider %s before it was ready", proc.exitError())
	case <-time.After(time.Minute):
		t.Fatal("oidc-provider not ready after a minute")
	}
	if p.iss != "" && iss != p.iss {
		t.Fatalf("oidc-provider restarted as %s, want %s", iss, p.iss)
	}
	u, err := url.Parse(iss)
	if err != nil {
		t.Fatalf("oidc-provider issuer %q: %v", iss, err)
	}
	p.iss, p.port = iss, u.Port()
}

// newJWK generates a private JWK for alg ("RS256" or "ES256") with kid, as
// provider.mjs reads them.
func newJWK(t *testing.T, alg, kid string) json.RawMessage {
	t.Helper()
	var (
		priv any
		err  error
		a    jwa.SignatureAlgorithm
	)
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
		a = jwa.RS256()
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		a = jwa.ES256()
	default:
		t.Fatalf("newJWK: unsupported alg %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(priv)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: a, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *oidcProvider) name() string       { return "node-oidc-provider" }
func (p *oidcProvider) issuer() string     { return p.iss }
func (p *oidcProvider) scopeClaim() string { return "scope" }

// token gets a token for the resource apiAudience (RFC 8707). provider.mjs
// serves no other resource: it refuses any other with invalid_target.
func (p *oidcProvider) token(t *testing.T, scopes ...string) string {
	t.Helper()
	return fetchToken(t, p.tokenRequest(url.Values{"resource": {apiAudience}}, scopes...))
}

// tokenRequest is a client_credentials token request to the provider with
// params (resource, organization_id) and scopes.
func (p *oidcProvider) tokenRequest(params url.Values, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		TokenURL:       p.tokenURL,
		Scopes:         scopes,
		EndpointParams: params,
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
}

// shortToken restarts the provider with a token lifetime of shortTTL, gets
// a token, and restarts it as it was. The keys do not change.
func (p *oidcProvider) shortToken(t *testing.T) string {
	t.Helper()
	p.start(t, shortTTL)
	tok := p.token(t, allScopes...)
	p.start(t, normalTTL)
	return tok
}

// rotate restarts the provider with a new RS256 key first in its JWKS, so
// that it signs with it, and the previous keys after it, still published.
func (p *oidcProvider) rotate(t *testing.T) string {
	t.Helper()
	kid := fmt.Sprintf("op-key-%d", len(p.keys)+1)
	p.keys = append([]json.RawMessage{newJWK(t, "RS256", kid)}, p.keys...)
	p.start(t, normalTTL)
	return kid
}

func (p *oidcProvider) stop() { p.proc.stop() }
