// Package exactjson reads untrusted JSON objects exactly: member names are
// compared byte for byte, an object with two members of the same name is
// refused, and the whole text must be valid JSON (RFC 8259) in valid UTF-8.
//
// encoding/json, by contrast, matches member names to struct fields ignoring
// case and with Unicode folding ("Exp", "EXP" and "ſcope" fill the fields
// tagged "exp" and "scope"), lets the last of duplicate members win, and
// replaces invalid UTF-8. For JOSE headers, JWT claims, JWKs and discovery
// documents (RFC 7515 §4, RFC 7519 §4) each of those is a way to make two
// readers of the same token disagree.
package exactjson

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 64

// ErrDuplicate is matched (with errors.Is) by the error for an object with
// two members of the same name.
var ErrDuplicate = errors.New("duplicate member name")

// errSyntax is the error for anything that is not valid JSON.
var errSyntax = errors.New("not valid JSON")

// dedupeLinear is how many names an object may have before duplicates are
// found through a map rather than by comparing each name with the others.
const dedupeLinear = 16

// Visitor receives one member of an object: its name, unescaped, and its
// value as it appears in the text, without surrounding white space. Both
// slices alias memory that is reused or read only; a visitor that keeps
// them must copy them. A non-nil error stops the scan and is returned.
type Visitor func(name, value []byte) error

// Object checks that data is one JSON object (white space around it
// allowed), every nested object included having unique member names, and
// calls visit for each of its top-level members in order. visit may be nil,
// to validate only. When Object returns an error, members already visited
// must be disregarded: the error may come from a later part of the text.
func Object(data []byte, visit Visitor) error {
	return topObject(scanner{data: data}, visit)
}

// OuterObject is [Object] for an envelope whose nested objects its visitor
// parses on its own (a JWK Set's keys, say): names must be unique in the
// outer object only, and nested objects are checked for syntax.
func OuterObject(data []byte, visit Visitor) error {
	return topObject(scanner{data: data, outerOnly: true}, visit)
}

// topObject scans the one object that s.data must be.
func topObject(s scanner, visit Visitor) error {
	data := s.data
	s.skipSpace()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return errors.New("not a JSON object")
	}
	if err := s.object(0, visit); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(data) {
		return s.errorf("data after the object")
	}
	return nil
}

// Valid reports whether data is one JSON value with unique member names in
// every object.
func Valid(data []byte) error {
	s := scanner{data: data}
	s.skipSpace()
	if err := s.value(0); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(data) {
		return s.errorf("data after the value")
	}
	return nil
}

type scanner struct {
	data      []byte
	pos       int
	outerOnly bool // check names for duplicates in the outermost object only
}

func (s *scanner) errorf(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errSyntax, what, s.pos)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value starting at s.pos (no leading white space).
func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth, nil)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.errorf("unexpected character")
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.errorf("bad literal")
	}
	s.pos += len(lit)
	return nil
}

// object scans an object at s.pos, calling visit (if not nil) per member.
func (s *scanner) object(depth int, visit Visitor) error {
	if depth >= MaxDepth {
		return s.errorf("nested too deeply")
	}
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	var small [dedupeLinear][]byte
	seen := small[:0]
	var many map[string]struct{}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.errorf("expected a member name")
		}
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		name := raw
		if escaped {
			name = unescape(raw)
		}
		if s.outerOnly && depth > 0 {
			// Nested objects are their visitor's to check.
		} else if many != nil {
			if _, dup := many[string(name)]; dup {
				return duplicate(name)
			}
			many[string(name)] = struct{}{}
		} else {
			for _, n := range seen {
				if bytes.Equal(n, name) {
					return duplicate(name)
				}
			}
			if len(seen) < dedupeLinear {
				seen = append(seen, name)
			} else {
				many = make(map[string]struct{}, 2*dedupeLinear)
				for _, n := range seen {
					many[string(n)] = struct{}{}
				}
				many[string(name)] = struct{}{}
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.errorf("expected ':'")
		}
		s.pos++
		s.skipSpace()
		start := s.pos
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if visit != nil {
			if err := visit(name, s.data[start:s.pos]); err != nil {
				return err
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}'")
		}
	}
}

func duplicate(name []byte) error {
	const n = 64
	if len(name) > n {
		return fmt.Errorf("%w %q…", ErrDuplicate, name[:n])
	}
	return fmt.Errorf("%w %q", ErrDuplicate, name)
}

func (s *scanner) array(depth int) error {
	if depth >= MaxDepth {
		return s.errorf("nested too deeply")
	}
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']'")
		}
	}
}

// str scans a string at s.pos and returns its content between the quotes
// and whether that has escapes. It refuses control characters, bad escapes,
// lone surrogates and invalid UTF-8.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	s.pos++ // '"'
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, s.errorf("control character in a string")
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, s.errorf("invalid UTF-8")
			}
			s.pos += n
		}
	}
	return nil, false, s.errorf("unterminated string")
}

// escape checks the escape sequence at s.pos and moves past it.
func (s *scanner) escape() error {
	if s.pos+1 >= len(s.data) {
		return s.errorf("unterminated escape")
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
	default:
		return s.errorf("bad escape")
	}
	r, ok := hex4(s.data[s.pos+2:])
	if !ok {
		return s.errorf("bad \\u escape")
	}
	s.pos += 6
	if !utf16.IsSurrogate(r) {
		return nil
	}
	// A high surrogate must be followed by an escaped low one.
	if r < 0xDC00 && s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
		if r2, ok := hex4(s.data[s.pos+2:]); ok && 0xDC00 <= r2 && r2 <= 0xDFFF {
			s.pos += 6
			return nil
		}
	}
	return s.errorf("lone surrogate")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && '1' <= d[s.pos] && d[s.pos] <= '9':
		s.digits()
	default:
		return s.errorf("bad number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// unescape decodes the content of a string that the scanner has checked.
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(raw[i+2:])
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}

// String returns the JSON string value (as given to a [Visitor]) decoded.
// ok is false when value is not a string.
func String(value []byte) (s string, ok bool) {
	b, ok := StringBytes(value)
	if !ok {
		return "", false
	}
	return string(b), true
}

// StringBytes is [String] without the copy: the result aliases value when
// the string has no escapes.
func StringBytes(value []byte) ([]byte, bool) {
	if len(value) < 2 || value[0] != '"' {
		return nil, false
	}
	raw := value[1 : len(value)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return unescape(raw), true
	}
	return raw, true
}

// Number returns the JSON number value as a float64. ok is false when value
// is not a number or does not fit a float64.
func Number(value []byte) (f float64, ok bool) {
	if len(value) == 0 || !(value[0] == '-' || ('0' <= value[0] && value[0] <= '9')) {
		return 0, false
	}
	// The scanner has checked the grammar, which ParseFloat accepts as it is.
	f, err := strconv.ParseFloat(string(value), 64)
	return f, err == nil
}

// Array calls each for every element of the JSON array value, in order. ok
// is false when value is not an array. The elements are checked for syntax
// only: each is its visitor's to read, with [Object] for an object, so that
// one element with a duplicate member name fails alone rather than the
// whole array. value is as a [Visitor] receives it, from [Object] (whose
// check covered every depth) or [OuterObject] (whose visitor then checks
// what it reads).
func Array(value []byte, each func(elem []byte) error) (ok bool, err error) {
	if len(value) == 0 || value[0] != '[' {
		return false, nil
	}
	s := scanner{data: value, pos: 1, outerOnly: true}
	s.skipSpace()
	if s.pos < len(value) && value[s.pos] == ']' {
		return true, nil
	}
	for {
		s.skipSpace()
		start := s.pos
		// Elements are at depth 1, where outerOnly checks no names.
		if err := s.value(1); err != nil {
			return true, err
		}
		if err := each(value[start:s.pos]); err != nil {
			return true, err
		}
		s.skipSpace()
		if s.pos >= len(value) || value[s.pos] != ',' {
			return true, nil
		}
		s.pos++
	}
}
