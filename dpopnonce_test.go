package grpcjwt_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// nonceLifetime is the nonce lifetime (N) of the nonce tests: the server
// hands out a new nonce every N/4, 75 seconds.
const nonceLifetime = 5 * time.Minute

// nonceSecret returns a 32-byte secret made of b.
func nonceSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// nonceClock is the clock (Config.Now) of the nonce tests' servers, which
// the test sets. It starts at the beginning of the step of N/4 after the
// real time; the proofs' iat (the real time), and the tokens' iat and exp,
// stay well within their bounds while it moves a few N either way.
type nonceClock struct{ now atomic.Int64 }

func newNonceClock() *nonceClock {
	c := &nonceClock{}
	step := int64(nonceLifetime / 4 / time.Second)
	s := time.Now().Unix()
	c.now.Store(time.Unix(s-s%step+step, 0).UnixNano())
	return c
}

func (c *nonceClock) Now() time.Time      { return time.Unix(0, c.now.Load()) }
func (c *nonceClock) set(t time.Time)     { c.now.Store(t.UnixNano()) }
func (c *nonceClock) add(d time.Duration) { c.now.Add(int64(d)) }

// nonceServer is the test greeter on loopback behind a policy that
// requires DPoP nonces made with its secrets, on clock. It records the
// refusals its reject hook sees and how often its replay cache is asked.
type nonceServer struct {
	addr string
	seen atomic.Int64 // calls of the replay cache's Seen

	mu       sync.Mutex
	refusals []error
}

// A nonceDoor is how a nonceServer's policy meets grpc-go.
type nonceDoor string

const (
	viaInterceptors nonceDoor = "interceptors"
	viaAuthFunc     nonceDoor = "AuthFunc"
)

func newNonceServer(t *testing.T, iss *grpcjwttest.Issuer, clock *nonceClock, door nonceDoor, secrets ...[]byte) *nonceServer {
	t.Helper()
	s := &nonceServer{}
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Now = clock.Now })
	p := policyOf(t, v,
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{
			ProofLifetime: time.Hour, // the proofs' iat is the real time
			ReplayCache:   countingReplay{grpcjwt.NewMemoryReplayCacheOn(0, 0, 0, clock.Now), &s.seen},
			Nonce:         &grpcjwt.DPoPNonceConfig{Secrets: secrets, Lifetime: nonceLifetime},
		}),
		grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refusals = append(s.refusals, err)
		}))
	var opts []grpc.ServerOption
	switch door {
	case viaInterceptors:
		opts = []grpc.ServerOption{grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(p.StreamServerInterceptor())}
	case viaAuthFunc:
		opts = []grpc.ServerOption{grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(p.AuthFunc())), grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(p.AuthFunc()))}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	greeterv1.RegisterGreeterServer(srv, greeter{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	s.addr = lis.Addr().String()
	return s
}

// refused returns the refusals since the last call, and forgets them.
func (s *nonceServer) refused() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refusals
	s.refusals = nil
	return r
}

// wantRefused checks that the refusals since the last call are one
// ErrUseDPoPNonce per cause, in order, each saying its cause.
func (s *nonceServer) wantRefused(t *testing.T, step string, causes ...string) {
	t.Helper()
	got := s.refused()
	if len(got) != len(causes) {
		t.Fatalf("%s: refusals %v, want %d use_dpop_nonce: %q", step, got, len(causes), causes)
	}
	for i, err := range got {
		if !errors.Is(err, grpcjwt.ErrUseDPoPNonce) || !strings.Contains(err.Error(), causes[i]) {
			t.Fatalf("%s: refusal %v, want ErrUseDPoPNonce saying %q", step, err, causes[i])
		}
	}
}

// countingReplay counts the calls of a ReplayCache.
type countingReplay struct {
	grpcjwt.ReplayCache
	n *atomic.Int64
}

func (c countingReplay) Seen(ctx context.Context, jkt, jti string, expiry time.Time) (bool, error) {
	c.n.Add(1)
	return c.ReplayCache.Seen(ctx, jkt, jti, expiry)
}

// nonceClient is a DPoP key, its credentials and a token bound to it.
type nonceClient struct {
	key   *grpcjwttest.Key
	creds *grpcjwt.DPoPCredentials
	token string
}

func newNonceClient(t *testing.T, iss *grpcjwttest.Issuer) *nonceClient {
	t.Helper()
	c := &nonceClient{key: grpcjwttest.MustKey("ES256")}
	var err error
	c.creds, err = grpcjwt.NewDPoPCredentials(c.key.Signer(), "ES256", func(context.Context) (string, error) { return c.token, nil })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.token = iss.Token(map[string]any{
		"sub": "alice", "scope": "greet:read greet:write",
		"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	}, grpcjwttest.WithDPoPBinding(c.creds.Thumbprint()))
	return c
}

// dial connects to addr with the credentials and, if learn, their
// interceptors.
func (c *nonceClient) dial(t *testing.T, addr string, learn bool) greeterv1.GreeterClient {
	opts := []grpc.DialOption{grpc.WithPerRPCCredentials(c.creds)}
	if learn {
		opts = append(opts, grpc.WithChainUnaryInterceptor(c.creds.UnaryClientInterceptor()), grpc.WithChainStreamInterceptor(c.creds.StreamClientInterceptor()))
	}
	return dial(t, addr, opts...)
}

// nonceOf calls SayHello at s with a proof of nonce (none if empty),
// without the credentials, and returns the error and the nonce of the
// answer's header.
func (c *nonceClient) nonceOf(t *testing.T, s *nonceServer, nonce string) (string, error) {
	t.Helper()
	proof, err := c.creds.ProofWithNonce("POST", "http://"+s.addr+"/greeter.v1.Greeter/SayHello", c.token, nonce)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+c.token, "dpop", proof)
	var header metadata.MD
	_, err = dial(t, s.addr).SayHello(ctx, &greeterv1.SayHelloRequest{Name: "x"}, grpc.Header(&header))
	v := header.Get("dpop-nonce")
	if len(v) != 1 {
		t.Fatalf("dpop-nonce header %q, want one nonce", v)
	}
	return v[0], err
}

// TestDPoPNonceLoop: over real gRPC, through each grpc-go door, a client
// with the interceptors learns the server's nonce from the refusal of its
// first call and makes it again, once, with it; its next calls carry the
// nonce, which it keeps up with through their answers; when its nonce has
// expired (the server's clock moved on by N), its call is refused and made
// again, and so is a server stream; a bidirectional stream is refused, and
// the next one carries the nonce.
func TestDPoPNonceLoop(t *testing.T) {
	for _, door := range []nonceDoor{viaInterceptors, viaAuthFunc} {
		t.Run(string(door), func(t *testing.T) {
			t.Parallel()
			iss := newIssuer(t)
			clock := newNonceClock()
			t0 := clock.Now()
			srv := newNonceServer(t, iss, clock, door, nonceSecret(1))
			c := newNonceClient(t, iss)
			client := c.dial(t, srv.addr, true)
			ctx := context.Background()

			if sub, err := calls["unary"](ctx, client); err != nil || sub != "alice" {
				t.Fatalf("first call: %q, %v", sub, err)
			}
			srv.wantRefused(t, "first call", "no nonce")
			for _, kind := range []string{"unary", "server-stream", "bidi"} {
				if _, err := calls[kind](ctx, client); err != nil {
					t.Fatalf("%s with the nonce: %v", kind, err)
				}
			}
			srv.wantRefused(t, "calls with the nonce")

			// At N/2 the nonce of t0 is good, and the answer brings that of
			// N/2, which is still good at t0+N, when the first has expired.
			clock.set(t0.Add(nonceLifetime / 2))
			if _, err := calls["unary"](ctx, client); err != nil {
				t.Fatal(err)
			}
			clock.set(t0.Add(nonceLifetime))
			if _, err := calls["unary"](ctx, client); err != nil {
				t.Fatal(err)
			}
			srv.wantRefused(t, "a nonce kept up with")

			// Idle for N: the nonce has expired.
			clock.add(nonceLifetime + nonceLifetime/2)
			if _, err := calls["unary"](ctx, client); err != nil {
				t.Fatalf("unary after N: %v", err)
			}
			srv.wantRefused(t, "unary after N", "expired")
			clock.add(nonceLifetime)
			if _, err := calls["server-stream"](ctx, client); err != nil {
				t.Fatalf("server stream after N: %v", err)
			}
			srv.wantRefused(t, "server stream after N", "expired")
			clock.add(nonceLifetime)
			_, err := calls["bidi"](ctx, client)
			wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeUseDPoPNonce)
			srv.wantRefused(t, "bidi after N", "expired")
			if _, err := calls["bidi"](ctx, client); err != nil {
				t.Fatalf("the next bidi stream: %v", err)
			}
			srv.wantRefused(t, "the next bidi stream")
		})
	}
}

// TestDPoPNonceWithoutInterceptors: credentials without their interceptors
// never learn a nonce: every call is refused with use_dpop_nonce, and a
// nonce in the answer's header.
func TestDPoPNonceWithoutInterceptors(t *testing.T) {
	iss := newIssuer(t)
	srv := newNonceServer(t, iss, newNonceClock(), viaInterceptors, nonceSecret(1))
	c := newNonceClient(t, iss)
	client := c.dial(t, srv.addr, false)
	for range 2 {
		var header metadata.MD
		_, err := client.SayHello(context.Background(), &greeterv1.SayHelloRequest{}, grpc.Header(&header))
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeUseDPoPNonce)
		if v := header.Get("dpop-nonce"); len(v) != 1 || v[0] == "" {
			t.Fatalf("dpop-nonce header %q, want one nonce", v)
		}
	}
}

// TestDPoPNonceChecks: a proof's nonce is checked after everything else
// about the proof, before the replay cache is asked: one of the server's,
// of the right type and size, unexpired, from N before its issue until N
// after it (on the server's clock); anything else is refused with
// use_dpop_nonce, which leaves nothing in the replay cache, but a nonce of
// the wrong type, which is a malformed proof.
func TestDPoPNonceChecks(t *testing.T) {
	iss := newIssuer(t)
	clock := newNonceClock()
	t0 := clock.Now()
	srv := newNonceServer(t, iss, clock, viaInterceptors, nonceSecret(1))
	other := newNonceServer(t, iss, clock, viaInterceptors, nonceSecret(2))
	c := newNonceClient(t, iss)
	nonce, err := c.nonceOf(t, srv, "")
	wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeUseDPoPNonce)
	foreign, _ := c.nonceOf(t, other, "")
	srv.refused()

	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 41 || len(nonce) != 55 {
		t.Fatalf("nonce %q: %d bytes, %v; want 41 bytes, 55 characters", nonce, len(raw), err)
	}
	tampered := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	htu := "http://" + srv.addr + "/greeter.v1.Greeter/SayHello"
	for _, tc := range []struct {
		name  string
		at    time.Duration // the server's clock: t0 plus this
		nonce any           // the nonce claim; nil: none
		htu   string        // "": the call's
		want  string        // the status message; "": accepted
		cause string
	}{
		{name: "the server's nonce", nonce: nonce},
		{name: "no nonce", want: grpcjwt.CodeUseDPoPNonce, cause: "no nonce"},
		{name: "an empty nonce", nonce: "", want: grpcjwt.CodeUseDPoPNonce, cause: "no nonce"},
		{name: "a nonce that is no string", nonce: 42, want: grpcjwt.CodeInvalidDPoPProof, cause: `"nonce" has the wrong type`},
		{name: "a long nonce", nonce: strings.Repeat("A", 4000), want: grpcjwt.CodeUseDPoPNonce, cause: "a nonce of 4000 bytes"},
		{name: "a nonce one byte short", nonce: nonce[1:], want: grpcjwt.CodeUseDPoPNonce, cause: "a nonce of 54 bytes"},
		{name: "not base64url", nonce: strings.Repeat("*", 55), want: grpcjwt.CodeUseDPoPNonce, cause: "does not issue"},
		{name: "another version", nonce: tampered(0), want: grpcjwt.CodeUseDPoPNonce, cause: "does not issue"},
		{name: "its time changed", nonce: tampered(8), want: grpcjwt.CodeUseDPoPNonce, cause: "none of the Secrets"},
		{name: "its MAC changed", nonce: tampered(40), want: grpcjwt.CodeUseDPoPNonce, cause: "none of the Secrets"},
		{name: "another server's", nonce: foreign, want: grpcjwt.CodeUseDPoPNonce, cause: "none of the Secrets"},
		{name: "at issue+N-1ns", at: nonceLifetime - 1, nonce: nonce},
		{name: "at issue+N", at: nonceLifetime, nonce: nonce, want: grpcjwt.CodeUseDPoPNonce, cause: "expired 5m0s after it"},
		{name: "at issue-N", at: -nonceLifetime, nonce: nonce},
		{name: "at issue-N-1ns", at: -nonceLifetime - 1, nonce: nonce, want: grpcjwt.CodeUseDPoPNonce, cause: "more than 5m0s ahead of now"},
		{name: "another htu and no nonce", htu: "http://" + srv.addr + "/greeter.v1.Greeter/Chat", want: grpcjwt.CodeInvalidDPoPProof, cause: "htu"},
		{name: "another htu and the nonce", htu: "http://" + srv.addr + "/greeter.v1.Greeter/Chat", nonce: nonce, want: grpcjwt.CodeInvalidDPoPProof, cause: "htu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.set(t0.Add(tc.at))
			claims := map[string]any{"jti": randomJTI(t), "htm": "POST", "htu": htu, "iat": time.Now().Unix(), "ath": ath(c.token)}
			if tc.htu != "" {
				claims["htu"] = tc.htu
			}
			if tc.nonce != nil {
				claims["nonce"] = tc.nonce
			}
			proof := signProof(t, c.key, map[string]any{"typ": "dpop+jwt", "alg": "ES256"}, claims)
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+c.token, "dpop", proof)
			seen := srv.seen.Load()
			_, err := dial(t, srv.addr).SayHello(ctx, &greeterv1.SayHelloRequest{})
			got := srv.refused()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v (%v)", err, got)
				}
				if srv.seen.Load() != seen+1 {
					t.Error("an accepted proof was not recorded")
				}
				return
			}
			wantStatus(t, err, codes.Unauthenticated, tc.want)
			if len(got) != 1 || !strings.Contains(got[0].Error(), tc.cause) {
				t.Fatalf("cause %v, want one saying %q", got, tc.cause)
			}
			if srv.seen.Load() != seen {
				t.Error("a refused proof reached the replay cache")
			}
		})
	}
}

// TestDPoPNonceRotation: a secret is rotated in three steps without a
// nonce refused: Secrets [old, new] (old signs, both verify) on every
// replica; then [new, old]; then [new]. A nonce is accepted by every
// server that has the secret it was signed with in Secrets, and by no
// other.
func TestDPoPNonceRotation(t *testing.T) {
	iss := newIssuer(t)
	clock := newNonceClock()
	old, new := nonceSecret(1), nonceSecret(2)
	servers := []struct {
		name    string
		secrets [][]byte
		accepts string // the servers that accept the nonces it issues
	}{
		{"old", [][]byte{old}, "old old+new new+old"},
		{"old+new", [][]byte{old, new}, "old old+new new+old"},
		{"new+old", [][]byte{new, old}, "old+new new+old new"},
		{"new", [][]byte{new}, "old+new new+old new"},
	}
	running := map[string]*nonceServer{}
	for _, s := range servers {
		running[s.name] = newNonceServer(t, iss, clock, viaInterceptors, s.secrets...)
	}
	c := newNonceClient(t, iss)
	for _, from := range servers {
		nonce, _ := c.nonceOf(t, running[from.name], "")
		for _, at := range servers {
			s := running[at.name]
			s.refused()
			_, err := c.nonceOf(t, s, nonce)
			accepts := slices.Contains(strings.Fields(from.accepts), at.name)
			switch {
			case accepts && err != nil:
				t.Errorf("a nonce of %s at %s: %v (%v)", from.name, at.name, err, s.refused())
			case !accepts && err == nil:
				t.Errorf("a nonce of %s at %s: accepted", from.name, at.name)
			case !accepts:
				wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeUseDPoPNonce)
				s.wantRefused(t, "a nonce of "+from.name+" at "+at.name, "none of the Secrets")
			}
		}
	}
}

// TestDPoPNonceConfig: NewPolicy refuses nonces without secrets, with a
// short secret or too short a lifetime, and takes a zero one as the
// default.
func TestDPoPNonceConfig(t *testing.T) {
	v := newValidator(t, newIssuer(t))
	for _, tc := range []struct {
		name  string
		nonce grpcjwt.DPoPNonceConfig
		want  string
	}{
		{"no secrets", grpcjwt.DPoPNonceConfig{}, "no Secrets"},
		{"a short secret", grpcjwt.DPoPNonceConfig{Secrets: [][]byte{nonceSecret(1), make([]byte, 31)}}, "Secrets[1] has 31 bytes, want at least 32"},
		{"a short lifetime", grpcjwt.DPoPNonceConfig{Secrets: [][]byte{nonceSecret(1)}, Lifetime: 3 * time.Second}, "Lifetime 3s, want at least 4s"},
		{"a negative lifetime", grpcjwt.DPoPNonceConfig{Secrets: [][]byte{nonceSecret(1)}, Lifetime: -time.Minute}, "Lifetime -1m0s, want at least 4s"},
	} {
		_, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Nonce: &tc.nonce}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	for _, lifetime := range []time.Duration{0, 4 * time.Second} {
		if _, err := grpcjwt.NewPolicy(v, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{Nonce: &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{nonceSecret(1)}, Lifetime: lifetime}})); err != nil {
			t.Errorf("a lifetime of %s: %v", lifetime, err)
		}
	}
}

// TestDPoPNonceHTTP: the net/http door answers a DPoP request without the
// nonce with 401, the challenge DPoP error="use_dpop_nonce" and a nonce in
// DPoP-Nonce, and the request made again with a proof of that nonce is
// admitted, its answer carrying the nonce too; a Bearer request gets none.
func TestDPoPNonceHTTP(t *testing.T) {
	iss := newIssuer(t)
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token(map[string]any{"sub": "alice", "scope": "reports:export"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	srv := httptest.NewServer(restMux(httpPolicy(t, iss, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{
		Algorithms: []string{"ES256"},
		Nonce:      &grpcjwt.DPoPNonceConfig{Secrets: [][]byte{nonceSecret(1)}},
	}))))
	t.Cleanup(srv.Close)
	send := func(auth, nonce string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/export", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		if strings.HasPrefix(auth, "DPoP ") {
			proof, err := creds.ProofWithNonce("POST", srv.URL+"/export", tok, nonce)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("DPoP", proof)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	res, body := send("DPoP "+tok, "")
	nonce := res.Header.Get(grpcjwt.DPoPNonceHeader)
	if want := `DPoP error="use_dpop_nonce", algs="ES256"`; res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != want || body != errorBody(grpcjwt.CodeUseDPoPNonce) {
		t.Fatalf("without a nonce: %d %q %q, want 401 %q %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), body, want, errorBody(grpcjwt.CodeUseDPoPNonce))
	}
	if len(res.Header.Values(grpcjwt.DPoPNonceHeader)) != 1 || nonce == "" {
		t.Fatalf("DPoP-Nonce %q, want one nonce", res.Header.Values(grpcjwt.DPoPNonceHeader))
	}
	res, body = send("DPoP "+tok, nonce)
	// The same nonce, unless a quarter of its lifetime began between the
	// two requests.
	if res.StatusCode != 200 || body != "alice" || len(res.Header.Values(grpcjwt.DPoPNonceHeader)) != 1 || res.Header.Get(grpcjwt.DPoPNonceHeader) == "" {
		t.Fatalf("with the nonce: %d %q, DPoP-Nonce %q, want 200 and one nonce", res.StatusCode, body, res.Header.Values(grpcjwt.DPoPNonceHeader))
	}
	res, _ = send("Bearer "+iss.Token(map[string]any{"scope": "reports:export"}), "")
	if res.StatusCode != 200 || res.Header.Get(grpcjwt.DPoPNonceHeader) != "" {
		t.Fatalf("a bearer token: %d, DPoP-Nonce %q, want 200 and none", res.StatusCode, res.Header.Get(grpcjwt.DPoPNonceHeader))
	}
}
