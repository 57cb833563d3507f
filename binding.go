package grpcjwt

import (
	"crypto/sha256"
	"crypto/x509"
	"runtime"
	"sync"
	"weak"
)

// checkBinding enforces a sender-constrained token's binding on the call:
// a certificate-bound token (RFC 8705 §3) only with the client certificate
// it names, which the door took from the call's TLS connection, never from
// anything the client sends; a DPoP-bound token (RFC 9449) never as a
// bearer token. It runs on every call, cached token or not, since the
// binding belongs to the connection.
func checkBinding(c *Claims, cert *x509.Certificate, dpop bool) error {
	cnf := &c.Confirmation
	if cnf.JKT != "" && !dpop {
		return tokenErr(ErrDPoPBoundToken, "")
	}
	if cnf.X5TS256 == "" {
		return nil
	}
	if cert == nil {
		return tokenErr(ErrNoClientCertificate, "")
	}
	if certThumbprint(cert) != cnf.x5t {
		return tokenErr(ErrCertificateMismatch, "")
	}
	return nil
}

// certThumbs remembers the SHA-256 thumbprint of each client certificate
// while its connection holds it: a weak key, deleted when the certificate
// is collected, so that a call on a known connection costs a map lookup
// rather than hashing the certificate, and nothing is retained.
var certThumbs sync.Map // weak.Pointer[x509.Certificate] -> [32]byte

func certThumbprint(cert *x509.Certificate) [32]byte {
	wp := weak.Make(cert)
	if v, ok := certThumbs.Load(wp); ok {
		return v.([32]byte)
	}
	sum := sha256.Sum256(cert.Raw)
	if _, loaded := certThumbs.LoadOrStore(wp, sum); !loaded {
		runtime.AddCleanup(cert, func(wp weak.Pointer[x509.Certificate]) { certThumbs.Delete(wp) }, wp)
	}
	return sum
}
