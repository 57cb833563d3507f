package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grpcjwt/grpcjwt"
)

// stringsFlag is a flag that may be given several times, each value kept.
type stringsFlag []string

func (f *stringsFlag) String() string { return strings.Join(*f, " ") }

func (f *stringsFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*f = append(*f, v)
	return nil
}

// trustIssuerKeys are the keys of a -trust-issuer value, in the order the
// usage lists them.
var trustIssuerKeys = []string{"issuer", "audience", "audience-prefix", "organization-claim", "jwks-url"}

// trustIssuerFlag is -trust-issuer: more issuers the server trusts, one per
// use of the flag, each "issuer=URL,audience=ID", where audience and
// audience-prefix may be repeated and jwks-url is optional. The keys mean
// what the flags of the same names mean for -issuer.
type trustIssuerFlag []grpcjwt.IssuerConfig

func (f *trustIssuerFlag) String() string {
	var s []string
	for _, ic := range *f {
		s = append(s, ic.Issuer)
	}
	return strings.Join(s, " ")
}

func (f *trustIssuerFlag) Set(v string) error {
	ic, err := parseTrustIssuer(v)
	if err != nil {
		return err
	}
	*f = append(*f, ic)
	return nil
}

// parseTrustIssuer parses one -trust-issuer value.
func parseTrustIssuer(v string) (grpcjwt.IssuerConfig, error) {
	var ic grpcjwt.IssuerConfig
	for _, field := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(field, "=")
		if !ok || value == "" {
			return ic, fmt.Errorf("%q is not key=value (keys: %s)", field, strings.Join(trustIssuerKeys, ", "))
		}
		switch key {
		case "issuer":
			if ic.Issuer != "" {
				return ic, errors.New("issuer= is given twice; use -trust-issuer once per issuer")
			}
			ic.Issuer = value
		case "audience":
			ic.Audiences = append(ic.Audiences, value)
		case "audience-prefix":
			ic.AudiencePrefixes = append(ic.AudiencePrefixes, value)
		case "organization-claim":
			if ic.OrganizationClaim != "" {
				return ic, errors.New("organization-claim= is given twice")
			}
			ic.OrganizationClaim = value
		case "jwks-url":
			if ic.JWKSURL != "" {
				return ic, errors.New("jwks-url= is given twice")
			}
			ic.JWKSURL = value
		default:
			return ic, fmt.Errorf("unknown key %q (keys: %s)", key, strings.Join(trustIssuerKeys, ", "))
		}
	}
	if ic.Issuer == "" {
		return ic, errors.New("issuer= is required")
	}
	if len(ic.Audiences) == 0 && len(ic.AudiencePrefixes) == 0 {
		return ic, errors.New("audience= (or audience-prefix=) is required")
	}
	return ic, nil
}
