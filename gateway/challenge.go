package grpcjwtgateway

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpcjwt/grpcjwt"
	"google.golang.org/grpc/status"
)

// ErrorHandler returns a [runtime.ErrorHandlerFunc] that answers an error
// as next does ([runtime.DefaultHTTPErrorHandler] when next is nil), with
// the WWW-Authenticate challenge of policy p for a refusal by grpcjwt: in
// proxy mode, where the refusals of the server's interceptors reach the
// gateway as gRPC statuses, the challenge [grpcjwt.Policy.StatusChallenge]
// builds from the status, in place of the copy of the status message that
// the default handler sends. Install it on the mux:
//
//	mux := runtime.NewServeMux(runtime.WithErrorHandler(grpcjwtgateway.ErrorHandler(policy, nil)))
//
// p supplies what the server's statuses do not carry (the DPoP challenge
// and algorithms, the resource_metadata URL): configure it as the
// server's policy is, or use the server's policy itself. A refusal by
// grpcjwt that is not about authentication (organization_mismatch,
// temporarily_unavailable) gets no challenge, as from the default
// handler. Any other error, such as a service's own Unauthenticated
// status, is answered by next as it is: the default handler copies an
// Unauthenticated status's message into WWW-Authenticate, so give such a
// status a message that is a challenge, or set the header in next.
//
// On a mux with [Protect], a refusal by Protect keeps the challenge
// Protect set, which is the same for a call of the Bearer scheme and
// right for the DPoP scheme too; other errors get this handler's, so one
// mux can serve both modes. ErrorHandler panics if p is nil.
func ErrorHandler(p *grpcjwt.Policy, next runtime.ErrorHandlerFunc) runtime.ErrorHandlerFunc {
	if p == nil {
		panic("grpcjwtgateway: ErrorHandler needs a Policy")
	}
	if next == nil {
		next = runtime.DefaultHTTPErrorHandler
	}
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		if _, decided := w.(*challengeWriter); !decided {
			if c := p.StatusChallenge(status.Convert(err)); c != "" {
				w = &challengeWriter{ResponseWriter: w, challenge: c}
			}
		}
		next(ctx, mux, m, w, r, err)
	}
}

// challengeWriter sets WWW-Authenticate to its challenge (or removes it)
// as the response's header is written, over whatever the error handler
// put there.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
	wrote     bool
}

func (w *challengeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if w.challenge != "" {
			w.Header().Set("WWW-Authenticate", w.challenge)
		} else {
			w.Header().Del("WWW-Authenticate")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the ResponseWriter, for [http.ResponseController].
func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
