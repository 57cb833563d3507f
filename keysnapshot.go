package grpcjwt

import (
	"bytes"
	"sync/atomic"

	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// verifyKey is one usable public key from the provider's JWKS.
type verifyKey struct {
	kid string
	alg *jose.Algorithm // the JWK's "alg"; nil when the JWK has none
	kty string          // "RSA", "EC" or "OKP"
	crv string          // the curve; "" for RSA
	pub any             // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	raw []byte          // the JWK as published, compacted; identifies the key across refreshes
	set *keySet         // the issuer's key set it belongs to

	// removed is set when a refresh no longer finds this key upstream, so
	// that cached verifications made with it stop counting.
	removed atomic.Bool
}

// dropped reports whether k is a key that upstream no longer publishes;
// false for nil, the key of no key (an introspected token's).
func (k *verifyKey) dropped() bool { return k != nil && k.removed.Load() }

// fits reports whether the key may verify a token signed with alg: the JWK's
// own alg, when present, must be it, and the key type and curve must be
// alg's in any case.
func (k *verifyKey) fits(alg *jose.Algorithm) bool {
	if k.alg != nil && k.alg != alg {
		return false
	}
	return k.kty == alg.KeyType && k.crv == alg.Curve
}

// keySnapshot is an immutable view of the provider's keys. Lookups read it
// without locks; a refresh replaces it whole.
type keySnapshot struct {
	byKID map[string][]*verifyKey
	keys  []*verifyKey
}

// find returns the key for kid that fits alg. A token without kid is
// verified only when exactly one key fits its alg.
func (s *keySnapshot) find(kid string, alg *jose.Algorithm) *verifyKey {
	if kid != "" {
		for _, k := range s.byKID[kid] {
			if k.fits(alg) {
				return k
			}
		}
		return nil
	}
	var found *verifyKey
	for _, k := range s.keys {
		if k.fits(alg) {
			if found != nil {
				return nil // ambiguous
			}
			found = k
		}
	}
	return found
}

// fitsAny reports whether any key fits alg, whatever its kid.
func (s *keySnapshot) fitsAny(alg *jose.Algorithm) bool {
	for _, k := range s.keys {
		if k.fits(alg) {
			return true
		}
	}
	return false
}

// carryOver keeps the identity of keys that did not change, so verified
// tokens cached against them stay valid, and marks the keys that went away.
func carryOver(old, next *keySnapshot) *keySnapshot {
	kept := make(map[*verifyKey]bool)
	for i, k := range next.keys {
		for _, o := range old.byKID[k.kid] {
			if bytes.Equal(o.raw, k.raw) {
				next.keys[i] = o
				kept[o] = true
				break
			}
		}
	}
	for _, o := range old.keys {
		if !kept[o] {
			o.removed.Store(true)
		}
	}
	return indexKeys(next.keys)
}

func indexKeys(keys []*verifyKey) *keySnapshot {
	s := &keySnapshot{byKID: make(map[string][]*verifyKey, len(keys)), keys: keys}
	for _, k := range keys {
		s.byKID[k.kid] = append(s.byKID[k.kid], k)
	}
	return s
}
