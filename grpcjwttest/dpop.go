package grpcjwttest

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// dpopProofLifetime is how far a token request's DPoP proof iat may be
// from now, either way, and how long its jti is remembered.
const dpopProofLifetime = time.Minute

// dpopProofs checks the DPoP proofs of token requests (RFC 9449 §4.3) and
// remembers the ones it accepted, so that each is accepted once.
type dpopProofs struct {
	mu   sync.Mutex
	seen map[string]time.Time // jkt+" "+jti -> when it may be forgotten
}

// check verifies proof for a request to htu with method htm, at now, and
// returns the RFC 7638 thumbprint of its key: the jkt of the token to
// issue. The proof must be a compact JWS with typ dpop+jwt, an asymmetric
// alg of [Algorithms], and a public jwk that fits alg and verifies the
// signature; its claims must have a jti not seen before, htm and htu as
// given, and an iat within a minute of now.
func (d *dpopProofs) check(proof, htm, htu string, now time.Time) (string, error) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return "", fmt.Errorf("part %d is not base64url", i+1)
		}
		raw[i] = b
	}
	var h struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(raw[0], &h); err != nil {
		return "", fmt.Errorf("header: %w", err)
	}
	if !strings.EqualFold(h.Typ, "dpop+jwt") {
		return "", fmt.Errorf("typ %q, want dpop+jwt", h.Typ)
	}
	alg := jose.Lookup(h.Alg)
	if alg == nil {
		return "", fmt.Errorf("alg %q is not one of %v", h.Alg, Algorithms())
	}
	if len(h.JWK) == 0 {
		return "", errors.New("no jwk in the header")
	}
	key, err := jwk.ParseKey(h.JWK)
	if err != nil {
		return "", fmt.Errorf("jwk: %w", err)
	}
	var pub any
	if err := jwk.Export(key, &pub); err != nil {
		return "", fmt.Errorf("jwk: %w", err)
	}
	kty, crv := publicKeyType(pub)
	if kty == "" {
		return "", fmt.Errorf("jwk: %T is not a public key", pub)
	}
	if kty != alg.KeyType || crv != alg.Curve {
		return "", fmt.Errorf("jwk of kty %s, crv %q does not fit alg %s", kty, crv, alg.Name)
	}
	input := proof[:len(parts[0])+1+len(parts[1])]
	if err := jwsbb.Verify(pub, alg.Name, []byte(input), raw[2]); err != nil {
		return "", errors.New("the signature does not verify with the jwk")
	}

	var c struct {
		JTI string   `json:"jti"`
		HTM string   `json:"htm"`
		HTU string   `json:"htu"`
		IAT *float64 `json:"iat"`
	}
	if err := json.Unmarshal(raw[1], &c); err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	switch {
	case c.JTI == "":
		return "", errors.New("no jti")
	case c.HTM != htm:
		return "", fmt.Errorf("htm %q, want %q", c.HTM, htm)
	case c.HTU != htu:
		return "", fmt.Errorf("htu %q, want %q", c.HTU, htu)
	case c.IAT == nil:
		return "", errors.New("no iat")
	}
	iat := time.Unix(0, int64(*c.IAT*1e9))
	if iat.Before(now.Add(-dpopProofLifetime)) || iat.After(now.Add(dpopProofLifetime)) {
		return "", fmt.Errorf("iat %s is not within %s of now", iat.UTC().Format(time.RFC3339), dpopProofLifetime)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	if !d.firstUse(jkt+" "+c.JTI, now) {
		return "", fmt.Errorf("jti %q was used before", c.JTI)
	}
	return jkt, nil
}

// firstUse records key and reports whether it was not already recorded,
// forgetting the keys whose proofs are too old to be accepted anyway.
func (d *dpopProofs) firstUse(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, forget := range d.seen {
		if now.After(forget) {
			delete(d.seen, k)
		}
	}
	if _, ok := d.seen[key]; ok {
		return false
	}
	if d.seen == nil {
		d.seen = make(map[string]time.Time)
	}
	d.seen[key] = now.Add(2 * dpopProofLifetime)
	return true
}
