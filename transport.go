package grpcjwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// checkKeysURL refuses keys in the clear for an https issuer: their TLS
// would otherwise protect nothing, since whoever can rewrite the JWKS can
// sign tokens. Both URLs have passed checkHTTPURL. http issuers (local
// providers) may name any http(s) JWKS.
func checkKeysURL(issuer, jwksURL string) error {
	iu, err := url.Parse(issuer)
	if err != nil {
		return err
	}
	ju, err := url.Parse(jwksURL)
	if err != nil {
		return err
	}
	if iu.Scheme == "https" && ju.Scheme != "https" {
		return fmt.Errorf("%q is not https, but the issuer %q is: an https issuer's keys are only fetched over https", jwksURL, issuer)
	}
	return nil
}

// refuseDowngrade returns a shallow copy of c that refuses to follow a
// redirect from https to anything else, then defers to c's own redirect
// policy (by default, at most 10 redirects). c itself is left as it is.
func refuseDowngrade(c *http.Client) *http.Client {
	next := c.CheckRedirect
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if prev := via[len(via)-1].URL; prev.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("refused redirect from %s to %s: it would drop TLS", prev.Redacted(), req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}
