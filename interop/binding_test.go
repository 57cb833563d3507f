package interop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"maps"
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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// tokenResponse is a token endpoint's JSON answer, a token or an error.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postToken asks the provider for a client_credentials token for
// apiAudience with allScopes, over client (whose TLS certificate, if any,
// the token is bound to), with the DPoP header proof unless it is "". It
// returns the answer and its HTTP status.
func (p *oidcProvider) postToken(t *testing.T, client *http.Client, proof string) (tokenResponse, int) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {apiAudience}, "scope": {strings.Join(allScopes, " ")}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", p.tokenURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", p.tokenURL, err)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("POST %s: %s: %v in %s", p.tokenURL, resp.Status, err, body)
	}
	return tr, resp.StatusCode
}

// boundToken is postToken for a token it checks: HTTP 200, token_type
// typ, and a payload whose cnf claim is cnf exactly.
func (p *oidcProvider) boundToken(t *testing.T, client *http.Client, proof, typ string, cnf map[string]string) string {
	t.Helper()
	tr, code := p.postToken(t, client, proof)
	if code != http.StatusOK || tr.TokenType != typ {
		t.Fatalf("token request: HTTP %d, %+v; want a %s token", code, tr, typ)
	}
	_, payload := decodeToken(t, tr.AccessToken)
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	if !maps.Equal(claims.Cnf, cnf) {
		t.Fatalf("payload %s: want cnf %v", payload, cnf)
	}
	return tr.AccessToken
}

// clientWith is an HTTP client that trusts the test CA and presents certs
// to TLS servers that ask for a client certificate.
func clientWith(t *testing.T, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: testCA.pool, Certificates: certs}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// dpopKey is a client's DPoP key, its credentials, and the token bound to
// it.
type dpopKey struct {
	creds *grpcjwt.DPoPCredentials
	token string // set before the first call
}

// newDPoPKey makes a P-256 key whose credentials sign ES256 proofs and
// send k.token.
func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &dpopKey{}
	k.creds, err = grpcjwt.NewDPoPCredentials(key, "ES256", func(context.Context) (string, error) { return k.token, nil })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof signs a proof with k for (POST, htu) bound to k.token.
func (k *dpopKey) proof(t *testing.T, htu string) string {
	t.Helper()
	p, err := k.creds.Proof(http.MethodPost, htu, k.token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// acceptBound asserts that r on c with md succeeds for the
// client_credentials client.
func acceptBound(t *testing.T, c greeterv1.GreeterClient, r rpc, md ...string) {
	t.Helper()
	if got := acceptOn(t, c, r, md...); got.Subject != clientID {
		t.Errorf("%s: handler saw sub %q, want %q", r.name, got.Subject, clientID)
	}
}

// refuseOn asserts that r on c with md fails with Unauthenticated msg, and
// that the server's reject hook saw cause.
func (s *server) refuseOn(t *testing.T, c greeterv1.GreeterClient, r rpc, msg string, cause error, md ...string) {
	t.Helper()
	s.takeCause()
	_, err := callOn(t, c, r, md...)
	if st, ok := status.FromError(err); !ok || st.Code() != codes.Unauthenticated || st.Message() != msg {
		t.Errorf("%s: err = %v, want Unauthenticated %q", r.name, err, msg)
	}
	if got := s.takeCause(); !errors.Is(got, cause) {
		t.Errorf("%s: the server refused the call because %v, want %v", r.name, got, cause)
	}
}

// TestOIDCProviderDPoP gets DPoP-bound tokens (RFC 9449) from
// node-oidc-provider's token endpoint, with proofs signed by
// grpcjwt.DPoPCredentials, and calls a plaintext greeter that accepts them
// (grpcjwt.WithDPoP) with them: the proofs' htu start with http://.
func TestOIDCProviderDPoP(t *testing.T) {
	t.Parallel()
	p := startOIDCProvider(t, requireProvider(t, "oidc-provider"))
	cfg := grpcjwt.Config{Issuer: p.issuer(), Audience: apiAudience}
	s := newServerFor(t, cfg, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
	k := newDPoPKey(t)
	k.token = p.boundToken(t, tokenClient, k.proof(t, p.tokenURL), "DPoP", map[string]string{"jkt": k.creds.Thumbprint()})
	sayHelloURL := "http://" + s.addr + greeterv1.Greeter_SayHello_FullMethodName
	auth := []string{"authorization", "DPoP " + k.token}
	// withProof is the metadata of a call with the token and a proof for htu.
	withProof := func(t *testing.T, htu string) []string { return append(slices.Clone(auth), "dpop", k.proof(t, htu)) }

	t.Run("right key", func(t *testing.T) {
		c := s.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(k.creds))
		for range 2 { // a fresh proof for every call
			for _, r := range rpcs {
				acceptBound(t, c, r)
			}
		}
		// A proof made by hand for grpcjwt's profile: the same htu.
		acceptBound(t, s.client, sayHello, withProof(t, sayHelloURL)...)
	})

	t.Run("server nonces", func(t *testing.T) {
		// The resource server's own nonces (RFC 9449 §9) on the provider's
		// DPoP-bound token: without the interceptor that learns them, a
		// call is refused with use_dpop_nonce; with it, the first call is
		// retried with the nonce and every later proof carries it.
		secret := []byte("interop-nonce-secret-of-32-bytes")
		ns := newServerFor(t, cfg, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Nonce: &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{secret}}}))
		plain := ns.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(k.creds))
		ns.refuseOn(t, plain, sayHello, grpcjwt.CodeUseDPoPNonce, grpcjwt.ErrUseDPoPNonce)
		c := ns.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(k.creds),
			grpc.WithChainUnaryInterceptor(k.creds.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(k.creds.StreamClientInterceptor()))
		acceptBound(t, c, sayHello) // refused once, retried with the nonce
		for _, r := range rpcs {
			acceptBound(t, c, r)
		}
	})

	t.Run("another key", func(t *testing.T) {
		other := newDPoPKey(t)
		other.token = k.token
		c := s.dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(other.creds))
		for _, r := range rpcs {
			s.refuseOn(t, c, r, grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPKeyMismatch)
		}
	})

	t.Run("replayed proof", func(t *testing.T) {
		md := withProof(t, sayHelloURL)
		acceptBound(t, s.client, sayHello, md...)
		s.refuseOn(t, s.client, sayHello, grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, md...)
	})

	t.Run("wrong htu", func(t *testing.T) {
		for _, u := range []string{
			// what the token endpoint wants
			p.tokenURL,
			// another method
			"http://" + s.addr + greeterv1.Greeter_Chat_FullMethodName,
			// TLS, on a plaintext connection
			strings.Replace(sayHelloURL, "http://", "https://", 1),
			// another authority
			strings.Replace(sayHelloURL, "127.0.0.1", "localhost", 1),
		} {
			s.refuseOn(t, s.client, sayHello, grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, withProof(t, u)...)
		}
	})

	t.Run("over TLS", func(t *testing.T) {
		// The htu of a call on a TLS connection starts with https://.
		tlsServer := newServerWith(t, cfg, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{testCA.issue(t, "greeter", true)}}), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
		creds := grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: testCA.pool}))
		c := tlsServer.dial(t, creds, grpc.WithPerRPCCredentials(k.creds))
		for _, r := range rpcs {
			acceptBound(t, c, r)
		}
		method := greeterv1.Greeter_SayHello_FullMethodName
		c = tlsServer.dial(t, creds)
		acceptBound(t, c, sayHello, withProof(t, "https://"+tlsServer.addr+method)...)
		tlsServer.refuseOn(t, c, sayHello, grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, withProof(t, "http://"+tlsServer.addr+method)...)
	})

	t.Run("missing proof", func(t *testing.T) {
		for _, r := range rpcs {
			s.refuseOn(t, s.client, r, grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, auth...)
		}
	})

	t.Run("as bearer", func(t *testing.T) {
		for _, r := range rpcs {
			s.refuseOn(t, s.client, r, grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPBoundToken, "authorization", "Bearer "+k.token)
		}
		// A token request without a proof still gets a bearer token.
		s.accept(t, sayHello, p.boundToken(t, tokenClient, "", "Bearer", nil))
	})

	t.Run("provider refuses", func(t *testing.T) {
		// node-oidc-provider checks grpcjwt's proofs as grpcjwt does: a
		// proof for a gRPC call, and a replayed one, get no token.
		replayed := k.proof(t, p.tokenURL)
		p.boundToken(t, tokenClient, replayed, "DPoP", map[string]string{"jkt": k.creds.Thumbprint()})
		for proof, want := range map[string]string{
			k.proof(t, sayHelloURL): "invalid_dpop_proof",
			replayed:                "invalid_grant",
		} {
			if tr, code := p.postToken(t, tokenClient, proof); code != http.StatusBadRequest || tr.Error != want {
				t.Errorf("token request: HTTP %d, %+v; want 400 %s", code, tr, want)
			}
		}
	})
}

// TestOIDCProviderMTLS gets certificate-bound tokens (RFC 8705 §3) from
// node-oidc-provider serving HTTPS, through its token endpoint over TLS
// with a client certificate, and calls a TLS greeter that asks clients for
// certificates of the test CA with them.
func TestOIDCProviderMTLS(t *testing.T) {
	t.Parallel()
	node := requireProvider(t, "oidc-provider")
	caFile, certFile, keyFile := testCA.writePEM(t, t.TempDir(), testCA.issue(t, "node-oidc-provider", true))
	p := startOIDCProviderWith(t, node, []string{"TLS_CERT=" + certFile, "TLS_KEY=" + keyFile, "TLS_CA=" + caFile})
	if !strings.HasPrefix(p.tokenURL, "https://") {
		t.Fatalf("token endpoint %s, want https", p.tokenURL)
	}
	cfg := grpcjwt.Config{Issuer: p.issuer(), Audience: apiAudience}
	s := newServerWith(t, cfg, credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{testCA.issue(t, "greeter", true)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    testCA.pool,
	}), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
	// dialTLS connects to the greeter over TLS, presenting certs.
	dialTLS := func(t *testing.T, opts []grpc.DialOption, certs ...tls.Certificate) greeterv1.GreeterClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: testCA.pool, Certificates: certs})
		return s.dial(t, append(opts, grpc.WithTransportCredentials(creds))...)
	}
	alice, bob := testCA.issue(t, "alice", false), testCA.issue(t, "bob", false)
	tok := p.boundToken(t, clientWith(t, alice), "", "Bearer", map[string]string{"x5t#S256": certThumbprint(alice)})
	bearer := func(token string) []string { return []string{"authorization", "Bearer " + token} }

	t.Run("its certificate", func(t *testing.T) {
		c := dialTLS(t, nil, alice)
		for _, r := range rpcs {
			acceptBound(t, c, r, bearer(tok)...)
		}
	})

	t.Run("another certificate", func(t *testing.T) {
		c := dialTLS(t, nil, bob)
		for _, r := range rpcs {
			s.refuseOn(t, c, r, grpcjwt.CodeInvalidToken, grpcjwt.ErrCertificateMismatch, bearer(tok)...)
		}
	})

	t.Run("no certificate", func(t *testing.T) {
		c := dialTLS(t, nil)
		for _, r := range rpcs {
			s.refuseOn(t, c, r, grpcjwt.CodeInvalidToken, grpcjwt.ErrNoClientCertificate, bearer(tok)...)
		}
	})

	t.Run("plaintext", func(t *testing.T) {
		plain := newServerFor(t, cfg)
		for _, r := range rpcs {
			plain.refuseOn(t, plain.client, r, grpcjwt.CodeInvalidToken, grpcjwt.ErrNoClientCertificate, bearer(tok)...)
		}
	})

	t.Run("provider refuses", func(t *testing.T) {
		// The client is registered for certificate-bound tokens only.
		if tr, code := p.postToken(t, clientWith(t), ""); code != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("token request without a certificate: HTTP %d, %+v; want 400 invalid_grant", code, tr)
		}
		// node-oidc-provider binds a token to one key only: a DPoP proof
		// with a certificate gets invalid_request ("multiple
		// proof-of-possession mechanisms are not allowed"), so no token
		// here carries both cnf members.
		k := newDPoPKey(t)
		if tr, code := p.postToken(t, clientWith(t, alice), k.proof(t, p.tokenURL)); code != http.StatusBadRequest || tr.Error != "invalid_request" {
			t.Errorf("token request with a certificate and a DPoP proof: HTTP %d, %+v; want 400 invalid_request", code, tr)
		}
	})

}
