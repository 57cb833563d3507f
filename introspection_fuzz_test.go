package grpcjwt

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"github.com/grpcjwt/grpcjwt/internal/exactjson"
	"github.com/grpcjwt/grpcjwt/internal/jose"
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

// FuzzSignedIntrospectionAnswer: reading a signed answer (RFC 9701) never
// panics, refuses a forged one, and accepts only what a plain reading of
// its header and claims (encoding/json) agrees with: typ
// token-introspection+jwt, alg ES256, iss the issuer's, aud the client's
// or the API's, iat within the leeway of the request, a token_introspection
// that is active. Whatever it refuses before the signature is verified is
// the endpoint's failure, never the token's.
func FuzzSignedIntrospectionAnswer(f *testing.F) {
	const iss = "https://issuer.example"
	now := time.Unix(1_800_000_000, 0)
	for _, s := range [][2]string{
		{`{"alg":"ES256","kid":"k1","typ":"token-introspection+jwt"}`,
			`{"iss":"https://issuer.example","aud":"rs","iat":1800000000,"token_introspection":{"active":true,"aud":"api","exp":1800000600}}`},
		{`{"alg":"ES256","typ":"application/token-introspection+jwt"}`,
			`{"iss":"https://issuer.example","aud":["api"],"iat":1799999990,"token_introspection":{"active":false}}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`,
			`{"iss":"https://issuer.example","aud":"api","exp":1800000600,"iat":1800000000}`},
		{`{"alg":"none","typ":"token-introspection+jwt"}`, `{"token_introspection":{"active":true,"active":true}}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), false)
	}
	key := grpcjwttest.MustKey("ES256")
	key.KID = "k1"
	forger := grpcjwttest.MustKey("ES256")
	forger.KID = "k1"
	jwk, err := key.JWK()
	if err != nil {
		f.Fatal(err)
	}
	closed, cancel := context.WithCancel(context.Background())
	cancel() // an unknown kid starts no refresh
	ks := &keySet{issuer: iss, now: func() time.Time { return now }, minInterval: time.Hour, ctx: closed, cancel: cancel,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ks.nextRefresh.Store(math.MaxInt64)
	snap, err := ks.parse([]byte(`{"keys":[` + string(jwk) + `]}`))
	if err != nil {
		f.Fatal(err)
	}
	ks.snap.Store(snap)
	v := &Validator{leeway: time.Minute}
	t := &trustedIssuer{name: iss, audiences: []string{"api"}, algs: map[string]*jose.Algorithm{"ES256": jose.Lookup("ES256")},
		keys: ks, introspect: &introspector{auth: &clientAuth{id: "rs"}}}
	f.Fuzz(func(tt *testing.T, header, claims []byte, forged bool) {
		signer := key
		if forged {
			signer = forger
		}
		jwt, err := signer.SignJSON(header, claims)
		if err != nil {
			tt.Skip()
		}
		a := &introspectionAnswer{body: []byte(jwt), contentType: introspectionJWT, signed: true, sent: now.Add(-time.Second)}
		c, _, err := v.readAnswer(context.Background(), t, a, now)
		if err != nil {
			if c != nil {
				tt.Fatal("claims with an error")
			}
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrIntrospectionUnavailable) {
				tt.Fatalf("error of no kind: %v", err)
			}
			if errors.Is(err, ErrInvalidToken) && (forged || exactjson.Valid(claims) != nil || exactjson.Valid(header) != nil) {
				tt.Fatalf("a token refused by an answer not verified: %v", err)
			}
			return
		}
		if forged {
			tt.Fatal("a forged answer accepted")
		}
		var h struct{ Alg, Typ string }
		var p struct {
			Iss   string
			Aud   any
			Iat   float64
			Inner *struct{ Active bool } `json:"token_introspection"`
		}
		if json.Unmarshal(header, &h) != nil || json.Unmarshal(claims, &p) != nil {
			tt.Fatalf("accepted, but encoding/json cannot read it: %s %s", header, claims)
		}
		typ := strings.TrimPrefix(strings.ToLower(h.Typ), "application/")
		aud, _ := p.Aud.(string)
		if l, ok := p.Aud.([]any); ok {
			for _, e := range l {
				if e == "rs" || e == "api" {
					aud = e.(string)
				}
			}
		}
		iat := time.Unix(int64(p.Iat), 0)
		if h.Alg != "ES256" || typ != "token-introspection+jwt" || p.Iss != iss || (aud != "rs" && aud != "api") ||
			iat.Before(now.Add(-time.Minute-2*time.Second)) || iat.After(now.Add(time.Minute)) || p.Inner == nil || !p.Inner.Active || !c.Introspected() {
			tt.Fatalf("accepted %s %s as %+v", header, claims, c)
		}
	})
}
