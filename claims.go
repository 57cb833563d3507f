package grpcjwt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Claims are the verified claims of an access token. A Claims value is
// immutable once returned: it may be shared by concurrent calls that present
// the same token, so callers must not modify it (or its slices).
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

	// Scopes are the granted scopes: from a space-separated "scope" string
	// (RFC 9068, Logto, Auth0, Keycloak) or an "scp" string or array
	// (Okta, Hydra, Entra ID). When both are present, scope wins.
	Scopes []string

	raw      []byte // the decoded JSON payload
	once     sync.Once
	fields   map[string]json.RawMessage
	fieldErr error
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

// Raw returns the token's JSON payload as verified. The slice must not be
// modified.
func (c *Claims) Raw() []byte { return c.raw }

// Get decodes the claim called name into v (a pointer, as for
// [json.Unmarshal]). It reports false when the token has no such claim.
// Use it for custom claims such as "organization_id" or "roles".
func (c *Claims) Get(name string, v any) (bool, error) {
	c.once.Do(func() {
		c.fieldErr = json.Unmarshal(c.raw, &c.fields)
	})
	if c.fieldErr != nil {
		return false, c.fieldErr
	}
	f, ok := c.fields[name]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(f, v)
}

// Decode unmarshals the whole payload into v, for callers that prefer a
// struct of their own claims.
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.raw, v) }

type claimsKey struct{}

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

// payload is the wire form of the registered claims.
type payload struct {
	Iss      *string      `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      audience     `json:"aud"`
	Exp      *numericDate `json:"exp"`
	Nbf      *numericDate `json:"nbf"`
	Iat      *numericDate `json:"iat"`
	Jti      string       `json:"jti"`
	ClientID string       `json:"client_id"`
	Azp      string       `json:"azp"`
	Scope    *string      `json:"scope"`
	Scp      scopeList    `json:"scp"`
}

var errNotNumericDate = errors.New("a NumericDate must be a JSON number")

// numericDate is a NumericDate (RFC 7519 §2): a JSON number of seconds,
// possibly fractional. Strings, booleans and non-finite values are refused.
type numericDate struct{ t time.Time }

// UnmarshalJSON accepts a JSON number only.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || !(b[0] == '-' || ('0' <= b[0] && b[0] <= '9')) {
		return errNotNumericDate
	}
	// The decoder has checked that b is a JSON value, and its first byte
	// makes it a number, whose grammar ParseFloat accepts as it is.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errNotNumericDate
	}
	// Beyond ±2^53 seconds time.Unix overflows and floats lose integers.
	if math.IsNaN(f) || math.Abs(f) > 1<<53 {
		return errNotNumericDate
	}
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// audience is "aud": a string or an array of strings.
type audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = l
	return nil
}

// scopeList is "scp": a space-separated string or an array of strings.
type scopeList []string

// UnmarshalJSON accepts a space-separated string or an array of strings.
func (s *scopeList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		str, err := jsonString(b)
		if err != nil {
			return err
		}
		*s = strings.Fields(str)
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("scp must be a string or an array of strings")
	}
	*s = l
	return nil
}

// jsonString decodes a JSON string the decoder has already validated: one
// without escapes is its bytes between the quotes.
func jsonString(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// parseClaims decodes a verified-to-be-well-formed payload. It checks types
// only; the validator checks values.
func parseClaims(raw []byte) (*payload, error) {
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("claim %q has the wrong type", te.Field)
		}
		return nil, err
	}
	return &p, nil
}

func (p *payload) claims(raw []byte) *Claims {
	c := &Claims{
		Subject:  p.Sub,
		Audience: []string(p.Aud),
		ID:       p.Jti,
		ClientID: p.ClientID,
		raw:      raw,
	}
	if p.Iss != nil {
		c.Issuer = *p.Iss
	}
	if c.ClientID == "" {
		c.ClientID = p.Azp
	}
	if p.Exp != nil {
		c.ExpiresAt = p.Exp.t
	}
	if p.Nbf != nil {
		c.NotBefore = p.Nbf.t
	}
	if p.Iat != nil {
		c.IssuedAt = p.Iat.t
	}
	if p.Scope != nil {
		c.Scopes = strings.Fields(*p.Scope)
	} else {
		c.Scopes = []string(p.Scp)
	}
	return c
}
