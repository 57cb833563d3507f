package main

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestServeRefusesWebPages serves the issuer as serve does, on loopback,
// and sends it what a web page in the developer's browser could: a
// request by DNS rebinding (the page's own name, resolved to 127.0.0.1,
// in Host), and a cross-site one (its origin in Origin and Sec-Fetch-Site,
// or a body a browser sends without a CORS preflight). /mint and the
// token endpoint refuse them; discovery and the JWKS, public, answer any;
// the calls the documentation shows work.
func TestServeRefusesWebPages(t *testing.T) {
	t.Parallel()
	plain := startTestIssuer(t, "")
	named := startTestIssuer(t, "http://issuer.test:8081")
	port := plain.port

	const jsonType = "application/json"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m2m"}, "client_secret": {"s3cret"}}.Encode()
	var multi strings.Builder
	mw := multipart.NewWriter(&multi)
	_ = mw.WriteField("sub", "mallory")
	_ = mw.Close()

	const (
		evil = "rebind.example"
		mint = "/oidc/mint"
	)
	for _, tc := range []struct {
		name        string
		issuer      *testIssuer // default plain
		method      string      // default POST
		path        string
		host        string // default 127.0.0.1:<port>
		contentType string
		body        string
		header      map[string]string
		status      int
	}{
		// As docs/local-issuer.md shows it: curl -H 'Content-Type: application/json' -d '{"sub":"alice"}' <issuer>/mint
		{name: "mint as documented", path: mint, contentType: jsonType, body: `{"sub":"alice"}`, status: http.StatusOK},
		{name: "mint with a charset", path: mint, contentType: "application/json; charset=utf-8", body: `{"sub":"alice"}`, status: http.StatusOK},
		{name: "mint by localhost", path: mint, host: "localhost:" + port, contentType: jsonType, body: `{}`, status: http.StatusOK},
		{name: "mint by IPv6 loopback", path: mint, host: "[::1]:" + port, contentType: jsonType, body: `{}`, status: http.StatusOK},
		{name: "mint from the issuer's own origin", path: mint, contentType: jsonType, body: `{}`,
			header: map[string]string{"Origin": "http://127.0.0.1:" + port, "Sec-Fetch-Site": "same-origin"}, status: http.StatusOK},
		{name: "mint by the -base-url host", issuer: named, path: mint, host: "issuer.test:8081", contentType: jsonType, body: `{}`, status: http.StatusOK},

		// DNS rebinding: the browser deems the request same-origin.
		{name: "mint by another name", path: mint, host: evil + ":" + port, contentType: jsonType, body: `{}`, status: http.StatusMisdirectedRequest},
		{name: "mint by rebinding, as a browser sends it", path: mint, host: evil + ":" + port, contentType: jsonType, body: `{}`,
			header: map[string]string{"Origin": "http://" + evil + ":" + port, "Sec-Fetch-Site": "same-origin"}, status: http.StatusMisdirectedRequest},
		{name: "mint by a subdomain of localhost", path: mint, host: "a.localhost:" + port, contentType: jsonType, body: `{}`, status: http.StatusMisdirectedRequest},
		{name: "mint by another name, with a -base-url", issuer: named, path: mint, host: evil + ":8081", contentType: jsonType, body: `{}`, status: http.StatusMisdirectedRequest},
		{name: "token endpoint by another name", path: "/oidc/token", host: evil + ":" + port, contentType: "application/x-www-form-urlencoded", body: form, status: http.StatusMisdirectedRequest},

		// Cross-site requests.
		{name: "mint, simple cross-site text/plain", path: mint, contentType: "text/plain", body: `{"sub":"mallory"}`,
			header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden},
		{name: "mint, cross-origin Origin", path: mint, contentType: jsonType, body: `{}`,
			header: map[string]string{"Origin": "https://evil.example"}, status: http.StatusForbidden},
		{name: "mint, Origin null", path: mint, contentType: jsonType, body: `{}`,
			header: map[string]string{"Origin": "null"}, status: http.StatusForbidden},
		{name: "mint, Origin of another loopback name", path: mint, contentType: jsonType, body: `{}`,
			header: map[string]string{"Origin": "http://localhost:" + port}, status: http.StatusForbidden},
		{name: "mint, Sec-Fetch-Site cross-site", path: mint, contentType: jsonType, body: `{}`,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden},
		{name: "token endpoint, cross-site form", path: "/oidc/token", contentType: "application/x-www-form-urlencoded", body: form,
			header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden},

		// Bodies a browser sends without a preflight, from a browser that
		// sends neither Origin nor Sec-Fetch-Site.
		{name: "mint, text/plain", path: mint, contentType: "text/plain", body: `{"sub":"mallory"}`, status: http.StatusUnsupportedMediaType},
		{name: "mint, form", path: mint, contentType: "application/x-www-form-urlencoded", body: "sub=mallory", status: http.StatusUnsupportedMediaType},
		{name: "mint, multipart", path: mint, contentType: mw.FormDataContentType(), body: multi.String(), status: http.StatusUnsupportedMediaType},
		{name: "mint, no Content-Type", path: mint, body: `{}`, status: http.StatusUnsupportedMediaType},

		// Public endpoints answer any Host; the token endpoint answers
		// its clients.
		{name: "discovery by another name", method: http.MethodGet, path: "/oidc/.well-known/openid-configuration", host: evil + ":" + port, status: http.StatusOK},
		{name: "JWKS by another name", method: http.MethodGet, path: "/oidc/jwks", host: evil + ":" + port, status: http.StatusOK},
		{name: "token endpoint", path: "/oidc/token", contentType: "application/x-www-form-urlencoded", body: form, status: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := tc.issuer
			if iss == nil {
				iss = plain
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, "http://"+iss.addr+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s, Host %q: %s, want %d: %s", method, tc.path, req.Host, resp.Status, tc.status, b)
			}
			if tc.status == http.StatusMisdirectedRequest && !strings.Contains(string(b), fmt.Sprintf("Host %q: name this issuer by an IP address", req.Host)) {
				t.Errorf("the answer %q does not name the Host and what to use instead", b)
			}
			if tc.path == mint && tc.status == http.StatusOK {
				c, err := iss.validator.Validate(context.Background(), strings.TrimSuffix(string(b), "\n"))
				if err != nil {
					t.Fatalf("Validate the minted token: %v", err)
				}
				if strings.Contains(tc.body, "alice") {
					want(t, "subject", c.Subject, "alice")
				}
			}
		})
	}
}

// testIssuer is serve's issuer started by startTestIssuer.
type testIssuer struct {
	*grpcjwttest.Issuer
	addr, port string             // where it listens
	validator  *grpcjwt.Validator // of its tokens
}

// startTestIssuer starts the issuer as serve does, on a loopback port,
// with -base-url base when not empty and the client m2m:s3cret; it is
// closed with the test.
func startTestIssuer(t *testing.T, base string) *testIssuer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &serveConfig{path: "/oidc", baseURL: base, clients: clientsFlag{{"m2m", "s3cret"}}}
	iss := startIssuer(c, lis, grpcjwttest.MustKey("ES256"))
	t.Cleanup(iss.Close)
	_, port, err := net.SplitHostPort(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// The keys are fetched where the issuer listens, which its URL need
	// not name.
	v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
		Issuer:   iss.URL,
		Audience: audience,
		JWKSURL:  "http://" + lis.Addr().String() + "/oidc/jwks",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return &testIssuer{Issuer: iss, addr: lis.Addr().String(), port: port, validator: v}
}
