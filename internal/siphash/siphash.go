// Package siphash computes SipHash-2-4 with a 128-bit output, the keyed
// pseudorandom function of Aumasson and Bernstein ("SipHash: a fast
// short-input PRF", 2012, and its 128-bit variant): without the key, its
// outputs cannot be predicted, nor two inputs found that share one, short of
// guessing the key.
//
// grpcjwt keys the answers of an introspection endpoint by it: the cache
// must not hold the opaque token, a bearer credential, and must not let one
// token be taken for another; SHA-256 would do both, at four to eight times
// the cost, on every cache hit.
package siphash

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// Key is a SipHash key.
type Key struct{ k0, k1 uint64 }

// NewKey returns the key of the 16 bytes b.
func NewKey(b [16]byte) Key {
	return Key{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// RandomKey returns a key from crypto/rand.
func RandomKey() Key {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: see crypto/rand.Read
	return NewKey(b)
}

// Sum128 returns SipHash-2-4-128 of s under k, as the reference
// implementation writes it: the two 64-bit halves, little-endian.
func (k Key) Sum128(s string) (sum [16]byte) {
	v0 := k.k0 ^ 0x736f6d6570736575
	v1 := k.k1 ^ 0x646f72616e646f6d ^ 0xee
	v2 := k.k0 ^ 0x6c7967656e657261
	v3 := k.k1 ^ 0x7465646279746573

	n := len(s)
	for ; len(s) >= 8; s = s[8:] {
		m := le64(s)
		v3 ^= m
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0 ^= m
	}
	m := uint64(n) << 56
	for i := len(s) - 1; i >= 0; i-- {
		m |= uint64(s[i]) << (8 * i)
	}
	v3 ^= m
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0 ^= m

	v2 ^= 0xee
	for range 4 {
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
	}
	binary.LittleEndian.PutUint64(sum[:8], v0^v1^v2^v3)
	v1 ^= 0xdd
	for range 4 {
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
	}
	binary.LittleEndian.PutUint64(sum[8:], v0^v1^v2^v3)
	return sum
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// round is one SipRound.
func round(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
