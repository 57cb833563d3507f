package grpcjwt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the server's side of DPoP nonces (RFC 9449 §9): nonces it
// issues and requires in every proof, made and checked without any state
// but a secret that every replica shares.

// DPoPNonceConfig makes the server require, in every DPoP proof, a nonce it
// issued (RFC 9449 §9; see [DPoPConfig.Nonce]). A proof without one, or
// with one that is expired, malformed or not this server's, is refused
// with Unauthenticated "use_dpop_nonce" ([ErrUseDPoPNonce]), and the
// answer carries a nonce that will do ([Policy.DPoPNonce]).
//
// Nonces are stateless: a nonce is the instant it was issued, authenticated
// with HMAC-SHA256 under a secret, so that any replica with the secret
// checks a nonce any other issued, and none remembers one.
type DPoPNonceConfig struct {
	// Secrets authenticate the nonces: the first signs the nonces the
	// server issues, and a nonce signed by any of them is accepted, so that
	// a secret is rotated without refusing the nonces made with the one
	// before (docs/sender-constrained.md). Each is at least 32 bytes,
	// random, the same on every replica, and used for nothing else.
	// Required; [NewPolicy] keeps copies.
	Secrets [][]byte

	// Lifetime (N) is how long a nonce is accepted: from N before the
	// instant it was issued until N after it, that instant excluded, on the
	// clock of the server that checks it ([Config.Now]). The server hands
	// out one nonce at a time, the same to every client, and a new one
	// every N/4 (in whole seconds), so that a nonce has at least 3N/4
	// ahead of it when a client receives it. Zero takes the default,
	// [DefaultDPoPNonceLifetime]; any other value must be at least 4
	// seconds.
	Lifetime time.Duration
}

// DefaultDPoPNonceLifetime is the default [DPoPNonceConfig.Lifetime].
const DefaultDPoPNonceLifetime = 5 * time.Minute

// DPoPNonceHeader is the response header field that carries a DPoP nonce
// over HTTP (RFC 9449 §8), and, lowercased ("dpop-nonce"), the response
// header metadata key that carries it over gRPC.
const DPoPNonceHeader = "DPoP-Nonce"

// dpopNonceKey is DPoPNonceHeader as a gRPC metadata key.
const dpopNonceKey = "dpop-nonce"

// minNonceSecret is the least number of bytes of a secret: the size of the
// MAC, whose strength a shorter key would lower.
const minNonceSecret = 32

// A nonce is nonceLen bytes, base64url without padding (encodedNonceLen
// characters): the version byte, the instant it was issued (big-endian
// Unix seconds), and the HMAC-SHA256 of those two under a secret.
const (
	nonceVersion    = 1
	nonceSignedLen  = 1 + 8
	nonceLen        = nonceSignedLen + sha256.Size
	encodedNonceLen = (nonceLen*8 + 5) / 6
)

// nonceEncoding is base64url without padding, strict: a nonce has one
// encoding only.
var nonceEncoding = base64.RawURLEncoding.Strict()

// dpopNonces issues and checks the nonces of one policy.
type dpopNonces struct {
	keys     []*nonceKey // keys[0] signs
	lifetime time.Duration
	step     int64 // seconds between two nonces issued
	now      func() time.Time

	current atomic.Pointer[issuedNonce] // the last nonce issued
}

// issuedNonce is a nonce and the instant it was issued, in Unix seconds.
type issuedNonce struct {
	issued int64
	value  string
}

// newDPoPNonces checks c and returns its nonces, on the clock now.
func newDPoPNonces(c *DPoPNonceConfig, now func() time.Time) (*dpopNonces, error) {
	if len(c.Secrets) == 0 {
		return nil, errors.New("grpcjwt: WithDPoP: Nonce: no Secrets")
	}
	n := &dpopNonces{lifetime: c.Lifetime, now: now}
	for i, s := range c.Secrets {
		if len(s) < minNonceSecret {
			return nil, fmt.Errorf("grpcjwt: WithDPoP: Nonce: Secrets[%d] has %d bytes, want at least %d", i, len(s), minNonceSecret)
		}
		n.keys = append(n.keys, newNonceKey(s))
	}
	if n.lifetime == 0 {
		n.lifetime = DefaultDPoPNonceLifetime
	}
	if n.lifetime < 4*time.Second {
		return nil, fmt.Errorf("grpcjwt: WithDPoP: Nonce: Lifetime %s, want at least 4s", c.Lifetime)
	}
	n.step = int64(n.lifetime / 4 / time.Second)
	return n, nil
}

// issue returns the nonce the server hands out now: the one issued at the
// start of the current step of N/4, made with the first secret. It is made
// once a step and kept; every replica with the same first secret and a
// clock that agrees makes the same one.
func (n *dpopNonces) issue() string {
	s := n.now().Unix()
	issued := s - s%n.step
	if s%n.step < 0 {
		issued -= n.step // floor, for a clock before 1970
	}
	if c := n.current.Load(); c != nil && c.issued == issued {
		return c.value
	}
	var b [nonceLen]byte
	b[0] = nonceVersion
	binary.BigEndian.PutUint64(b[1:nonceSignedLen], uint64(issued))
	n.keys[0].sign(b[nonceSignedLen:], b[:nonceSignedLen])
	c := &issuedNonce{issued: issued, value: nonceEncoding.EncodeToString(b[:])}
	n.current.Store(c) // a race stores one of two equal values
	return c.value
}

// check returns nil when nonce, a proof's nonce claim (empty when it has
// none), is one of the server's, unexpired, or else why not, an error
// matching [ErrUseDPoPNonce]. Its cost is bounded whatever the client
// sends: a nonce of any other length than the server's is refused unread,
// and one of that length costs a base64url decoding into a fixed array and
// an HMAC per secret at most. It allocates only to describe a refusal.
func (n *dpopNonces) check(nonce []byte) error {
	if len(nonce) == 0 {
		return nonceErr("the proof has no nonce")
	}
	if len(nonce) != encodedNonceLen {
		return nonceErr("a nonce of %d bytes, not one this server issues", len(nonce))
	}
	var b [nonceLen]byte
	if k, err := nonceEncoding.Decode(b[:], nonce); err != nil || k != nonceLen || b[0] != nonceVersion {
		return nonceErr("a nonce %q this server does not issue", truncate(string(nonce)))
	}
	var mac [sha256.Size]byte
	signed := false
	for _, k := range n.keys {
		k.sign(mac[:], b[:nonceSignedLen])
		if hmac.Equal(mac[:], b[nonceSignedLen:]) {
			signed = true
			break
		}
	}
	if !signed {
		return nonceErr("a nonce signed by none of the Secrets: another server's, or made with a secret no longer in Secrets")
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[1:nonceSignedLen])), 0)
	switch now := n.now(); {
	case !now.Before(issued.Add(n.lifetime)):
		return nonceErr("a nonce issued at %s, expired %s after it", issued.UTC().Format(time.RFC3339), n.lifetime)
	case issued.After(now.Add(n.lifetime)):
		return nonceErr("a nonce issued at %s, more than %s ahead of now", issued.UTC().Format(time.RFC3339), n.lifetime)
	}
	return nil
}

func nonceErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUseDPoPNonce}, args...)...)
}

// nonceKey is one secret's HMAC-SHA256, kept keyed in a pool, so that
// neither signing nor checking a nonce allocates.
type nonceKey struct {
	pool sync.Pool // of *nonceMAC
}

// nonceMAC is an HMAC-SHA256 under one secret, and room for what it reads
// and writes, which would otherwise escape to the heap through its
// interface.
type nonceMAC struct {
	h   hash.Hash
	in  [nonceSignedLen]byte
	sum [sha256.Size]byte
}

func newNonceKey(secret []byte) *nonceKey {
	secret = append([]byte(nil), secret...) // the caller's slice may change
	k := &nonceKey{}
	k.pool.New = func() any { return &nonceMAC{h: hmac.New(sha256.New, secret)} }
	return k
}

// sign writes the MAC of signed into mac.
func (k *nonceKey) sign(mac []byte, signed []byte) {
	m := k.pool.Get().(*nonceMAC)
	m.h.Reset()
	copy(m.in[:], signed)
	m.h.Write(m.in[:])
	copy(mac, m.h.Sum(m.sum[:0]))
	k.pool.Put(m)
}

// DPoPNonce returns the nonce a door sends with its answer to call, in the
// DPoP-Nonce response header field over HTTP or the "dpop-nonce" response
// header metadata over gRPC ([DPoPNonceHeader]), or "" for none. With
// nonces on ([DPoPConfig.Nonce]) it is the server's current nonce for
// every call whose authorization scheme is DPoP, admitted or refused: a
// client retries a call refused with "use_dpop_nonce" with it, and keeps
// up with the server's nonce through its successful calls, which are never
// refused for their nonce as long as the client calls at least once every
// 3/4 of the nonce lifetime. With nonces off, and for any other call, it is
// "". It allocates nothing but the nonce it makes once every quarter of the
// lifetime.
func (p *Policy) DPoPNonce(call *Call) string {
	if p.dpop == nil || p.dpop.nonces == nil || len(call.Authorization) != 1 || !hasScheme(call.Authorization[0], "DPoP") {
		return ""
	}
	return p.dpop.nonces.issue()
}
