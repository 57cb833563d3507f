package grpcjwt_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// Validate a token minted by a local test issuer.
func ExampleValidator_Validate() {
	iss := grpcjwttest.NewIssuer()
	defer iss.Close()

	ctx := context.Background()
	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{Issuer: iss.URL, Audience: iss.Audience})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	claims, err := v.Validate(ctx, iss.Token(map[string]any{"sub": "alice", "scope": "greet:read greet:write"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Subject, claims.Scopes, claims.HasScope("greet:read"))

	_, err = v.Validate(ctx, iss.Token(map[string]any{"aud": "https://other.example.com"}))
	fmt.Println(errors.Is(err, grpcjwt.ErrInvalidToken), errors.Is(err, grpcjwt.ErrAudienceMismatch))
	fmt.Println(grpcjwt.Status(err).Code(), grpcjwt.Status(err).Message())
	// Output:
	// alice [greet:read greet:write] true
	// true true
	// Unauthenticated invalid_token
}
