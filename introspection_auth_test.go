package grpcjwt_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// TestIntrospectionClientAuth: each client authentication method sends
// what its RFC says, and nothing else.
func TestIntrospectionClientAuth(t *testing.T) {
	iss := newIssuer(t)
	key := grpcjwttest.MustKey("EdDSA")
	var jtis []string
	for _, tc := range []struct {
		name  string
		ic    func(*grpcjwt.IntrospectionConfig)
		check func(t *testing.T, r *http.Request) bool
	}{
		{"client_secret_basic", func(*grpcjwt.IntrospectionConfig) {}, nil},
		{"client_secret_post", func(ic *grpcjwt.IntrospectionConfig) { ic.AuthMethod = grpcjwt.ClientSecretPost },
			func(t *testing.T, r *http.Request) bool {
				_, _, basic := r.BasicAuth()
				return !basic && r.PostForm.Get("client_id") == rsID && r.PostForm.Get("client_secret") == rsSecret
			}},
		{"none", func(ic *grpcjwt.IntrospectionConfig) {
			ic.AuthMethod, ic.ClientID, ic.ClientSecret = grpcjwt.AuthNone, "", ""
		},
			func(t *testing.T, r *http.Request) bool {
				return r.Header.Get("Authorization") == "" && !r.PostForm.Has("client_id") && !r.PostForm.Has("client_secret")
			}},
		{"private_key_jwt", func(ic *grpcjwt.IntrospectionConfig) {
			ic.AuthMethod, ic.ClientSecret, ic.PrivateKey, ic.KeyID = grpcjwt.PrivateKeyJWT, "", key.Signer(), "rs-key"
		}, func(t *testing.T, r *http.Request) bool {
			f := r.PostForm
			if f.Get("client_id") != rsID || f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Has("client_secret") {
				t.Errorf("form %v", f)
				return false
			}
			parts := strings.Split(f.Get("client_assertion"), ".")
			sig, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
			if len(parts) != 3 || err != nil || !ed25519.Verify(key.Public().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
				t.Errorf("assertion %q does not verify", f.Get("client_assertion"))
				return false
			}
			var h map[string]string
			var c struct {
				Iss, Sub, Aud, Jti string
				Iat, Exp           int64
			}
			hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
			cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
				t.Errorf("assertion %s . %s", hb, cb)
				return false
			}
			now := time.Now().Unix()
			if h["alg"] != "EdDSA" || h["kid"] != "rs-key" || c.Iss != rsID || c.Sub != rsID || c.Aud != iss.URL || c.Jti == "" ||
				c.Iat < now-5 || c.Iat > now+5 || c.Exp != c.Iat+60 {
				t.Errorf("assertion header %v, claims %+v", h, c)
				return false
			}
			jtis = append(jtis, c.Jti)
			return true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t)
			if tc.check != nil {
				ep.check = func(r *http.Request) bool { return tc.check(t, r) }
			}
			v := newValidator(t, iss, introspecting(iss, ep, tc.ic))
			for range 2 {
				tok := opaqueToken()
				ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
				if _, err := v.Validate(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if len(jtis) != 2 || jtis[0] == jtis[1] {
		t.Errorf("client assertion jtis %q, want two different ones", jtis)
	}
}

// TestIntrospectionTLSClientAuth: with tls_client_auth the client
// certificate of HTTPClient authenticates, and the body names the client.
func TestIntrospectionTLSClientAuth(t *testing.T) {
	iss := newIssuer(t)
	pki := newPKI(t)
	ep := newEndpoint(t)
	ep.check = func(r *http.Request) bool {
		return r.TLS != nil && len(r.TLS.PeerCertificates) == 1 && r.TLS.PeerCertificates[0].Subject.CommonName == "rs" &&
			r.PostForm.Get("client_id") == rsID && r.Header.Get("Authorization") == ""
	}
	ep.srv.Close()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ep.serve))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := srv.Client()
	tr := client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{pki.issue(t, "rs", false)}
	client.Transport = tr

	v := newValidator(t, iss, introspecting(iss, ep, func(ic *grpcjwt.IntrospectionConfig) {
		ic.Endpoint, ic.AuthMethod, ic.ClientSecret, ic.HTTPClient = srv.URL+"/introspect", grpcjwt.TLSClientAuth, "", client
	}))
	tok := opaqueToken()
	ep.answer(tok, activeAnswer(t, iss, time.Now(), nil))
	if _, err := v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
}

// TestIntrospectedTokensMeetTheRules: over real gRPC, an opaque token is
// held to the method's rules as a JWT is: scopes, DPoP binding (cnf.jkt,
// refused as a bearer token, accepted with its key's proofs), certificate
// binding; the handler sees its claims.
func TestIntrospectedTokensMeetTheRules(t *testing.T) {
	iss := newIssuer(t)
	ep := newEndpoint(t)
	v := newValidator(t, iss, introspecting(iss, ep))
	const sayHello = "/greeter.v1.Greeter/SayHello"
	addr := serveDPoP(t, v, grpcjwt.WithScopes(sayHello, "greet:read"), grpcjwt.WithDPoP(grpcjwt.DPoPConfig{}))
	bearer := dial(t, addr)
	now := time.Now()

	plain, narrow := opaqueToken(), opaqueToken()
	ep.answer(plain, activeAnswer(t, iss, now, map[string]any{"sub": "opaque-alice", "scope": "greet:read greet:write"}))
	ep.answer(narrow, activeAnswer(t, iss, now, map[string]any{"scope": "greet:other"}))
	for name, call := range calls {
		if sub, err := call(withAuth("Bearer "+plain), bearer); err != nil || sub != "opaque-alice" {
			t.Errorf("%s: subject %q, %v", name, sub, err)
		}
	}
	_, err := calls["unary"](withAuth("Bearer "+narrow), bearer)
	wantStatus(t, err, codes.PermissionDenied, grpcjwt.CodeInsufficientScope)
	_, err = calls["unary"](withAuth("Bearer "+opaqueToken()), bearer)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)

	var bound string
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", func(context.Context) (string, error) { return bound, nil })
	if err != nil {
		t.Fatal(err)
	}
	bound = opaqueToken()
	ep.answer(bound, activeAnswer(t, iss, now, map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": creds.Thumbprint()}, "sub": "dpop-bob"}))
	if sub, err := calls["unary"](context.Background(), dial(t, addr, grpc.WithPerRPCCredentials(creds))); err != nil || sub != "dpop-bob" {
		t.Errorf("DPoP-bound opaque token with its proof: %q, %v", sub, err)
	}
	_, err = calls["unary"](withAuth("Bearer "+bound), bearer)
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)

	pki := newPKI(t)
	alice, mallory := pki.issue(t, "alice", false), pki.issue(t, "mallory", false)
	certBound := opaqueToken()
	ep.answer(certBound, activeAnswer(t, iss, now, map[string]any{"cnf": map[string]any{"x5t#S256": x5t(alice)}}))
	p := policyOf(t, v)
	for _, tc := range []struct {
		cert  *tls.Certificate
		cause error
	}{{&alice, nil}, {&mallory, grpcjwt.ErrCertificateMismatch}, {nil, grpcjwt.ErrNoClientCertificate}} {
		call := &grpcjwt.Call{Method: sayHello, Authorization: []string{"Bearer " + certBound}}
		if tc.cert != nil {
			call.PeerCertificate, _ = x509.ParseCertificate(tc.cert.Certificate[0])
		}
		_, err := p.Check(t.Context(), call, nil)
		if tc.cause == nil && err != nil || tc.cause != nil && !errors.Is(err, tc.cause) {
			t.Errorf("certificate-bound opaque token: %v, want %v", err, tc.cause)
		}
	}
}
