package grpcjwt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net"
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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// dpopServer serves the test greeter on loopback with DPoP enabled, and
// returns its address.
func dpopServer(t *testing.T, iss *grpcjwttest.Issuer, replay grpcjwt.ReplayCache, opts ...grpcjwt.Option) string {
	t.Helper()
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim })
	return serveDPoP(t, v, append(opts, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: replay}))...)
}

// serveDPoP serves the test greeter on loopback behind the interceptors of
// v's policy of opts, and returns its address.
func serveDPoP(t *testing.T, v *grpcjwt.Validator, opts ...grpcjwt.Option) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := policyOf(t, v, opts...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.StreamServerInterceptor()))
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
	replay := grpcjwt.NewMemoryReplayCache(0, 0, 0)
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
		off := serve(t, greeter{}, grpc.ChainUnaryInterceptor(policyOf(t, newValidator(t, iss)).UnaryServerInterceptor()))
		_, err := calls["unary"](metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+tok, "dpop", signProof(t, key, hdr(), with(good))), off)
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeSchemeNotSupported)
	})
}

func randomJTI(t *testing.T) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(time.Now().Format(time.RFC3339Nano)))
}

// causes keeps what the reject hook is told, for tests that must know why
// a call was refused.
type causes struct {
	mu   sync.Mutex
	last error
}

func (c *causes) hook() grpcjwt.Option {
	return grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.last = err
	})
}

// take returns the last cause and forgets it.
func (c *causes) take() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.last
	c.last = nil
	return err
}

// TestDPoPCheapChecksFirst: a proof whose key is not the token's, or is
// over the size allowed for keys, is refused before its signature is
// verified: the cause is the key, although the signature is junk too.
func TestDPoPCheapChecksFirst(t *testing.T) {
	iss := newIssuer(t)
	var why causes
	addr := dpopServer(t, iss, nil, why.hook())
	plain := dial(t, addr)
	htu := "http://" + addr + "/greeter.v1.Greeter/SayHello"

	// A 16,384-bit RSA public key: a random odd modulus of that size is
	// all a proof's header carries, and all the old order needed to spend
	// some 16 ms of CPU on its signature.
	n := new(big.Int).SetBytes(bytes.Repeat([]byte{0xc5, 0x3a}, 16384/16))
	n.SetBit(n, 0, 1)
	bigJWK := map[string]any{"kty": "RSA", "e": "AQAB", "n": base64.RawURLEncoding.EncodeToString(n.Bytes())}
	bigJKT := func() string {
		sum := sha256.Sum256([]byte(`{"e":"AQAB","kty":"RSA","n":"` + bigJWK["n"].(string) + `"}`))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}()

	key, other := grpcjwttest.MustKey("ES256"), grpcjwttest.MustKey("ES256")
	otherJWK := func() map[string]any {
		j, err := other.JWK()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(j, &m)
		return map[string]any{"kty": m["kty"], "crv": m["crv"], "x": m["x"], "y": m["y"]}
	}()
	keyCreds, err := grpcjwt.NewDPoPCredentials(key.Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}

	// unsigned is a proof with a signature of sigLen junk bytes, of the
	// right length for the key, so that only verifying it could refuse it.
	unsigned := func(alg string, jwk map[string]any, token string, sigLen int) string {
		h := mustJSON(t, map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
		c := mustJSON(t, map[string]any{"jti": randomJTI(t), "htm": "POST", "htu": htu, "iat": time.Now().Unix(), "ath": ath(token)})
		return b64(h) + "." + b64(c) + "." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, sigLen))
	}
	cases := []struct {
		name  string
		token string
		proof func(token string) string
		msg   string
		cause error
		says  string
	}{
		{
			"a 16,384-bit RSA proof key, the token's own",
			iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(bigJKT)),
			func(tok string) string { return unsigned("RS256", bigJWK, tok, 16384/8) },
			grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, "RSA key of 16384 bits is too large",
		},
		{
			"another key than the token's",
			iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(keyCreds.Thumbprint())),
			func(tok string) string { return unsigned("ES256", otherJWK, tok, 64) },
			grpcjwt.CodeInvalidToken, grpcjwt.ErrDPoPKeyMismatch, "not the one the token is bound to",
		},
		{
			"a 16,384-bit RSA proof key, not the token's",
			iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(keyCreds.Thumbprint())),
			func(tok string) string { return unsigned("RS256", bigJWK, tok, 16384/8) },
			grpcjwt.CodeInvalidDPoPProof, grpcjwt.ErrInvalidDPoPProof, "RSA key of 16384 bits is too large",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+tc.token, "dpop", tc.proof(tc.token))
			_, err := calls["unary"](ctx, plain)
			wantStatus(t, err, codes.Unauthenticated, tc.msg)
			cause := why.take()
			if !errors.Is(cause, tc.cause) || !strings.Contains(cause.Error(), tc.says) {
				t.Fatalf("cause %v, want %v saying %q (and not a bad signature: it must not have been verified)", cause, tc.cause, tc.says)
			}
		})
	}
}

// countingCache counts the proofs recorded in the cache it wraps.
type countingCache struct {
	grpcjwt.ReplayCache
	n atomic.Int64
}

func (c *countingCache) Seen(ctx context.Context, jkt, jti string, expiry time.Time) (bool, error) {
	c.n.Add(1)
	return c.ReplayCache.Seen(ctx, jkt, jti, expiry)
}

// dpopClient returns a client of addr whose calls carry a token bound to a
// new key, with claims, and a fresh proof each.
func dpopClient(t *testing.T, iss *grpcjwttest.Issuer, addr string, claims map[string]any, opts ...grpcjwttest.TokenOption) greeterv1.GreeterClient {
	t.Helper()
	var tok string
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", func(context.Context) (string, error) { return tok, nil })
	if err != nil {
		t.Fatal(err)
	}
	tok = iss.Token(claims, append(opts, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))...)
	return dial(t, addr, grpc.WithPerRPCCredentials(creds))
}

// TestDPoPProofRecordedLast: a call refused for any reason after its proof
// verified (scope, the authorizer, the organization, by the unary and the
// stream interceptor and by AuthFunc) records nothing in the replay cache,
// so that a client whose token may not call a method cannot fill the
// cache for the clients who may.
func TestDPoPProofRecordedLast(t *testing.T) {
	iss := newIssuer(t)
	const denied = "denied-by-the-authorizer"
	authorizer := grpcjwt.WithAuthorizer(func(_ context.Context, _ string, c *grpcjwt.Claims) error {
		if c.Subject == denied {
			return errors.New("this subject may not")
		}
		return nil
	})
	// A Go organization rule adds to the .proto rule: greet:read stays.
	const sayHello = "/greeter.v1.Greeter/SayHello"
	organization := grpcjwt.WithOrganization(sayHello, grpcjwt.OrganizationRule{Field: "name", Token: grpcjwt.OrganizationFromClaim})
	both := []string{"greet:read greet:write"}

	cache := &countingCache{ReplayCache: grpcjwt.NewMemoryReplayCache(0, 0, 0)}
	config := func(c *grpcjwt.Config) {
		c.OrganizationClaim = grpcjwt.DefaultOrganizationClaim // the issuer asserts organization_id
	}
	interceptors := serveDPoP(t, newValidator(t, iss, config), authorizer, organization, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: cache}))

	v := newValidator(t, iss, config)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(policyOf(t, v, authorizer, grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: cache})).AuthFunc())))
	greeterv1.RegisterGreeterServer(srv, greeter{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	authFunc := lis.Addr().String()

	// SayHello with name "x": the organization rule (interceptors only)
	// wants the token's organization_id to be "x".
	x := grpcjwttest.WithOrganization("x")
	scope, org := grpcjwt.CodeInsufficientScope, grpcjwt.CodeOrganizationMismatch
	cases := []struct {
		name   string
		addr   string
		call   string
		claims map[string]any
		opts   []grpcjwttest.TokenOption
		msg    string // of the PermissionDenied status
	}{
		{"unary, no scope", interceptors, "unary", nil, []grpcjwttest.TokenOption{x}, scope},
		{"unary, the authorizer refuses", interceptors, "unary", map[string]any{"scope": both[0], "sub": denied}, []grpcjwttest.TokenOption{x}, scope},
		{"unary, another organization", interceptors, "unary", map[string]any{"scope": both[0]}, []grpcjwttest.TokenOption{grpcjwttest.WithOrganization("y")}, org},
		{"bidi stream, no scope", interceptors, "bidi", map[string]any{"scope": "greet:read"}, nil, scope},
		{"server stream, the authorizer refuses", interceptors, "server-stream", map[string]any{"sub": denied}, nil, scope},
		{"AuthFunc, no scope", authFunc, "unary", nil, nil, scope},
		{"AuthFunc, the authorizer refuses", authFunc, "unary", map[string]any{"scope": both[0], "sub": denied}, nil, scope},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := dpopClient(t, iss, tc.addr, tc.claims, tc.opts...)
			before := cache.n.Load()
			for range 5 {
				_, err := calls[tc.call](context.Background(), client)
				wantStatus(t, err, codes.PermissionDenied, tc.msg)
			}
			if n := cache.n.Load() - before; n != 0 {
				t.Fatalf("5 refused calls recorded %d proofs", n)
			}
		})
	}
	t.Run("calls that pass record their proof, once", func(t *testing.T) {
		for _, c := range []struct {
			addr, call string
			opts       []grpcjwttest.TokenOption
		}{{interceptors, "unary", []grpcjwttest.TokenOption{x}}, {interceptors, "bidi", nil}, {interceptors, "server-stream", nil}, {authFunc, "unary", nil}} {
			client := dpopClient(t, iss, c.addr, map[string]any{"scope": both[0]}, c.opts...)
			before := cache.n.Load()
			if _, err := calls[c.call](context.Background(), client); err != nil {
				t.Fatalf("%s at %s: %v", c.call, c.addr, err)
			}
			if n := cache.n.Load() - before; n != 1 {
				t.Fatalf("%s at %s: one call recorded %d proofs", c.call, c.addr, n)
			}
		}
	})
}

// TestDPoPOneKeyCannotFillTheCache: a client that sends proofs as fast as
// it can gets its key's share of the replay cache and no more; every other
// client's proofs are still accepted.
func TestDPoPOneKeyCannotFillTheCache(t *testing.T) {
	iss := newIssuer(t)
	const share = 4
	var why causes
	addr := dpopServer(t, iss, grpcjwt.NewMemoryReplayCache(3*share, 0, share), why.hook())
	flooder := dpopClient(t, iss, addr, map[string]any{"scope": "greet:read"})
	for i := range 4 * share {
		_, err := calls["unary"](context.Background(), flooder)
		if i < share {
			if err != nil {
				t.Fatalf("proof %d of the flooding key, within its share: %v", i, err)
			}
			continue
		}
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidDPoPProof)
		if cause := why.take(); !strings.Contains(cause.Error(), "its share") {
			t.Fatalf("proof %d of the flooding key: cause %v, want the key's share", i, cause)
		}
	}
	for i := range 2 {
		other := dpopClient(t, iss, addr, map[string]any{"scope": "greet:read"})
		for j := range share {
			if _, err := calls["unary"](context.Background(), other); err != nil {
				t.Fatalf("client %d, proof %d, after the flood: %v", i, j, err)
			}
		}
	}
}

// dpopClock is a DPoP server on loopback whose clock (Config.Now, and its
// replay cache's: a share of one proof a key) the test sets, with
// hand-made proofs of one key and its bound token.
type dpopClock struct {
	t       *testing.T
	iat     time.Time // of the proofs that do not say otherwise; whole seconds
	now     atomic.Int64
	advance atomic.Int64 // the authorizer moves the clock on by this much
	why     causes
	key     *grpcjwttest.Key
	token   string
	htu     string
	client  greeterv1.GreeterClient
}

func newDPoPClock(t *testing.T, lifetime time.Duration) *dpopClock {
	t.Helper()
	iss := newIssuer(t)
	d := &dpopClock{t: t, iat: time.Unix(time.Now().Unix(), 0), key: grpcjwttest.MustKey("ES256")}
	d.now.Store(d.iat.UnixNano())
	clock := func() time.Time { return time.Unix(0, d.now.Load()) }
	creds, err := grpcjwt.NewDPoPCredentials(d.key.Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.token = iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Now = clock })
	dpop := grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ProofLifetime: lifetime, ReplayCache: grpcjwt.NewMemoryReplayCacheOn(0, 0, 1, clock)})
	// The authorizer runs between the proof's check and its recording.
	authorizer := grpcjwt.WithAuthorizer(func(context.Context, string, *grpcjwt.Claims) error {
		d.now.Add(d.advance.Load())
		return nil
	})
	addr := serveDPoP(t, v, dpop, authorizer, d.why.hook())
	d.htu = "http://" + addr + "/greeter.v1.Greeter/SayHello"
	d.client = dial(t, addr)
	return d
}

// proof signs a proof with jti, issued at iat.
func (d *dpopClock) proof(jti string, iat time.Time) string {
	return signProof(d.t, d.key, map[string]any{"typ": "dpop+jwt", "alg": "ES256"},
		map[string]any{"jti": jti, "htm": "POST", "htu": d.htu, "iat": iat.Unix(), "ath": ath(d.token)})
}

// send calls SayHello with proof when the clock reads at, and returns the
// cause of its refusal (nil when it is accepted), which it checks is an
// invalid_dpop_proof.
func (d *dpopClock) send(at time.Time, proof string) error {
	d.t.Helper()
	d.now.Store(at.UnixNano())
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "DPoP "+d.token, "dpop", proof)
	_, err := calls["unary"](ctx, d.client)
	if err == nil {
		return nil
	}
	wantStatus(d.t, err, codes.Unauthenticated, grpcjwt.CodeInvalidDPoPProof)
	return d.why.take()
}

// TestDPoPReplayRefusedAtEveryInstant: a proof is remembered until its
// lifetime L after its iat, on the server's clock, and not an instant
// longer, and a replay of it is refused at every instant: until iat+L as
// used before, from iat+L by its iat. That the cache remembers it exactly
// that long shows in the key's share of one proof: taken until iat+L, free
// at iat+L.
func TestDPoPReplayRefusedAtEveryInstant(t *testing.T) {
	const lifetime = time.Minute
	d := newDPoPClock(t, lifetime)
	replayed := d.proof("replayed", d.iat)
	const (
		usedBefore = "was used before"
		expired    = "the proof expired 1m0s after it" // the iat check
		share      = "1 unexpired proofs, its share"
	)
	steps := []struct {
		name  string
		after time.Duration // the clock: iat plus this
		proof string
		cause string // "": accepted
	}{
		{"first use", 0, replayed, ""},
		{"replay at once", 0, replayed, usedBefore},
		{"replay at iat+L/2", lifetime / 2, replayed, usedBefore},
		{"replay at iat+L-1ns", lifetime - 1, replayed, usedBefore},
		{"another proof at iat+L-1ns: the share still taken", lifetime - 1, d.proof("another", d.iat.Add(lifetime)), share},
		{"replay at iat+L", lifetime, replayed, expired},
		{"another proof at iat+L: the share free, the proof forgotten", lifetime, d.proof("another", d.iat.Add(lifetime)), ""},
		{"replay at iat+L+1ns", lifetime + 1, replayed, expired},
		{"replay at iat+2L", 2 * lifetime, replayed, expired},
	}
	for _, s := range steps {
		cause := d.send(d.iat.Add(s.after), s.proof)
		switch {
		case s.cause == "" && cause != nil:
			t.Fatalf("%s: refused (%v), want accepted", s.name, cause)
		case s.cause != "" && cause == nil:
			t.Fatalf("%s: accepted, want refused: %s", s.name, s.cause)
		case s.cause != "" && (!errors.Is(cause, grpcjwt.ErrInvalidDPoPProof) || !strings.Contains(cause.Error(), s.cause)):
			t.Fatalf("%s: cause %v, want ErrInvalidDPoPProof saying %q", s.name, cause, s.cause)
		}
	}
}

// TestDPoPProofExpiringDuringItsCall: a proof whose iat let it in, but
// which expired while the call's other checks ran, is refused: the cache
// records nothing for a past expiry, so that two calls with it, both let
// in just before iat+L and recorded just after, would otherwise both pass.
func TestDPoPProofExpiringDuringItsCall(t *testing.T) {
	const lifetime = time.Minute
	d := newDPoPClock(t, lifetime)
	justBefore := d.iat.Add(lifetime - time.Nanosecond)
	p := d.proof("late", d.iat)
	d.advance.Store(int64(time.Nanosecond)) // the checks end at iat+L
	for _, call := range []string{"first", "second, let in at the same instant"} {
		if cause := d.send(justBefore, p); cause == nil || !strings.Contains(cause.Error(), "during the call's checks") {
			t.Fatalf("%s call: cause %v, want the proof refused for expiring during the call", call, cause)
		}
	}
	d.advance.Store(0)
	if cause := d.send(justBefore, d.proof("in time", d.iat)); cause != nil {
		t.Fatalf("a proof whose checks end before iat+L: %v", cause)
	}
}
