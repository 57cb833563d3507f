// Command benchserver is the greeter server of the end-to-end benchmark. It
// starts a grpcjwttest issuer and the example's greeter.v1.Greeter service
// (examples/greeter/greeter) on loopback, served as -door says:
//
//	grpc     by grpc-go, guarded by grpcjwt's unary interceptor
//	connect  by connect-go (Connect, gRPC and gRPC-Web, over HTTP/1.1 and
//	         h2c), guarded by grpcjwt's Connect door: the grpcjwtconnect
//	         middleware in front of a server with its interceptor
//
// and according to -mode:
//
//	none      no interceptor (no door)
//	cacheoff  guarded, verified-token cache off
//	cacheon   guarded, cache at its defaults
//
// Once serving it writes one JSON line to stdout: the address, an RS256
// access token carrying the greet:read scope SayHello needs, and the JWKS
// fetches the issuer has served. On SIGINT or SIGTERM it stops and writes a
// second line with the fetch count then, so that a load generator can tell
// whether any fetch happened under load. With -cpuprofile it writes a CPU
// profile of its serving time, to see what a call costs the server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/bench"
	"github.com/grpcjwt/grpcjwt/examples/greeter/greeter"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
)

// Hello is the line benchserver writes once serving.
type Hello struct {
	Addr        string `json:"addr"`
	Token       string `json:"token"`
	JWKSFetches int64  `json:"jwks_fetches"`
}

// Bye is the line benchserver writes once stopped.
type Bye struct {
	JWKSFetches int64 `json:"jwks_fetches"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	door := flag.String("door", "grpc", "grpc or connect")
	mode := flag.String("mode", "cacheon", "none, cacheoff or cacheon")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the time serving to `file`")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchserver: ")
	if err := run(*addr, *door, *mode, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

func run(addr, door, mode, cpuprofile string) error {
	iss := grpcjwttest.NewIssuer(grpcjwttest.WithAlgorithms("RS256"))
	defer iss.Close()

	var policy *grpcjwt.Policy // nil: unprotected
	switch mode {
	case "none":
	case "cacheoff", "cacheon":
		size := 0
		if mode == "cacheoff" {
			size = -1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := bench.NewValidator(ctx, iss, size, 0)
		cancel()
		if err != nil {
			return err
		}
		defer v.Close()
		if policy, err = grpcjwt.NewPolicy(v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -mode %q: want none, cacheoff or cacheon", mode)
	}
	var (
		serve func(net.Listener) error
		stop  func()
	)
	switch door {
	case "grpc":
		var opts []grpc.ServerOption
		if policy != nil {
			opts = append(opts, grpc.UnaryInterceptor(policy.UnaryServerInterceptor()))
		}
		srv := grpc.NewServer(opts...)
		greeterv1.RegisterGreeterServer(srv, greeter.Service{})
		serve, stop = srv.Serve, srv.Stop
	case "connect":
		protocols := new(http.Protocols)
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true) // h2c, for gRPC clients such as ghz
		srv := &http.Server{Handler: bench.ConnectHandler(policy), Protocols: protocols, ReadHeaderTimeout: 10 * time.Second}
		serve = func(lis net.Listener) error {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
		stop = func() { _ = srv.Close() }
	default:
		return fmt.Errorf("unknown -door %q: want grpc or connect", door)
	}

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(lis) }()

	enc := json.NewEncoder(os.Stdout)
	token := iss.Token(bench.TokenClaims(time.Now()))
	if err := enc.Encode(Hello{Addr: lis.Addr().String(), Token: token, JWKSFetches: iss.JWKSFetches()}); err != nil {
		return err
	}

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		return err
	}
	stop()
	return enc.Encode(Bye{JWKSFetches: iss.JWKSFetches()})
}
