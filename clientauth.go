package grpcjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/jose"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// ClientAuthMethod is how a resource server authenticates, as an OAuth
// client, to an issuer's introspection endpoint: one of the token endpoint
// authentication methods of the OAuth registry (RFC 7591 §2, RFC 8705).
type ClientAuthMethod string

// The client authentication methods an [IntrospectionConfig] may use.
const (
	// ClientSecretBasic sends ClientID and ClientSecret in an HTTP Basic
	// authorization header, form-encoded as RFC 6749 §2.3.1 says. The
	// default.
	ClientSecretBasic ClientAuthMethod = "client_secret_basic"
	// ClientSecretPost sends client_id and client_secret in the request
	// body.
	ClientSecretPost ClientAuthMethod = "client_secret_post"
	// PrivateKeyJWT sends a client assertion (RFC 7523 §2.2): a JWT whose
	// iss and sub are ClientID, signed with PrivateKey, valid for a minute,
	// with a fresh jti.
	PrivateKeyJWT ClientAuthMethod = "private_key_jwt"
	// TLSClientAuth authenticates with the client certificate of the TLS
	// connection (RFC 8705 §2), which HTTPClient's transport presents; the
	// body names ClientID.
	TLSClientAuth ClientAuthMethod = "tls_client_auth"
	// AuthNone sends no client credentials: for an endpoint that the
	// network protects, such as Ory Hydra's admin API.
	AuthNone ClientAuthMethod = "none"
)

// Secret is a client secret. It prints, logs and marshals as "[redacted]"
// (fmt, log/slog, encoding/json and text), so that a Config logged whole
// keeps its secrets; convert it to a string to use it.
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (Secret) GoString() string { return redacted }

// LogValue returns "[redacted]", for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[redacted]", for encoding/json and other encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// clientAuth authenticates introspection requests as one client.
type clientAuth struct {
	method   ClientAuthMethod
	id       string
	secret   string
	key      crypto.Signer   // PrivateKeyJWT
	alg      *jose.Algorithm // PrivateKeyJWT
	header   []byte          // PrivateKeyJWT: the assertion's JOSE header, encoded
	audience string          // PrivateKeyJWT: the assertion's aud
}

// newClientAuth checks the client authentication of ic, the introspection
// settings of the issuer issuer, and compiles it. Its errors never quote
// the secret.
func newClientAuth(ic *IntrospectionConfig, issuer string) (*clientAuth, error) {
	a := &clientAuth{method: ic.AuthMethod, id: ic.ClientID, secret: string(ic.ClientSecret)}
	if a.method == "" {
		a.method = ClientSecretBasic
	}
	if a.method != AuthNone && a.id == "" {
		return nil, fmt.Errorf("ClientID is required with AuthMethod %s (AuthMethod %q sends no credentials, for an endpoint the network protects)", a.method, AuthNone)
	}
	switch a.method {
	case ClientSecretBasic, ClientSecretPost:
		if a.secret == "" {
			return nil, fmt.Errorf("ClientSecret is required with AuthMethod %s", a.method)
		}
	case PrivateKeyJWT:
		if err := a.compileAssertion(ic, issuer); err != nil {
			return nil, err
		}
	case TLSClientAuth:
		if ic.HTTPClient == nil {
			return nil, errors.New("AuthMethod tls_client_auth needs an HTTPClient whose transport presents the client certificate")
		}
	case AuthNone:
	default:
		return nil, fmt.Errorf("AuthMethod %q is not one of client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth and none", truncate(string(a.method)))
	}
	if a.method != ClientSecretBasic && a.method != ClientSecretPost && a.secret != "" {
		return nil, fmt.Errorf("ClientSecret is set, but AuthMethod %s never sends it", a.method)
	}
	return a, nil
}

// compileAssertion checks the key of a private_key_jwt client and encodes
// the header of its assertions.
func (a *clientAuth) compileAssertion(ic *IntrospectionConfig, issuer string) error {
	if ic.PrivateKey == nil {
		return errors.New("AuthMethod private_key_jwt needs a PrivateKey")
	}
	alg := ic.SigningAlgorithm
	if alg == "" {
		switch pub := ic.PrivateKey.Public().(type) {
		case *rsa.PublicKey:
			alg = "RS256"
		case *ecdsa.PublicKey:
			alg = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[pub.Curve.Params().Name]
		case ed25519.PublicKey:
			alg = "EdDSA"
		}
	}
	a.alg = jose.Lookup(alg)
	if a.alg == nil {
		return fmt.Errorf("SigningAlgorithm %q is not an asymmetric JWS algorithm for a key of type %T", alg, ic.PrivateKey.Public())
	}
	a.key = ic.PrivateKey
	if _, err := jwsbb.Sign(a.key, a.alg.Name, []byte("probe"), rand.Reader); err != nil {
		return fmt.Errorf("PrivateKey cannot sign %s: %v", a.alg.Name, err)
	}
	h := map[string]string{"alg": a.alg.Name, "typ": "JWT"}
	if ic.KeyID != "" {
		h["kid"] = ic.KeyID
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	a.header = []byte(base64.RawURLEncoding.EncodeToString(b))
	a.audience = ic.AssertionAudience
	if a.audience == "" {
		a.audience = issuer
	}
	return nil
}

// apply authenticates req, whose form is form (not yet encoded into it).
func (a *clientAuth) apply(req *http.Request, form url.Values, now time.Time) error {
	switch a.method {
	case ClientSecretBasic:
		// RFC 6749 §2.3.1: both are form-encoded before Basic encodes them.
		req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	case ClientSecretPost:
		form.Set("client_id", a.id)
		form.Set("client_secret", a.secret)
	case PrivateKeyJWT:
		assertion, err := a.assertion(now)
		if err != nil {
			return err
		}
		form.Set("client_id", a.id)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	case TLSClientAuth:
		form.Set("client_id", a.id)
	}
	return nil
}

// assertion signs a client assertion (RFC 7523 §3) valid for a minute.
func (a *clientAuth) assertion(now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	c, err := json.Marshal(map[string]any{
		"iss": a.id, "sub": a.id, "aud": a.audience,
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	if err != nil {
		return "", err
	}
	input := string(a.header) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := jwsbb.Sign(a.key, a.alg.Name, []byte(input), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
