package grpcjwt

import (
	"context"

	"github.com/grpcjwt/grpcjwt/internal/claimsctx"
	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"time"
)

// Claims are the verified claims of an access token. A Claims value is
// immutable once returned: it may be shared by concurrent calls that present
// the same token, so callers must not modify it (or its slices). Copying a
// Claims value is safe.
//
// Every claim is read by its exact name, byte for byte (RFC 7519 §4): "Exp"
// or "ſcope" is not "exp" or "scope", here, in [Claims.Get] and in
// [Claims.Decode] alike, and a payload with two members of the same name is
// refused. The claims the validator checks are the claims these expose.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub
	Audience  []string  // aud, a string or an array in the token
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf; zero when absent
	IssuedAt  time.Time // iat; zero when absent
	ID        string    // jti

	// ClientID is the OAuth client the token was issued to: client_id
	// (RFC 9068), or azp when client_id is absent.
	ClientID string

	// Scopes are the granted scopes: from a "scope" string (RFC 9068, Logto,
	// Auth0, Keycloak) or an "scp" string or array (Okta, Hydra, Entra ID);
	// when both are present, scope wins. A string is split on the space
	// character (U+0020) only, as RFC 6749 §3.3 says. Items that are not
	// RFC 6749 scope-tokens (printable ASCII other than space, '"' and '\')
	// are left out, so that they can never satisfy a rule.
	Scopes []string

	// MatchedAudience is the audience of "aud" that the issuer accepted:
	// one of its exact audiences, or one that starts with one of its
	// AudiencePrefixes.
	MatchedAudience string

	// AudienceSuffix is, for a token accepted only by an audience prefix
	// (an organization token), the part after the prefix: the organization
	// ID of a Logto organization token (aud "urn:logto:organization:<id>");
	// empty otherwise.
	AudienceSuffix string

	// Organization is the organization the token's issuer asserts it is
	// for: the value of the issuer's organization claim
	// ([IssuerConfig.OrganizationClaim], such as Logto's
	// "organization_id"), or what follows one of the issuer's
	// AudiencePrefixes in an audience. It is empty when the issuer asserts
	// no organization (its configuration names neither), when the token
	// names none, and when it names two different ones. A claim that the
	// token's issuer is not configured to assert is never read here:
	// another issuer's "organization_id" is just a claim ([Claims.Get]).
	Organization string

	orgByClaim    string // by the issuer's organization claim
	orgByAudience string // by an audience one of the issuer's prefixes accepts
	orgConflict   bool   // the token names two different organizations

	// Confirmation is the "cnf" claim (RFC 7800): the key the token is
	// bound to, when it is.
	Confirmation Confirmation

	// ACR, AMR and AuthTime describe the login behind the token, as its
	// issuer puts them in user tokens (OpenID Connect Core §2, RFC 9068
	// §2.2.1): "acr", the authentication context class reached (a string,
	// such as Logto's "urn:logto:acr:mfa"); "amr", the methods used (an
	// array of strings, RFC 8176: "pwd", "otp", "mfa", ...); "auth_time",
	// when the user last authenticated (a NumericDate). Each is empty (zero)
	// when absent, as in client-credentials tokens. A [StepUp] rule reads
	// them.
	ACR      string
	AMR      []string
	AuthTime time.Time

	raw []byte // the decoded JSON payload, or the introspection answer

	introspected bool // verified by introspection, not by a signature
}

// HasScope reports whether the token grants scope exactly: "read" does not
// satisfy "read:all".
func (c *Claims) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Raw returns the token's JSON payload as verified (for an opaque token,
// the introspection endpoint's answer, with its "active" member: of a
// signed answer, its token_introspection). The slice must not be
// modified.
func (c *Claims) Raw() []byte { return c.raw }

// Introspected reports whether the claims come from the token's issuer's
// introspection endpoint (RFC 7662), because the token is opaque, rather
// than from a JWT whose signature was verified. Nothing else tells the two
// apart: the same fields are filled from the same claim names, and every
// rule applies to both alike. A JWT whose activity a method's rule had
// confirmed by introspection ([WithRevocationCheck]) keeps its own claims,
// and reports false.
func (c *Claims) Introspected() bool { return c.introspected }

// Get decodes the claim called exactly name into v (a pointer, as for
// [json.Unmarshal]). It reports false when the token has no such claim. Use
// it for custom claims such as "organization_id" or "roles". Member names
// of objects inside the claim are matched exactly too, as for
// [Claims.Decode].
func (c *Claims) Get(name string, v any) (bool, error) {
	var value []byte
	err := exactjson.Object(c.raw, func(n, val []byte) error {
		if string(n) == name {
			value = val
		}
		return nil
	})
	if err != nil || value == nil {
		return false, err
	}
	return true, exactjson.Unmarshal(value, v)
}

// Decode unmarshals the whole payload into v, for callers that prefer a
// struct of their own claims. It is [json.Unmarshal] with one difference:
// member names match field names exactly (a field tagged "scope" is never
// filled from "Scope"), at every depth.
func (c *Claims) Decode(v any) error { return exactjson.Unmarshal(c.raw, v) }

// Confirmation is the key a sender-constrained token is bound to.
type Confirmation struct {
	// X5TS256 is "x5t#S256" (RFC 8705 §3.1): the base64url SHA-256
	// thumbprint of the client certificate the token was issued to. The
	// interceptors accept the token only on a TLS connection whose client
	// certificate has that thumbprint.
	X5TS256 string
	// JKT is "jkt" (RFC 9449 §6.1): the thumbprint of the DPoP key the
	// token is bound to. Such a token is refused as a bearer token.
	JKT string

	x5t [32]byte // X5TS256 decoded, when it is a SHA-256 thumbprint
}

// claimsKey is the context key of the claims; grpcjwtconnect answers it
// too (see package claimsctx).
type claimsKey = claimsctx.Key

// ContextWithClaims returns a copy of ctx carrying c; the interceptors use
// it, and tests of handlers may too.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the verified claims the interceptors stored in
// a handler's context. It reports false for public methods, for optional
// methods called without a token, and outside the interceptors.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
