package grpcjwtconnect

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"

	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/internal/claimsctx"
)

// Middleware is the net/http side of the Connect door: it decides a call
// from its HTTP request, before Connect sees it, and refuses it in the
// protocol the request speaks. It needs the interceptor ([NewInterceptor])
// on the [connect.Server] behind it, which checks what only the decoded
// messages and the stream's life tell. Build one with [NewMiddleware]; a
// Middleware is safe for concurrent use.
type Middleware struct {
	policy *grpcjwt.Policy
	errors *connecthttp.ErrorWriter
}

// NewMiddleware returns a middleware that decides calls by policy. opts
// are the [connecthttp.Option] values the server is mounted with (those
// that matter here: [connecthttp.WithRequireConnectProtocolHeader] and
// [connecthttp.WithCodecs]), so that it recognizes a request's protocol as
// the server does.
func NewMiddleware(policy *grpcjwt.Policy, opts ...connecthttp.Option) *Middleware {
	return &Middleware{policy: policy, errors: connecthttp.NewErrorWriter(opts...)}
}

// Wrap returns a handler that decides every request before next sees it,
// fail closed:
//
//   - A CORS preflight (OPTIONS with Origin and
//     Access-Control-Request-Method) goes to next undecided: browsers send
//     it without credentials. Put a CORS handler inside Wrap, or outside.
//   - Any other request is decided by policy as the procedure its path
//     names ([grpcjwt.Policy.Authenticate], the path as the method): a
//     public procedure reads no token; an unknown path gets the policy's
//     default rule. It is refused before its body is read, in the protocol
//     it speaks (Connect, gRPC, gRPC-Web; Connect's unary JSON for a
//     request in none), with the message and the google.rpc.ErrorInfo a
//     gRPC client gets; where the refusal is an HTTP status (Connect unary
//     calls, and requests in no RPC protocol), with the WWW-Authenticate
//     challenge of [grpcjwt.Policy.Challenge]. With DPoP nonces, the
//     answer to a request of the DPoP scheme, refused or admitted, has the
//     server's nonce in its DPoP-Nonce header ([grpcjwt.Policy.DPoPNonce]).
//     Mount what must stay open (health checks, static files) beside the
//     wrapped handler, not behind it.
//   - An admitted request goes to next with the claims in its context
//     ([grpcjwt.ClaimsFromContext]). A call to a procedure the protobuf
//     registry knows must then be taken over by the interceptor: if it
//     reaches its handler without one, its body cannot be read and (for a
//     Connect GET, whose message is in its URL) its response is replaced,
//     both by an Internal error, so that a rule the middleware cannot apply
//     (organizations, stream expiry) is never skipped.
//
// Mount it where the request's path is the procedure: inside any
// http.StripPrefix, as Connect sees it.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPreflight(r) {
			next.ServeHTTP(w, r)
			return
		}
		call := requestCall(r)
		adm, err := m.policy.Admit(r.Context(), &call)
		sendDPoPNonce(w.Header(), m.policy, &call)
		if err != nil {
			cw := &challengeWriter{ResponseWriter: w, challenge: m.policy.Challenge(err, isDPoP(call.Authorization))}
			_ = m.errors.Write(cw, r, connectError(m.policy, err))
			return
		}
		a := &admission{Context: r.Context(), method: call.Method, claims: adm.Claims, checks: adm.NeedsMessages()}
		r = r.WithContext(a)
		if adm.Registered() {
			if r.Method == http.MethodGet {
				w = &guardedResponse{ResponseWriter: w, a: a, errors: m.errors, r: r}
			} else if r.Body != nil && r.Body != http.NoBody {
				a.body = guardedBody{ReadCloser: r.Body, a: a}
				r.Body = &a.body
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isPreflight reports whether r is a CORS preflight request, which
// browsers send without credentials.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// admissionKey is the context key of a call's [admission].
type admissionKey struct{}

// admission is a middleware's decision to let a call in: the procedure it
// decided and the claims, for the interceptor to take over once. It is
// the context of the request it admits, which answers admissionKey with
// the admission and the claims' key (package claimsctx) with the claims,
// as [grpcjwt.ContextWithClaims] would; and it holds the guard of the
// request's body. One allocation (80 bytes) carries all of that: with the
// request's copy that carries the context, an admitted call costs two. (A
// GET, whose message is in its URL, has its response guarded instead: a
// third allocation, for the rarer call.)
type admission struct {
	context.Context // the request's

	method  string
	claims  *grpcjwt.Claims // nil: a call allowed without a token
	checks  bool            // the method's rule reads its request messages
	claimed atomic.Bool

	body guardedBody // the request's body, when guarded
}

// Value returns the admission for admissionKey, the claims (if any) for
// their key, and otherwise the request context's value.
func (a *admission) Value(key any) any {
	switch key.(type) {
	case admissionKey:
		return a
	case claimsctx.Key:
		if a.claims != nil {
			return a.claims
		}
	}
	return a.Context.Value(key)
}

// claim takes the admission over for a call of procedure: once, and only
// for the procedure it was decided for.
func (a *admission) claim(procedure string) bool {
	return a.method == procedure && a.claimed.CompareAndSwap(false, true)
}

// guardedBody is the body of an admitted call, readable once the
// interceptor has taken the call over.
type guardedBody struct {
	io.ReadCloser
	a *admission
}

// Read reads the body, or refuses to if no interceptor took the call over.
func (b *guardedBody) Read(p []byte) (int, error) {
	if !b.a.claimed.Load() {
		return 0, errNotIntercepted()
	}
	return b.ReadCloser.Read(p)
}

// guardedResponse is the response of an admitted Connect GET call, which
// carries its message in its URL: unless the interceptor has taken the
// call over by the time the handler answers, the answer is replaced by an
// Internal error.
type guardedResponse struct {
	http.ResponseWriter
	a       *admission
	errors  *connecthttp.ErrorWriter
	r       *http.Request
	refused bool
}

// admitted reports whether the handler's answer may go out, and writes the
// error in its place the first time it may not.
func (g *guardedResponse) admitted() bool {
	if g.a.claimed.Load() {
		return true
	}
	if !g.refused {
		g.refused = true
		h := g.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		_ = g.errors.Write(g.ResponseWriter, g.r, errNotIntercepted())
	}
	return false
}

// WriteHeader writes the handler's status, if admitted.
func (g *guardedResponse) WriteHeader(code int) {
	if g.admitted() {
		g.ResponseWriter.WriteHeader(code)
	}
}

// Write writes the handler's body, if admitted.
func (g *guardedResponse) Write(p []byte) (int, error) {
	if !g.admitted() {
		return 0, errNotIntercepted()
	}
	return g.ResponseWriter.Write(p)
}

// Flush flushes the handler's answer, if admitted.
func (g *guardedResponse) Flush() {
	if g.admitted() {
		_ = http.NewResponseController(g.ResponseWriter).Flush()
	}
}
