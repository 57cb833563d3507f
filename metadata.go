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
//     [ErrTypeNotSupported];
//   - otherwise the second field is the token. It is not validated here.
func TokenFromMetadata(ctx context.Context) (string, error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	switch len(vals) {
	case 0:
		return "", ErrHeaderMissing
	case 1:
		return parseAuthorization(vals[0])
	default:
		return "", ErrInvalidFormat
	}
}

// parseAuthorization applies the rules of [TokenFromMetadata] to one value
// without allocating.
func parseAuthorization(v string) (string, error) {
	if v == "" {
		return "", ErrHeaderMissing
	}
	scheme, rest := nextField(v)
	if scheme == "" {
		// Only whitespace: a value was sent but it holds nothing.
		return "", ErrInvalidFormat
	}
	token, rest := nextField(rest)
	if token == "" {
		return "", ErrInvalidFormat
	}
	if extra, _ := nextField(rest); extra != "" {
		return "", ErrInvalidFormat
	}
	if !equalFoldASCII(scheme, "Bearer") {
		return "", ErrTypeNotSupported
	}
	return token, nil
}

// nextField skips leading whitespace and returns the next field and what
// follows it.
func nextField(s string) (field, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

// isSpace reports HTTP whitespace and the other ASCII white space
// characters. gRPC metadata values are printable ASCII, so Unicode spaces
// need no handling.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

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
