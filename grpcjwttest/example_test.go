package grpcjwttest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Start a local OIDC issuer, mint an access token with the claims a test
// needs, and verify it with a Validator that finds the issuer's keys
// through discovery, as it would a real provider's.
func ExampleNewIssuer() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()

	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	token := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"})
	claims, err := v.Validate(ctx, token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Scopes, claims.ClientID)
	// Output: alice [greet:read greet:write] test-client
}

// Keep an issuer's signing key across runs: write it as a private JWK,
// read it back later, and start the issuer with it, so that tokens minted
// before (or offline, with [grpcjwttest.Key.Sign]) still verify. This is
// what "grpcjwt-issuer serve -key-file" does.
func ExampleWithSigningKey() {
	saved, err := grpcjwttest.MustKey("ES256").MarshalPrivateJWK() // to a file, mode 0600
	if err != nil {
		log.Fatal(err)
	}

	key, err := grpcjwttest.ParsePrivateJWK(saved)
	if err != nil {
		log.Fatal(err)
	}
	iss := grpcjwttest.NewIssuer(
		grpcjwttest.WithAlgorithms(), // no generated keys
		grpcjwttest.WithSigningKey(key),
		grpcjwttest.WithDefaultAlgorithm(key.Alg),
	)
	defer iss.Close()

	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	claims, err := v.Validate(ctx, iss.Token(map[string]any{"sub": "alice"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, iss.SigningKey("ES256").KID == key.KID)
	// Output: alice true
}
