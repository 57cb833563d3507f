package grpcjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header members grpcjwt reads, by their exact names.
type header struct {
	alg, kid string
	typ      *string
}

// parseHeader reads a JOSE header. Members that are present but must not be
// (crit, b64, zip, enc) refuse the token; jwk, jku, x5u and x5c are never
// read.
func parseHeader(raw []byte) (header, error) {
	var h header
	err := exactjson.Object(raw, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "alg":
			h.alg, ok = exactjson.String(value)
		case "kid":
			h.kid, ok = exactjson.String(value)
		case "typ":
			var t string
			t, ok = exactjson.String(value)
			h.typ = &t
		case "crit", "b64", "zip", "enc":
			return tokenErr(ErrUnsupportedHeader, "crit, b64, zip and enc are not supported")
		default:
			return nil
		}
		if !ok {
			return tokenErr(ErrTokenMalformed, fmt.Sprintf("header member %q has the wrong type", name))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, exactjson.ErrDuplicate) {
			return h, tokenErr(ErrDuplicateMember, "header: "+err.Error())
		}
		if _, ok := err.(*TokenError); ok {
			return h, err
		}
		return h, tokenErr(ErrTokenMalformed, "header is not a JSON object: "+err.Error())
	}
	return h, nil
}

// isBase64URL reports whether every byte of s is in the base64url alphabet
// (RFC 4648 §5). The decoder alone would skip CR and LF.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !b64Alphabet[s[i]] {
			return false
		}
	}
	return true
}

var b64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// checkHeader checks the header's alg and typ against the issuer's
// settings and returns the algorithm.
func (t *trustedIssuer) checkHeader(h header) (*jose.Algorithm, error) {
	alg := t.algs[h.alg]
	if alg == nil {
		return nil, tokenErr(ErrAlgorithmNotAllowed, fmt.Sprintf("alg %q for issuer %q", truncate(h.alg), t.name))
	}
	if !t.typAllowed(h.typ) {
		typ := "(absent)"
		if h.typ != nil {
			typ = fmt.Sprintf("%q", truncate(*h.typ))
		}
		return nil, tokenErr(ErrJWTTypeNotAllowed, "typ "+typ)
	}
	return alg, nil
}

func (t *trustedIssuer) typAllowed(typ *string) bool {
	if typ == nil {
		return !t.requireATJWT
	}
	s := *typ
	if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
		s = s[len("application/"):]
	}
	if strings.EqualFold(s, "at+jwt") {
		return true
	}
	return !t.requireATJWT && strings.EqualFold(s, "JWT")
}

// verifySignature checks sig over signingInput with pub. The caller has
// checked that the key fits alg.
func verifySignature(pub any, alg *jose.Algorithm, signingInput, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwsbb.VerifyRSA(k, signingInput, sig, alg.Hash, alg.PSS)
	case *ecdsa.PublicKey:
		return jwsbb.VerifyECDSA(k, signingInput, sig, alg.Hash)
	case ed25519.PublicKey:
		return jwsbb.VerifyEdDSA(k, signingInput, sig)
	}
	return errors.New("unsupported key type")
}
