package grpcjwt

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// TokenFromMetadata returns the bearer token of the incoming call's
// "authorization" metadata. The rules, after RFC 6750 and RFC 7235:
//
//   - no value, or an empty one: [ErrHeaderMissing];
//   - more than one value: [ErrInvalidFormat] (ambiguous, so none is picked);
//   - not exactly two whitespace-separated fields: [ErrInvalidFormat];
//   - a first field other than "Bearer" (compared case-insensitively):
//     [ErrSchemeNotSupported];
//   - otherwise the second field is the token. It is not validated here.
func TokenFromMetadata(ctx context.Context) (string, error) {
	token, dpop, err := credentialsOf(metadata.ValueFromIncomingContext(ctx, "authorization"))
	if err == nil && dpop {
		return "", ErrSchemeNotSupported
	}
	return token, err
}

// credentialsOf applies the rules of [TokenFromMetadata] to a call's
// authorization values, accepting the DPoP scheme too.
func credentialsOf(vals []string) (token string, dpop bool, err error) {
	switch len(vals) {
	case 0:
		return "", false, ErrHeaderMissing
	case 1:
		return parseCredentials(vals[0])
	default:
		return "", false, ErrInvalidFormat
	}
}

// parseCredentials applies the rules of [TokenFromMetadata] to one value,
// without allocating, accepting the DPoP scheme besides Bearer and saying
// which it found.
func parseCredentials(v string) (token string, dpop bool, err error) {
	if v == "" {
		return "", false, ErrHeaderMissing
	}
	scheme, rest := nextField(v)
	if scheme == "" {
		// Only whitespace: a value was sent but it holds nothing.
		return "", false, ErrInvalidFormat
	}
	token = trimLeftSpace(rest)
	if token == "" {
		return "", false, ErrInvalidFormat
	}
	if i := indexSpace(token); i >= 0 {
		if trimLeftSpace(token[i:]) != "" {
			return "", false, ErrInvalidFormat
		}
		token = token[:i]
	}
	switch {
	case equalFoldASCII(scheme, "Bearer"):
		return token, false, nil
	case equalFoldASCII(scheme, "DPoP"):
		return token, true, nil
	}
	return "", false, ErrSchemeNotSupported
}

// nextField skips leading whitespace and returns the next field and what
// follows it.
func nextField(s string) (field, rest string) {
	s = trimLeftSpace(s)
	i := indexSpace(s)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func trimLeftSpace(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

// indexSpace returns the index of the first white space byte in s, or -1.
// Tokens run to kilobytes, and this scan is a good part of what a call with
// a cached token costs, so it tests 32 bytes at a time, as four words, for
// one below '!' (the "has less than" bit trick: bytes of 0x80 and above
// never match), and looks closer only where one is.
func indexSpace(s string) int {
	const highs = 0x8080808080808080
	i := 0
	for ; len(s)-i >= 32; i += 32 {
		w := s[i : i+32]
		if (belowBang(load64(w[:8]))|belowBang(load64(w[8:16]))|belowBang(load64(w[16:24]))|belowBang(load64(w[24:32])))&highs != 0 {
			break
		}
	}
	for ; len(s)-i >= 8; i += 8 {
		if belowBang(load64(s[i:i+8]))&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if isSpace(s[i]) {
			return i
		}
	}
	return -1
}

// belowBang has, in the high bit of each byte of x below '!' (and below
// 0x80), a one; masked with 0x80 in every byte, it is zero when x has no
// such byte (and only then).
func belowBang(x uint64) uint64 {
	const ones = 0x0101010101010101
	return (x - ones*'!') &^ x
}

// load64 returns the first eight bytes of s, little-endian: one load, once
// the compiler knows there are eight.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// isSpace reports HTTP whitespace and the other ASCII white space
// characters. gRPC metadata values are printable ASCII, so Unicode spaces
// need no handling. It is a table lookup: the token scan runs it on every
// byte of every token.
func isSpace(c byte) bool { return spaceTable[c] }

var spaceTable = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

func equalFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// hasScheme reports whether the authorization value v uses scheme
// (compared case-insensitively), without allocating.
func hasScheme(v, scheme string) bool {
	field, _ := nextField(v)
	return equalFoldASCII(field, scheme)
}
