package grpcjwttest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// A key written with MarshalPrivateJWK and read back with ParsePrivateJWK
// keeps its kid, alg and use, and signs tokens its original's published
// JWK verifies.
func TestPrivateJWKRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range grpcjwttest.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			orig := grpcjwttest.MustKey(alg)
			b, err := orig.MarshalPrivateJWK()
			if err != nil {
				t.Fatal(err)
			}
			var members map[string]any
			if err := json.Unmarshal(b, &members); err != nil {
				t.Fatal(err)
			}
			if members["kid"] != orig.KID || members["alg"] != alg || members["use"] != "sig" || members["d"] == nil {
				t.Errorf("private JWK %s: want kid %s, alg %s, use sig and d", b, orig.KID, alg)
			}
			k, err := grpcjwttest.ParsePrivateJWK(b)
			if err != nil {
				t.Fatal(err)
			}
			if k.KID != orig.KID || k.Alg != alg || k.JWKAlg != alg || k.Use != "sig" || k.KeyOps != nil {
				t.Errorf("parsed key %+v, want kid %s, alg and JWKAlg %s, use sig, no key_ops", k, orig.KID, alg)
			}
			iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms(), grpcjwttest.WithSigningKey(orig))
			defer iss.Close()
			c := validate(t, newValidator(t, iss), iss.Token(map[string]any{"sub": "round-trip"}, grpcjwttest.WithKey(k)))
			if c.Subject != "round-trip" {
				t.Errorf("subject %q", c.Subject)
			}
		})
	}
}

// A JWK without kid, alg or use, as the jose tools write one, gets the
// RFC 7638 thumbprint, the alg its curve implies, and "sig".
func TestParsePrivateJWKDefaults(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := marshalJWK(t, priv)
	k, err := grpcjwttest.ParsePrivateJWK(b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// RFC 7638 §3.2: the required members in lexicographic order, no white space.
	sum := sha256.Sum256([]byte(`{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.KID != want {
		t.Errorf("kid %q, want the thumbprint %q", k.KID, want)
	}
	if k.Alg != "ES384" || k.JWKAlg != "ES384" || k.Use != "sig" {
		t.Errorf("alg %q, JWKAlg %q, use %q; want ES384, ES384, sig", k.Alg, k.JWKAlg, k.Use)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := grpcjwttest.ParsePrivateJWK(marshalJWK(t, rsaKey)); err != nil || k.Alg != "RS256" {
		t.Errorf("an RSA key without alg: %v, %v; want RS256", k, err)
	}
}

func TestParsePrivateJWKErrors(t *testing.T) {
	t.Parallel()
	ec := grpcjwttest.MustKey("ES256")
	public, err := ec.JWK()
	if err != nil {
		t.Fatal(err)
	}
	private, err := ec.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	with := func(name string, v any) []byte {
		var m map[string]any
		if err := json.Unmarshal(private, &m); err != nil {
			t.Fatal(err)
		}
		m[name] = v
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		jwk  []byte
		want string
	}{
		{"not JSON", []byte("-----BEGIN PRIVATE KEY-----"), "grpcjwttest: private JWK:"},
		{"public key", public, "kty EC, without private members"},
		{"symmetric key", []byte(`{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`), "without private members"},
		{"small RSA key", rsaJWK(small), "1024 bits"},
		{"alg for another curve", with("alg", "ES384"), `alg ES384 needs kty EC, crv "P-384"; the key has kty EC, crv "P-256"`},
		{"alg for another key type", with("alg", "RS256"), "alg RS256 needs kty RSA"},
		{"unsupported alg", with("alg", "ES256K"), `unsupported alg "ES256K"`},
		{"encryption key", with("use", "enc"), `use "enc"; a signing key has "sig"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := grpcjwttest.ParsePrivateJWK(tc.jwk)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePrivateJWK: %v, %v; want an error containing %q", k, err, tc.want)
			}
		})
	}
}

// rsaJWK writes k as a private JWK by hand, since jwk.Import refuses keys
// under 2048 bits.
func rsaJWK(k *rsa.PrivateKey) []byte {
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
	b, _ := json.Marshal(map[string]string{
		"kty": "RSA", "n": b64(k.N), "e": b64(big.NewInt(int64(k.E))), "d": b64(k.D),
		"p": b64(k.Primes[0]), "q": b64(k.Primes[1]),
		"dp": b64(k.Precomputed.Dp), "dq": b64(k.Precomputed.Dq), "qi": b64(k.Precomputed.Qinv),
	})
	return b
}

// marshalJWK returns raw as a bare private JWK, as the jose tools write one.
func marshalJWK(t *testing.T, raw any) []byte {
	t.Helper()
	j, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
