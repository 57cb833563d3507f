package grpcjwt_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// dpopServer serves the test greeter on loopback with DPoP enabled, and
// returns its address.
func dpopServer(t *testing.T, iss *grpcjwttest.Issuer, replay grpcjwt.ReplayCache, opts ...grpcjwt.Option) string {
	t.Helper()
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.DPoP = &grpcjwt.DPoPConfig{ReplayCache: replay} })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(grpcjwt.UnaryServerInterceptor(v, opts...)),
		grpc.ChainStreamInterceptor(grpcjwt.StreamServerInterceptor(v, opts...)))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) greeterv1.GreeterClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return greeterv1.NewGreeterClient(conn)
}

// signProof signs a proof of exact header and claims with k, whose public
// JWK goes in the header unless the header has one.
func signProof(t *testing.T, k *grpcjwttest.Key, header, claims map[string]any) string {
	t.Helper()
	if _, ok := header["jwk"]; !ok {
		j, err := k.JWK()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		delete(m, "kid")
		delete(m, "use")
		delete(m, "alg")
		header["jwk"] = m
	}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	p, err := k.SignJSON(h, c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestDPoP(t *testing.T) {
	iss := newIssuer(t)
	key := grpcjwttest.MustKey("ES256")
	var tok string
	creds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", func(context.Context) (string, error) { return tok, nil })
	if err != nil {
		t.Fatal(err)
	}
	tok = iss.Token(map[string]any{"scope": "greet:read greet:write"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	replay := grpcjwt.NewMemoryReplayCache(0, 0)
	addr := dpopServer(t, iss, replay)

	t.Run("a fresh proof for every call", func(t *testing.T) {
		client := dial(t, addr, grpc.WithPerRPCCredentials(creds))
		for i := range 3 {
			if _, err := calls["unary"](context.Background(), client); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if _, err := calls["server-stream"](context.Background(), client); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if _, err := calls["bidi"](context.Background(), client); err != nil {
			t.Fatalf("bidi: %v", err)
		}
	})

	plain := dial(t, addr)
	const method = "/greeter.v1.Greeter/SayHello"
	htu := "http://" + addr + method
	good := map[string]any{"htm": "POST", "htu": htu, "iat": time.Now().Unix(), "ath": ath(tok)}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{"jti": randomJTI(t)}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	hdr := func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "ES256"} }
	call := func(md ...string) error {
		_, err := calls["unary"](metadata.AppendToOutgoingContext(context.Background(), md...), plain)
		return err
	}
	other := grpcjwttest.MustKey("ES256")
	replayed := signProof(t, key, hdr(), with(good))
	if err := call("authorization", "DPoP "+tok, "dpop", replayed); err != nil {
		t.Fatalf("a hand-made proof: %v", err)
	}
	privateJWK := func() map[string]any {
		h := hdr()
		j, _ := key.MarshalPrivateJWK()
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		h["jwk"] = m
		return h
	}()
	cases := []struct {
		name string
		md   []string
		msg  string
	}{
		{"the bound token as Bearer", []string{"authorization", "Bearer " + tok}, grpcjwt.CodeInvalidToken},
		{"no proof", []string{"authorization", "DPoP " + tok}, grpcjwt.CodeInvalidDPoPProof},
		{"two proofs", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good)), "dpop", signProof(t, key, hdr(), with(good))}, grpcjwt.CodeInvalidDPoPProof},
		{"a replayed proof", []string{"authorization", "DPoP " + tok, "dpop", replayed}, grpcjwt.CodeInvalidDPoPProof},
		{"another method's htu", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "htu", "http://"+addr+"/greeter.v1.Greeter/Chat"))}, grpcjwt.CodeInvalidDPoPProof},
		{"https htu on plaintext", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "htu", "https://"+addr+method))}, grpcjwt.CodeInvalidDPoPProof},
		{"htm GET", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "htm", "GET"))}, grpcjwt.CodeInvalidDPoPProof},
		{"old iat", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "iat", time.Now().Add(-10*time.Minute).Unix()))}, grpcjwt.CodeInvalidDPoPProof},
		{"future iat", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "iat", time.Now().Add(10*time.Minute).Unix()))}, grpcjwt.CodeInvalidDPoPProof},
		{"no jti", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "jti", nil))}, grpcjwt.CodeInvalidDPoPProof},
		{"ath of another token", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, hdr(), with(good, "ath", ath("other")))}, grpcjwt.CodeInvalidDPoPProof},
		{"typ JWT", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, map[string]any{"typ": "JWT", "alg": "ES256"}, with(good))}, grpcjwt.CodeInvalidDPoPProof},
		{"private key in the header", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, key, privateJWK, with(good))}, grpcjwt.CodeInvalidDPoPProof},
		{"another key", []string{"authorization", "DPoP " + tok, "dpop", signProof(t, other, hdr(), with(good))}, grpcjwt.CodeInvalidToken},
		{"a bearer token under DPoP", []string{"authorization", "DPoP " + iss.Token(map[string]any{"scope": "greet:read"}), "dpop", signProof(t, key, hdr(), with(good))}, grpcjwt.CodeInvalidToken},
		{"a forged signature", []string{"authorization", "DPoP " + tok, "dpop", replayed[:strings.LastIndexByte(replayed, '.')+1] + strings.Repeat("A", 86)}, grpcjwt.CodeInvalidDPoPProof},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, call(tc.md...), codes.Unauthenticated, tc.msg)
		})
	}

	t.Run("replicas sharing a replay cache", func(t *testing.T) {
		// Both replicas are reached under the first one's authority, as
		// behind one load balancer, so that the htu is right at both and
		// only the replay can refuse the proof.
		shared := dial(t, dpopServer(t, iss, replay), grpc.WithAuthority(addr))
		unshared := dial(t, dpopServer(t, iss, nil), grpc.WithAuthority(addr))
		send := func(c greeterv1.GreeterClient, proof string) error {
			_, err := calls["unary"](metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+tok, "dpop", proof), c)
			return err
		}
		wantStatus(t, send(shared, replayed), codes.Unauthenticated, grpcjwt.CodeInvalidDPoPProof)
		if err := send(unshared, replayed); err != nil {
			t.Fatalf("a replica with a cache of its own took the replay for %v; the test would prove nothing", err)
		}
		if err := send(shared, signProof(t, key, hdr(), with(good))); err != nil {
			t.Fatalf("a fresh proof at the second replica: %v", err)
		}
	})
	t.Run("DPoP off: the scheme is not supported", func(t *testing.T) {
		off := serve(t, greeter{}, grpc.ChainUnaryInterceptor(grpcjwt.UnaryServerInterceptor(newValidator(t, iss))))
		_, err := calls["unary"](metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+tok, "dpop", signProof(t, key, hdr(), with(good))), off)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported)
	})
}

func randomJTI(t *testing.T) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(time.Now().Format(time.RFC3339Nano)))
}

func TestMemoryReplayCacheIsBounded(t *testing.T) {
	c := grpcjwt.NewMemoryReplayCache(32, 1<<20)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range 64 {
		seen, err := c.Seen(ctx, strings.Repeat("k", i+1), exp)
		if seen {
			t.Fatalf("key %d seen before it was stored", i)
		}
		if err != nil {
			return // full of unexpired keys: refused, not forgotten
		}
	}
	t.Fatal("64 unexpired keys fit in a cache of 32")
}
