package grpcjwt

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// This file is the client's side of DPoP nonces (RFC 9449 §9): per-RPC
// credentials sign proofs but never see an answer, so interceptors read the
// nonces a server sends and hand them to the credentials, and make a call
// refused for its nonce once more.

// maxClientNonce bounds a nonce the client keeps and signs into its proofs.
const maxClientNonce = 1 << 10

// UnaryClientInterceptor returns a client interceptor that keeps d up with
// the DPoP nonces of the server (RFC 9449 §9): it reads the "dpop-nonce"
// metadata of every answer, from its header or else its trailer, and d
// signs the next proofs with the last nonce read. A call refused with
// Unauthenticated "use_dpop_nonce" whose answer carried a nonce is made
// again, once, with a proof of that nonce: the server refused it before
// its handler ran, so that making it again is safe whatever it does. Put it
// on the connection whose per-RPC credentials are d:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(tlsCreds),
//		grpc.WithPerRPCCredentials(creds),
//		grpc.WithChainUnaryInterceptor(creds.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(creds.StreamClientInterceptor()))
//
// d keeps one nonce, that of the server it last heard from: a server's
// nonce is good at that server only (its replicas share it), so use one
// DPoPCredentials per server that issues nonces.
func (d *DPoPCredentials) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var header, trailer metadata.MD
		opts = append(opts[:len(opts):len(opts)], grpc.Header(&header), grpc.Trailer(&trailer))
		err := invoker(ctx, method, req, reply, cc, opts...)
		if !d.learn(header, trailer) || !refusedForNonce(err) {
			return err
		}
		header, trailer = nil, nil
		err = invoker(ctx, method, req, reply, cc, opts...)
		d.learn(header, trailer)
		return err
	}
}

// StreamClientInterceptor returns the streaming form of
// [DPoPCredentials.UnaryClientInterceptor]. A stream's nonce is read from
// its header, once its first response has come, and from its header and
// trailer when it ends. A server stream (one request, many responses)
// refused with "use_dpop_nonce" before its first response is opened again,
// once, with its request, and the caller's RecvMsg reads the new stream.
// A client or bidirectional stream is not: its requests are the caller's to
// send again, so its refusal reaches the caller, and d has learned the
// nonce for the next stream the caller opens.
func (d *DPoPCredentials) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		s := &nonceStream{d: d, cs: cs}
		if !desc.ClientStreams {
			s.reopen = func() (grpc.ClientStream, error) { return streamer(ctx, desc, cc, method, opts...) }
		}
		return s, nil
	}
}

// learn keeps the nonce of an answer whose header and trailer metadata are
// header and trailer, the header's if it has one, and reports whether it
// had one. A nonce is one value of 1 to 1,024 characters of RFC 9449 §8.1's
// syntax; anything else is ignored.
func (d *DPoPCredentials) learn(header, trailer metadata.MD) bool {
	v := header[dpopNonceKey]
	if len(v) == 0 {
		v = trailer[dpopNonceKey]
	}
	if len(v) != 1 || !nonceSyntax(v[0]) {
		return false
	}
	if n := d.nonce.Load(); n == nil || *n != v[0] {
		n := v[0]
		d.nonce.Store(&n)
	}
	return true
}

// nonceSyntax reports whether n is 1*NQCHAR (RFC 9449 §8.1: printable
// ASCII but the space, '"' and '\') of at most maxClientNonce bytes.
func nonceSyntax(n string) bool {
	if len(n) == 0 || len(n) > maxClientNonce {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// refusedForNonce reports whether err is the refusal of a call with
// Unauthenticated "use_dpop_nonce".
func refusedForNonce(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unauthenticated && s.Message() == CodeUseDPoPNonce
}

// nonceStream is a client stream that teaches its credentials the nonces
// of its answers, and that a server stream opens again, once, when it is
// refused for its nonce before its first response.
type nonceStream struct {
	d *DPoPCredentials
	// reopen opens the stream again; nil for a client or bidirectional
	// stream, which is never opened again.
	reopen func() (grpc.ClientStream, error)

	mu      sync.Mutex
	cs      grpc.ClientStream // the stream the calls go to
	sent    any               // the request, while the stream may be opened again
	closed  bool              // CloseSend was called
	settled bool              // a response came, or the stream was opened again
}

// stream returns the stream the calls go to.
func (s *nonceStream) stream() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs
}

func (s *nonceStream) Header() (metadata.MD, error) {
	md, err := s.stream().Header()
	s.d.learn(md, nil)
	return md, err
}

func (s *nonceStream) Trailer() metadata.MD {
	md := s.stream().Trailer()
	s.d.learn(nil, md)
	return md
}

func (s *nonceStream) CloseSend() error {
	s.mu.Lock()
	s.closed = true
	cs := s.cs
	s.mu.Unlock()
	return cs.CloseSend()
}

func (s *nonceStream) Context() context.Context { return s.stream().Context() }

func (s *nonceStream) SendMsg(m any) error {
	s.mu.Lock()
	if s.reopen != nil && !s.settled {
		s.sent = m
	}
	cs := s.cs
	s.mu.Unlock()
	return cs.SendMsg(m)
}

// RecvMsg receives a response. The first one settles the stream, whose
// header has then come; the end of the stream, or its refusal, brings its
// header and trailer. A refusal for the nonce opens a server stream again,
// if it can, and receives from the new one.
func (s *nonceStream) RecvMsg(m any) error {
	cs := s.stream()
	for {
		err := cs.RecvMsg(m)
		if err == nil {
			if s.settle() {
				md, _ := cs.Header() // in: a response came
				s.d.learn(md, nil)
			}
			return nil
		}
		md, _ := cs.Header() // in: the stream has ended
		if !s.d.learn(md, cs.Trailer()) || !refusedForNonce(err) {
			return err
		}
		if cs = s.openAgain(cs); cs == nil {
			return err
		}
	}
}

// settle marks the stream settled, and reports whether it was not yet.
func (s *nonceStream) settle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := !s.settled
	s.settled, s.sent = true, nil
	return first
}

// openAgain opens a server stream again in place of refused, once, sends
// it the request and closes its sending side as the caller did refused's,
// and returns it; nil when it may not, or cannot be opened. A failure to
// send ends the new stream, whose RecvMsg then tells it.
func (s *nonceStream) openAgain(refused grpc.ClientStream) grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reopen == nil || s.settled || s.cs != refused {
		return nil
	}
	s.settled = true
	sent := s.sent
	s.sent = nil
	cs, err := s.reopen()
	if err != nil {
		return nil
	}
	s.cs = cs
	if sent != nil {
		_ = cs.SendMsg(sent)
	}
	if s.closed {
		_ = cs.CloseSend()
	}
	return cs
}
