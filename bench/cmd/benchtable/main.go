// Command benchtable reads `go test -bench -benchmem` output and prints it
// as markdown tables, one per top-level benchmark: ns/op, B/op and
// allocs/op (medians over -count runs), the spread of ns/op, each row's
// ratio to its floor, and the JWKS fetches made while timing.
//
// The ratio is the benchmark's x-floor metric when it reports one: a ratio
// measured by running the floor in turns with the benchmark (see
// benchPaired in the bench package). Otherwise it is the ratio of the
// medians of ns/op of the row and of its floor, marked with an asterisk:
// the nearest benchmark named "floor" up its path (for
// Parallel/RS256/jwx, Parallel/RS256/floor), or else Verify/<alg>/floor for
// the algorithm in its name.
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
	order := flag.String("order", "Verify,Interceptor,Parallel,Issuers,Organization,Binding,DPoP,TokenSize,Keys,CachedTokens", "comma-separated top-level benchmarks to print first")
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

// floorOf returns the floor row for r, or nil.
func floorOf(r *row, byName map[string]*row) *row {
	parts := strings.Split(r.name, "/")
	for i := len(parts) - 1; i > 0; i-- {
		if f := byName[strings.Join(parts[:i], "/")+"/floor"]; f != nil {
			return f
		}
	}
	for _, p := range parts[1:] {
		if f := byName["Verify/"+p+"/floor"]; f != nil {
			return f
		}
	}
	return nil
}

func write(w io.Writer, rows []*row) {
	byName := make(map[string]*row, len(rows))
	for _, r := range rows {
		byName[r.name] = r
	}
	group := ""
	for _, r := range rows {
		top, rest, _ := strings.Cut(r.name, "/")
		if top != group {
			if group != "" {
				fmt.Fprintln(w)
			}
			group = top
			fmt.Fprintf(w, "#### %s\n\n", top)
			fmt.Fprintln(w, "| Benchmark | ns/op | ± | B/op | allocs/op | × floor | ± | JWKS fetches |")
			fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		}
		if rest == "" {
			rest = top
		}
		ns, _ := r.median("ns/op")
		ratio, ratioSpread := "—", ""
		if x, ok := r.median("x-floor"); ok {
			ratio, ratioSpread = formatRatio(x), percent(r.spread("x-floor"))
		} else if f := floorOf(r, byName); f == r {
			ratio = "1"
		} else if f != nil {
			if fns, ok := f.median("ns/op"); ok && fns > 0 {
				ratio = formatRatio(ns/fns) + "*"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			rest, formatNs(ns), percent(r.spread("ns/op")),
			value(r, "B/op"), value(r, "allocs/op"), ratio, ratioSpread, value(r, "jwks-fetches"))
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
