package jose

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// compact builds a compact JWS of header and payload, with a signature of
// sig's bytes.
func compact(header, payload, sig string) string {
	return enc(header) + "." + enc(payload) + "." + enc(sig)
}

// The two kinds of JWS grpcjwt reads, as grpcjwt declares them.
var (
	tokenProfile = Profile{Kid: Allow}
	proofProfile = Profile{Kid: Refuse, JWK: Require, KeyURLs: Refuse}
)

func TestSplit(t *testing.T) {
	good := compact(`{"alg":"ES256"}`, `{}`, "sig")
	cases := []struct {
		name, s string
		err     string // "" for none
	}{
		{"three parts", good, ""},
		{"no dot", strings.ReplaceAll(good, ".", ""), "no '.'"},
		{"two parts", good[:strings.LastIndexByte(good, '.')], "not three"},
		{"four parts", good + ".AAAA", "not three"},
		{"JWE", "a.b.c.d.e", "not three"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "no '.'"},
		{"empty signature", good[:strings.LastIndexByte(good, '.')+1], "empty signature"},
		{"padding", good + "=", "alphabet"},
		{"line feed", good[:5] + "\n" + good[5:], "alphabet"},
		{"carriage return in the payload", strings.Replace(good, ".", ".\r", 1), "alphabet"},
		{"standard base64", strings.Replace(good, ".", ".+/", 1), "alphabet"},
		{"empty header and payload", "..AAAA", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(tc.s)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Split: %v", err)
			case tc.err != "" && (err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Split: %v, want ErrMalformed saying %q", err, tc.err)
			}
		})
	}
}

func TestParts(t *testing.T) {
	j, err := Split(compact(`{"alg":"ES256"}`, `{"a":1}`, "signature"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := j.Payload(); err != nil || string(p) != `{"a":1}` {
		t.Errorf("Payload = %q, %v", p, err)
	}
	if s, err := j.Signature(); err != nil || string(s) != "signature" {
		t.Errorf("Signature = %q, %v", s, err)
	}
	if in := j.SigningInput(); in != enc(`{"alg":"ES256"}`)+"."+enc(`{"a":1}`) {
		t.Errorf("SigningInput = %q", in)
	}
	// A length no encoding has, and bits past the end that are not zero:
	// each value has one spelling only.
	for _, part := range []string{"A", "AB"} {
		j, err := Split(enc(`{}`) + "." + part + "." + part)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.Payload(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Payload of %q: %v, want ErrMalformed", part, err)
		}
		if _, err := j.Signature(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Signature of %q: %v, want ErrMalformed", part, err)
		}
	}
}

func TestHeader(t *testing.T) {
	jwk := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	cases := []struct {
		name    string
		p       *Profile
		header  string
		want    Header
		kind    error // nil: no error
		message string
	}{
		{"token", &tokenProfile, `{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, Header{Alg: "RS256", Kid: "k1", Typ: "at+jwt", HasTyp: true}, nil, ""},
		{"token without typ or kid", &tokenProfile, `{"alg":"RS256"}`, Header{Alg: "RS256"}, nil, ""},
		{"token without alg", &tokenProfile, `{"ALG":"RS256"}`, Header{}, nil, ""},
		{"token: empty typ is a typ", &tokenProfile, `{"alg":"RS256","typ":""}`, Header{Alg: "RS256", HasTyp: true}, nil, ""},
		{"token: jwk, jku, x5u, x5c never read", &tokenProfile, `{"alg":"RS256","jwk":1,"jku":"https://x","x5u":"https://x","x5c":["AAAA"]}`, Header{Alg: "RS256"}, nil, ""},
		{"token: crit", &tokenProfile, `{"alg":"RS256","crit":["exp"]}`, Header{}, ErrRefused, `header member "crit" is not accepted`},
		{"token: b64", &tokenProfile, `{"alg":"RS256","b64":false}`, Header{}, ErrRefused, `"b64"`},
		{"token: zip", &tokenProfile, `{"alg":"RS256","zip":"DEF"}`, Header{}, ErrRefused, `"zip"`},
		{"token: enc", &tokenProfile, `{"alg":"RS256","enc":"A128GCM"}`, Header{}, ErrRefused, `"enc"`},
		{"token: alg not a string", &tokenProfile, `{"alg":["RS256"]}`, Header{}, ErrMalformed, `header member "alg" has the wrong type`},
		{"token: kid not a string", &tokenProfile, `{"alg":"RS256","kid":1}`, Header{}, ErrMalformed, `"kid" has the wrong type`},
		{"token: typ not a string", &tokenProfile, `{"alg":"RS256","typ":null}`, Header{}, ErrMalformed, `"typ" has the wrong type`},
		{"token: duplicate alg", &tokenProfile, `{"alg":"RS256","alg":"none"}`, Header{}, exactjson.ErrDuplicate, "header: duplicate"},
		{"token: duplicate ignored member", &tokenProfile, `{"alg":"RS256","x":1,"x":2}`, Header{}, exactjson.ErrDuplicate, "header: duplicate"},
		{"token: not an object", &tokenProfile, `["alg"]`, Header{}, ErrMalformed, "header is not a JSON object"},
		{"token: not JSON", &tokenProfile, `{"alg":"RS256"`, Header{}, ErrMalformed, "header is not a JSON object"},
		{"token: names are exact", &tokenProfile, `{"alg":"RS256","Kid":"k","CRIT":1,"Typ":"x"}`, Header{Alg: "RS256"}, nil, ""},

		{"proof", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `}`, Header{Alg: "EdDSA", Typ: "dpop+jwt", HasTyp: true, JWK: []byte(jwk)}, nil, ""},
		{"proof without jwk", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA"}`, Header{}, ErrMalformed, "no jwk in the header"},
		{"proof: jwk not an object", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":"k"}`, Header{}, ErrMalformed, `"jwk" has the wrong type`},
		{"proof: kid", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `,"kid":"k"}`, Header{}, ErrRefused, `"kid" is not accepted`},
		{"proof: jku", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `,"jku":"https://x"}`, Header{}, ErrRefused, `"jku"`},
		{"proof: x5u", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `,"x5u":"https://x"}`, Header{}, ErrRefused, `"x5u"`},
		{"proof: x5c", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `,"x5c":[]}`, Header{}, ErrRefused, `"x5c"`},
		{"proof: crit", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + jwk + `,"crit":[]}`, Header{}, ErrRefused, `"crit"`},
		{"a profile that requires a kid", &Profile{Kid: Require}, `{"alg":"RS256","kid":""}`, Header{Alg: "RS256"}, nil, ""},
		{"a profile that requires a kid, without", &Profile{Kid: Require}, `{"alg":"RS256"}`, Header{}, ErrMalformed, "no kid in the header"},
		{"proof: duplicate in the jwk", &proofProfile, `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","kty":"EC"}}`, Header{}, exactjson.ErrDuplicate, "header: duplicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Split(compact(tc.header, "{}", "sig"))
			if err != nil {
				t.Fatal(err)
			}
			h, err := j.Header(tc.p)
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.message) {
					t.Fatalf("Header: %v, want %v saying %q", err, tc.kind, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatalf("Header: %v", err)
			}
			if h.Alg != tc.want.Alg || h.Kid != tc.want.Kid || h.Typ != tc.want.Typ || h.HasTyp != tc.want.HasTyp || string(h.JWK) != string(tc.want.JWK) {
				t.Fatalf("Header = %+v, want %+v", h, tc.want)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	jwt := Types{Values: []string{"at+jwt", "application/at+jwt", "JWT", "application/JWT"}, Optional: true}
	atJWT := Types{Values: []string{"at+jwt", "application/at+jwt"}}
	dpop := Types{Values: []string{"dpop+jwt"}}
	absent := Header{}
	typ := func(s string) *Header { return &Header{Typ: s, HasTyp: true} }
	cases := []struct {
		t    *Types
		h    *Header
		want bool
	}{
		{&jwt, &absent, true},
		{&jwt, typ("JWT"), true},
		{&jwt, typ("jwt"), true},
		{&jwt, typ("AT+JWT"), true},
		{&jwt, typ("Application/At+Jwt"), true},
		{&jwt, typ(""), false},
		{&jwt, typ("id+jwt"), false},
		{&jwt, typ("application/"), false},
		{&jwt, typ("application/application/at+jwt"), false},
		{&atJWT, &absent, false},
		{&atJWT, typ("JWT"), false},
		{&atJWT, typ("at+jwt"), true},
		{&dpop, &absent, false},
		{&dpop, typ("DPoP+JWT"), true},
		{&dpop, typ("application/dpop+jwt"), false},
	}
	for _, tc := range cases {
		if got := tc.t.Accept(tc.h); got != tc.want {
			t.Errorf("%v.Accept(typ %q, present %v) = %v, want %v", tc.t.Values, tc.h.Typ, tc.h.HasTyp, got, tc.want)
		}
	}
}

func TestDecodeBase64URL(t *testing.T) {
	for s, ok := range map[string]bool{
		"":          true,
		"AQAB":      true,
		"_-8":       true,
		"AQAB\n":    false,
		"AQ\rAB":    false,
		"AQAB=":     false,
		"+/8":       false,
		"AB":        false, // trailing bits not zero
		"A":         false,
		"AQAB AQAB": false,
	} {
		if _, err := DecodeBase64URL(s); (err == nil) != ok {
			t.Errorf("DecodeBase64URL(%q): %v", s, err)
		}
	}
}

// FuzzHeader: the reader never panics, accepts only one exact JSON object
// without crit, b64, zip or enc (a proof's with a jwk, and neither kid nor
// jku), and reads the alg that is there by its exact name.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		`{"alg":"RS256","kid":"k","typ":"at+jwt"}`,
		`{"alg":"EdDSA","typ":"dpop+jwt","jwk":{"kty":"OKP"}}`,
		`{"alg":"RS256","crit":["x"]}`,
		`{"alg":"RS256","alg":"none"}`,
		`{"al\u0067":"RS256"}`,
		`[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		j, err := Split(enc(header) + ".e30.AAAA")
		if err != nil {
			t.Fatalf("Split of an encoded header: %v", err)
		}
		for _, p := range []*Profile{&tokenProfile, &proofProfile} {
			h, err := j.Header(p)
			if err != nil {
				continue
			}
			members := map[string][]byte{}
			if err := exactjson.Object([]byte(header), func(name, value []byte) error {
				members[string(name)] = append([]byte(nil), value...)
				return nil
			}); err != nil {
				t.Fatalf("Header accepted %q, which is not one exact JSON object: %v", header, err)
			}
			for _, refused := range []string{"crit", "b64", "zip", "enc"} {
				if members[refused] != nil {
					t.Fatalf("Header accepted %q, with %s", header, refused)
				}
			}
			if alg, _ := exactjson.String(members["alg"]); alg != h.Alg {
				t.Fatalf("alg %q, the header has %q", h.Alg, alg)
			}
			if p == &proofProfile && (members["kid"] != nil || members["jku"] != nil || h.JWK == nil) {
				t.Fatalf("a proof header %q accepted", header)
			}
		}
	})
}
