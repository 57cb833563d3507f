package grpcjwt

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// FuzzIntrospectionAnswer: reading an introspection answer never panics,
// and accepts only an object whose one "active" member is true, whose iss
// is absent or the issuer's, with our audience and an exp not past; what
// it refuses for the token is invalid_token, anything else the endpoint's
// failure.
func FuzzIntrospectionAnswer(f *testing.F) {
	const iss = "https://issuer.example"
	now := time.Unix(1_800_000_000, 0)
	for _, s := range []string{
		`{"active":true,"iss":"https://issuer.example","aud":"api","exp":1800000600,"scope":"a b"}`,
		`{"active":true,"aud":["x","api"],"exp":1800000600,"token_type":"DPoP","cnf":{"jkt":"k"}}`,
		`{"active":false}`, `{"active":true,"active":true}`, `[]`, `{"active":"true"}`, `{"Active":true}`,
	} {
		f.Add([]byte(s))
	}
	v := &Validator{leeway: time.Minute}
	t := &trustedIssuer{name: iss, audiences: []string{"api"}}
	f.Fuzz(func(tt *testing.T, body []byte) {
		c, _, err := v.readIntrospection(t, body, now)
		if err != nil {
			if c != nil {
				tt.Fatal("claims with an error")
			}
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrIntrospectionUnavailable) {
				tt.Fatalf("error of no kind: %v", err)
			}
			if errors.Is(err, ErrIntrospectionUnavailable) && exactjson.Object(body, nil) == nil {
				tt.Fatalf("a JSON object refused as the endpoint's failure: %v", err)
			}
			return
		}
		actives := 0
		_ = exactjson.Object(body, func(name, value []byte) error {
			if string(name) == "active" {
				actives++
				if string(value) != "true" {
					tt.Fatalf("accepted with active %s", value)
				}
			}
			return nil
		})
		if actives != 1 || !c.Introspected() || c.Issuer != iss || !slices.Contains(c.Audience, "api") ||
			c.ExpiresAt.IsZero() || now.After(c.ExpiresAt.Add(time.Minute)) {
			tt.Fatalf("accepted %s as %+v", body, c)
		}
	})
}
