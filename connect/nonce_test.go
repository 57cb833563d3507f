package grpcjwtconnect_test

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Server-issued DPoP nonces through the Connect door, in every mode and
// protocol: a call whose proof has no nonce is refused with use_dpop_nonce
// and a nonce in the DPoP-Nonce response header; made again with a proof
// of that nonce it is admitted, unary or streaming, and its answer carries
// the nonce too. A refused Connect unary call has the challenge
// DPoP error="use_dpop_nonce".
func TestDPoPNonce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{
		Nonce: &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{bytes.Repeat([]byte{1}, 32)}},
	}))
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.token("greet:read", grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			for _, tr := range transports(pr) {
				t.Run(m.name+"/"+pr.name+"/"+tr, func(t *testing.T) {
					t.Parallel()
					var nonce atomic.Value
					c := dpopClient(httpClient(tr == "h2c"), srv.URL, pr, nonceProofs(t, pr, creds, tok, srv.URL, &nonce))

					ctx, info := connect.NewClientContext(t.Context())
					_, err := c.SayHello(ctx, &demov1.SayHelloRequest{Name: "Alice"})
					wantRefusal(t, err, grpcjwt.ErrUseDPoPNonce, grpcjwt.AlgsKey, algs())
					n := info.ResponseHeader().Values(grpcjwt.DPoPNonceHeader)
					if len(n) != 1 || n[0] == "" {
						t.Fatalf("refused: DPoP-Nonce %q, want one nonce", n)
					}
					nonce.Store(n[0])

					ctx, info = connect.NewClientContext(t.Context())
					if res, err := c.SayHello(ctx, &demov1.SayHelloRequest{Name: "Alice"}); err != nil || res.GetSubject() != "alice" {
						t.Fatalf("with the nonce: %v, %v", res, err)
					}
					// The same nonce, unless a quarter of its lifetime began
					// between the two calls.
					if got := info.ResponseHeader().Values(grpcjwt.DPoPNonceHeader); len(got) != 1 || got[0] == "" {
						t.Errorf("admitted: DPoP-Nonce %q, want one nonce", got)
					}
					ws, err := c.Watch(t.Context(), &demov1.WatchRequest{})
					if err != nil {
						t.Fatal(err)
					}
					defer ws.Close()
					if err := ws.Receive(&demov1.WatchResponse{}); err != nil {
						t.Fatalf("a stream with the nonce: %v", err)
					}
				})
			}
		}
		t.Run(m.name+"/challenge", func(t *testing.T) {
			t.Parallel()
			proof, err := creds.Proof(http.MethodPost, srv.URL+demo.SayHello, tok)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := post(t, httpClient(false), srv.URL, demo.SayHello, `{}`, "Authorization", "DPoP "+tok, "DPoP", proof)
			want := `DPoP error="use_dpop_nonce", algs="` + algs() + `"`
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != want || len(res.Header.Values(grpcjwt.DPoPNonceHeader)) != 1 {
				t.Fatalf("%d, WWW-Authenticate %q, DPoP-Nonce %q; want 401 %q and one nonce", res.StatusCode, res.Header.Get("WWW-Authenticate"), res.Header.Values(grpcjwt.DPoPNonceHeader), want)
			}
		})
	}
}
