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
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
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
	rows, err := parse(in)
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
func sortGroups(rows []*row, order []string) []*row {
	rank := make(map[string]int)
	for i, g := range order {
		rank[g] = i + 1
	}
	for _, r := range rows {
		g := topLevel(r.name)
		if rank[g] == 0 {
			rank[g] = len(rank) + 1
		}
	}
	slices.SortStableFunc(rows, func(a, b *row) int {
		return rank[topLevel(a.name)] - rank[topLevel(b.name)]
	})
	return rows
}

func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// row is one benchmark, with its values from every -count run.
type row struct {
	name    string // without "Benchmark" and the -GOMAXPROCS suffix
	metrics map[string][]float64
}

func (r *row) median(unit string) (float64, bool) {
	v := slices.Clone(r.metrics[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2, true
	}
	return v[len(v)/2], true
}

// spread is half the range of unit over the runs, relative to the median.
func (r *row) spread(unit string) float64 {
	v := r.metrics[unit]
	m, ok := r.median(unit)
	if !ok || len(v) < 2 || m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / 2 / m
}

// parse reads benchmark lines ("BenchmarkX/y-2  1000  123 ns/op  45 B/op
// ...") in order of first appearance, merging repeated runs.
func parse(in io.Reader) ([]*row, error) {
	var rows []*row
	byName := make(map[string]*row)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := trimProcs(strings.TrimPrefix(f[0], "Benchmark"))
		r := byName[name]
		if r == nil {
			r = &row{name: name, metrics: make(map[string][]float64)}
			byName[name] = r
			rows = append(rows, r)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: bad value %q", f[0], f[i])
			}
			r.metrics[f[i+1]] = append(r.metrics[f[i+1]], v)
		}
	}
	return rows, sc.Err()
}

// trimProcs removes the "-N" go test appends when GOMAXPROCS is not 1.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// floors are the two floors: the row name of each, and the metric a row
// paired with it reports.
var floors = []struct{ name, metric string }{{"floor", "x-floor"}, {"floor-physical", "x-physical"}}

// floorOf returns the row of the floor called name for r, or nil.
func floorOf(r *row, byName map[string]*row, name string) *row {
	parts := strings.Split(r.name, "/")
	for i := len(parts) - 1; i > 0; i-- {
		if f := byName[strings.Join(parts[:i], "/")+"/"+name]; f != nil {
			return f
		}
	}
	for _, p := range parts[1:] {
		if f := byName["Verify/"+p+"/"+name]; f != nil {
			return f
		}
	}
	return nil
}

// ratio returns r's ratio to the floor called name, whose paired metric is
// metric, and the spread of a paired one.
func ratio(r *row, byName map[string]*row, name, metric string) (string, string) {
	if x, ok := r.median(metric); ok {
		return formatRatio(x), percent(r.spread(metric))
	}
	f := floorOf(r, byName, name)
	if f == r {
		return "1", ""
	}
	if f != nil {
		ns, _ := r.median("ns/op")
		if fns, ok := f.median("ns/op"); ok && fns > 0 {
			return formatRatio(ns/fns) + "*", ""
		}
	}
	return "—", ""
}

// extraRatios returns the x- metrics of rows other than the floors', in
// order of appearance.
func extraRatios(rows []*row) []string {
	var out []string
	for _, r := range rows {
		for m := range r.metrics {
			if strings.HasPrefix(m, "x-") && m != floors[0].metric && m != floors[1].metric && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func write(w io.Writer, rows []*row) {
	byName := make(map[string]*row, len(rows))
	for _, r := range rows {
		byName[r.name] = r
	}
	for len(rows) > 0 {
		top := topLevel(rows[0].name)
		n := 1
		for n < len(rows) && topLevel(rows[n].name) == top {
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
func writeGroup(w io.Writer, top string, rows []*row, byName map[string]*row) {
	if slices.ContainsFunc(rows, func(r *row) bool { return r.metrics["ns-above/op"] != nil }) {
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
		for _, f := range floors {
			x, spread := ratio(r, byName, f.name, f.metric)
			line += fmt.Sprintf(" %s | %s |", x, spread)
		}
		for _, m := range extra {
			x, spread := "—", ""
			if v, ok := r.median(m); ok {
				x, spread = formatRatio(v), percent(r.spread(m))
			}
			line += fmt.Sprintf(" %s | %s |", x, spread)
		}
		fmt.Fprintln(w, line+" "+value(r, "jwks-fetches")+" |")
	}
}

// rowStart returns the first cells of r's line in the table of its
// top-level benchmark top: its name within top, ns/op and its spread,
// B/op and allocs/op.
func rowStart(r *row, top string) string {
	_, rest, _ := strings.Cut(r.name, "/")
	if rest == "" {
		rest = top
	}
	ns, _ := r.median("ns/op")
	return fmt.Sprintf("| %s | %s | %s | %s | %s |", rest, formatNs(ns), percent(r.spread("ns/op")), value(r, "B/op"), value(r, "allocs/op"))
}

// writeAboveGroup writes the table of a top-level benchmark whose rows
// are priced against the same work unprotected (Doors): the rows' own
// ns/op, B/op and allocs/op, and, for those that report them, what they
// cost above the unprotected work (ns-above/op, B-above/op,
// allocs-above/op) and their ratio to it (x-unprotected). The floors mean
// nothing there.
func writeAboveGroup(w io.Writer, top string, rows []*row) {
	fmt.Fprintf(w, "#### %s\n\n", top)
	fmt.Fprintln(w, "| Benchmark | ns/op | ± | B/op | allocs/op | ns above unprotected | ± | B above | allocs above | × unprotected | ± | JWKS fetches |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		line := rowStart(r, top)
		if above, ok := r.median("ns-above/op"); ok {
			x, _ := r.median("x-unprotected")
			line += fmt.Sprintf(" %s | %s | %s | %s | %s | %s |", formatNs(above), percent(r.spread("ns-above/op")),
				value(r, "B-above/op"), value(r, "allocs-above/op"), formatRatio(x), percent(r.spread("x-unprotected")))
		} else {
			line += " — |  | — | — | — |  |"
		}
		fmt.Fprintln(w, line+" "+value(r, "jwks-fetches")+" |")
	}
}

// formatRatio shows three decimals, or two significant digits below 0.1.
func formatRatio(x float64) string {
	if x < 0.1 {
		return strconv.FormatFloat(x, 'g', 2, 64)
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
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

func value(r *row, unit string) string {
	v, ok := r.median(unit)
	if !ok {
		return "—"
	}
	return thousands(math.Round(v))
}

func formatNs(ns float64) string {
	if ns < 100 {
		return strconv.FormatFloat(ns, 'f', 1, 64)
	}
	return thousands(math.Round(ns))
}

// thousands formats an integral v with commas: 1,234,567.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
