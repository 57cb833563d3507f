package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1/greeterv1connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// callPaired calls SayHello on the servers one call at a time for cfg.paired,
// taking the servers in turns (in rotating order), and returns each
// server's latencies. With one call in flight the servers never compete
// for the CPU, and calls to different servers are a few hundred
// microseconds apart, so they share whatever else the machine is doing:
// the comparison of their latencies resolves differences that ghz runs
// seconds apart on a busy machine cannot.
func (cfg *config) callPaired(servers map[string]*server) (map[string][]time.Duration, error) {
	type target struct {
		mode     string
		ctx      context.Context
		sayHello func(context.Context, *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error)
	}
	var targets []target
	for _, m := range cfg.modes {
		s := servers[m]
		if cfg.door == "connect" {
			c := connectClient(s.hello.Addr, s.hello.Token)
			targets = append(targets, target{m, context.Background(), c.SayHello})
			continue
		}
		conn, err := grpc.NewClient(s.hello.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.hello.Token)
		c := greeterv1.NewGreeterClient(conn)
		targets = append(targets, target{m, ctx, func(ctx context.Context, r *greeterv1.SayHelloRequest) (*greeterv1.SayHelloResponse, error) {
			return c.SayHello(ctx, r)
		}})
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	lat := make(map[string][]time.Duration)
	call := func(t target) error {
		start := time.Now()
		resp, err := t.sayHello(t.ctx, req)
		elapsed := time.Since(start)
		if err != nil {
			return fmt.Errorf("paired calls to %s: %w", t.mode, err)
		}
		if t.mode != "none" && resp.GetSubject() == "" {
			return fmt.Errorf("paired calls to %s: the handler saw no claims", t.mode)
		}
		lat[t.mode] = append(lat[t.mode], elapsed)
		return nil
	}
	for range 200 { // warm-up: connections, caches
		for _, t := range targets {
			if err := call(t); err != nil {
				return nil, err
			}
		}
	}
	clear(lat)
	deadline := time.Now().Add(cfg.paired)
	for round := 0; time.Now().Before(deadline); round++ {
		for i := range targets {
			if err := call(targets[(i+round)%len(targets)]); err != nil {
				return nil, err
			}
		}
	}
	return lat, nil
}

// connectClient is a connect-go greeter client of the server at addr,
// speaking the Connect protocol over h2c, with token on every call.
func connectClient(addr, token string) greeterv1connect.GreeterClient {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	bearer := func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			ctx, info := connect.NewClientContext(ctx)
			info.RequestHeader().Set("Authorization", "Bearer "+token)
			return next(ctx, spec)
		}
	}
	return greeterv1connect.NewGreeterClient(connect.NewClient(connecthttp.NewTransport(hc, "http://"+addr), bearer))
}

// percentile returns the p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p/100*float64(len(sorted))))]
}

// pairedSummary returns the medians and p99s of the paired calls'
// latencies, and each server's p50 over the unprotected server's.
func (cfg *config) pairedSummary(lat map[string][]time.Duration) *benchresult.E2EPaired {
	client := "a Go client"
	if cfg.door == "connect" {
		client = "a connect-go client (Connect protocol, h2c)"
	}
	p := &benchresult.E2EPaired{For: benchresult.Duration(cfg.paired), Client: client}
	for _, m := range cfg.modes {
		slices.Sort(lat[m])
	}
	base := percentile(lat["none"], 50)
	for _, m := range cfg.modes {
		l := lat[m]
		p50 := percentile(l, 50)
		p.Rows = append(p.Rows, benchresult.E2EPairedRow{
			Server:   cfg.name(m),
			Calls:    len(l),
			P50:      benchresult.Duration(p50),
			P99:      benchresult.Duration(percentile(l, 99)),
			P50Ratio: float64(p50) / float64(base),
		})
	}
	return p
}
