package grpcjwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The HTTP requests to providers: the GETs of discovery documents and JWK
// Sets and the POSTs to introspection endpoints, bounded in time and size;
// the redirect policy of the client that makes them; the Cache-Control a
// JWKS response may carry; and which URLs may be fetched at all.

// getJSON GETs u within timeout and returns its body, refusing non-200
// responses and bodies over maxBody bytes.
func getJSON(ctx context.Context, client *http.Client, timeout time.Duration, u string, maxBody int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	return do(client, req, maxBody)
}

// postForm POSTs form to req (made with a context that bounds it) and
// returns the body and header of a 200 answer of at most maxBody bytes.
// Its errors name the URL and the status, never the form, which may hold
// a token or a client secret.
func postForm(client *http.Client, req *http.Request, form url.Values, maxBody int64) ([]byte, http.Header, error) {
	enc := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(enc))
	req.ContentLength = int64(len(enc))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(client, req, maxBody)
}

// do sends req, asking for JSON unless it asks for something else, and
// returns the body and header of a 200 answer, refusing any other status
// and bodies over maxBody bytes.
func do(client *http.Client, req *http.Request, maxBody int64) ([]byte, http.Header, error) {
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	u := req.URL.Redacted()
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil, fmt.Errorf("%s %s: %s", req.Method, u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, u, err)
	}
	if int64(len(body)) > maxBody {
		return nil, nil, fmt.Errorf("%s %s: response larger than %d bytes", req.Method, u, maxBody)
	}
	return body, resp.Header, nil
}

// maxAge returns the max-age of a Cache-Control header, or 0.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second
	}
	return 0
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

// checkHTTPURL refuses anything but an absolute http(s) URL.
func checkHTTPURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

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
