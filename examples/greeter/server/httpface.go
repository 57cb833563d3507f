package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeterhttp"
	"google.golang.org/grpc"
)

// httpFace is the server's HTTP side: the greeter's HTTP face
// ([greeterhttp.Handler]: Connect, gRPC-Web, REST and the RFC 9728
// document) on -http-addr, and the browser page on -page-addr, both over
// TLS when the gRPC server has it.
type httpFace struct {
	api, page *listener
	tls       *tls.Config
	handler   *greeterhttp.Handler
	// failed receives the error of a server that stopped on its own.
	failed chan error
}

// listener is one HTTP listener and the server on it, once serving.
type listener struct {
	lis net.Listener
	srv *http.Server
}

// listenHTTP listens on -http-addr and -page-addr, or returns nil when
// -http-addr is not given. tc, if not nil, is the TLS configuration of the
// gRPC server, which the HTTP side serves with too.
func listenHTTP(c *config, tc *tls.Config) (*httpFace, error) {
	if c.httpAddr == "" {
		return nil, nil
	}
	f := &httpFace{tls: tc, failed: make(chan error, 2)}
	var err error
	if f.api, err = listen(c.httpAddr, "-http-addr"); err != nil {
		return nil, err
	}
	if c.pageAddr != "" {
		if f.page, err = listen(c.pageAddr, "-page-addr"); err != nil {
			f.api.lis.Close()
			return nil, err
		}
	}
	return f, nil
}

func listen(addr, flag string) (*listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cannot listen on %s (%s): the address is already in use", addr, flag)
		}
		return nil, fmt.Errorf("cannot listen on %s (%s): %w", addr, flag, err)
	}
	return &listener{lis: lis}, nil
}

// url returns the origin of l: scheme, host and port.
func (f *httpFace) url(l *listener) string {
	scheme := "http"
	if f.tls != nil {
		scheme = "https"
	}
	return scheme + "://" + l.lis.Addr().String()
}

// resourceMetadata returns the option that makes the policy describe
// itself (RFC 9728), with resource as the resource's identifier: served
// at /.well-known/oauth-protected-resource on -http-addr, which refusals
// name, when -http-addr names a host; at the resource's own well-known
// URL otherwise (listening on all addresses, the server cannot know the
// name clients reach it by).
func (f *httpFace) resourceMetadata(resource string) grpcjwt.Option {
	md := grpcjwt.ResourceMetadata{Resource: resource, Name: "Greeter example"}
	if a, ok := f.api.lis.Addr().(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		md.URL = f.url(f.api) + greeterhttp.MetadataPath
	}
	return grpcjwt.WithResourceMetadata(md)
}

// serve starts serving: the HTTP face of policy and srv, allowing CORS
// from origins and from the page's origin, and the page. It prints where
// to stdout, before the gRPC server's "listening on" line.
func (f *httpFace) serve(policy *grpcjwt.Policy, srv *grpc.Server, mode greeterhttp.RESTMode, origins []string, log *slog.Logger, stdout io.Writer) error {
	if f.page != nil {
		origins = append(origins, f.url(f.page))
	}
	h, err := greeterhttp.New(greeterhttp.Config{Policy: policy, GRPC: srv, REST: mode, Origins: origins})
	if err != nil {
		return err
	}
	f.handler = h
	f.start(f.api, h)
	log.Info("serving HTTP: Connect, gRPC-Web and REST (gateway "+mode.String()+")", "url", f.url(f.api), "cors_origins", origins)
	fmt.Fprintf(stdout, "http on %s\n", f.url(f.api))
	if f.page != nil {
		f.start(f.page, greeterhttp.Page())
		page := f.url(f.page) + "/#api=" + f.url(f.api)
		log.Info("serving the browser page", "url", page)
		fmt.Fprintf(stdout, "page on %s\n", page)
	}
	return nil
}

// start serves h on l: HTTP/1.1 and h2c (HTTP/2 without TLS, which gRPC
// clients of connect-go use), or HTTPS with HTTP/2.
func (f *httpFace) start(l *listener, h http.Handler) {
	l.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	serve := func() error { return l.srv.ServeTLS(l.lis, "", "") }
	if f.tls != nil {
		l.srv.TLSConfig = f.tls.Clone()
	} else {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		l.srv.Protocols = p
		serve = func() error { return l.srv.Serve(l.lis) }
	}
	go func() {
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			f.failed <- fmt.Errorf("serving %s: %w", f.url(l), err)
		}
	}()
}

// shutdown stops serving, letting calls in flight finish within ctx, then
// closes the handler and the listeners.
func (f *httpFace) shutdown(ctx context.Context) {
	for _, l := range []*listener{f.api, f.page} {
		if l == nil {
			continue
		}
		if l.srv == nil {
			l.lis.Close()
			continue
		}
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
		}
	}
	if f.handler != nil {
		f.handler.Close()
	}
}
