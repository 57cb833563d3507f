package grpcjwtredis_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
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
// DPoP proofs go to replay (nil: the in-memory default), and dials it by
// [authority].
func startReplica(t *testing.T, iss *grpcjwttest.Issuer, replay grpcjwt.ReplayCache) *replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
		Issuer:            iss.URL,
		Audience:          iss.Audience,
		OrganizationClaim: grpcjwt.DefaultOrganizationClaim,
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

// TestReplicasShareProofs: two replicas that share a Redis replay cache
// accept a DPoP proof once between them; with the in-memory default each
// accepts it once.
func TestReplicasShareProofs(t *testing.T) {
	s := startRedis(t)
	iss := grpcjwttest.NewIssuer()
	t.Cleanup(iss.Close)
	var token string
	creds, err := grpcjwt.NewDPoPCredentials(grpcjwttest.MustKey("ES256").Signer(), "ES256",
		func(context.Context) (string, error) { return token, nil })
	if err != nil {
		t.Fatal(err)
	}
	token = iss.Token(map[string]any{"scope": "greet:read"}, grpcjwttest.WithDPoPBinding(creds.Thumbprint()))
	proof := func() string {
		t.Helper()
		p, err := creds.Proof("POST", "http://"+authority+sayHello, token)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	accepted := func(r *replica, what, proof string) {
		t.Helper()
		if st, cause := r.sayHello(t, token, proof); st != nil {
			t.Fatalf("%s: %s %q (cause: %v), want OK", what, st.Code(), st.Message(), cause)
		}
	}
	refused := func(r *replica, what, proof, cause string) {
		t.Helper()
		st, err := r.sayHello(t, token, proof)
		if st == nil {
			t.Fatalf("%s: accepted, want Unauthenticated %q", what, grpcjwt.CodeInvalidDPoPProof)
		}
		if st.Code() != codes.Unauthenticated || st.Message() != grpcjwt.CodeInvalidDPoPProof {
			t.Fatalf("%s: %s %q, want Unauthenticated %q", what, st.Code(), st.Message(), grpcjwt.CodeInvalidDPoPProof)
		}
		if !errors.Is(err, grpcjwt.ErrInvalidDPoPProof) || !strings.Contains(err.Error(), cause) {
			t.Fatalf("%s: the server's cause is %v, want ErrInvalidDPoPProof with %q", what, err, cause)
		}
	}

	t.Run("one Redis cache: the replay at the second replica is refused", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { client.Close() })
		cache := grpcjwtredis.New(client)
		first, second := startReplica(t, iss, cache), startReplica(t, iss, cache)

		p := proof()
		accepted(first, "the proof at the first replica", p)
		refused(second, "the same proof at the second replica", p, "was used before")
		refused(first, "the same proof at the first replica", p, "was used before")
		accepted(second, "a fresh proof at the second replica", proof())

		s.Kill()
		refused(first, "a fresh proof with Redis down", proof(), "replay cache")
	})

	t.Run("in-memory default, not shared: the replay at the second replica is accepted", func(t *testing.T) {
		first, second := startReplica(t, iss, nil), startReplica(t, iss, nil)

		p := proof()
		accepted(first, "the proof at the first replica", p)
		refused(first, "the same proof at the first replica", p, "was used before")
		accepted(second, "the same proof at the second replica", p)
	})
}
