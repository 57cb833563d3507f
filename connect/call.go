package grpcjwtconnect

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
)

// This file takes the facts of a call, a [grpcjwt.Call], from what a door
// sees of it: the HTTP request (the middleware) or Connect's call info (the
// interceptor). Both read the same things the same way.

// requestCall takes the facts of a call from its HTTP request: the
// procedure is the request's path; the client certificate is the one of the
// request's TLS connection; for the DPoP scheme only, the proofs, the
// request's method (htm) and its URL (htu, see [htu]).
func requestCall(r *http.Request) grpcjwt.Call {
	call := grpcjwt.Call{
		Method: r.URL.Path,
		// The key as net/http stores it, which Values would find by
		// canonicalizing it again on every call.
		Authorization: r.Header["Authorization"],
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		call.PeerCertificate = r.TLS.PeerCertificates[0]
	}
	if isDPoP(call.Authorization) {
		call.DPoP = r.Header.Values("DPoP")
		call.HTM = r.Method
		call.HTU = htu(r.TLS != nil, r.Host, r.URL.Path)
	}
	return call
}

// serverCall takes the facts of a call from Connect: the procedure, the
// request headers, and, from the HTTP request Connect serves it from (its
// [connecthttp.ServerInfo]), the client certificate, the method and the
// URL. A call with no call info or served by no HTTP request (an in-process
// transport) has no credentials or no URL, and a token that needs them is
// refused.
func serverCall(ctx context.Context, procedure string) grpcjwt.Call {
	call := grpcjwt.Call{Method: procedure}
	info, ok := connect.CallInfoForServerContext(ctx)
	if !ok {
		return call
	}
	h := info.RequestHeader()
	call.Authorization = h.Values("Authorization")
	hi, _ := info.TransportInfo.(*connecthttp.ServerInfo) // its methods take nil
	state := hi.TLS()
	if state != nil && len(state.PeerCertificates) > 0 {
		call.PeerCertificate = state.PeerCertificates[0]
	}
	if isDPoP(call.Authorization) {
		call.DPoP = h.Values("DPoP")
		call.HTM = hi.HTTPMethod()
		if u := hi.RequestURL(); u.Path != "" {
			// Connect copies the request's Host into the headers.
			call.HTU = htu(state != nil, h.Get("Host"), u.Path)
		}
	}
	return call
}

// htu is the URL a DPoP proof's htu must equal: "https://" on a TLS
// connection, "http://" on a plaintext one (HTTP/1.1 or h2c), then the host
// the client sent (HTTP/1.1 Host, HTTP/2 :authority) without the scheme's
// default port, then the request's path, without query: for a call, the
// procedure.
func htu(tls bool, host, path string) string {
	if tls {
		return "https://" + strings.TrimSuffix(host, ":443") + path
	}
	return "http://" + strings.TrimSuffix(host, ":80") + path
}

// isDPoP reports whether vals is one authorization value of the DPoP
// scheme (compared case-insensitively, as the policy does): its first
// field, after any white space, is "DPoP".
func isDPoP(vals []string) bool {
	if len(vals) != 1 {
		return false
	}
	v := vals[0]
	for len(v) > 0 && isSpace(v[0]) {
		v = v[1:]
	}
	return len(v) >= 4 && strings.EqualFold(v[:4], "DPoP") && (len(v) == 4 || isSpace(v[4]))
}

// isSpace reports whether c is white space the policy splits an
// authorization value on.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}
