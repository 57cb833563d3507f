package grpcjwt_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/grpc/metadata"
)

// referenceToken is the Bearer rule of TokenFromMetadata's doc comment (and of
// README's wire-error table) written plainly, to check
// TokenFromMetadata's fast scan against.
func referenceToken(v string) (string, error) {
	if v == "" {
		return "", grpcjwt.ErrHeaderMissing
	}
	f := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) })
	if len(f) != 2 {
		return "", grpcjwt.ErrInvalidFormat
	}
	if !strings.EqualFold(f[0], "bearer") || len(f[0]) != len("bearer") {
		return "", grpcjwt.ErrSchemeNotSupported
	}
	return f[1], nil
}

func tokenFrom(values ...string) (string, error) {
	md := metadata.MD{}
	for _, v := range values {
		md.Append("authorization", v)
	}
	return grpcjwt.TokenFromMetadata(metadata.NewIncomingContext(context.Background(), md))
}

func TestTokenFromMetadata(t *testing.T) {
	long := strings.Repeat("abcdefgh", 100)
	cases := []struct {
		name   string
		values []string
		token  string
		err    error
	}{
		{"none", nil, "", grpcjwt.ErrHeaderMissing},
		{"empty", []string{""}, "", grpcjwt.ErrHeaderMissing},
		{"two values", []string{"Bearer a", "Bearer a"}, "", grpcjwt.ErrInvalidFormat},
		{"spaces only", []string{"   "}, "", grpcjwt.ErrInvalidFormat},
		{"scheme only", []string{"Bearer"}, "", grpcjwt.ErrInvalidFormat},
		{"scheme and spaces", []string{"Bearer   "}, "", grpcjwt.ErrInvalidFormat},
		{"three fields", []string{"Bearer a b"}, "", grpcjwt.ErrInvalidFormat},
		{"three fields, long token", []string{"Bearer " + long + " x"}, "", grpcjwt.ErrInvalidFormat},
		{"tab inside a long token", []string{"Bearer " + long[:13] + "\t" + long}, "", grpcjwt.ErrInvalidFormat},
		{"Basic", []string{"Basic dXNlcg=="}, "", grpcjwt.ErrSchemeNotSupported},
		{"Bearerx", []string{"Bearerx a"}, "", grpcjwt.ErrSchemeNotSupported},
		{"Bearer", []string{"Bearer abc"}, "abc", nil},
		{"bearer", []string{"bearer abc"}, "abc", nil},
		{"BEARER with tabs", []string{"\tBEARER\t\tabc\t"}, "abc", nil},
		{"long token, trailing space", []string{"Bearer " + long + " "}, long, nil},
		{"control byte is not space", []string{"Bearer a\x01b"}, "a\x01b", nil},
		{"high bytes", []string{"Bearer a\xffb"}, "a\xffb", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tokenFrom(tc.values...)
			if tok != tc.token || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("got %q, %v; want %q, %v", tok, err, tc.token, tc.err)
			}
		})
	}
	// Every white space byte, and bytes that are not (a control byte, a
	// high byte, '!'), at every position around the 32- and 8-byte steps
	// of the scan, and with a tail of every length after it.
	for _, c := range []byte(" \t\n\r\v\f\x01\xff!") {
		for i := range 100 {
			for _, tail := range []int{0, 1, 7, 8, 31, 33} {
				v := "Bearer " + long[:i] + string([]byte{c}) + long[:tail]
				want, wantErr := referenceToken(v)
				if got, err := tokenFrom(v); got != want || !errors.Is(err, wantErr) {
					t.Errorf("%q at %d, %d after: got %q, %v; want %q, %v", c, i, tail, got, err, want, wantErr)
				}
			}
		}
	}
}
