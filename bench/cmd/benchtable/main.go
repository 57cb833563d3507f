// Command benchtable reads `go test -bench -benchmem` output and prints it
// as markdown tables, one per top-level benchmark: ns/op, B/op and
// allocs/op (medians over -count runs), the spread of ns/op, each row's
// ratios to its two floors (the floor, which decodes the claims with
// encoding/json, and the physical floor, which reads no JSON), and the
// JWKS fetches made while timing.
//
// A ratio is the benchmark's x-floor (x-physical) metric when it reports
// one: a ratio measured by running the floor in turns with the benchmark
// (see benchPaired in the bench package). Otherwise it is the ratio of the
// medians of ns/op of the row and of its floor, marked with an asterisk:
// the nearest benchmark named "floor" ("floor-physical") up its path (for
// Parallel/RS256/jwx, Parallel/RS256/floor), or else Verify/<alg>/floor
// for the algorithm in its name. Any other x-NAME metric a group reports
// (x-proof: the DPoP proof's own floor) gets a column of its own, "× NAME
// floor". A group whose rows report what they cost above the same work
// unprotected (ns-above/op: Doors) gets a table of its own, with those
// costs and no floors.
//
// Tables come in the order -order gives, then in order of appearance.
//
//	go test -run '^$' -bench . -benchmem | benchtable
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchtable: ")
	order := flag.String("order", "Verify,Interceptor,Policy,Doors,Parallel,Issuers,TokenSize,Keys,CachedTokens", "comma-separated top-level benchmarks to print first")
	flag.Parse()
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		in = f
	}
	rows, err := benchresult.Parse(in)
	if err != nil {
		log.Fatal(err)
	}
	if len(rows) == 0 {
		log.Fatal("no benchmark results in the input")
	}
	write(os.Stdout, sortGroups(rows, strings.Split(*order, ",")))
}

// sortGroups orders rows by top-level benchmark, those named in order first,
// keeping the order of rows within a group.
func sortGroups(rows []*benchresult.Row, order []string) []*benchresult.Row {
	rank := make(map[string]int)
	for i, g := range order {
		rank[g] = i + 1
	}
	for _, r := range rows {
		g := benchresult.TopLevel(r.Name)
		if rank[g] == 0 {
			rank[g] = len(rank) + 1
		}
	}
	slices.SortStableFunc(rows, func(a, b *benchresult.Row) int {
		return rank[benchresult.TopLevel(a.Name)] - rank[benchresult.TopLevel(b.Name)]
	})
	return rows
}

// ratio returns r's ratio to floor f as the table shows it, and the spread
// of a paired one: a ratio of medians is starred.
func ratio(r *benchresult.Row, byName map[string]*benchresult.Row, f benchresult.Floor) (string, string) {
	x, kind := benchresult.Ratio(r, byName, f)
	switch kind {
	case benchresult.Paired:
		return benchresult.FormatRatio(x), percent(r.Spread(f.Metric))
	case benchresult.Itself:
		return "1", ""
	case benchresult.OfMedians:
		return benchresult.FormatRatio(x) + "*", ""
	}
	return "—", ""
}

// extraRatios returns the x- metrics of rows other than the floors', in
// order of appearance.
func extraRatios(rows []*benchresult.Row) []string {
	var out []string
	for _, r := range rows {
		for m := range r.Metrics {
			if strings.HasPrefix(m, "x-") && m != benchresult.FloorJSON.Metric && m != benchresult.FloorPhysical.Metric && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func write(w io.Writer, rows []*benchresult.Row) {
	byName := benchresult.Index(rows)
	for len(rows) > 0 {
		top := benchresult.TopLevel(rows[0].Name)
		n := 1
		for n < len(rows) && benchresult.TopLevel(rows[n].Name) == top {
			n++
		}
		writeGroup(w, top, rows[:n], byName)
		rows = rows[n:]
		if len(rows) > 0 {
			fmt.Fprintln(w)
		}
	}
}

// writeGroup writes the table of one top-level benchmark.
func writeGroup(w io.Writer, top string, rows []*benchresult.Row, byName map[string]*benchresult.Row) {
	if slices.ContainsFunc(rows, func(r *benchresult.Row) bool { return r.Metrics["ns-above/op"] != nil }) {
		writeAboveGroup(w, top, rows)
		return
	}
	extra := extraRatios(rows)
	fmt.Fprintf(w, "#### %s\n\n", top)
	header := "| Benchmark | ns/op | ± | B/op | allocs/op | × floor | ± | × physical | ± |"
	align := "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for _, m := range extra {
		header += " × " + strings.TrimPrefix(m, "x-") + " floor | ± |"
		align += "---:|---:|"
	}
	fmt.Fprintln(w, header+" JWKS fetches |")
	fmt.Fprintln(w, align+"---:|")
	for _, r := range rows {
		line := rowStart(r, top)
		for _, f := range benchresult.Floors {
			x, spread := ratio(r, byName, f)
			line += fmt.Sprintf(" %s | %s |", x, spread)
		}
		for _, m := range extra {
			x, spread := "—", ""
			if v, ok := r.Median(m); ok {
				x, spread = benchresult.FormatRatio(v), percent(r.Spread(m))
			}
			line += fmt.Sprintf(" %s | %s |", x, spread)
		}
		fmt.Fprintln(w, line+" "+value(r, "jwks-fetches")+" |")
	}
}

// rowStart returns the first cells of r's line in the table of its
// top-level benchmark top: its name within top, ns/op and its spread,
// B/op and allocs/op.
func rowStart(r *benchresult.Row, top string) string {
	_, rest, _ := strings.Cut(r.Name, "/")
	if rest == "" {
		rest = top
	}
	ns, _ := r.Median("ns/op")
	return fmt.Sprintf("| %s | %s | %s | %s | %s |", rest, benchresult.FormatNs(ns), percent(r.Spread("ns/op")), value(r, "B/op"), value(r, "allocs/op"))
}

// writeAboveGroup writes the table of a top-level benchmark whose rows
// are priced against the same work unprotected (Doors): the rows' own
// ns/op, B/op and allocs/op, and, for those that report them, what they
// cost above the unprotected work (ns-above/op, B-above/op,
// allocs-above/op) and their ratio to it (x-unprotected). The floors mean
// nothing there.
func writeAboveGroup(w io.Writer, top string, rows []*benchresult.Row) {
	fmt.Fprintf(w, "#### %s\n\n", top)
	fmt.Fprintln(w, "| Benchmark | ns/op | ± | B/op | allocs/op | ns above unprotected | ± | B above | allocs above | × unprotected | ± | JWKS fetches |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		line := rowStart(r, top)
		if above, ok := r.Median("ns-above/op"); ok {
			x, _ := r.Median("x-unprotected")
			line += fmt.Sprintf(" %s | %s | %s | %s | %s | %s |", benchresult.FormatNs(above), percent(r.Spread("ns-above/op")),
				value(r, "B-above/op"), value(r, "allocs-above/op"), benchresult.FormatRatio(x), percent(r.Spread("x-unprotected")))
		} else {
			line += " — |  | — | — | — |  |"
		}
		fmt.Fprintln(w, line+" "+value(r, "jwks-fetches")+" |")
	}
}

func percent(x float64) string {
	if x < 0.001 {
		return "0%"
	}
	if x < 0.1 {
		return strconv.FormatFloat(100*x, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(100*x, 'f', 0, 64) + "%"
}

func value(r *benchresult.Row, unit string) string {
	v, ok := r.Median(unit)
	if !ok {
		return "—"
	}
	return benchresult.Thousands(math.Round(v))
}
