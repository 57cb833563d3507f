package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
)

func TestParseTrustIssuer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  grpcjwt.IssuerConfig
		err   string
	}{
		{value: "issuer=https://b.example.com/oidc,audience=https://api.example.com", want: grpcjwt.IssuerConfig{
			Issuer: "https://b.example.com/oidc", Audiences: []string{"https://api.example.com"},
		}},
		{value: "audience=a,issuer=https://b/,audience=b,audience-prefix=urn:logto:organization:,jwks-url=https://b/jwks", want: grpcjwt.IssuerConfig{
			Issuer: "https://b/", Audiences: []string{"a", "b"}, AudiencePrefixes: []string{"urn:logto:organization:"}, JWKSURL: "https://b/jwks",
		}},
		{value: "issuer=https://b/,audience-prefix=urn:x:", want: grpcjwt.IssuerConfig{
			Issuer: "https://b/", AudiencePrefixes: []string{"urn:x:"},
		}},
		{value: "", err: `"" is not key=value`},
		{value: "https://b/", err: `"https://b/" is not key=value`},
		{value: "issuer=https://b/,audience=", err: `"audience=" is not key=value`},
		{value: "issuer=https://b/,audience=a,", err: `"" is not key=value`},
		{value: "url=https://b/,audience=a", err: `unknown key "url" (keys: issuer, audience, audience-prefix, organization-claim, jwks-url)`},
		{value: "issuer=https://b/,issuer=https://c/,audience=a", err: "issuer= is given twice"},
		{value: "issuer=https://b/,audience=a,jwks-url=https://b/1,jwks-url=https://b/2", err: "jwks-url= is given twice"},
		{value: "audience=a", err: "issuer= is required"},
		{value: "issuer=https://b/", err: "audience= (or audience-prefix=) is required"},
	} {
		got, err := parseTrustIssuer(tc.value)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseTrustIssuer(%q): err = %v, want one containing %q", tc.value, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("parseTrustIssuer(%q): %v", tc.value, err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("parseTrustIssuer(%q) = %+v, want %+v", tc.value, got, tc.want)
		}
	}
}

func TestTrustIssuerFlagRepeats(t *testing.T) {
	t.Parallel()
	var f trustIssuerFlag
	for _, v := range []string{"issuer=https://b/,audience=a", "issuer=https://c/,audience=a"} {
		if err := f.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if len(f) != 2 || f.String() != "https://b/ https://c/" {
		t.Errorf("after two -trust-issuer: %q (%d issuers), want both", f.String(), len(f))
	}
	var p stringsFlag
	if err := p.Set(""); err == nil {
		t.Error("an empty -audience-prefix was accepted")
	}
	_ = p.Set("urn:a:")
	_ = p.Set("urn:b:")
	if !reflect.DeepEqual([]string(p), []string{"urn:a:", "urn:b:"}) {
		t.Errorf("after two -audience-prefix: %q", p)
	}
}
