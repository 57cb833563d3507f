package grpcjwt

import "testing"

// TestJWKThumbprint checks the RFC 7638 thumbprint against the RFC's own
// example (§3.1), with members in another order and ones that do not count.
func TestJWKThumbprint(t *testing.T) {
	const jwk = `{"e":"AQAB","kid":"2011-04-29","kty":"RSA","alg":"RS256","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	_, m, err := jwkKey([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint %s, want %s (RFC 7638 §3.1)", got, want)
	}
}
