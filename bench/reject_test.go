package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestVerifiersReject checks that every verifier benchmarked accepts the
// benchmark token and refuses tokens that are expired, not yet valid, from
// another issuer, for another audience, without exp, tampered with, or
// signed with an unpublished key. A verifier that skipped a check would look
// fast for the wrong reason. The physical floor, which reads no claims,
// must refuse the last two.
func TestVerifiersReject(t *testing.T) {
	f := fixture(t)
	now := time.Now()
	with := func(changes map[string]any) map[string]any {
		c := TokenClaims(now)
		for k, v := range changes {
			c[k] = v
		}
		return c
	}
	for _, alg := range Algs {
		bad := []struct {
			name      string
			token     string
			signature bool // refused by the signature check alone
		}{
			{"expired", f.Issuer.Token(with(map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), grpcjwttest.WithKeyFor(alg)), false},
			{"not yet valid", f.Issuer.Token(with(map[string]any{"nbf": now.Add(time.Hour).Unix()}), grpcjwttest.WithKeyFor(alg)), false},
			{"other issuer", f.Issuer.Token(with(map[string]any{"iss": "https://evil.example/oidc"}), grpcjwttest.WithKeyFor(alg)), false},
			{"other audience", f.Issuer.Token(with(map[string]any{"aud": "https://other.example.com"}), grpcjwttest.WithKeyFor(alg)), false},
			{"without exp", f.Issuer.Token(with(map[string]any{"exp": nil}), grpcjwttest.WithKeyFor(alg)), false},
			{"tampered", tamper(t, f.Tokens[alg]), true},
			{"unpublished key", f.Issuer.Token(with(nil), grpcjwttest.WithKey(grpcjwttest.MustKey(alg))), true},
		}
		for _, im := range verifyImpls {
			t.Run(alg+"/"+im.Name, func(t *testing.T) {
				v := verifier(t, f.Issuer, im, alg)
				mustAccept(t, v, f.Tokens[alg], im.Subject())
				for _, b := range bad {
					if im.SignatureOnly && !b.signature {
						continue
					}
					if sub, err := v(context.Background(), b.token); err == nil {
						t.Errorf("%s token accepted (sub %q)", b.name, sub)
					}
				}
			})
		}
	}
}

// tamper returns token with its payload's subject changed and the signature
// kept.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), Subject, "user-00000000", 1)
	if forged == string(payload) {
		t.Fatal("subject not found in the payload")
	}
	parts[1] = b64.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}

// TestInterceptors checks that the interceptors benchmarked let the
// benchmark token through to the handler with its claims, and refuse a
// token without the scope SayHello requires.
func TestInterceptors(t *testing.T) {
	f := fixture(t)
	noScope := TokenClaims(time.Now())
	noScope["scope"] = "profile"
	weak := f.Issuer.Token(noScope)
	for _, im := range interceptorImpls {
		t.Run(im.name, func(t *testing.T) {
			call := newUnaryCall(t, f.Issuer, im, f.Tokens["RS256"])
			call.ctx = CallContext(sayHello, weak)
			_, err := call.do()
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("token without greet:read: got %v, want PermissionDenied", err)
			}
		})
	}
}
