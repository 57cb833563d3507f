package jose

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// Kinds of error of [Split], [JWS.Header], [JWS.Payload] and
// [JWS.Signature], for errors.Is. A header with two members of the same
// name is refused with an error that matches [exactjson.ErrDuplicate]
// instead.
var (
	// ErrMalformed: not a compact JWS of three base64url parts, or a header
	// that is not a JSON object, has a member of the wrong type or lacks
	// one its profile requires.
	ErrMalformed = errors.New("malformed JWS")
	// ErrRefused: a header member that no JWS may have here (crit, b64,
	// zip, enc) or that its profile refuses.
	ErrRefused = errors.New("refused header member")
)

// jwsError is an error of this package: a message, and the kind it
// matches.
type jwsError struct {
	kind error
	msg  string
}

func (e *jwsError) Error() string { return e.msg }
func (e *jwsError) Unwrap() error { return e.kind }

func malformed(msg string) error { return &jwsError{ErrMalformed, msg} }

// JWS is a compact JWS (RFC 7515 §7.1) split into its three parts, which
// stay encoded until asked for.
type JWS struct {
	s          string
	dot1, dot2 int
}

// Split splits s, a compact JWS: exactly three parts separated by '.', of
// base64url bytes only (no padding, no white space), the signature not
// empty. JWE (five parts) and the JSON serializations are refused here. It
// decodes nothing, and allocates nothing.
func Split(s string) (JWS, error) {
	dot1 := strings.IndexByte(s, '.')
	if dot1 < 0 {
		return JWS{}, malformed("no '.'")
	}
	dot2 := dot1 + 1 + strings.IndexByte(s[dot1+1:], '.')
	if dot2 == dot1 || strings.IndexByte(s[dot2+1:], '.') >= 0 {
		return JWS{}, malformed("not three dot-separated parts (JWE and JSON serialization are not accepted)")
	}
	if dot2 == len(s)-1 {
		return JWS{}, malformed("empty signature")
	}
	if !isBase64URL(s[:dot1]) || !isBase64URL(s[dot1+1:dot2]) || !isBase64URL(s[dot2+1:]) {
		return JWS{}, malformed("a byte outside the base64url alphabet")
	}
	return JWS{s: s, dot1: dot1, dot2: dot2}, nil
}

// SigningInput is what the signature is over: the encoded header and
// payload, and the '.' between them.
func (j JWS) SigningInput() string { return j.s[:j.dot2] }

// Payload decodes the payload.
func (j JWS) Payload() ([]byte, error) {
	b, err := b64.DecodeString(j.s[j.dot1+1 : j.dot2])
	if err != nil {
		return nil, malformed("payload is not base64url")
	}
	return b, nil
}

// Signature decodes the signature.
func (j JWS) Signature() ([]byte, error) {
	b, err := b64.DecodeString(j.s[j.dot2+1:])
	if err != nil {
		return nil, malformed("signature is not base64url")
	}
	return b, nil
}

// Use is what a [Profile] does with a header member.
type Use uint8

const (
	// Ignore: the member is never read, whatever it holds.
	Ignore Use = iota
	// Allow: the member is read when present.
	Allow
	// Require: the member is read, and a header without it is refused.
	Require
	// Refuse: a header with the member is refused.
	Refuse
)

// Profile is what one kind of compact JWS may carry in its header, beyond
// what every kind carries: alg, always read (an absent alg reads as "",
// for the caller's list of algorithms to refuse), and typ, always read (see
// [Types]). crit, b64, zip and enc are refused in every kind: no extension
// is understood, the payload is always base64url, and a JWE is no JWS.
type Profile struct {
	Kid Use // any Use
	JWK Use // any Use; read, an embedded key must be an object
	// KeyURLs are jku, x5u and x5c, which name or carry keys: Ignore
	// (never read, and so never fetched) or Refuse.
	KeyURLs Use
}

// Header is the members of a JOSE header that a [Profile] reads, by their
// exact names.
type Header struct {
	Alg    string
	Kid    string // "" when absent
	Typ    string // "" when absent
	HasTyp bool
	JWK    []byte // the jwk member as it appears, an object; nil when absent or ignored
}

// Header decodes the header and reads it under p. Members are matched by
// their exact names, and a header with two members of the same name is
// refused (see [exactjson.Object]).
func (j JWS) Header(p *Profile) (Header, error) {
	var h Header
	var hasKid bool
	raw, err := b64.DecodeString(j.s[:j.dot1])
	if err != nil {
		return h, malformed("header is not base64url")
	}
	err = exactjson.Object(raw, func(name, value []byte) error {
		switch p.use(name) {
		case Ignore:
			return nil
		case Refuse:
			return &jwsError{ErrRefused, fmt.Sprintf("header member %q is not accepted", name)}
		}
		var ok bool
		switch string(name) {
		case "alg":
			h.Alg, ok = exactjson.String(value)
		case "typ":
			h.Typ, ok = exactjson.String(value)
			h.HasTyp = true
		case "kid":
			h.Kid, ok = exactjson.String(value)
			hasKid = true
		case "jwk":
			h.JWK, ok = value, value[0] == '{'
		}
		if !ok {
			return malformed(fmt.Sprintf("header member %q has the wrong type", name))
		}
		return nil
	})
	if _, ours := err.(*jwsError); ours {
		return h, err
	}
	switch {
	case errors.Is(err, exactjson.ErrDuplicate):
		return h, fmt.Errorf("header: %w", err)
	case err != nil:
		return h, malformed("header is not a JSON object: " + err.Error())
	case p.JWK == Require && h.JWK == nil:
		return h, malformed("no jwk in the header")
	case p.Kid == Require && !hasKid:
		return h, malformed("no kid in the header")
	}
	return h, nil
}

// use returns what p does with the header member called name.
func (p *Profile) use(name []byte) Use {
	switch string(name) {
	case "alg", "typ":
		return Allow
	case "kid":
		return p.Kid
	case "jwk":
		return p.JWK
	case "jku", "x5u", "x5c":
		return p.KeyURLs
	case "crit", "b64", "zip", "enc":
		return Refuse
	}
	return Ignore
}

// Types are the typ values (RFC 7515 §4.1.9) one kind of JWS may have,
// compared ignoring case, as media types are. A form with the
// "application/" prefix is accepted only when listed.
type Types struct {
	Values   []string
	Optional bool // typ may be absent
}

// Accept reports whether h's typ is one of t.
func (t *Types) Accept(h *Header) bool {
	if !h.HasTyp {
		return t.Optional
	}
	for _, v := range t.Values {
		if strings.EqualFold(h.Typ, v) {
			return true
		}
	}
	return false
}

// b64 decodes base64url without padding (RFC 7515 §2), refusing non-zero
// trailing bits, so that every value has one encoding only. It skips CR
// and LF, which isBase64URL refuses first.
var b64 = base64.RawURLEncoding.Strict()

// isBase64URL reports whether every byte of s is in the base64url alphabet
// (RFC 4648 §5).
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !b64Alphabet[s[i]] {
			return false
		}
	}
	return true
}

var b64Alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// DecodeBase64URL decodes s, unpadded base64url, refusing any byte outside
// its alphabet and non-zero trailing bits: each value has one encoding.
func DecodeBase64URL(s string) ([]byte, error) {
	if !isBase64URL(s) {
		return nil, errors.New("not base64url")
	}
	return b64.DecodeString(s)
}
