package main

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// issuer is a grpcjwttest issuer that can stop and come back at the same
// address with the same keys, and counts the JWKS requests of all its
// lives.
type issuer struct {
	addr string
	// minter mints every token: the first life's issuer, whose URL every
	// later life shares. Minting needs no server.
	minter *grpcjwttest.Issuer

	mu      sync.Mutex
	cur     *grpcjwttest.Issuer // nil while down
	keys    []*grpcjwttest.Key  // published, oldest first; the last one signs
	mode    string              // "serve", "500", "hang" or "down"
	past    int64               // JWKS requests of earlier lives
	byMode  map[string]int64    // JWKS requests by the mode they met
	lastReq atomic.Int64        // unix nanoseconds of the last JWKS request seen
	times   []time.Time         // when watch saw each JWKS request
	seen    int64               // requests seen by watch
}

// newIssuer starts an issuer on a free loopback port, publishing keys (the
// last one signs).
func newIssuer(keys ...*grpcjwttest.Key) (*issuer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	is := &issuer{addr: l.Addr().String(), keys: keys, byMode: make(map[string]int64)}
	is.cur = is.start(l)
	is.minter = is.cur
	is.mode = "serve"
	return is, nil
}

func (is *issuer) start(l net.Listener) *grpcjwttest.Issuer {
	opts := []grpcjwttest.Option{grpcjwttest.WithListener(l), grpcjwttest.WithAlgorithms(), grpcjwttest.WithDefaultAlgorithm(alg)}
	for _, k := range is.keys {
		opts = append(opts, grpcjwttest.WithSigningKey(k))
	}
	return grpcjwttest.NewIssuer(opts...)
}

// fetches returns the JWKS requests received by every life of the issuer.
func (is *issuer) fetches() int64 {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.fetchesLocked()
}

func (is *issuer) fetchesLocked() int64 {
	n := is.past
	if is.cur != nil {
		n += is.cur.JWKSFetches()
	}
	return n
}

// watch records, until done is closed, when JWKS requests arrive and the
// mode each one met, polling every few milliseconds.
func (is *issuer) watch(done <-chan struct{}) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		is.mu.Lock()
		is.noteLocked()
		is.mu.Unlock()
	}
}

// noteLocked records the JWKS requests that arrived since it last ran.
func (is *issuer) noteLocked() {
	n := is.fetchesLocked()
	if n == is.seen {
		return
	}
	is.byMode[is.mode] += n - is.seen
	now := time.Now()
	for ; is.seen < n; is.seen++ {
		is.times = append(is.times, now)
	}
	is.lastReq.Store(now.UnixNano())
}

// lastRequest returns when the last JWKS request was seen; zero if none.
func (is *issuer) lastRequest() time.Time {
	if n := is.lastReq.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// firstRequestSince returns when watch first saw a JWKS request at or
// after t; zero if none.
func (is *issuer) firstRequestSince(t time.Time) time.Time {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, r := range is.times {
		if !r.Before(t) {
			return r
		}
	}
	return time.Time{}
}

// setMode makes the JWKS answer normally ("serve"), 500 or hang.
func (is *issuer) setMode(mode string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	m := map[string]grpcjwttest.Mode{"serve": grpcjwttest.Serve, "500": grpcjwttest.Fail, "hang": grpcjwttest.Hang}[mode]
	if is.cur != nil {
		is.cur.SetJWKSMode(m)
		is.mode = mode
	}
}

// stop closes the issuer: connections are refused, and requests that hang
// are released.
func (is *issuer) stop() {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.cur == nil {
		return
	}
	is.noteLocked() // under the mode the requests met
	is.cur.Close()
	is.past += is.cur.JWKSFetches()
	is.cur = nil
	is.mode = "down"
}

// restart brings the issuer back at its address with its keys, serving.
func (is *issuer) restart() error {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.cur != nil {
		return nil
	}
	// The port was ours a moment ago; another process may take it, so
	// retry briefly before giving up.
	var l net.Listener
	var err error
	for range 50 {
		if l, err = net.Listen("tcp", is.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("bringing the issuer back on %s: %w", is.addr, err)
	}
	is.cur = is.start(l)
	is.mode = "serve"
	return nil
}

// rotate publishes k and makes it the signing key.
func (is *issuer) rotate(k *grpcjwttest.Key) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	if is.cur != nil {
		is.cur.Publish(k)
	}
}

// unpublish removes the key kid from the JWKS, now and in later lives.
func (is *issuer) unpublish(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = slices.DeleteFunc(is.keys, func(k *grpcjwttest.Key) bool { return k.KID == kid })
	if is.cur != nil {
		is.cur.Unpublish(kid)
	}
}

// close stops the issuer for good.
func (is *issuer) close() { is.stop() }

// requestsByMode returns the JWKS requests by the mode they met.
func (is *issuer) requestsByMode() map[string]int64 {
	is.mu.Lock()
	defer is.mu.Unlock()
	m := make(map[string]int64, len(is.byMode))
	for k, v := range is.byMode {
		m[k] = v
	}
	return m
}
