package grpcjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"google.golang.org/grpc/credentials"
)

// DPoPCredentials is the client side of grpcjwt's DPoP profile: a
// [credentials.PerRPCCredentials] that sends "authorization: DPoP <token>"
// and a fresh proof, signed with its key, for every call. Use it with
// grpc.WithPerRPCCredentials. A server that requires nonces of its own in
// proofs (RFC 9449 §9) also needs its interceptors on the connection
// ([DPoPCredentials.UnaryClientInterceptor],
// [DPoPCredentials.StreamClientInterceptor]), which learn the nonces; the
// proofs then carry the last nonce learned. It is safe for concurrent use.
type DPoPCredentials struct {
	key   crypto.Signer
	alg   *jose.Algorithm
	jwk   json.RawMessage
	thumb string
	token func(ctx context.Context) (string, error)
	now   func() time.Time

	// nonce is the last DPoP nonce a server sent, for the next proofs; set
	// by the client interceptors (dpopnonceclient.go).
	nonce atomic.Pointer[string]
}

// NewDPoPCredentials returns credentials that sign proofs with key under
// alg (an asymmetric JWS algorithm that fits the key) and get the access
// token from token, called for every call (cache it there). The token must
// be bound to key: ask the token endpoint for one with a DPoP proof of
// this key (see [DPoPCredentials.Proof] and [DPoPCredentials.Thumbprint]).
func NewDPoPCredentials(key crypto.Signer, alg string, token func(ctx context.Context) (string, error)) (*DPoPCredentials, error) {
	a := jose.Lookup(alg)
	if a == nil {
		return nil, fmt.Errorf("grpcjwt: %q is not an asymmetric JWS algorithm", alg)
	}
	switch key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("grpcjwt: a DPoP key of type %T", key.Public())
	}
	pub, err := jwk.Import(key.Public())
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(pub)
	if err != nil {
		return nil, err
	}
	k, m, err := jwkKey(raw)
	if err != nil || !k.fits(a) {
		return nil, fmt.Errorf("grpcjwt: the key does not fit %s", alg)
	}
	thumb := m.thumbprint()
	return &DPoPCredentials{key: key, alg: a, jwk: raw, thumb: thumb, token: token, now: time.Now}, nil
}

// Thumbprint is the RFC 7638 thumbprint of the key: the cnf jkt of tokens
// bound to it.
func (d *DPoPCredentials) Thumbprint() string { return d.thumb }

// Proof returns a DPoP proof for an HTTP request (htm, htu), for a token
// endpoint say, or for a gRPC call with the htu of grpcjwt's profile.
// accessToken, when not empty, is bound in ath. The proof carries no nonce
// (see [DPoPCredentials.ProofWithNonce]).
func (d *DPoPCredentials) Proof(htm, htu, accessToken string) (string, error) {
	return d.ProofWithNonce(htm, htu, accessToken, "")
}

// ProofWithNonce is [DPoPCredentials.Proof] with the nonce claim set to
// nonce, when not empty: the DPoP-Nonce a server sent (RFC 9449 §8, §9),
// which is good at that server only.
func (d *DPoPCredentials) ProofWithNonce(htm, htu, accessToken, nonce string) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": htm, "htu": htu, "iat": d.now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	h, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": d.alg.Name, "jwk": d.jwk})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jwsbb.Sign(d.key, d.alg.Name, []byte(input), rand.Reader)
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// GetRequestMetadata gets the token and signs a proof for this call: htm
// POST, htu from the connection's security, the authority and the full
// method, and the last nonce the client interceptors learned, if any.
func (d *DPoPCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || len(uri) == 0 {
		return nil, errors.New("grpcjwt: DPoP credentials need the call's method and URI")
	}
	u, err := url.Parse(uri[0])
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if ri.AuthInfo != nil && ri.AuthInfo.AuthType() == "tls" {
		scheme = "https://"
	}
	token, err := d.token(ctx)
	if err != nil {
		return nil, err
	}
	var nonce string
	if n := d.nonce.Load(); n != nil {
		nonce = *n
	}
	proof, err := d.ProofWithNonce("POST", htuOf(scheme, u.Host, ri.Method), token, nonce)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "DPoP " + token, "dpop": proof}, nil
}

// RequireTransportSecurity reports false: a DPoP-bound token is no use
// without its key, so it may cross a plaintext connection on loopback or
// inside a mesh; the server decides what it accepts.
func (d *DPoPCredentials) RequireTransportSecurity() bool { return false }
