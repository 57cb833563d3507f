package grpcjwtredis_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	grpcjwtredis "github.com/grpcjwt/grpcjwt/redis"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authority is the one name the replicas are reached by, as behind a load
// balancer: a proof's htu names it, not a replica's own address.
const authority = "greeter.internal"

const sayHello = "/greeter.v1.Greeter/SayHello"

// replica is one greeter server: the example's, on loopback, behind
// grpcjwt with DPoP enabled.
type replica struct {
	client greeterv1.GreeterClient
	mu     sync.Mutex
	cause  error // why the server last refused a call
}

// startReplica serves the example greeter with its own Validator, whose
// DPoP proofs go to replay (nil: the in-memory default) and whose clock is
// now (nil: time.Now), and dials it by [authority].
func startReplica(t *testing.T, iss *grpcjwttest.Issuer, replay grpcjwt.ReplayCache, now func() time.Time) *replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
		Now:               now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	r := &replica{}
	srv, err := greeter.NewServer(v, greeter.ServerConfig{Rules: []grpcjwt.Option{
		grpcjwt.WithDPoP(grpcjwt.DPoPConfig{ReplayCache: replay}),
		grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.cause = err
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority(authority))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.client = greeterv1.NewGreeterClient(conn)
	return r
}

// sayHello calls SayHello with token and proof, and returns the refusal's
// status (nil when the call succeeds) and its cause from the reject hook.
func (r *replica) sayHello(t *testing.T, token, proof string) (*status.Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "DPoP "+token, "dpop", proof)
	_, err := r.client.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "alice"})
	if err == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cause := r.cause
	r.cause = nil
	return status.Convert(err), cause
}

// caller is a client of the replicas with a token bound to its DPoP key.
type caller struct {
	t     *testing.T
	creds *grpcjwt.DPoPCredentials
	token string
}

func newCaller(t *testing.T, iss *grpcjwttest.Issuer) *caller {
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &caller{t: t, creds: creds, token: iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))}
}

// proof signs a fresh proof for SayHello, issued now.
func (c *caller) proof() string {
	c.t.Helper()
	p, err := c.creds.Proof("POST", "http://"+authority+sayHello, c.token)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// accepted calls r with proof and fails the test unless the call passes.
func (c *caller) accepted(r *replica, what, proof string) {
	c.t.Helper()
	if st, cause := r.sayHello(c.t, c.token, proof); st != nil {
		c.t.Fatalf("%s: %s %q (cause: %v), want OK", what, st.Code(), st.Message(), cause)
	}
}

// refused calls r with proof and fails the test unless r refuses it as an
// invalid proof, for a cause that says cause.
func (c *caller) refused(r *replica, what, proof, cause string) {
	c.t.Helper()
	st, err := r.sayHello(c.t, c.token, proof)
	if st == nil {
		c.t.Fatalf("%s: accepted, want Unauthenticated %q", what, grpcjwt.CodeInvalidDPoPProof)
	}
	if st.Code() != codes.Unauthenticated || st.Message() != grpcjwt.CodeInvalidDPoPProof {
		c.t.Fatalf("%s: %s %q, want Unauthenticated %q", what, st.Code(), st.Message(), grpcjwt.CodeInvalidDPoPProof)
	}
	if !errors.Is(err, grpcjwt.ErrInvalidDPoPProof) || !strings.Contains(err.Error(), cause) {
		c.t.Fatalf("%s: the server's cause is %v, want ErrInvalidDPoPProof with %q", what, err, cause)
	}
}

// TestReplicasShareProofs: two replicas that share a Redis replay cache
// accept a DPoP proof once between them; with the in-memory default each
// accepts it once.
func TestReplicasShareProofs(t *testing.T) {
	s := startRedis(t)
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	c := newCaller(t, iss)

	t.Run("one Redis cache: the replay at the second replica is refused", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { client.Close() })
		cache := grpcjwtredis.New(client)
		first, second := startReplica(t, iss, cache, nil), startReplica(t, iss, cache, nil)

		p := c.proof()
		c.accepted(first, "the proof at the first replica", p)
		c.refused(second, "the same proof at the second replica", p, "was used before")
		c.refused(first, "the same proof at the first replica", p, "was used before")
		c.accepted(second, "a fresh proof at the second replica", c.proof())

		s.Kill()
		c.refused(first, "a fresh proof with Redis down", c.proof(), "replay cache")
	})

	t.Run("in-memory default, not shared: the replay at the second replica is accepted", func(t *testing.T) {
		first, second := startReplica(t, iss, nil, nil), startReplica(t, iss, nil, nil)

		p := c.proof()
		c.accepted(first, "the proof at the first replica", p)
		c.refused(first, "the same proof at the first replica", p, "was used before")
		c.accepted(second, "the same proof at the second replica", p)
	})
}

// TestReplicasRememberAProofForItsLifetime: a replica hands Redis the time
// a proof has left until its expiry, its iat plus the proof lifetime L, on
// the replica's clock (Config.Now and WithClock, set by the test), and
// Redis remembers it that long by its own clock; a replay at either
// replica is refused until then as used before, and from then by its iat.
func TestReplicasRememberAProofForItsLifetime(t *testing.T) {
	s := startRedis(t)
	client := s.Client(t)
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	c := newCaller(t, iss)
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cache := grpcjwtredis.New(client, grpcjwtredis.WithClock(clock))
	first, second := startReplica(t, iss, cache, clock), startReplica(t, iss, cache, clock)

	p := c.proof()
	var claims struct {
		JTI string `json:"jti"`
		IAT int64  `json:"iat"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("the proof's claims: %s, %v", payload, err)
	}
	const lifetime = grpcjwt.DefaultDPoPProofLifetime
	iat := time.Unix(claims.IAT, 0)
	at := func(d time.Duration) { now.Store(iat.Add(d).UnixNano()) }

	at(20 * time.Second)
	c.accepted(first, "the proof at iat+20s", p)
	score, err := client.ZScore(context.Background(), grpcjwtredis.DefaultPrefix+hashed(c.creds.Thumbprint()), hashed(claims.JTI)).Result()
	if err != nil {
		t.Fatal(err)
	}
	redisNow, err := client.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if left := time.UnixMilli(int64(score)).Sub(redisNow); left < lifetime-20*time.Second-time.Second || left > lifetime-20*time.Second+time.Millisecond {
		t.Fatalf("Redis remembers the proof for %s more, want the %s its expiry is ahead of the server's clock", left, lifetime-20*time.Second)
	}

	at(lifetime - time.Nanosecond)
	c.refused(second, "the replay at iat+L-1ns", p, "was used before")
	at(lifetime)
	c.refused(second, "the replay at iat+L", p, "the proof expired 1m0s after it")
	c.refused(first, "the replay at iat+L", p, "the proof expired 1m0s after it")
}
