package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// e2eTitles are the charts' titles, per door.
var e2eTitles = map[string]string{
	"grpc":    "End to end, gRPC: p50 latency against the unprotected server",
	"connect": "End to end, the Connect door: p50 latency against the unprotected server",
}

// e2eChart draws an end-to-end run: each server's p50 × unprotected, the
// tables' column, in a group of bars per ghz concurrency and one for the
// calls one at a time, the unprotected server a line at 1. The p50 itself
// is written above each bar.
func e2eChart(sum *benchresult.E2E) chart {
	var groups []string
	ratio := make(map[[2]string]float64)
	label := make(map[[2]string]string)
	for _, l := range sum.Load {
		g := fmt.Sprintf("ghz, %d worker", l.Concurrency)
		if l.Concurrency != 1 {
			g += "s"
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
		ratio[[2]string{g, l.Server}] = l.P50Ratio
		label[[2]string{g, l.Server}] = ratioLabel(l.P50Ratio, l.P50)
	}
	if p := sum.Paired; p != nil {
		const g = "one call at a time, in turns"
		groups = append(groups, g)
		for _, r := range p.Rows {
			ratio[[2]string{g, r.Server}] = r.P50Ratio
			label[[2]string{g, r.Server}] = ratioLabel(r.P50Ratio, r.P50)
		}
	}
	var ss []series
	for i, name := range sum.Servers {
		s := series{name: name, kind: kindGRPCJWT}
		if i == 0 {
			s.kind = kindBase
		}
		for _, g := range groups {
			x, ok := ratio[[2]string{g, name}]
			if !ok {
				x = math.NaN()
			}
			s.values = append(s.values, x)
			s.labels = append(s.labels, label[[2]string{g, name}])
		}
		ss = append(ss, s)
	}
	title := e2eTitles[sum.Door]
	if title == "" {
		title = "End to end, " + sum.Door + ": p50 latency against the unprotected server"
	}
	door := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(sum.Door))
	return chart{file: "e2e-" + door + ".svg", draw: func(w io.Writer, run string) error {
		p := newPlot(title, run, "p50 × the unprotected server's (lower is better)")
		p.X.Label.Text = fmt.Sprintf("SayHello over loopback, RS256 token; ghz: median of %d rounds of %v", sum.Rounds, time.Duration(sum.Run))
		return groupedBars(w, p, groups, ss, &refLine{name: sum.Servers[0] + " = 1", value: 1})
	}}
}

// ratioLabel is the label of a bar: the ratio, and the p50.
func ratioLabel(x float64, p50 benchresult.Duration) string {
	return fmt.Sprintf("%.3f (%.0f µs)", x, float64(p50)/1e3)
}
