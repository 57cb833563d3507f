package grpcjwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// MarshalPrivateJWK returns the key as a JWK JSON object with its private
// members (RFC 7517, RFC 7518 §6, RFC 8037), and its kid, alg (k.Alg) and
// use (k.Use, unless empty): the form node-oidc-provider and the jose
// tools keep signing keys in. [ParsePrivateJWK] reads it back. The result
// is a secret: store it where only its owner can read it.
func (k *Key) MarshalPrivateJWK() ([]byte, error) {
	j, err := jwk.Import(k.signer)
	if err != nil {
		return nil, fmt.Errorf("grpcjwttest: private JWK: %w", err)
	}
	if err := j.Set(jwk.KeyIDKey, k.KID); err != nil {
		return nil, err
	}
	if err := j.Set(jwk.AlgorithmKey, jwa.NewSignatureAlgorithm(k.Alg)); err != nil {
		return nil, err
	}
	if k.Use != "" {
		if err := j.Set(jwk.KeyUsageKey, k.Use); err != nil {
			return nil, err
		}
	}
	return json.Marshal(j)
}

// ParsePrivateJWK returns the signing key of a JWK JSON object with
// private members, such as [Key.MarshalPrivateJWK] writes. Its kid
// defaults to the key's RFC 7638 thumbprint (SHA-256, base64url), its alg
// to the one its key type and curve imply (RS256 for RSA, ES256/384/512
// by curve, EdDSA for Ed25519), its use to "sig"; JWKAlg is the alg and
// KeyOps nil, as for [NewKey]. It returns an error for a public key, a
// symmetric one, an RSA key under 2048 bits (refused by jwx), or an alg
// that is not one of [Algorithms] or does not fit the key.
func ParsePrivateJWK(data []byte) (*Key, error) {
	j, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("grpcjwttest: private JWK: %w", err)
	}
	if private, err := jwk.IsPrivateKey(j); err != nil || !private {
		return nil, fmt.Errorf("grpcjwttest: private JWK: kty %s, without private members", j.KeyType())
	}
	var raw any
	if err := jwk.Export(j, &raw); err != nil {
		return nil, fmt.Errorf("grpcjwttest: private JWK: %w", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("grpcjwttest: private JWK: %T cannot sign", raw)
	}
	kty, crv := keyTypeOf(signer)
	alg := ""
	if a, ok := j.Algorithm(); ok {
		alg = a.String()
	} else {
		for _, a := range jose.Algorithms {
			if a.KeyType == kty && a.Curve == crv {
				alg = a.Name
				break
			}
		}
	}
	a := jose.Lookup(alg)
	switch {
	case alg == "":
		return nil, fmt.Errorf("grpcjwttest: private JWK: no algorithm for kty %s, crv %q", kty, crv)
	case a == nil:
		return nil, fmt.Errorf("grpcjwttest: private JWK: unsupported alg %q (want one of %v)", alg, Algorithms())
	case a.KeyType != kty || a.Curve != crv:
		return nil, fmt.Errorf("grpcjwttest: private JWK: alg %s needs kty %s, crv %q; the key has kty %s, crv %q", alg, a.KeyType, a.Curve, kty, crv)
	}
	kid, ok := j.KeyID()
	if !ok {
		tp, err := j.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("grpcjwttest: private JWK: thumbprint: %w", err)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	use, ok := j.KeyUsage()
	if !ok {
		use = "sig"
	}
	if use != "sig" {
		return nil, errors.New(`grpcjwttest: private JWK: use "` + use + `"; a signing key has "sig"`)
	}
	return &Key{KID: kid, Alg: alg, Use: use, JWKAlg: alg, signer: signer}, nil
}

// keyTypeOf returns the JWK kty and crv of a private key.
func keyTypeOf(s crypto.Signer) (kty, crv string) {
	if kty, crv := publicKeyType(s.Public()); kty != "" {
		return kty, crv
	}
	return fmt.Sprintf("%T", s), ""
}

// publicKeyType returns the JWK kty and crv of a public key, or "" for
// anything else (a private key among them).
func publicKeyType(pub any) (kty, crv string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", ""
	case *ecdsa.PublicKey:
		return "EC", k.Curve.Params().Name
	case ed25519.PublicKey:
		return "OKP", "Ed25519"
	}
	return "", ""
}
