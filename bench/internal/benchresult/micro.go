// Package benchresult reads what the benchmarks write, for the commands that
// turn it into tables (benchtable, e2e) and charts (charts): the output of
// `go test -bench -benchmem`, and the summary of an end-to-end run. Both
// kinds of output are read and summarized here once, so that a table and
// the chart drawn beside it show the same numbers.
package benchresult

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Row is one benchmark, with its values from every -count run.
type Row struct {
	// Name is the benchmark's name without "Benchmark" and the
	// -GOMAXPROCS suffix: "Verify/RS256/floor".
	Name string
	// Metrics holds each unit's values ("ns/op", "B/op", "x-floor"), one a
	// run, in the order of the runs.
	Metrics map[string][]float64
}

// Median returns the median of unit over the runs, and whether the row
// reports unit.
func (r *Row) Median(unit string) (float64, bool) {
	v := slices.Clone(r.Metrics[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2, true
	}
	return v[len(v)/2], true
}

// Spread is half the range of unit over the runs, relative to the median:
// 0 for a unit the row does not report or reports once.
func (r *Row) Spread(unit string) float64 {
	v := r.Metrics[unit]
	m, ok := r.Median(unit)
	if !ok || len(v) < 2 || m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / 2 / m
}

// Group returns the top-level benchmark of the row's name: "Verify" for
// "Verify/RS256/floor".
func (r *Row) Group() string { return TopLevel(r.Name) }

// TopLevel returns the first element of a benchmark name.
func TopLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// maxLine bounds a line of benchmark output.
const maxLine = 1 << 20

// Parse reads benchmark lines ("BenchmarkX/y-2  1000  123 ns/op  45 B/op
// ...") in order of first appearance, merging the runs of a benchmark that
// -count repeats. Other lines (goos, PASS, logs) are skipped; a value that is
// not a number is an error.
func Parse(in io.Reader) ([]*Row, error) {
	var rows []*Row
	byName := make(map[string]*Row)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
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
			r = &Row{Name: name, Metrics: make(map[string][]float64)}
			byName[name] = r
			rows = append(rows, r)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: bad value %q", f[0], f[i])
			}
			r.Metrics[f[i+1]] = append(r.Metrics[f[i+1]], v)
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

// Floor names one of the two floors every verifier is read against.
type Floor struct {
	// Row is the last element of the floor's benchmark name.
	Row string
	// Metric is what a benchmark paired with the floor reports: its ratio
	// to the floor, measured in turns with it.
	Metric string
}

// The two floors: the floor of encoding/json, and the physical floor.
var (
	FloorJSON     = Floor{"floor", "x-floor"}
	FloorPhysical = Floor{"floor-physical", "x-physical"}
)

// Floors are the two floors, in the order of the tables' columns.
var Floors = []Floor{FloorJSON, FloorPhysical}

// Index maps the rows by name, for [Ratio].
func Index(rows []*Row) map[string]*Row {
	byName := make(map[string]*Row, len(rows))
	for _, r := range rows {
		byName[r.Name] = r
	}
	return byName
}

// floorOf returns the row of the floor called name for r, or nil: the
// nearest benchmark called name up r's path (for Parallel/RS256/jwx,
// Parallel/RS256/floor), or else Verify/<alg>/name for the algorithm in r's
// name.
func floorOf(r *Row, byName map[string]*Row, name string) *Row {
	parts := strings.Split(r.Name, "/")
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

// RatioKind says how a [Ratio] was obtained.
type RatioKind int

const (
	// NoRatio: the row reports no ratio to the floor and has no floor to
	// divide by.
	NoRatio RatioKind = iota
	// Paired: the median of the row's own ratio metric, measured in turns
	// with the floor.
	Paired
	// Itself: the row is the floor.
	Itself
	// OfMedians: the ratio of the medians of ns/op of the row and of its
	// floor, for rows that do not run in turns with it.
	OfMedians
)

// Ratio returns r's ratio to floor f, and how it was obtained: r's paired
// metric when it reports one, else 1 for the floor itself, else the ratio of
// the medians of ns/op of r and of its floor (see floorOf).
func Ratio(r *Row, byName map[string]*Row, f Floor) (float64, RatioKind) {
	if x, ok := r.Median(f.Metric); ok {
		return x, Paired
	}
	fr := floorOf(r, byName, f.Row)
	if fr == r {
		return 1, Itself
	}
	if fr != nil {
		ns, _ := r.Median("ns/op")
		if fns, ok := fr.Median("ns/op"); ok && fns > 0 {
			return ns / fns, OfMedians
		}
	}
	return 0, NoRatio
}
