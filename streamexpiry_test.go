package grpcjwt_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt"
	greeterv1 "github.com/grpcjwt/grpcjwt/internal/testpb/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// slowGreeter streams until its context ends, and records that it did.
type slowGreeter struct {
	greeter
	cancelled atomic.Int32
}

func (g *slowGreeter) SayHelloStream(_ *greeterv1.SayHelloStreamRequest, s grpc.ServerStreamingServer[greeterv1.SayHelloStreamResponse]) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.Context().Done():
			g.cancelled.Add(1)
			return s.Context().Err()
		case <-t.C:
			if err := s.Send(&greeterv1.SayHelloStreamResponse{Message: "tick"}); err != nil {
				return err
			}
		}
	}
}

// Chat waits in Recv, which only the end of the stream can interrupt.
func (g *slowGreeter) Chat(s grpc.BidiStreamingServer[greeterv1.ChatRequest, greeterv1.ChatResponse]) error {
	for {
		m, err := s.Recv()
		if err != nil {
			if s.Context().Err() != nil {
				g.cancelled.Add(1)
			}
			return err
		}
		if err := s.Send(&greeterv1.ChatResponse{Message: m.GetMessage()}); err != nil {
			return err
		}
	}
}

// TestStreamEndsWhenTokenExpires: server-streaming and bidi streams opened
// with a short-lived token end with invalid_token at its exp (no leeway
// here), with the handler's context cancelled; WithoutStreamExpiry lets
// them run on.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	iss := newIssuer(t)
	v := newValidator(t, iss, func(c *grpcjwt.Config) { c.Leeway = -1 })
	var causes atomic.Int32
	g := &slowGreeter{}
	hook := grpcjwt.WithRejectHook(func(_ context.Context, _ string, err error) {
		if errors.Is(err, grpcjwt.ErrTokenExpired) {
			causes.Add(1)
		}
	})
	client := serve(t, g,
		grpc.ChainStreamInterceptor(policyOf(t, v, hook).StreamServerInterceptor()))
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	tok := iss.Token(map[string]any{"exp": exp.Unix(), "scope": "greet:write"})

	t.Run("server streaming", func(t *testing.T) {
		s, err := client.SayHelloStream(withAuth("Bearer "+tok), &greeterv1.SayHelloStreamRequest{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			if _, err = s.Recv(); err != nil {
				break
			}
			n++
		}
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
		if late := time.Since(exp); late < 0 || late > time.Second {
			t.Errorf("ended %v after exp", late)
		}
		if n == 0 {
			t.Error("no message before the end")
		}
	})
	t.Run("bidi, handler waiting in Recv", func(t *testing.T) {
		tok := iss.Token(map[string]any{"exp": time.Now().Add(2 * time.Second).Unix(), "scope": "greet:write"})
		s, err := client.Chat(withAuth("Bearer " + tok))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&greeterv1.ChatRequest{Message: "hi"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		_, err = s.Recv() // the handler waits for a message that never comes
		wantStatus(t, err, codes.Unauthenticated, grpcjwt.CodeInvalidToken)
	})
	waitFor(t, func() bool { return g.cancelled.Load() == 2 })
	if causes.Load() != 2 {
		t.Errorf("reject hook saw %d expiries, want 2", causes.Load())
	}

	t.Run("opt-out", func(t *testing.T) {
		optOut := serve(t, &slowGreeter{}, grpc.ChainStreamInterceptor(policyOf(t, v, grpcjwt.WithoutStreamExpiry()).StreamServerInterceptor()))
		tok := iss.Token(map[string]any{"exp": time.Now().Add(1 * time.Second).Unix()})
		ctx, cancel := context.WithTimeout(withAuth("Bearer "+tok), 3*time.Second)
		defer cancel()
		s, err := optOut.SayHelloStream(ctx, &greeterv1.SayHelloStreamRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err = s.Recv(); err != nil {
				break
			}
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("with WithoutStreamExpiry the stream ended with %v; want it to run on to the client's deadline", err)
		}
	})
}
