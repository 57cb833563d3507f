package grpcjwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// RSA keys, published or in a DPoP proof, have moduli of minRSABits to
// maxRSABits. The maximum is crypto/tls's for certificate keys: verifying
// with an RSA key costs about the square of its size, and a 16,384-bit key
// would cost some 16 ms of CPU a signature.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// parseJWKS parses a JWK Set, skipping (and logging) keys that cannot or
// must not verify signatures, a JWK with a duplicate member among them. A
// set with no usable key is an error, and so is a set that is not one JSON
// object with a single "keys" array: the envelope's member names are
// checked at its own level, each JWK's by [parseJWK].
func parseJWKS(body []byte, log *slog.Logger) ([]*verifyKey, error) {
	var list []byte
	err := exactjson.OuterObject(body, func(name, value []byte) error {
		if string(name) == "keys" {
			list = value
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	var keys []*verifyKey
	n := 0
	isArray, err := exactjson.Array(list, func(raw []byte) error {
		k, err := parseJWK(raw)
		if err != nil {
			log.Debug("grpcjwt: skipping JWK", "index", n, "reason", err)
		} else {
			keys = append(keys, k)
		}
		n++
		return nil
	})
	if !isArray {
		return nil, errors.New(`not a JWK Set: no "keys" array`)
	}
	if err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing key among %d", n)
	}
	return keys, nil
}

// jwkMembers are the members of a JWK that grpcjwt reads, by exact name.
type jwkMembers struct {
	kty, kid, use, alg, crv string
	n, e, x, y              []byte // base64url, still encoded
	keyOps                  []string
	hasKeyOps, private      bool
}

// parseJWK builds a verification key from one JWK of a set. Keys marked for
// encryption, without "verify" among their key_ops, with an algorithm or
// curve grpcjwt does not verify, with private members, RSA keys under 2048
// or over 8192 bits, and JWKs with a duplicate member are refused.
func parseJWK(raw []byte) (*verifyKey, error) {
	k, _, err := jwkKey(raw)
	if err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	k.raw = compact.Bytes()
	return k, nil
}

// jwkKey reads a public JWK by exact member names and makes its key, with
// the checks [parseJWK] describes, but not its raw form.
func jwkKey(raw []byte) (*verifyKey, *jwkMembers, error) {
	m := new(jwkMembers)
	err := exactjson.Object(raw, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "kty":
			m.kty, ok = exactjson.String(value)
		case "kid":
			m.kid, ok = exactjson.String(value)
		case "use":
			m.use, ok = exactjson.String(value)
		case "alg":
			m.alg, ok = exactjson.String(value)
		case "crv":
			m.crv, ok = exactjson.String(value)
		case "n":
			m.n, ok = exactjson.StringBytes(value)
		case "e":
			m.e, ok = exactjson.StringBytes(value)
		case "x":
			m.x, ok = exactjson.StringBytes(value)
		case "y":
			m.y, ok = exactjson.StringBytes(value)
		case "key_ops":
			m.hasKeyOps = true
			m.keyOps, ok = stringOrStrings(value)
			ok = ok && value[0] == '['
		case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
			m.private = true
			return nil
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("member %q has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	kid := truncate(m.kid)
	switch {
	case m.private:
		return nil, nil, fmt.Errorf("kid %q: has private key members", kid)
	case m.use != "" && m.use != "sig":
		return nil, nil, fmt.Errorf("kid %q: use is %q", kid, truncate(m.use))
	case m.hasKeyOps && !slices.Contains(m.keyOps, "verify"):
		return nil, nil, fmt.Errorf("kid %q: key_ops lack verify", kid)
	}
	var alg *jose.Algorithm
	if m.alg != "" {
		if alg = jose.Lookup(m.alg); alg == nil {
			return nil, nil, fmt.Errorf("kid %q: alg %q is not a supported signature algorithm", kid, truncate(m.alg))
		}
	}
	pub, err := m.publicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("kid %q: %w", kid, err)
	}
	if alg != nil && (alg.KeyType != m.kty || (alg.Curve != "" && alg.Curve != m.crv)) {
		return nil, nil, fmt.Errorf("kid %q: alg %s does not fit a %s %s key", kid, alg.Name, m.kty, m.crv)
	}
	crv := m.crv
	if m.kty == "RSA" {
		crv = "" // meaningless for RSA, whatever the JWK says
	}
	return &verifyKey{kid: m.kid, alg: alg, kty: m.kty, crv: crv, pub: pub}, m, nil
}

// thumbprint is the RFC 7638 thumbprint of the key m describes, which
// publicKey has accepted: the SHA-256 of its required members in
// lexicographic order, without white space. Their values are base64url or
// known names, so they need no escaping.
func (m *jwkMembers) thumbprint() string {
	b := make([]byte, 0, 64+len(m.n)+len(m.e)+len(m.x)+len(m.y))
	switch m.kty {
	case "RSA":
		b = append(b, `{"e":"`...)
		b = append(b, m.e...)
		b = append(b, `","kty":"RSA","n":"`...)
		b = append(b, m.n...)
	case "EC":
		b = append(b, `{"crv":"`...)
		b = append(b, m.crv...)
		b = append(b, `","kty":"EC","x":"`...)
		b = append(b, m.x...)
		b = append(b, `","y":"`...)
		b = append(b, m.y...)
	case "OKP":
		b = append(b, `{"crv":"`...)
		b = append(b, m.crv...)
		b = append(b, `","kty":"OKP","x":"`...)
		b = append(b, m.x...)
	}
	b = append(b, `"}`...)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// publicKey decodes the key material of m.
func (m *jwkMembers) publicKey() (any, error) {
	switch m.kty {
	case "RSA":
		n, err1 := jose.DecodeBase64URL(string(m.n))
		e, err2 := jose.DecodeBase64URL(string(m.e))
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA n or e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		switch bits := pub.N.BitLen(); {
		case bits < minRSABits:
			return nil, fmt.Errorf("RSA key of %d bits is too small", bits)
		case bits > maxRSABits:
			return nil, fmt.Errorf("RSA key of %d bits is too large", bits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, fmt.Errorf("RSA exponent %d", pub.E)
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		switch m.crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", truncate(m.crv))
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := jose.DecodeBase64URL(string(m.x))
		y, err2 := jose.DecodeBase64URL(string(m.y))
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC x or y")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		return pub, nil
	case "OKP":
		if m.crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported curve %q", truncate(m.crv))
		}
		x, err := jose.DecodeBase64URL(string(m.x))
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 x")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("key type %q cannot verify signatures", truncate(m.kty))
}
