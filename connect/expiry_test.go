package grpcjwtconnect_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/connect/internal/demo"
	demov1 "github.com/grpcjwt/grpcjwt/connect/internal/testpb/demo/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// A stream ends when its token does, with invalid_token, for every
// protocol and mode: a server stream whose handler waits on its context,
// and a bidirectional stream whose handler is blocked in Receive, which
// only the end of the stream interrupts. The streams run at once, each in
// a goroutine, to outlive one token together.
func TestStreamExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *grpcjwt.Config) { c.Leeway = -1 })
	// exp is in whole seconds: the token expires 2 to 3 s from now, time
	// enough for the streams to open on a loaded machine.
	exp := time.Now().Add(3 * time.Second).Unix()
	tok := e.iss.Token(map[string]any{"sub": "alice", "scope": "greet:write", "exp": exp}, grpcjwttest.WithOrganization("acme"))
	var wg sync.WaitGroup
	for _, m := range modes {
		srv := e.serve(t, m, nil)
		for _, pr := range protocols {
			wg.Go(func() {
				if err := expiringStreams(t, client(httpClient(true), srv.URL, pr, "Authorization", "Bearer "+tok)); err != nil {
					t.Errorf("%s/%s: %v", m.name, pr.name, err)
				}
			})
		}
	}
	wg.Wait()
	if now := time.Now().Unix(); now < exp {
		t.Errorf("the streams ended at %d, before the token's exp %d", now, exp)
	}
	var expired int
	for _, err := range e.rejected() {
		if errors.Is(err, grpcjwt.ErrTokenExpired) {
			expired++
		}
	}
	if want := 2 * len(modes) * len(protocols); expired != want {
		t.Errorf("the reject hook saw %d expired streams, want %d", expired, want)
	}
}

// expiringStreams opens a Watch and a Chat stream, gets their first
// answers, and waits for both to end with invalid_token.
func expiringStreams(t *testing.T, c *demo.Client) error {
	ws, err := c.Watch(t.Context(), &demov1.WatchRequest{})
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.Receive(&demov1.WatchResponse{}); err != nil {
		return fmt.Errorf("Watch, first message: %w", err)
	}
	cs, err := c.Chat(t.Context())
	if err != nil {
		return err
	}
	defer cs.Close()
	if err := cs.Send(&demov1.ChatRequest{Organization: "organizations/acme", Message: "hi"}); err != nil {
		return err
	}
	if err := cs.Receive(&demov1.ChatResponse{}); err != nil {
		return fmt.Errorf("Chat, first answer: %w", err)
	}
	if err := refusal(ws.Receive(&demov1.WatchResponse{}), grpcjwt.ErrInvalidToken); err != nil {
		return fmt.Errorf("Watch: %w", err)
	}
	if err := refusal(cs.Receive(&demov1.ChatResponse{}), grpcjwt.ErrInvalidToken); err != nil {
		return fmt.Errorf("Chat: %w", err)
	}
	return nil
}
