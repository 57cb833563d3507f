package interop_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
	"google.golang.org/grpc/codes"
)

// This file sends a real provider's opaque tokens through every HTTP door
// of the greeter: its HTTP face (package greeterhttp: connect-go for the
// Connect protocol, gRPC and gRPC-Web; REST through the gRPC-Gateway in
// proxy and in-process modes) and a net/http route under
// grpcjwt.Policy.HTTPHandler, all deciding by the policy of the gRPC
// server's interceptors.

// whoamiPath is the net/http route beside the greeter's HTTP face.
const whoamiPath = "/whoami"

// door is one way into the greeter over HTTP: it calls SayHello, or on
// the net/http route GET /whoami (decided as SayHello), with a bearer
// token.
type door struct {
	name string
	call func(ctx context.Context, token string) (outcome, error)
	// challenge is the WWW-Authenticate value the door answers r with.
	challenge func(r refusal) string
}

// outcome is what a call through a door got back.
type outcome struct {
	code      codes.Code // codes.OK when the handler answered
	message   string     // a refusal's message: the wire code
	status    int        // the HTTP status, where the client sees it; else 0
	challenge string     // the WWW-Authenticate response header
	subject   string     // the subject in the handler's answer
	seen      string     // what the handler saw (a seen, in JSON), where the door tells
}

// refusal is how a call is refused, in the vocabulary of every door.
type refusal struct {
	code      codes.Code
	message   string
	status    int    // the HTTP status of a refusal that has one
	challenge string // the policy's WWW-Authenticate challenge (RFC 6750)
}

var (
	refusedInvalidToken = refusal{codes.Unauthenticated, grpcjwt.CodeInvalidToken, http.StatusUnauthorized,
		`Bearer error="invalid_token"`}
	refusedScope = refusal{codes.PermissionDenied, grpcjwt.CodeInsufficientScope, http.StatusForbidden,
		`Bearer error="insufficient_scope", scope="greet:read"`}
)

// The challenges of the doors: the policy's where an HTTP status carries
// the refusal (Connect unary, the gateway in both modes, net/http; in
// proxy mode built by grpcjwtgateway.ErrorHandler from the server's
// status); none where the protocol's own framing does (gRPC, gRPC-Web).
func policyChallenge(r refusal) string { return r.challenge }

func noChallenge(refusal) string { return "" }

// serveDoors serves the greeter's HTTP face for s's policy and gRPC
// server on loopback, once per gateway mode (h2c and HTTP/1.1), each with
// the net/http route beside it, and returns the doors onto them. They stop
// when t ends.
func (s *server) serveDoors(t *testing.T) []door {
	t.Helper()
	var urls []string
	for _, mode := range []greeterhttp.RESTMode{greeterhttp.Proxy, greeterhttp.InProcess} {
		h, err := greeterhttp.New(greeterhttp.Config{Policy: s.policy, GRPC: s.grpc, REST: mode})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.Handle("GET "+whoamiPath, s.policy.HTTPHandler(greeterv1.Greeter_SayHello_FullMethodName, http.HandlerFunc(whoami)))
		hs := httptest.NewUnstartedServer(mux)
		hs.Config.Protocols = new(http.Protocols)
		hs.Config.Protocols.SetHTTP1(true)
		hs.Config.Protocols.SetUnencryptedHTTP2(true)
		hs.Start()
		t.Cleanup(func() {
			hs.Close()
			if err := h.Close(); err != nil {
				t.Errorf("closing the %s HTTP face: %v", mode, err)
			}
		})
		urls = append(urls, hs.URL)
	}
	proxy, inProcess := urls[0], urls[1]
	return []door{
		connectDoor("Connect", proxy, policyChallenge),
		connectDoor("gRPC (connect-go)", proxy, noChallenge, connecthttp.WithGRPC()),
		connectDoor("gRPC-Web", proxy, noChallenge, connecthttp.WithGRPCWeb()),
		restDoor("REST, gateway proxy", proxy, policyChallenge),
		restDoor("REST, gateway in-process", inProcess, policyChallenge),
		{"net/http", whoamiCall(proxy + whoamiPath), policyChallenge},
	}
}

// whoami answers what the handler found in its context, as a seen.
func whoami(w http.ResponseWriter, r *http.Request) {
	b, err := seenJSON(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// h2c speaks HTTP/2 without TLS, as gRPC needs, for the connect-go doors.
var h2c = func() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}()

// connectDoor calls SayHello at url with connect-go's client, speaking
// the Connect protocol, or the protocol opts select.
func connectDoor(name, url string, challenge func(refusal) string, opts ...connecthttp.Option) door {
	return door{name, func(ctx context.Context, token string) (outcome, error) {
		client := greeterv1connect.NewGreeterClient(connect.NewClient(connecthttp.NewTransport(h2c, url, opts...), greeterhttp.Bearer(token)))
		ctx, info := connect.NewClientContext(ctx)
		r, err := client.SayHello(ctx, &greeterv1.SayHelloRequest{Name: "interop"})
		o := outcome{challenge: info.ResponseHeader().Get("WWW-Authenticate"), subject: r.GetSubject()}
		if err != nil {
			ce, ok := errors.AsType[*connect.Error](err)
			if !ok || !ce.IsRemote() {
				return o, err
			}
			o.code, o.message = codes.Code(ce.Code()), ce.Message()
		}
		return o, nil
	}, challenge}
}

// restDoor calls SayHello's REST route, GET /v1/hello, at base, through
// the gRPC-Gateway. In proxy mode the gRPC server's seenHeader comes back
// as the gateway forwards response metadata (Grpc-Metadata-…).
func restDoor(name, base string, challenge func(refusal) string) door {
	return door{name, func(ctx context.Context, token string) (outcome, error) {
		res, body, err := getWithToken(ctx, base+"/v1/hello?name=interop", token)
		if err != nil {
			return outcome{}, err
		}
		o := outcome{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), seen: res.Header.Get("Grpc-Metadata-" + seenHeader)}
		if res.StatusCode == http.StatusOK {
			var r struct{ Subject string }
			err = json.Unmarshal(body, &r)
			o.subject = r.Subject
		} else {
			// The gateway's error body: a google.rpc.Status in JSON.
			var s struct {
				Code    codes.Code
				Message string
			}
			err = json.Unmarshal(body, &s)
			o.code, o.message = s.Code, s.Message
		}
		if err != nil {
			return o, fmt.Errorf("%s: %w in %s", res.Status, err, body)
		}
		return o, nil
	}, challenge}
}

// whoamiCall calls the net/http route at u. A refusal's body is exactly
// {"error":"<wire code>"}; its gRPC code is the one its HTTP status stands
// for (grpcjwt.HTTPStatus).
func whoamiCall(u string) func(context.Context, string) (outcome, error) {
	return func(ctx context.Context, token string) (outcome, error) {
		res, body, err := getWithToken(ctx, u, token)
		if err != nil {
			return outcome{}, err
		}
		o := outcome{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate")}
		switch res.StatusCode {
		case http.StatusOK:
			var got seen
			if err := json.Unmarshal(body, &got); err != nil {
				return o, fmt.Errorf("%w in %s", err, body)
			}
			o.subject, o.seen = got.Subject, string(body)
			return o, nil
		case http.StatusUnauthorized:
			o.code = codes.Unauthenticated
		case http.StatusForbidden:
			o.code = codes.PermissionDenied
		default:
			return o, fmt.Errorf("%s: %s", res.Status, body)
		}
		var e struct{ Error string }
		if err := json.Unmarshal(body, &e); err != nil || string(body) != fmt.Sprintf("{\"error\":%q}\n", e.Error) {
			return o, fmt.Errorf("%s: body %q, want {\"error\":\"<wire code>\"}", res.Status, body)
		}
		o.message = e.Error
		return o, nil
	}
}

// getWithToken GETs u with token as the bearer token, and returns the
// response and its body (at most 1 MiB).
func getWithToken(ctx context.Context, u, token string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, body, err
}

// do calls d with token, within 30 s.
func (d door) do(t *testing.T, token string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	o, err := d.call(ctx, token)
	if err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	return o
}

// acceptAt asserts that d admits token: the handler answers for subject
// sub, and, where the door tells what it saw, it saw the claims of an
// introspected token from iss, of clientID, with allScopes.
func acceptAt(t *testing.T, d door, token, iss, sub string) {
	t.Helper()
	o := d.do(t, token)
	if o.code != codes.OK || (o.status != 0 && o.status != http.StatusOK) {
		t.Fatalf("%s: got %+v, want success", d.name, o)
	}
	if o.subject != sub {
		t.Errorf("%s: the handler answered for subject %q, want %q", d.name, o.subject, sub)
	}
	if o.seen == "" {
		return
	}
	var got seen
	if err := json.Unmarshal([]byte(o.seen), &got); err != nil {
		t.Fatalf("%s: the handler saw %q: %v", d.name, o.seen, err)
	}
	if !got.Introspected || got.Issuer != iss || got.Subject != sub || got.ClientID != clientID || !slices.Equal(got.Scopes, allScopes) {
		t.Errorf("%s: the handler saw %+v; want an introspected token from %s of %q for %q with %q", d.name, got, iss, clientID, sub, allScopes)
	}
}

// refuseAt asserts that d refuses token as want says, in the door's
// protocol, and that the server's reject hook saw cause.
func (s *server) refuseAt(t *testing.T, d door, token string, want refusal, cause error) {
	t.Helper()
	s.takeCause()
	o := d.do(t, token)
	if o.code != want.code || o.message != want.message || (o.status != 0 && o.status != want.status) {
		t.Errorf("%s: got %+v, want %+v", d.name, o, want)
	}
	if wc := d.challenge(want); o.challenge != wc {
		t.Errorf("%s: WWW-Authenticate %q, want %q", d.name, o.challenge, wc)
	}
	if got := s.takeCause(); !errors.Is(got, cause) {
		t.Errorf("%s: the server refused the call because %v, want %v", d.name, got, cause)
	}
}

// testDoors sends p's opaque tokens, whose client_credentials tokens have
// subject sub, through every HTTP door of a greeter whose Validator
// introspects them and keeps no answer (CacheTTL -1), and whose SayHello
// checks revocation (an opaque token is introspected on every call
// anyway): a token is admitted through each; one without greet:read is
// refused insufficient_scope; a made-up one, and the token once revoked
// at the provider, invalid_token.
func testDoors(t *testing.T, p opaqueProvider, sub string) {
	s := opaqueServerTTL(t, p, -1, grpcjwt.WithRevocationCheck(greeterv1.Greeter_SayHello_FullMethodName))
	doors := s.serveDoors(t)
	tok := p.token(t, allScopes...)
	writeOnly := p.token(t, "greet:write")
	madeUp := rand.Text() + rand.Text() // 52 base32 characters, as opaque as the providers' tokens

	for _, d := range doors {
		acceptAt(t, d, tok, p.issuer(), sub)
	}
	for _, d := range doors {
		s.refuseAt(t, d, writeOnly, refusedScope, grpcjwt.ErrInsufficientScope)
	}
	for _, d := range doors {
		s.refuseAt(t, d, madeUp, refusedInvalidToken, grpcjwt.ErrTokenInactive)
	}
	p.revoke(t, tok)
	for _, d := range doors {
		s.refuseAt(t, d, tok, refusedInvalidToken, grpcjwt.ErrTokenInactive)
	}
}
