package grpcjwt

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc"
)

// This file is the net/http door onto a [Policy]: it takes a request's
// facts from net/http (headers, the TLS connection, the URL), asks the
// policy as for a call of the method the route names, and turns a refusal
// into what an HTTP client expects (a status code, a WWW-Authenticate
// challenge, a small JSON body).

// HTTPHandler returns h behind the policy, for REST endpoints beside an RPC
// API: each request is decided as a call of method, a full method name
// ("/reports.v1.Reports/Export") whose rule applies unchanged: Go options
// name it as they name an RPC, and if it is an RPC of the program its
// .proto options count too. Routes that share a method share its rule.
// [Methods] lets [Policy.Audit] see the names the routes use.
//
// A request is refused, before h runs, with [HTTPStatus] of the refusal
// (401, 403 or 503), a WWW-Authenticate challenge ([Policy.Challenge])
// when the refusal is about the credentials, and the JSON body
// {"error":"<wire code>"}, the message of [Status]: the wire code a gRPC
// client of the same method gets ("invalid_token", "insufficient_scope",
// "auth.authorization_header_missing", ...), never why a token failed. An
// admitted request reaches h with the verified claims in its context
// ([ClaimsFromContext]); a public method, or an optional one called
// without a token, reaches it without. With DPoP nonces
// ([DPoPConfig.Nonce]), the answer to a request of the DPoP scheme,
// refused or admitted, has the server's nonce in its DPoP-Nonce header
// field ([Policy.DPoPNonce]), set before h runs.
//
// A CORS preflight (OPTIONS with Access-Control-Request-Method) never
// needs a token: it is passed to h undecided, for h (a CORS handler) to
// answer. Any other OPTIONS request is decided like the rest.
//
// A request has no protobuf message, so an organization rule on method
// refuses every request (fail closed, as [Policy.AuthFunc] does): serve
// such methods through an RPC door (the interceptors, or the gRPC-Gateway
// in front of them), which reads the request.
//
// The credentials are read as HTTPCall reads them ([HTTPCall]). HTTPHandler
// panics if method is not of the form "/service/method", as
// [http.ServeMux.Handle] panics on a bad pattern.
func (p *Policy) HTTPHandler(method string, h http.Handler) http.Handler {
	mustFullMethod("HTTPHandler", method)
	return &httpDoor{p: p, method: method, next: h}
}

// httpDoor is a handler behind a policy.
type httpDoor struct {
	p      *Policy
	method string
	next   http.Handler
}

func (d *httpDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		d.next.ServeHTTP(w, r)
		return
	}
	call := HTTPCall(r, d.method)
	c, err := d.p.Check(r.Context(), &call, nil)
	if n := d.p.DPoPNonce(&call); n != "" {
		w.Header().Set(DPoPNonceHeader, n)
	}
	if err != nil {
		d.p.refuseHTTP(w, err, call.HTM != "")
		return
	}
	if c != nil {
		r = r.WithContext(ContextWithClaims(r.Context(), c))
	}
	d.next.ServeHTTP(w, r)
}

// refuseHTTP answers a refused request: the status code, the challenge of
// a call whose authorization scheme was DPoP (dpop) or not, and the wire
// code in a JSON body.
func (p *Policy) refuseHTTP(w http.ResponseWriter, err error, dpop bool) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{Status(err).Message()})
	hdr := w.Header()
	if ch := p.Challenge(err, dpop); ch != "" {
		hdr.Set("WWW-Authenticate", ch)
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(HTTPStatus(err))
	_, _ = w.Write(append(body, '\n'))
}

// HTTPCall returns the facts of an HTTP request r, for a call of method:
// the Authorization header's values as sent, and the certificate the client
// presented in r's TLS handshake. When the authorization scheme is DPoP it
// also holds the DPoP header's values and the htm and htu of RFC 9449 §4.3
// that the proof is checked against: r.Method, and the scheme ("https"
// when r came over TLS, "http" otherwise), r.Host without the scheme's
// default port, and the path of r's URL as the client sent it, without
// query or fragment; HTM is empty for any other scheme. Behind a proxy
// that terminates TLS the scheme is "http", and a proof made for an
// https URL is refused: terminate TLS in the server, or rewrite r.TLS in
// front of the door, only where the proxy is trusted.
//
// The doors onto other HTTP frameworks (the gRPC-Gateway) build their
// calls with it, so that every HTTP door reads credentials alike.
func HTTPCall(r *http.Request, method string) Call {
	call := Call{
		Method: method,
		// The key as net/http stores it, which Values would find by
		// canonicalizing it again on every call.
		Authorization:   r.Header["Authorization"],
		PeerCertificate: requestCertificate(r),
	}
	if len(call.Authorization) == 1 && hasScheme(call.Authorization[0], "DPoP") {
		call.DPoP = r.Header.Values("DPoP")
		call.HTM = r.Method
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		call.HTU = htuOf(scheme, r.Host, r.URL.EscapedPath())
	}
	return call
}

// requestCertificate returns the certificate the client presented in the
// TLS handshake of r's connection, or nil.
func requestCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// Methods returns srv's services (srv may be nil) with methods added: the
// full method names that HTTP routes are guarded as ([Policy.HTTPHandler]),
// for [Policy.Audit] to list them with their rules, and to know them when
// it checks that every rule names a method the program has. A name srv
// already has is listed once. Methods panics if a name is not of the form
// "/service/method".
func Methods(srv ServiceInfoProvider, methods ...string) ServiceInfoProvider {
	services := make(map[string]grpc.ServiceInfo)
	if srv != nil {
		for name, info := range srv.GetServiceInfo() {
			services[name] = info
		}
	}
	for _, m := range methods {
		svc, name := mustFullMethod("Methods", m)
		info := services[svc]
		known := false
		for _, mi := range info.Methods {
			known = known || mi.Name == name
		}
		if !known {
			info.Methods = append(info.Methods[:len(info.Methods):len(info.Methods)], grpc.MethodInfo{Name: name})
		}
		services[svc] = info
	}
	return serviceInfo(services)
}

// serviceInfo is a fixed set of services.
type serviceInfo map[string]grpc.ServiceInfo

func (s serviceInfo) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

// mustFullMethod splits a full method name "/service/method" into its
// service and method, and panics, naming the function fn, if it is not
// one.
func mustFullMethod(fn, fullMethod string) (service, method string) {
	service, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !strings.HasPrefix(fullMethod, "/") || !ok || service == "" || method == "" || strings.Contains(method, "/") {
		panic(fmt.Sprintf("grpcjwt: %s: %q is not a full method name, /package.Service/Method", fn, fullMethod))
	}
	return service, method
}
