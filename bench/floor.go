package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// floorClaims is the struct the floor decodes the claims into: the fields
// of [TokenClaims].
type floorClaims struct {
	Iss      string       `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      stringOrList `json:"aud"`
	Exp      int64        `json:"exp"`
	Nbf      int64        `json:"nbf"`
	Iat      int64        `json:"iat"`
	Jti      string       `json:"jti"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
	OrgID    string       `json:"org_id"`
	Roles    []string     `json:"roles"`
}

// stringOrList is "aud", which a token may send as a string or an array.
type stringOrList []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *stringOrList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

var b64 = base64.RawURLEncoding

// Floor returns the floor verifier for alg with pub: the physical floor
// ([PhysicalFloor]), then the claims decoded with encoding/json and iss,
// aud, exp and nbf compared. It skips what a complete verifier cannot:
// parsing the header and choosing the key by kid and alg. A verifier with a
// JSON reader cheaper than encoding/json's can beat it; none can beat the
// physical floor.
func Floor(alg string, pub crypto.PublicKey, issuer, audience string) (Verifier, error) {
	check, err := signatureCheck(alg, pub)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, token string) (string, error) {
		payload, err := verifySignature(check, token)
		if err != nil {
			return "", err
		}
		var c floorClaims
		if err := json.Unmarshal(payload, &c); err != nil {
			return "", err
		}
		now, leeway := time.Now().Unix(), int64(Leeway/time.Second)
		if c.Iss != issuer || !contains(c.Aud, audience) || now > c.Exp+leeway || c.Nbf > now+leeway {
			return "", errors.New("iss, aud, exp or nbf refused")
		}
		return c.Sub, nil
	}, nil
}

// PhysicalFloor returns the physical floor for alg with pub: split the
// token, base64url-decode the payload and the signature, hash the signing
// input with SHA-256 and verify the signature (rsa.VerifyPKCS1v15,
// ecdsa.Verify, or ed25519.Verify, which hashes by itself), and nothing
// else: no JSON at all, so no claim is read or checked. It is what no
// verifier can do without; it returns no subject, and accepts an expired
// or misaddressed token as long as its signature holds.
func PhysicalFloor(alg string, pub crypto.PublicKey) (Verifier, error) {
	check, err := signatureCheck(alg, pub)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, token string) (string, error) {
		_, err := verifySignature(check, token)
		return "", err
	}, nil
}

// verifySignature splits token, decodes its payload and signature and
// checks the signature over the signing input with check. It returns the
// decoded payload.
func verifySignature(check func(signingInput string, sig []byte) error, token string) ([]byte, error) {
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot1 == dot2 {
		return nil, errors.New("not a compact JWS")
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, err
	}
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, err
	}
	if err := check(token[:dot2], sig); err != nil {
		return nil, err
	}
	return payload, nil
}

// signatureCheck returns the signature check of alg with pub, with the
// standard library: SHA-256 and rsa.VerifyPKCS1v15, ecdsa.Verify, or
// ed25519.Verify.
func signatureCheck(alg string, pub crypto.PublicKey) (func(signingInput string, sig []byte) error, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg != "RS256" {
			return nil, fmt.Errorf("floor: %s with an RSA key", alg)
		}
		return func(in string, sig []byte) error {
			h := sha256.Sum256([]byte(in))
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig)
		}, nil
	case *ecdsa.PublicKey:
		if alg != "ES256" {
			return nil, fmt.Errorf("floor: %s with an ECDSA key", alg)
		}
		return func(in string, sig []byte) error {
			if len(sig) != 64 {
				return errors.New("bad ES256 signature length")
			}
			h := sha256.Sum256([]byte(in))
			r := new(big.Int).SetBytes(sig[:32])
			s := new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(k, h[:], r, s) {
				return errors.New("bad signature")
			}
			return nil
		}, nil
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return nil, fmt.Errorf("floor: %s with an Ed25519 key", alg)
		}
		return func(in string, sig []byte) error {
			if !ed25519.Verify(k, []byte(in), sig) {
				return errors.New("bad signature")
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("floor: unsupported key type %T", pub)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
