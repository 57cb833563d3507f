package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// policyCase is one call of BenchmarkPolicy: what the policy's core is
// asked (Call, msg) and the context the gRPC adapter is handed for the same
// call.
type policyCase struct {
	name   string
	call   grpcjwt.Call
	msg    any
	ctx    context.Context
	floors []floor // the DPoP proof's own floor; none for the cheap calls
}

// policyFixture is the policy of BenchmarkPolicy and its calls.
type policyFixture struct {
	policy *grpcjwt.Policy
	cases  []policyCase
}

// newPolicyFixture builds one policy, with the verified-token cache at its
// defaults and DPoP accepted, and the calls of BenchmarkPolicy, each with
// its own token:
//
//   - unused: SayHello (scope greet:read) with a bearer token from a peer
//     without a client certificate: every feature compiled in, DPoP
//     configured, none used;
//   - organization: GreetOrganization, whose .proto organization rule
//     compares the request's parent with the token's organization_id;
//   - certificate: SayHello with a token bound to the client certificate
//     of the call's TLS connection (cnf x5t#S256, RFC 8705), whose binding
//     is checked on every call;
//   - dpop: SayHello with a DPoP-bound token (cnf jkt, RFC 9449) and an
//     ES256 proof, verified on every call (the replay cache is a no-op, so
//     that one proof serves every call).
func newPolicyFixture(f *Fixture) (*policyFixture, error) {
	const alg = "RS256"
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
		Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway,
		OrganizationClaim: grpcjwttest.OrganizationClaim,
	})
	if err != nil {
		return nil, err
	}
	p, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: noReplay{}, ProofLifetime: time.Hour}))
	if err != nil {
		return nil, err
	}
	sayHello := &greeterv1.SayHelloRequest{Name: "bench"}
	bearer := func(name, method, token string, msg any, cert *x509.Certificate) policyCase {
		c := policyCase{
			name: name,
			call: grpcjwt.Call{Method: method, Authorization: []string{"Bearer " + token}, PeerCertificate: cert},
			msg:  msg,
			ctx:  CallContext(method, token),
		}
		if cert != nil {
			c.ctx = peer.NewContext(c.ctx, &peer.Peer{
				AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}},
			})
		}
		return c
	}
	fx := &policyFixture{policy: p}

	fx.cases = append(fx.cases, bearer("unused", greeterv1.Greeter_SayHello_FullMethodName, f.Tokens[alg], sayHello, nil))

	org := TokenClaims(time.Now())
	org[grpcjwttest.OrganizationClaim] = "org_5tR8wQ2xZ"
	fx.cases = append(fx.cases, bearer("organization", greeterv1.Greeter_GreetOrganization_FullMethodName,
		f.Issuer.Token(org, grpcjwttest.WithKeyFor(alg)),
		&greeterv1.GreetOrganizationRequest{Parent: "organizations/org_5tR8wQ2xZ"}, nil))

	cert, err := clientCert()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cert.Raw)
	bound := TokenClaims(time.Now())
	bound["cnf"] = map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}
	fx.cases = append(fx.cases, bearer("certificate", greeterv1.Greeter_SayHello_FullMethodName,
		f.Issuer.Token(bound, grpcjwttest.WithKeyFor(alg)), sayHello, cert))

	key := grpcjwttest.MustKey("ES256")
	var token string
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", func(context.Context) (string, error) { return token, nil })
	if err != nil {
		return nil, err
	}
	dpop := TokenClaims(time.Now())
	dpop["cnf"] = map[string]any{"jkt": creds.Thumbprint()}
	token = f.Issuer.Token(dpop, grpcjwttest.WithKeyFor(alg))
	const authority = "bench.local"
	method := greeterv1.Greeter_SayHello_FullMethodName
	proof, err := creds.Proof("POST", "http://"+authority+method, token)
	if err != nil {
		return nil, err
	}
	pf := proofFloor(key.Public().(*ecdsa.PublicKey), proof)
	if err := pf(); err != nil {
		return nil, err
	}
	fx.cases = append(fx.cases, policyCase{
		name: "dpop",
		call: grpcjwt.Call{Method: method, Authorization: []string{"DPoP " + token}, DPoP: []string{proof}, HTU: "http://" + authority + method},
		msg:  sayHello,
		ctx: metadata.NewIncomingContext(CallContext(method, ""), metadata.MD{
			"authorization": {"DPoP " + token}, "dpop": {proof}, ":authority": {authority},
		}),
		floors: []floor{{"x-proof", func() { _ = pf() }}},
	})
	return fx, nil
}

// BenchmarkPolicy prices grpcjwt's policy on a cache hit, RS256: its
// transport-neutral core (Policy.Check, "check/…") and its gRPC adapter
// (Policy.UnaryServerInterceptor, "interceptor/…", with the context
// grpc-go would hand it and a handler that reads the claims), on the calls
// newPolicyFixture lists, all decided by one policy. The difference between
// a feature's row and "unused" is what the feature costs when used. The
// DPoP rows are paired with the least a proof check must do (proofFloor),
// and report that ratio as x-proof.
func BenchmarkPolicy(b *testing.B) {
	f := fixture(b)
	fx := memoize(b, "policy", func() (*policyFixture, error) { return newPolicyFixture(f) })
	icpt := fx.policy.UnaryServerInterceptor()
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := grpcjwt.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return c, nil
	}
	for _, tc := range fx.cases {
		b.Run("RS256/check/"+tc.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := fx.policy.Check(ctx, &tc.call, tc.msg); err != nil {
				b.Fatalf("refused: %v", err)
			}
			benchPaired(b, f.Issuer, func() { _, _ = fx.policy.Check(ctx, &tc.call, tc.msg) }, tc.floors, false)
		})
	}
	for _, tc := range fx.cases {
		b.Run("RS256/interceptor/"+tc.name, func(b *testing.B) {
			info := &grpc.UnaryServerInfo{FullMethod: tc.call.Method}
			if _, err := icpt(tc.ctx, tc.msg, info, handler); err != nil {
				b.Fatalf("refused: %v", err)
			}
			benchPaired(b, f.Issuer, func() { _, _ = icpt(tc.ctx, tc.msg, info, handler) }, tc.floors, false)
		})
	}
}

// TestPolicyRefuses checks that the calls of BenchmarkPolicy are refused
// without what their feature checks: the organization rule with another
// organization in the request, the certificate binding without the
// client certificate, DPoP without the proof. A feature that passed
// without checking would look cheap for the wrong reason.
func TestPolicyRefuses(t *testing.T) {
	f := fixture(t) // not inside the memoize below: it is not reentrant
	fx := memoize(t, "policy", func() (*policyFixture, error) { return newPolicyFixture(f) })
	for _, tc := range fx.cases {
		call := tc.call
		msg := tc.msg
		switch tc.name {
		case "unused":
			continue
		case "organization":
			msg = &greeterv1.GreetOrganizationRequest{Parent: "organizations/org_other"}
		case "certificate":
			call.PeerCertificate = nil
		case "dpop":
			call.DPoP = nil
		}
		if _, err := fx.policy.Check(context.Background(), &call, msg); err == nil {
			t.Errorf("%s: accepted without what the feature checks", tc.name)
		}
	}
}

// noReplay is a ReplayCache that never saw anything: it lets a benchmark
// present one proof again and again, so that what is timed is the proof's
// verification, not the signing of a new one per call.
type noReplay struct{}

func (noReplay) Seen(context.Context, string, string, time.Time) (bool, error) { return false, nil }

// proofFloor is the least a DPoP check must do: decode the proof, verify
// its ES256 signature against the public key, and decode its claims.
func proofFloor(pub *ecdsa.PublicKey, proof string) func() error {
	return func() error {
		dot1 := strings.IndexByte(proof, '.')
		dot2 := strings.LastIndexByte(proof, '.')
		payload, err := base64.RawURLEncoding.DecodeString(proof[dot1+1 : dot2])
		if err != nil {
			return err
		}
		sig, err := base64.RawURLEncoding.DecodeString(proof[dot2+1:])
		if err != nil || len(sig) != 64 {
			return errors.New("bad signature encoding")
		}
		h := sha256.Sum256([]byte(proof[:dot2]))
		if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("bad signature")
		}
		var c struct {
			JTI string  `json:"jti"`
			HTM string  `json:"htm"`
			HTU string  `json:"htu"`
			IAT float64 `json:"iat"`
			ATH string  `json:"ath"`
		}
		return json.Unmarshal(payload, &c)
	}
}

// clientCert returns a self-signed client certificate, parsed.
func clientCert() (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
