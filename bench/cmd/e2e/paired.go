package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	greeterv1 "github.com/grpcjwt/grpcjwt/examples/greeter/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// paired calls SayHello on the servers one call at a time for d, taking the
// servers in turns (in rotating order), and returns each server's
// latencies. With one call in flight the servers never compete for the
// CPU, and calls to different servers are a few hundred microseconds
// apart, so they share whatever else the machine is doing: the comparison
// of their latencies resolves differences that ghz runs seconds apart on a
// busy machine cannot.
func paired(servers map[string]*server, d time.Duration) (map[string][]time.Duration, error) {
	type target struct {
		mode   string
		ctx    context.Context
		client greeterv1.GreeterClient
	}
	var targets []target
	for _, m := range modes {
		s := servers[m]
		conn, err := grpc.NewClient(s.hello.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.hello.Token)
		targets = append(targets, target{m, ctx, greeterv1.NewGreeterClient(conn)})
	}
	req := &greeterv1.SayHelloRequest{Name: "bench"}
	lat := make(map[string][]time.Duration)
	call := func(t target) error {
		start := time.Now()
		resp, err := t.client.SayHello(t.ctx, req)
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
	deadline := time.Now().Add(d)
	for round := 0; time.Now().Before(deadline); round++ {
		for i := range targets {
			if err := call(targets[(i+round)%len(targets)]); err != nil {
				return nil, err
			}
		}
	}
	return lat, nil
}

// percentile returns the p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p/100*float64(len(sorted))))]
}

func writePaired(w io.Writer, lat map[string][]time.Duration, d time.Duration) {
	fmt.Fprintf(w, "\nOne call at a time for %v, a Go client taking the three servers in turns, SayHello with the same RS256 token; the p50s compare calls made a few hundred microseconds apart.\n\n", d)
	fmt.Fprintln(w, "| Server | Calls | p50 | p99 | p50 × unprotected |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, m := range modes {
		slices.Sort(lat[m])
	}
	base := percentile(lat["none"], 50)
	for _, m := range modes {
		l := lat[m]
		p50 := percentile(l, 50)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %.3f |\n", modeNames[m], len(l), micros(float64(p50)), micros(float64(percentile(l, 99))), float64(p50)/float64(base))
	}
}
