package siphash

import (
	"encoding/hex"
	"testing"
)

// TestVectors checks Sum128 against the reference implementation's vectors
// for SipHash-2-4-128: key 00 01 … 0f, input the first n bytes of
// 00 01 02 …, at the lengths around its 8-byte blocks.
func TestVectors(t *testing.T) {
	var kb [16]byte
	in := make([]byte, 64)
	for i := range kb {
		kb[i] = byte(i)
	}
	for i := range in {
		in[i] = byte(i)
	}
	k := NewKey(kb)
	for n, want := range map[int]string{
		0:  "a3817f04ba25a8e66df67214c7550293",
		1:  "da87c1d86b99af44347659119b22fc45",
		7:  "a1f1ebbed8dbc153c0b84aa61ff08239",
		8:  "3b62a9ba6258f5610f83e264f31497b4",
		15: "5493e99933b0a8117e08ec0f97cfc3d9",
		16: "6ee2a4ca67b054bbfd3315bf85230577",
		17: "473d06e8738db89854c066c47ae47740",
		31: "2939b0183223fafc1723de4f52c43d35",
		32: "7c3956ca5eeafc3e363e9d556546eb68",
		63: "5150d1772f50834a503e069a973fbd7c",
	} {
		sum := k.Sum128(string(in[:n]))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%d bytes: %s, want %s", n, got, want)
		}
	}
}

// TestRandomKey checks that two random keys differ, and so do their sums.
func TestRandomKey(t *testing.T) {
	a, b := RandomKey(), RandomKey()
	if a == b || a.Sum128("token") == b.Sum128("token") {
		t.Fatal("two random keys gave the same sums")
	}
	if x, y := a.Sum128("token"), a.Sum128("token"); x != y || x == a.Sum128("tokeN") {
		t.Fatal("Sum128 is not a function of its input")
	}
}

func BenchmarkSum128(b *testing.B) {
	k := RandomKey()
	token := "Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd1"
	for b.Loop() {
		_ = k.Sum128(token)
	}
}
