package grpcjwt_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/metadata"
)

// FuzzTokenFromMetadata: Bearer parsing never panics and agrees with the
// rule written plainly (referenceToken).
func FuzzTokenFromMetadata(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer  a.b.c ", "Basic x", "Bearer", "Bearer a b", "\tBearer\ta", "Bearer\x00a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
		tok, err := grpcjwt.TokenFromMetadata(ctx)
		want, wantErr := referenceToken(v)
		if tok != want || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("TokenFromMetadata(%q) = %q, %v; the rule says %q, %v", v, tok, err, want, wantErr)
		}
	})
}

// FuzzValidate: the token parser never panics, never hangs, and never
// accepts a token the issuer did not sign.
func FuzzValidate(f *testing.F) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	good := iss.Token(nil)
	other := iss.Token(map[string]any{"sub": "other"})
	// Seeds never hold a good signature, or a mutation could restore it.
	good = good[:strings.LastIndexByte(good, '.')] + other[strings.LastIndexByte(other, '.'):]
	for _, s := range []string{
		good,                                // another token's signature
		strings.Replace(good, ".", "..", 1), // four parts
		good[:strings.LastIndexByte(good, '.')+1], // no signature
		iss.Token(nil, grpcjwttest.WithKey(grpcjwttest.MustKey("ES256"))),
		"eyJhbGciOiJub25lIn0.e30.",
		"{}",
		"...",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c, err := v.Validate(ctx, tok); err == nil {
			t.Fatalf("accepted a token the issuer did not sign: %q (sub %q)", tok, c.Subject)
		}
	})
}

// FuzzValidateCanonical: a token is accepted in one spelling only. Seeded
// with tokens the issuer signed, the fuzzer may find others that verify
// (bytes the base64url decoder skips, say); each must be exactly the
// base64url encoding of what it decodes to, so that no signed token can be
// presented as many strings (each a cache entry of its own).
func FuzzValidateCanonical(f *testing.F) {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience, CacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	tok := iss.Token(nil, grpcjwttest.WithKeyFor("EdDSA"))
	f.Add(tok)
	f.Add(tok[:20] + "\n" + tok[20:])
	f.Add(tok + "\r\n")
	f.Fuzz(func(t *testing.T, tok string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := v.Validate(ctx, tok); err != nil {
			return
		}
		parts := strings.Split(tok, ".")
		for _, p := range parts {
			b, err := base64.RawURLEncoding.DecodeString(p)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
				t.Fatalf("accepted a token part that is not canonical base64url: %q", p)
			}
		}
	})
}
