package grpcjwtgateway_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	grpcjwtgateway "github.com/grpcjwt/grpcjwt/gateway"
	reportsv1 "github.com/grpcjwt/grpcjwt/gateway/internal/testpb/reports/v1"
)

// TestDPoPNonce: with server-issued DPoP nonces, Protect refuses a DPoP
// request whose proof has no nonce with 401, the challenge
// DPoP error="use_dpop_nonce" and a nonce in DPoP-Nonce; the request made
// again with a proof of that nonce is admitted, its answer carrying the
// nonce too.
func TestDPoPNonce(t *testing.T) {
	f := newFixture(t)
	v, err := grpcjwt.NewValidator(t.Context(), grpcjwt.Config{Issuer: f.iss.URL, Audience: f.iss.Audience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	p, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{
		Algorithms: []string{"ES256"},
		Nonce:      &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{bytes.Repeat([]byte{1}, 32)}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	protect, err := grpcjwtgateway.Protect(p)
	if err != nil {
		t.Fatal(err)
	}
	mux := runtime.NewServeMux(protect)
	if err := reportsv1.RegisterReportsHandlerServer(t.Context(), mux, &reports{}); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, mux)
	get := func(nonce string) *http.Response {
		t.Helper()
		proof, err := f.dpop.ProofWithNonce("GET", srv.URL+"/v1/reports/r1", f.bound, nonce)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/reports/r1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "DPoP "+f.bound)
		req.Header.Set("DPoP", proof)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}

	res := get("")
	nonce := res.Header.Values(grpcjwt.DPoPNonceHeader)
	const want = `DPoP error="use_dpop_nonce", algs="ES256"`
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != want || len(nonce) != 1 || nonce[0] == "" {
		t.Fatalf("without a nonce: %d, WWW-Authenticate %q, DPoP-Nonce %q; want 401, %q and one nonce", res.StatusCode, res.Header.Get("WWW-Authenticate"), nonce, want)
	}
	res = get(nonce[0])
	// The nonce is the same unless a quarter of its lifetime began between
	// the two requests.
	if res.StatusCode != http.StatusOK || len(res.Header.Values(grpcjwt.DPoPNonceHeader)) != 1 || res.Header.Get(grpcjwt.DPoPNonceHeader) == "" {
		t.Fatalf("with the nonce: %d, DPoP-Nonce %q, want 200 and one nonce", res.StatusCode, res.Header.Values(grpcjwt.DPoPNonceHeader))
	}
}
