package grpcjwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// Algorithms returns the signature algorithms a [Key] can be made for:
// those grpcjwt verifies, from the same table.
func Algorithms() []string { return jose.Names() }

// Key is a signing key. Its exported fields say how it is published in a
// JWKS; change them before publishing the key.
type Key struct {
	KID    string   // the JWK's kid and the tokens' kid header
	Alg    string   // the algorithm tokens are signed with
	Use    string   // the JWK's "use"; "sig" by default, "" to omit
	KeyOps []string // the JWK's "key_ops"; omitted when nil
	JWKAlg string   // the JWK's "alg"; Alg by default, "" to omit

	signer crypto.Signer
}

// NewKey generates a key for alg (one of [Algorithms]) with a random kid:
// RSA 2048 bits, the curve of ES256/384/512, or Ed25519.
func NewKey(alg string) (*Key, error) {
	a := jose.Lookup(alg)
	if a == nil {
		return nil, fmt.Errorf("grpcjwttest: unsupported algorithm %q", alg)
	}
	var (
		s   crypto.Signer
		err error
	)
	switch a.Curve {
	case "":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "P-256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "P-384":
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "P-521":
		s, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "Ed25519":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	return &Key{KID: randomID(), Alg: alg, Use: "sig", JWKAlg: alg, signer: s}, nil
}

// MustKey is like [NewKey] but panics on error; for tests.
func MustKey(alg string) *Key {
	k, err := NewKey(alg)
	if err != nil {
		panic(err)
	}
	return k
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Signer returns the private key.
func (k *Key) Signer() crypto.Signer { return k.signer }

// JWK returns the public key as a JWK JSON object, as it is published.
func (k *Key) JWK() (json.RawMessage, error) {
	j, err := jwk.Import(k.signer.Public())
	if err != nil {
		return nil, err
	}
	if err := j.Set(jwk.KeyIDKey, k.KID); err != nil {
		return nil, err
	}
	if k.Use != "" {
		if err := j.Set(jwk.KeyUsageKey, k.Use); err != nil {
			return nil, err
		}
	}
	if k.JWKAlg != "" {
		if err := j.Set(jwk.AlgorithmKey, jwa.NewSignatureAlgorithm(k.JWKAlg)); err != nil {
			return nil, err
		}
	}
	if k.KeyOps != nil {
		if err := j.Set(jwk.KeyOpsKey, k.KeyOps); err != nil {
			return nil, err
		}
	}
	return json.Marshal(j)
}

// Sign returns a compact JWS of claims with the given header, signed with
// k under header["alg"] (k.Alg when the header has none). Neither map is
// checked: a test may mint any token.
func (k *Key) Sign(header, claims map[string]any) (string, error) {
	alg, _ := header["alg"].(string)
	if alg == "" {
		alg = k.Alg
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := enc(h) + "." + enc(c)
	sig, err := jwsbb.Sign(k.signer, alg, []byte(input), rand.Reader)
	if err != nil {
		return "", err
	}
	return input + "." + enc(sig), nil
}

// SignJSON returns a compact JWS of the exact header and claims bytes,
// signed with k under k.Alg. Nothing is checked or re-encoded, so a test
// can mint what no map can hold: duplicate members, odd white space, names
// that differ only in case.
func (k *Key) SignJSON(header, claims []byte) (string, error) {
	input := enc(header) + "." + enc(claims)
	sig, err := jwsbb.Sign(k.signer, k.Alg, []byte(input), rand.Reader)
	if err != nil {
		return "", err
	}
	return input + "." + enc(sig), nil
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return enc(b)
}
