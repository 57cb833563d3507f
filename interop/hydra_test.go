package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// shortClientID is the Hydra client whose access tokens live shortTTL.
const shortClientID = "grpcjwt-short-client"

// hydra is an Ory Hydra server (serve all --dev, in-memory) on two loopback
// ports, with the clients the tests use. Its access tokens are JWTs with
// header typ "JWT", aud an array, and the scopes in an "scp" array.
type hydra struct {
	out      *syncBuffer
	proc     *process
	iss      string // the public URL, which is the issuer
	admin    string // the admin URL
	tokenURL string
	rotated  int // keys created by rotate
}

// startHydra starts bin and waits until it is ready, has made its keys and
// has the clients clientID (greet:read greet:write, audiences apiAudience,
// otherAudience and Logto's organization audience for acme, tokens for an
// hour) and shortClientID (the same, but tokens for shortTTL). Its access
// tokens are JWTs. It is stopped when t ends.
func startHydra(t *testing.T, bin string) *hydra {
	t.Helper()
	return startHydraWith(t, bin, "STRATEGIES_ACCESS_TOKEN=jwt")
}

// startHydraWith is startHydra with env (NAME=value) in Hydra's
// environment, over its defaults: "STRATEGIES_ACCESS_TOKEN=opaque" for
// Hydra's own default, opaque access tokens.
func startHydraWith(t *testing.T, bin string, env ...string) *hydra {
	t.Helper()
	h := &hydra{out: &syncBuffer{}}
	logOnFailure(t, "hydra", h.out)
	t.Cleanup(func() {
		if h.proc != nil {
			h.proc.stop()
		}
	})
	// Hydra must be told its ports (the issuer is configured up front), so
	// another process may take one between our choosing and its binding:
	// try again with new ports then.
	for attempt := 1; ; attempt++ {
		pub, adm := freePorts(t)
		h.iss, h.admin = "http://127.0.0.1:"+pub, "http://127.0.0.1:"+adm
		fmt.Fprintf(h.out, "--- start %d: public %s, admin %s\n", attempt, h.iss, h.admin)
		proc, err := startProcess(h.out, nil, append([]string{
			"DSN=memory",
			"SECRETS_SYSTEM=grpcjwt-interop-system-secret",
			"URLS_SELF_ISSUER=" + h.iss,
			"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + pub,
			"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + adm,
			"LOG_LEVEL=warn",
		}, env...), bin, "serve", "all", "--dev", "--sqa-opt-out")
		if err != nil {
			t.Fatalf("starting hydra: %v", err)
		}
		h.proc = proc
		err = h.waitReady(t)
		if err == nil {
			break
		}
		proc.stop()
		if attempt < 3 && strings.Contains(h.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("hydra: %v", err)
	}
	h.waitKeys(t)
	h.tokenURL = discover(t, h.iss).TokenEndpoint

	for _, id := range []string{clientID, shortClientID} {
		h.adminCall(t, http.MethodPost, "/admin/clients", map[string]any{
			"client_id":                  id,
			"client_secret":              clientSecret,
			"grant_types":                []string{"client_credentials"},
			"scope":                      strings.Join(allScopes, " "),
			"audience":                   []string{apiAudience, otherAudience, organizationAudience("acme")},
			"token_endpoint_auth_method": "client_secret_basic",
		}, http.StatusCreated)
	}
	h.adminCall(t, http.MethodPut, "/admin/clients/"+shortClientID+"/lifespans", map[string]any{
		"client_credentials_grant_access_token_lifespan": shortTTL.String(),
	}, http.StatusOK)
	return h
}

// waitReady polls /health/ready on both ports until both answer 200, the
// process exits or a minute passes.
func (h *hydra) waitReady(t *testing.T) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	ready := func(base string) bool {
		resp, err := client.Get(base + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.After(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ready(h.iss) || !ready(h.admin) {
		select {
		case <-h.proc.exited:
			return fmt.Errorf("%s before it was ready", h.proc.exitError())
		case <-deadline:
			return fmt.Errorf("not ready after a minute at %s and %s", h.iss, h.admin)
		case <-t.Context().Done():
			return t.Context().Err()
		case <-tick.C:
		}
	}
	return nil
}

// waitKeys makes Hydra create its key sets now rather than in the first
// token request. It creates them (RSA-4096, seconds of CPU) on the first
// JWKS request; on a busy machine that outlasts Hydra's fixed 10 s write
// timeout, and the request fails with EOF while the keys are still being
// made. So it asks again, for up to three minutes, until they are there.
func (h *hydra) waitKeys(t *testing.T) {
	t.Helper()
	deadline := time.After(3 * time.Minute)
	for {
		var jwks struct{ Keys []json.RawMessage }
		err := fetchJSON(t.Context(), h.iss+"/.well-known/jwks.json", &jwks)
		if err == nil && len(jwks.Keys) > 0 {
			return
		}
		t.Logf("hydra JWKS not ready yet: %v (%d keys)", err, len(jwks.Keys))
		select {
		case <-h.proc.exited:
			t.Fatalf("hydra %s before it made its keys", h.proc.exitError())
		case <-deadline:
			t.Fatalf("hydra made no keys in three minutes: %v", err)
		case <-time.After(time.Second):
		}
	}
}

// freePorts returns two distinct loopback ports that were free a moment
// ago.
func freePorts(t *testing.T) (string, string) {
	t.Helper()
	var ports [2]string
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until both are chosen, so that they differ
		_, ports[i], _ = net.SplitHostPort(l.Addr().String())
	}
	return ports[0], ports[1]
}

// adminCall sends body as JSON to Hydra's admin API and checks the status.
func (h *hydra) adminCall(t *testing.T, method, path string, body any, want int) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.admin+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hydra admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("hydra admin %s %s: %s, want %d: %s", method, path, resp.Status, want, msg)
	}
}

func (h *hydra) name() string       { return "Ory Hydra" }
func (h *hydra) issuer() string     { return h.iss }
func (h *hydra) scopeClaim() string { return "scp" }

func (h *hydra) token(t *testing.T, scopes ...string) string {
	return h.tokenFor(t, apiAudience, scopes...)
}

// tokenFor gets a token of clientID for audience, or with no audience
// requested when it is "" (Hydra then issues aud []).
func (h *hydra) tokenFor(t *testing.T, audience string, scopes ...string) string {
	t.Helper()
	params := url.Values{}
	if audience != "" {
		params.Set("audience", audience)
	}
	return fetchToken(t, &clientcredentials.Config{
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		TokenURL:       h.tokenURL,
		Scopes:         scopes,
		EndpointParams: params,
		AuthStyle:      oauth2.AuthStyleInHeader,
	})
}

func (h *hydra) shortToken(t *testing.T) string {
	t.Helper()
	return fetchToken(t, &clientcredentials.Config{
		ClientID:       shortClientID,
		ClientSecret:   clientSecret,
		TokenURL:       h.tokenURL,
		Scopes:         allScopes,
		EndpointParams: url.Values{"audience": {apiAudience}},
		AuthStyle:      oauth2.AuthStyleInHeader,
	})
}

// rotate adds a new key to Hydra's access-token key set through the admin
// API; Hydra signs the next tokens with it and keeps publishing the old one.
// The new key is ES256: Hydra's RS256 keys are RSA-4096, whose generation
// may outlast its 10 s write timeout on a busy machine (and the switch of
// algorithm is worth testing too).
func (h *hydra) rotate(t *testing.T) string {
	t.Helper()
	h.rotated++
	kid := fmt.Sprintf("hydra-rotated-%d", h.rotated)
	h.adminCall(t, http.MethodPost, "/admin/keys/hydra.jwt.access-token",
		map[string]string{"alg": "ES256", "kid": kid, "use": "sig"}, http.StatusCreated)
	return kid
}

func (h *hydra) stop() { h.proc.stop() }

// introspection is how a resource server reaches Hydra's introspection
// endpoint: on the admin API, which discovery does not name and which
// takes no client authentication (the network protects it).
func (h *hydra) introspection() *grpcjwt.IntrospectionConfig {
	return &grpcjwt.IntrospectionConfig{Endpoint: h.admin + "/admin/oauth2/introspect", AuthMethod: grpcjwt.AuthNone}
}

// revoke revokes token at Hydra's revocation endpoint (RFC 7009), as the
// client it was issued to.
func (h *hydra) revoke(t *testing.T, token string) {
	t.Helper()
	revoke(t, discover(t, h.iss).RevocationEndpoint, token)
}
