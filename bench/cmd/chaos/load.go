package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// alg is the algorithm of every key: ES256 signs fast enough to mint
// tokens all through the run.
const alg = "ES256"

// callTimeout bounds a call with a token the server must accept; no
// issuer fault may make one wait for the network.
const callTimeout = 5 * time.Second

// Token classes: one valid (its key published), one deliberately removed,
// and the bad ones, which must always be refused.
const (
	classValid    = "valid"
	classRemoved  = "removed key"
	classExpired  = "expired"
	classAudience = "wrong audience"
	classUnknown  = "unknown key"
)

var kinds = []string{"unary", "server stream", "bidi stream"}

// token is an access token and what the run knows about it.
type token struct {
	s, kid string
	bad    string // "" for a good token, else its class
}

// keyState is what the run did with a key.
type keyState struct {
	published bool
	// removedAt is the issuer's JWKS request count when the key was
	// unpublished: a refusal of its tokens is allowed only once the count
	// has grown past it, that is once the server could have fetched a key
	// set without it.
	removedAt int64
}

// pools holds the tokens the workers call with. Its methods are safe for
// concurrent use.
type pools struct {
	minter *grpcjwttest.Issuer
	size   int
	probe  *grpcjwttest.Key // never published: its tokens have an unknown kid

	mu      sync.Mutex
	signing *grpcjwttest.Key
	cur     []token // valid, signed by the signing key
	prev    []token // valid, signed by the key before it, still published
	removed []token // signed by an unpublished key; sent until retired
	bad     []token // expired or for another audience
	keys    map[string]*keyState
	serial  int
}

// newPools returns pools whose valid tokens are signed by keys, the last
// one signing from now on and the one before it as the previous key.
func newPools(minter *grpcjwttest.Issuer, size int, keys ...*grpcjwttest.Key) *pools {
	p := &pools{minter: minter, size: size, probe: grpcjwttest.MustKey(alg), keys: make(map[string]*keyState)}
	for _, k := range keys {
		p.rotate(k)
	}
	return p
}

// mint returns a fresh valid token signed by k, for a subject of its own.
func (p *pools) mintLocked(k *grpcjwttest.Key, claims map[string]any) token {
	p.serial++
	c := map[string]any{"sub": fmt.Sprintf("user-%d", p.serial), "scope": "greet:read greet:write"}
	for n, v := range claims {
		c[n] = v
	}
	return token{s: p.minter.Token(c, grpcjwttest.WithKey(k)), kid: k.KID}
}

// rotate makes k the signing key: the valid pool is minted anew with it,
// and the old pool, whose key stays published, is still sent.
func (p *pools) rotate(k *grpcjwttest.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[k.KID] = &keyState{published: true}
	p.signing = k
	p.prev = p.cur
	p.cur = make([]token, p.size)
	for i := range p.cur {
		p.cur[i] = p.mintLocked(k, nil)
	}
	p.bad = p.bad[:0]
	for range 16 {
		t := p.mintLocked(k, map[string]any{"exp": time.Now().Add(-10 * time.Minute).Unix()})
		t.bad = classExpired
		p.bad = append(p.bad, t)
		t = p.mintLocked(k, map[string]any{"aud": "https://other.example.com"})
		t.bad = classAudience
		p.bad = append(p.bad, t)
	}
}

// unpublishPrev marks the previous key unpublished at the issuer's JWKS
// request count fetches, and returns its kid, or "" if there is none. Its
// tokens are sent from now until retireRemoved.
func (p *pools) unpublishPrev(fetches int64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.prev) == 0 {
		return ""
	}
	kid := p.prev[0].kid
	p.keys[kid] = &keyState{removedAt: fetches}
	p.removed, p.prev = p.prev, nil
	return kid
}

// retireRemoved stops sending the tokens of the unpublished key.
func (p *pools) retireRemoved() {
	p.mu.Lock()
	p.removed = nil
	p.mu.Unlock()
}

// probeToken returns a token whose key was never published.
func (p *pools) probeToken() token {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.mintLocked(p.probe, nil)
	t.bad = classUnknown
	return t
}

// pick returns the token for a call: mostly valid ones (one in eight
// from the previous key while it is published, one in sixteen freshly
// minted so that calls keep missing the server's cache and looking their
// key up), one in twenty bad, one in twenty of the removed key while it
// is sent.
func (p *pools) pick(r *rand.Rand) token {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch n := r.IntN(160); {
	case n < 8:
		return p.bad[r.IntN(len(p.bad))]
	case n < 16 && len(p.removed) > 0:
		return p.removed[r.IntN(len(p.removed))]
	case n < 36 && len(p.prev) > 0:
		return p.prev[r.IntN(len(p.prev))]
	case n < 46:
		i := r.IntN(len(p.cur))
		p.cur[i] = p.mintLocked(p.signing, nil)
		return p.cur[i]
	}
	return p.cur[r.IntN(len(p.cur))]
}

func (p *pools) state(kid string) keyState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.keys[kid]; ok {
		return *s
	}
	return keyState{}
}

// tally counts calls by kind, class and outcome, and keeps the first
// failures in detail. Its methods are safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	calls    map[[3]string]int64 // kind, class, "ok" or "refused"
	failures map[string]int64    // by check
	details  []string
	slowest  time.Duration // of a call with a valid token
	slowKind string        // its kind
	slowEnd  time.Time     // when it returned
}

func newTally() *tally {
	return &tally{calls: make(map[[3]string]int64), failures: make(map[string]int64)}
}

func (t *tally) count(kind, class, outcome string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for k, v := range t.calls {
		if (kind == "" || k[0] == kind) && (class == "" || k[1] == class) && (outcome == "" || k[2] == outcome) {
			n += v
		}
	}
	return n
}

func (t *tally) fail(check, detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures[check]++
	if len(t.details) < 20 {
		t.details = append(t.details, fmt.Sprintf("%s %s: %s", time.Now().Format("15:04:05.000"), check, detail))
	}
}

// Checks the calls are held to.
const (
	checkValidRefused = "valid token refused"
	checkBadAccepted  = "bad token accepted"
	checkRemovedEarly = "removed key refused before the server could have refreshed"
)

// record judges one call. before and after are the token's key state at
// its start and end; fetches is the issuer's JWKS request count read
// after it returned.
func (t *tally) record(kind string, tok token, before, after keyState, fetches int64, took time.Duration, err error) {
	class := tok.bad
	if class == "" {
		class = classValid
		if !before.published || !after.published {
			class = classRemoved
		}
	}
	outcome := "ok"
	if err != nil {
		outcome = "refused"
	}
	t.mu.Lock()
	t.calls[[3]string{kind, class, outcome}]++
	if class == classValid && err == nil && took > t.slowest {
		t.slowest = took
		t.slowKind, t.slowEnd = kind, time.Now()
	}
	t.mu.Unlock()

	desc := func() string {
		return fmt.Sprintf("%s call, %s token kid %s: %v (after %v)", kind, class, tok.kid, err, took.Round(time.Millisecond))
	}
	switch {
	case tok.bad != "" && err == nil:
		t.fail(checkBadAccepted, desc())
	case tok.bad != "" && status.Code(err) != codes.Unauthenticated &&
		!(tok.bad == classUnknown && status.Code(err) == codes.DeadlineExceeded):
		// Refused, but not as a bad token should be. A token of an
		// unknown key may also run out of time waiting for a refresh
		// that hangs.
		t.fail(checkBadAccepted, desc()+" (want Unauthenticated)")
	case class == classValid && err != nil:
		t.fail(checkValidRefused, desc())
	case class == classRemoved && err != nil && fetches <= after.removedAt:
		t.fail(checkRemovedEarly, desc())
	}
}

// call makes one call of kind with tok, and returns its error: for the
// streams, the first error of the whole exchange.
func call(ctx context.Context, c greeterv1.GreeterClient, kind string, tok string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	switch kind {
	case "unary":
		_, err := c.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "chaos"})
		return err
	case "server stream":
		s, err := c.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{Name: "chaos", Count: 3})
		if err != nil {
			return err
		}
		return drain(s.Recv)
	default:
		s, err := c.Chat(ctx)
		if err != nil {
			return err
		}
		for _, m := range []string{"hi", "still there?"} {
			if err := s.Send(&greeterv1.ChatRequest{Message: m}); err != nil {
				break // the error is the stream's; Recv returns it
			}
		}
		_ = s.CloseSend()
		return drain(s.Recv)
	}
}

// drain receives until the end of the stream, which must have at least
// one message.
func drain[T any](recv func() (*T, error)) error {
	n := 0
	for {
		_, err := recv()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("stream ended without a message")
			}
			return nil
		}
		if err != nil {
			return err
		}
		n++
	}
}

// worker calls until ctx is done, cycling through the kinds of call.
func worker(ctx context.Context, id int, conn *grpc.ClientConn, p *pools, is *issuer, t *tally) {
	c := greeterv1.NewGreeterClient(conn)
	r := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	for i := id; ctx.Err() == nil; i++ {
		kind := kinds[i%len(kinds)]
		tok := p.pick(r)
		before := p.state(tok.kid)
		start := time.Now()
		err := call(context.Background(), c, kind, tok.s, callTimeout)
		took := time.Since(start)
		t.record(kind, tok, before, p.state(tok.kid), is.fetches(), took, err)
	}
}

// probe sends tokens of an unknown key, every interval until ctx is done,
// each in a goroutine of its own with a short deadline (while the JWKS
// hangs, they wait for the refresh they join). They must be refused; the
// first one after the server's rate limit allows makes it fetch the JWKS.
func probe(ctx context.Context, conn *grpc.ClientConn, p *pools, is *issuer, t *tally, interval time.Duration) {
	c := greeterv1.NewGreeterClient(conn)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			kind := kinds[i%len(kinds)]
			tok := p.probeToken()
			start := time.Now()
			err := call(context.Background(), c, kind, tok.s, time.Second)
			t.record(kind, tok, keyState{}, keyState{}, is.fetches(), time.Since(start), err)
		}()
	}
}
