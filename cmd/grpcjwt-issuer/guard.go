package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// guardUnsafeMethods returns the middleware of serve's server. It lets a
// web page in the developer's browser reach none of the endpoints that
// sign (/mint, and the token endpoint: a page may guess a client's
// secret), which a page could otherwise call in two ways:
//
//   - by DNS rebinding: the page's own name, resolved to 127.0.0.1 once
//     the page has loaded, makes the browser send the page's requests to
//     serve as same-origin ones, whose answers the page reads. Their Host
//     is the page's name: serve answers only a Host that names it in a way
//     no page can rebind, [trustedHost], else 421 Misdirected Request;
//   - across sites, from the page's origin to serve's: the page cannot
//     read the answer without CORS, which serve never grants, but the
//     request is made. serve refuses a request that a browser marks as
//     cross-origin ([http.CrossOriginProtection]: Sec-Fetch-Site, or an
//     Origin other than the Host) with 403 Forbidden. (/mint also refuses
//     every body but JSON, which a browser does not send across origins
//     without a preflight: see mintHandler.)
//
// GET and HEAD pass: they only read, and discovery and the JWKS are
// public. baseURL is -base-url, or "".
func guardUnsafeMethods(baseURL string) func(http.Handler) http.Handler {
	var baseHost string
	if u, err := url.Parse(baseURL); err == nil {
		baseHost = u.Hostname()
	}
	crossOrigin := http.NewCrossOriginProtection()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			if !trustedHost(r.Host, baseHost) {
				names := "an IP address or localhost"
				if baseHost != "" {
					names = "an IP address, localhost or " + baseHost
				}
				http.Error(w, fmt.Sprintf("grpcjwt-issuer: Host %q: name this issuer by %s", r.Host, names), http.StatusMisdirectedRequest)
				return
			}
			if err := crossOrigin.Check(r); err != nil {
				http.Error(w, "grpcjwt-issuer: refusing a cross-origin request from a browser", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// trustedHost reports whether host, a request's Host, names the server in
// a way that no web page can rebind to it: by an IP address, by
// "localhost" (which the system and browsers resolve themselves, not
// through DNS), or by the host of -base-url, baseHost, which whoever runs
// serve chose. Any port will do: a rebinding page controls the name, not
// the port, and a tunnel or a proxy to serve may listen on another.
func trustedHost(host, baseHost string) bool {
	name := (&url.URL{Host: host}).Hostname()
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	return strings.EqualFold(name, "localhost") || baseHost != "" && strings.EqualFold(name, baseHost)
}
