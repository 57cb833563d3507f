package grpcjwt

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
)

// present records which of the claims the validator requires or compares
// a payload has.
type present uint8

const (
	hasIss present = 1 << iota
	hasExp
	hasNbf
	hasIat
)

// parsePayload reads the registered claims of a JWT payload by their exact
// names. It checks types only (NumericDates must be JSON numbers, aud a
// string or an array of strings, ...); the validator checks values. A
// payload that is not one JSON object with unique member names is refused.
// In the same pass it takes into p (which may be nil) the members p names.
func parsePayload(raw []byte, p *picks) (*Claims, present, error) {
	c := &Claims{raw: raw}
	var has present
	var scope, scp []byte
	var azp string
	err := exactjson.Object(raw, func(name, value []byte) error {
		if string(value) == "null" {
			return nil // as if absent
		}
		p.take(name, value)
		var ok bool
		switch string(name) {
		case "iss":
			c.Issuer, ok = exactjson.String(value)
			has |= hasIss
		case "sub":
			c.Subject, ok = exactjson.String(value)
		case "aud":
			c.Audience, ok = stringOrStrings(value)
		case "exp":
			c.ExpiresAt, ok = numericDate(value)
			has |= hasExp
		case "nbf":
			c.NotBefore, ok = numericDate(value)
			has |= hasNbf
		case "iat":
			c.IssuedAt, ok = numericDate(value)
			has |= hasIat
		case "jti":
			c.ID, ok = exactjson.String(value)
		case "client_id":
			c.ClientID, ok = exactjson.String(value)
		case "cnf":
			ok = parseConfirmation(value, &c.Confirmation) == nil
		case "azp":
			azp, ok = exactjson.String(value)
		case "scope":
			scope = value
			_, ok = exactjson.StringBytes(value)
		case "scp":
			scp = value
			ok = value[0] == '"' || value[0] == '['
		case "acr":
			c.ACR, ok = exactjson.String(value)
		case "amr":
			c.AMR, ok = stringArray(value)
		case "auth_time":
			c.AuthTime, ok = numericDate(value)
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("claim %q has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if c.ClientID == "" {
		c.ClientID = azp
	}
	switch {
	case scope != nil:
		s, _ := exactjson.StringBytes(scope)
		c.Scopes = splitScopes(string(s))
	case scp != nil:
		if c.Scopes, err = scpScopes(scp); err != nil {
			return nil, 0, err
		}
	}
	return c, has, nil
}

// maxPicks bounds the members a [picks] takes. Issuers whose organization
// and scope claims start with more distinct names than that have those
// claims looked up by a pass of their own over the payload.
const maxPicks = 4

// picks are the values of the top-level members of a payload that the
// trusted issuers read beyond the registered claims (the first names of
// their organization and scope claim paths), taken in parsePayload's one
// pass, so that completeClaims does not read the payload a second time: a
// second pass over a large payload cost nearly as much as the first.
type picks struct {
	names  []string         // the members to take; nil: none
	values [maxPicks][]byte // the value of names[i]; nil when absent or null
}

// pickNames returns the distinct first names of the organization and scope
// claim paths of ics, which a [picks] takes: nil if there are none, or
// more than maxPicks.
func pickNames(ics []IssuerConfig) []string {
	var names []string
	for _, ic := range ics {
		paths := ic.ScopeClaims
		if ic.OrganizationClaim != "" {
			paths = append(paths[:len(paths):len(paths)], ic.OrganizationClaim)
		}
		for _, path := range paths {
			first, _, _ := strings.Cut(path, ".")
			if !slices.Contains(names, first) {
				names = append(names, first)
			}
		}
	}
	if len(names) > maxPicks {
		return nil
	}
	return names
}

// take records value as the member called name, if p takes it.
func (p *picks) take(name, value []byte) {
	if p == nil {
		return
	}
	for i, n := range p.names {
		if string(name) == n {
			p.values[i] = value
			return
		}
	}
}

// lookup returns the value at path in the JSON object raw, as lookupPath
// does, from the member p took for path[0] when it is one p takes.
func (p *picks) lookup(raw []byte, path []string) []byte {
	if p != nil {
		if i := slices.Index(p.names, path[0]); i >= 0 {
			if p.values[i] == nil {
				return nil
			}
			return lookupPath(p.values[i], path[1:])
		}
	}
	return lookupPath(raw, path)
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds,
// possibly fractional. Strings, booleans and values beyond ±2^53 (where
// time.Unix overflows and floats lose integers) are refused.
func numericDate(value []byte) (time.Time, bool) {
	f, ok := exactjson.Number(value)
	if !ok || math.Abs(f) > 1<<53 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// stringOrStrings reads "aud": a string or an array of strings.
func stringOrStrings(value []byte) ([]string, bool) {
	if s, ok := exactjson.String(value); ok {
		return []string{s}, true
	}
	return stringArray(value)
}

// stringArray reads "amr", and the arrays of "aud": an array of strings
// (an empty one is nil).
func stringArray(value []byte) ([]string, bool) {
	var out []string
	isArray, err := exactjson.Array(value, func(e []byte) error {
		s, ok := exactjson.String(e)
		if !ok {
			return errors.New("not a string")
		}
		out = append(out, s)
		return nil
	})
	return out, isArray && err == nil
}

// scpScopes reads "scp": a space-separated string or an array of strings,
// each of which must be a scope-token to count.
func scpScopes(value []byte) ([]string, error) {
	if s, ok := exactjson.String(value); ok {
		return splitScopes(s), nil
	}
	l, ok := stringOrStrings(value)
	if !ok {
		return nil, errors.New(`claim "scp" has the wrong type`)
	}
	out := l[:0]
	for _, s := range l {
		if isScopeToken(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// splitScopes splits a scope string on U+0020 only (RFC 6749 §3.3) and
// keeps the items that are scope-tokens.
func splitScopes(s string) []string {
	out := make([]string, 0, strings.Count(s, " ")+1)
	for item := range strings.SplitSeq(s, " ") {
		if isScopeToken(item) {
			out = append(out, item)
		}
	}
	return out
}

// isScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7E || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseConfirmation reads the "cnf" claim: an object whose x5t#S256 and jkt
// members, when present, are strings; an x5t#S256 must be the base64url of
// 32 bytes.
func parseConfirmation(value []byte, cnf *Confirmation) error {
	if value[0] != '{' {
		return errors.New("not an object")
	}
	return exactjson.Object(value, func(name, v []byte) error {
		var ok bool
		switch string(name) {
		case "x5t#S256":
			cnf.X5TS256, ok = exactjson.String(v)
			if ok {
				b, err := jose.DecodeBase64URL(cnf.X5TS256)
				ok = err == nil && len(b) == len(cnf.x5t)
				copy(cnf.x5t[:], b)
			}
		case "jkt":
			cnf.JKT, ok = exactjson.String(v)
			ok = ok && cnf.JKT != ""
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("cnf member %q is not a valid thumbprint", name)
		}
		return nil
	})
}
