package grpcjwtconnect_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
)

// A login too weak for the procedure's step-up rule is refused in every
// protocol and mode with insufficient_user_authentication and the
// acr_values and max_age that would succeed in the ErrorInfo, and, for a
// Connect unary call, with the RFC 9470 challenge.
func TestStepUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, grpcjwt.WithStepUp(demo.SayHello, grpcjwt.StepUp{ACRValues: []string{"urn:logto:acr:mfa"}, MaxAge: 5 * time.Minute}))
	weak := e.iss.Token(map[string]any{"sub": "alice", "scope": "greet:read", "acr": "urn:logto:acr:1fa", "auth_time": time.Now().Unix()})
	strong := e.iss.Token(map[string]any{"sub": "alice", "scope": "greet:read", "acr": "urn:logto:acr:mfa", "auth_time": time.Now().Unix()})
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			t.Run(m.name+"/"+pr.name, func(t *testing.T) {
				_, err := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+weak).SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"})
				wantRefusal(t, err, grpcjwt.ErrInsufficientUserAuthentication, grpcjwt.ACRValuesKey, "urn:logto:acr:mfa", grpcjwt.MaxAgeKey, "300")
				if res, err := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+strong).SayHello(t.Context(), &demov1.SayHelloRequest{Name: "Alice"}); err != nil || res.GetSubject() != "alice" {
					t.Fatalf("a strong login: %v, %v", res, err)
				}
			})
		}
		t.Run(m.name+"/challenge", func(t *testing.T) {
			res, body := post(t, httpClient(false), srv.URL, demo.SayHello, `{"name":"Alice"}`, "Authorization", "Bearer "+weak)
			const want = `Bearer error="insufficient_user_authentication", acr_values="urn:logto:acr:mfa", max_age=300`
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != want {
				t.Fatalf("%d, WWW-Authenticate %q; want 401, %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), want)
			}
			if !strings.Contains(body, `"message":"insufficient_user_authentication"`) {
				t.Errorf("body %s", body)
			}
		})
	}
}

// A stream of a procedure with a max_age ends, in every protocol and mode,
// when its login gets too old, with insufficient_user_authentication
// naming the max_age. auth_time is fractional, so that the login gets too
// old half a second after the stream opens.
func TestStreamEndsWhenLoginTooOld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *grpcjwt.Config) { c.Leeway = -1 }, grpcjwt.WithStepUp(demo.Watch, grpcjwt.StepUp{MaxAge: time.Minute}))
	var wg sync.WaitGroup
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			wg.Go(func() {
				at := float64(time.Now().Add(500*time.Millisecond-time.Minute).UnixMilli()) / 1000
				tok := e.iss.Token(map[string]any{"sub": "alice", "auth_time": at})
				ws, err := client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+tok).Watch(t.Context(), &demov1.WatchRequest{})
				if err != nil {
					t.Errorf("%s/%s: %v", m.name, pr.name, err)
					return
				}
				defer ws.Close()
				if err := ws.Receive(&demov1.WatchResponse{}); err != nil {
					t.Errorf("%s/%s: first message: %v", m.name, pr.name, err)
					return
				}
				if err := refusal(ws.Receive(&demov1.WatchResponse{}), grpcjwt.ErrInsufficientUserAuthentication, grpcjwt.MaxAgeKey, "60"); err != nil {
					t.Errorf("%s/%s: %v", m.name, pr.name, err)
				}
			})
		}
	}
	wg.Wait()
	var ended int
	for _, err := range e.rejected() {
		if errors.Is(err, grpcjwt.ErrInsufficientUserAuthentication) {
			ended++
		}
	}
	if want := len(modes) * len(protocols); ended != want {
		t.Errorf("the reject hook saw %d streams outlive their login, want %d", ended, want)
	}
}
