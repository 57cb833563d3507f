package grpcjwtconnect

import (
	"net/http"
	"strings"

	"connectrpc.com/connect/v2"
	"github.com/grpcjwt/grpcjwt"
)

// This file turns a refusal into what Connect's clients receive, in each
// of its protocols: the code, the exact message and the details of the
// gRPC status [grpcjwt.Policy.Status] makes of it (a google.rpc.ErrorInfo), and,
// where the refusal is carried by an HTTP status, a WWW-Authenticate
// challenge.

// connectError returns the error a client receives for the refusal err:
// the code, message and details of the status p sends for it
// ([grpcjwt.Policy.Status]: with the resource_metadata URL when the policy
// has one). err itself is its cause, for the server's interceptors and
// logs; Connect never sends a cause.
func connectError(p *grpcjwt.Policy, err error) *connect.Error {
	s := p.Status(err)
	ce := connect.NewError(connect.Code(s.Code()), s.Message())
	for _, d := range s.Proto().GetDetails() {
		url := d.GetTypeUrl()
		ce = ce.WithDetail(&connect.ErrorDetail{Type: url[strings.LastIndexByte(url, '/')+1:], Value: d.GetValue()})
	}
	return ce.WithCause(err)
}

// sendDPoPNonce sets the DPoP-Nonce field of the response header h (the
// middleware's [http.Header], the interceptor's [connect.Header]) to the
// nonce of [grpcjwt.Policy.DPoPNonce] for call, if any: a client of any
// protocol reads it from the response's HTTP header, whether the call was
// admitted or refused.
func sendDPoPNonce(h interface{ Set(key, value string) }, p *grpcjwt.Policy, call *grpcjwt.Call) {
	if n := p.DPoPNonce(call); n != "" {
		h.Set(grpcjwt.DPoPNonceHeader, n)
	}
}

// challengeWriter adds a WWW-Authenticate challenge to a response whose
// status is not 200 OK: the response of a Connect unary call, or of a
// request in no RPC protocol. gRPC, gRPC-Web and Connect streams answer
// 200 OK with the error in their own framing, where a challenge has no
// meaning.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

// WriteHeader adds the challenge to a status other than 200 OK.
func (w *challengeWriter) WriteHeader(code int) {
	if code != http.StatusOK && w.challenge != "" {
		w.Header().Set("WWW-Authenticate", w.challenge)
	}
	w.ResponseWriter.WriteHeader(code)
}

// errNotIntercepted is what a call admitted by a [Middleware] gets when it
// reaches its handler without the interceptor: a server misconfigured, so
// that the rules that read the request (organizations) or outlive the
// admission (stream expiry) would not apply.
func errNotIntercepted() *connect.Error {
	return connect.NewError(connect.CodeInternal, "grpcjwtconnect: the call was admitted by the middleware, but the server has no grpcjwtconnect interceptor")
}
