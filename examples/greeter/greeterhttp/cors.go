package greeterhttp

import (
	"net/http"
	"slices"
	"strings"
)

// The CORS answer for an allowed origin: the methods and request headers a
// call may use (those of the Connect protocol, gRPC-Web and the REST
// routes, and the credentials: Authorization and DPoP), and the response
// headers its script may read (a refusal's challenge, and gRPC-Web's
// status, which a trailers-only answer carries in its headers).
var (
	corsMethods        = "GET, POST"
	corsRequestHeaders = strings.Join([]string{
		"Authorization", "DPoP", "Content-Type",
		"Connect-Protocol-Version", "Connect-Timeout-Ms",
		"Grpc-Timeout", "X-Grpc-Web", "X-User-Agent",
	}, ", ")
	corsExposedHeaders = strings.Join([]string{
		"WWW-Authenticate", "Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin",
	}, ", ")
)

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's
// answer.
const corsMaxAge = "7200"

// cors returns a wrapper that answers CORS for the browser origins given:
// a preflight from one of them gets 204 No Content with what it may send,
// at once, without a token (browsers send none on a preflight); any other
// request from one of them gets the headers that let its script read the
// answer. A preflight from another origin gets 403 Forbidden, and its
// other requests no CORS headers, so the browser refuses the page the
// answer; they are decided by the policy all the same.
func cors(origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			allowed := slices.Contains(origins, origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if !allowed {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", corsRequestHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
			}
			next.ServeHTTP(w, r)
		})
	}
}
