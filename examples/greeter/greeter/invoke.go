package greeter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
)

// Method names one of the Greeter's RPCs, as the client's -method flag
// does.
type Method string

// The Greeter's RPCs.
const (
	Hello  Method = "hello"  // SayHello: unary, needs greet:read
	Stream Method = "stream" // SayHelloStream: server streaming, any valid token
	Chat   Method = "chat"   // Chat: bidirectional streaming, needs greet:write
	Org    Method = "org"    // GreetOrganization: unary, needs greet:read and a token for the organization
	StepUp Method = "stepup" // SayHelloStepUp: unary, needs greet:write or greet:read and a recent multi-factor login
	Info   Method = "info"   // Info: unary, public
)

// methods lists every Method, in the order of greeter.proto.
var methods = []Method{Hello, Stream, Chat, Org, StepUp, Info}

// ParseMethod returns the Method called s, or an error listing the valid
// names.
func ParseMethod(s string) (Method, error) {
	for _, m := range methods {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown method %q (want one of %s)", s, strings.Join(names, ", "))
}

// RPC returns the RPC's name in greeter.proto, such as "SayHello".
func (m Method) RPC() string {
	switch m {
	case Hello:
		return "SayHello"
	case Stream:
		return "SayHelloStream"
	case Chat:
		return "Chat"
	case Org:
		return "GreetOrganization"
	case StepUp:
		return "SayHelloStepUp"
	case Info:
		return "Info"
	}
	return string(m)
}

// streamCount is how many greetings Invoke asks SayHelloStream for.
const streamCount = 3

// chatLines are the messages Invoke sends on a Chat stream.
var chatLines = []string{"hi", "how are you?"}

// Reply is what the server sent back on one call.
type Reply struct {
	Messages []string // the greetings, one per response message
	Subject  string   // the token subject the server saw; "" for none
}

// Invoke makes one call of m on c, greeting name, and returns the server's
// reply. It asks SayHelloStream for 3 greetings, and sends Chat two lines,
// each answered before the next, then closes its side of the stream. For
// GreetOrganization, name is the organization's ID, sent as the parent
// "organizations/<name>". The error of a rejected call is the server's
// status error, even on a stream where it arrives with the first receive.
func Invoke(ctx context.Context, c greeterv1.GreeterClient, m Method, name string, opts ...grpc.CallOption) (*Reply, error) {
	switch m {
	case Hello:
		r, err := c.SayHello(ctx, &greeterv1.SayHelloRequest{Name: name}, opts...)
		if err != nil {
			return nil, err
		}
		return &Reply{Messages: []string{r.GetMessage()}, Subject: r.GetSubject()}, nil
	case Stream:
		reply, err := StreamHello(ctx, c, &greeterv1.SayHelloStreamRequest{Name: name, Count: streamCount}, opts...)
		if err != nil {
			return nil, err
		}
		return reply, nil
	case Chat:
		return invokeChat(ctx, c, opts)
	case Org:
		r, err := c.GreetOrganization(ctx, &greeterv1.GreetOrganizationRequest{Parent: "organizations/" + name}, opts...)
		if err != nil {
			return nil, err
		}
		return &Reply{Messages: []string{r.GetMessage()}, Subject: r.GetSubject()}, nil
	case StepUp:
		r, err := c.SayHelloStepUp(ctx, &greeterv1.SayHelloStepUpRequest{Name: name}, opts...)
		if err != nil {
			return nil, err
		}
		return &Reply{Messages: []string{r.GetMessage()}, Subject: r.GetSubject()}, nil
	case Info:
		r, err := c.Info(ctx, &greeterv1.InfoRequest{}, opts...)
		if err != nil {
			return nil, err
		}
		msg := fmt.Sprintf("%s %s, authenticated: %t", r.GetServerName(), r.GetVersion(), r.GetAuthenticated())
		return &Reply{Messages: []string{msg}, Subject: r.GetSubject()}, nil
	}
	return nil, fmt.Errorf("unknown method %q", m)
}

// StreamHello calls SayHelloStream with r and returns the greetings
// received, with the error that ended the stream, if any: a stream can
// fail after some greetings, when its token expires say. The Reply is
// never nil.
func StreamHello(ctx context.Context, c greeterv1.GreeterClient, r *greeterv1.SayHelloStreamRequest, opts ...grpc.CallOption) (*Reply, error) {
	s, err := c.SayHelloStream(ctx, r, opts...)
	if err != nil {
		return &Reply{}, err
	}
	reply := &Reply{}
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return reply, nil
		}
		if err != nil {
			return reply, err
		}
		reply.Messages = append(reply.Messages, m.GetMessage())
		reply.Subject = m.GetSubject()
	}
}

func invokeChat(ctx context.Context, c greeterv1.GreeterClient, opts []grpc.CallOption) (*Reply, error) {
	s, err := c.Chat(ctx, opts...)
	if err != nil {
		return nil, err
	}
	reply := &Reply{}
	for _, line := range chatLines {
		if err := s.Send(&greeterv1.ChatRequest{Message: line}); err != nil {
			// io.EOF means the server ended the stream; its status comes
			// with the next receive.
			if errors.Is(err, io.EOF) {
				if _, rerr := s.Recv(); rerr != nil {
					err = rerr
				}
			}
			return nil, err
		}
		r, err := s.Recv()
		if err != nil {
			return nil, err
		}
		reply.Messages = append(reply.Messages, r.GetMessage())
		reply.Subject = r.GetSubject()
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("the server sent more Chat replies than it was sent messages")
		}
		return nil, err
	}
	return reply, nil
}
