package grpcjwt

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

// TestJWKRSASize: one rule bounds RSA keys, published or in a DPoP proof:
// 2048 to 8192 bits.
func TestJWKRSASize(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		bits int
		err  string
	}{
		{1024, "1024 bits is too small"},
		{2047, "2047 bits is too small"},
		{2048, ""},
		{4096, ""},
		{8192, ""},
		{8193, "8193 bits is too large"},
		{16384, "16384 bits is too large"},
	} {
		t.Run(fmt.Sprint(tc.bits), func(t *testing.T) {
			n := new(big.Int).Lsh(big.NewInt(1), uint(tc.bits-1))
			n.SetBit(n, 0, 1)
			jwk := fmt.Sprintf(`{"kty":"RSA","kid":"k","e":"AQAB","n":%q}`, base64.RawURLEncoding.EncodeToString(n.Bytes()))
			_, _, err := jwkKey([]byte(jwk)) // a DPoP proof's key
			keys, setErr := parseJWKS([]byte(`{"keys":[`+jwk+`]}`), discard)
			if tc.err == "" {
				if err != nil || setErr != nil || len(keys) != 1 {
					t.Fatalf("refused: jwk %v; JWKS %d keys, %v", err, len(keys), setErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("jwk: %v, want %q", err, tc.err)
			}
			if setErr == nil {
				t.Fatalf("a JWKS of one %d-bit key was accepted", tc.bits)
			}
		})
	}
}
