package grpcjwt

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/internal/exactjson"
)

// providerMetadata is what a Validator reads of a discovery document.
type providerMetadata struct {
	jwksURI string
	// introspectionEndpoint is as the document says, unchecked: an issuer
	// that introspects checks it, one that does not ignores it.
	introspectionEndpoint string
	// signsIntrospection: the document lists the algorithms its
	// introspection endpoint signs answers with (RFC 9701 §7), as a
	// non-empty array of strings.
	signsIntrospection bool
}

// discover reads the issuer's OpenID Provider Configuration and returns its
// jwks_uri and what it says of introspection. The document's issuer must
// equal the configured one exactly.
func discover(ctx context.Context, client *http.Client, timeout time.Duration, issuer string, maxBody int64) (providerMetadata, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := getJSON(ctx, client, timeout, u, maxBody)
	if err != nil {
		return providerMetadata{}, fmt.Errorf("grpcjwt: OIDC discovery: %w", err)
	}
	var doc struct{ Issuer, JWKSURI, IntrospectionEndpoint string }
	var signs bool
	err = exactjson.Object(body, func(name, value []byte) error {
		var ok bool
		switch string(name) {
		case "introspection_signing_alg_values_supported":
			// Of another type, it offers nothing: answers stay plain JSON.
			algs, ok := stringArray(value)
			signs = ok && len(algs) > 0
			return nil
		case "issuer":
			doc.Issuer, ok = exactjson.String(value)
		case "jwks_uri":
			doc.JWKSURI, ok = exactjson.String(value)
		case "introspection_endpoint":
			doc.IntrospectionEndpoint, ok = exactjson.String(value)
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("%q is not a string", name)
		}
		return nil
	})
	if err != nil {
		return providerMetadata{}, fmt.Errorf("grpcjwt: OIDC discovery: %s is not a provider configuration: %w", u, err)
	}
	if doc.Issuer != issuer {
		return providerMetadata{}, fmt.Errorf("grpcjwt: %w: configured %q, discovery says %q", ErrIssuerMismatch, issuer, truncate(doc.Issuer))
	}
	if err := checkHTTPURL(doc.JWKSURI); err != nil {
		return providerMetadata{}, fmt.Errorf("grpcjwt: OIDC discovery: jwks_uri: %w", err)
	}
	if err := checkKeysURL(issuer, doc.JWKSURI); err != nil {
		return providerMetadata{}, fmt.Errorf("grpcjwt: OIDC discovery: jwks_uri: %w", err)
	}
	return providerMetadata{jwksURI: doc.JWKSURI, introspectionEndpoint: doc.IntrospectionEndpoint, signsIntrospection: signs}, nil
}
