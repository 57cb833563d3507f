// Package jose reads JOSE objects strictly, for grpcjwt's access tokens
// and DPoP proofs alike: one compact JWS reader ([Split], [JWS.Header]),
// whose headers differ by kind only as data ([Profile], [Types]); and the
// one table of JWS signature algorithms that grpcjwt verifies and
// grpcjwttest signs with (RFC 7518 §3, RFC 8037).
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// Algorithm is one asymmetric JWS algorithm: the JWK key type and curve it
// needs, its hash and, for RSA, its padding.
type Algorithm struct {
	Name    string      // the JWS "alg": "RS256", "ES384", "EdDSA", ...
	KeyType string      // the JWK "kty": "RSA", "EC" or "OKP"
	Curve   string      // the JWK "crv": "P-256", "P-384", "P-521", "Ed25519"; "" for RSA
	Hash    crypto.Hash // the digest signed; 0 for EdDSA, which hashes by itself
	PSS     bool        // RSASSA-PSS rather than RSASSA-PKCS1-v1_5
}

// Algorithms is every algorithm grpcjwt can verify, in the order they are
// listed to users. "none" and the HMAC algorithms are absent on purpose:
// they can never be enabled.
var Algorithms = [...]Algorithm{
	{Name: "RS256", KeyType: "RSA", Hash: crypto.SHA256},
	{Name: "RS384", KeyType: "RSA", Hash: crypto.SHA384},
	{Name: "RS512", KeyType: "RSA", Hash: crypto.SHA512},
	{Name: "PS256", KeyType: "RSA", Hash: crypto.SHA256, PSS: true},
	{Name: "PS384", KeyType: "RSA", Hash: crypto.SHA384, PSS: true},
	{Name: "PS512", KeyType: "RSA", Hash: crypto.SHA512, PSS: true},
	{Name: "ES256", KeyType: "EC", Curve: "P-256", Hash: crypto.SHA256},
	{Name: "ES384", KeyType: "EC", Curve: "P-384", Hash: crypto.SHA384},
	{Name: "ES512", KeyType: "EC", Curve: "P-521", Hash: crypto.SHA512},
	{Name: "EdDSA", KeyType: "OKP", Curve: "Ed25519"},
}

// Lookup returns the algorithm called name exactly, or nil.
func Lookup(name string) *Algorithm {
	for i := range Algorithms {
		if Algorithms[i].Name == name {
			return &Algorithms[i]
		}
	}
	return nil
}

// Names returns the names of [Algorithms], in a new slice.
func Names() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = a.Name
	}
	return out
}

// Verify checks sig, a JWS signature of algorithm a, over signingInput
// with pub (an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey). The
// caller has checked that the key fits a: its type, and its curve.
func (a *Algorithm) Verify(pub crypto.PublicKey, signingInput, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwsbb.VerifyRSA(k, signingInput, sig, a.Hash, a.PSS)
	case *ecdsa.PublicKey:
		return jwsbb.VerifyECDSA(k, signingInput, sig, a.Hash)
	case ed25519.PublicKey:
		return jwsbb.VerifyEdDSA(k, signingInput, sig)
	}
	return errors.New("unsupported key type")
}
