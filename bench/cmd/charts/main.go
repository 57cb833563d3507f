// Command charts draws the main comparisons of the benchmarks as SVG, from
// the same results the tables are made from:
//
//	verify.svg         each verifier's cost against the floor, per
//	                   algorithm (the Verify table: × floor)
//	cached-tokens.svg  a cache hit's cost against the number of distinct
//	                   tokens cached (the CachedTokens table: ns/op)
//	e2e-grpc.svg       end to end, each server's p50 against the
//	e2e-connect.svg    unprotected server's (the end-to-end tables:
//	                   p50 × unprotected)
//
// -micro names `go test -bench -benchmem` output (what benchtable reads),
// -e2e the summary of an end-to-end run (what e2e -json writes); both may be
// repeated. Each chart is drawn only from inputs that hold its data, so a
// run of some parts redraws their charts and leaves the others alone. -run
// says, under each chart's title, which run the data come from. bench/run
// calls it after the parts it ran:
//
//	charts -out charts -run "2026-12-07 05:50 UTC, grpcjwt at 3cae222" -micro results/micro.txt -e2e results/e2e-grpc.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// files is a repeatable flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("charts: ")
	var cfg config
	flag.StringVar(&cfg.out, "out", "charts", "directory to write the SVG files into")
	flag.StringVar(&cfg.run, "run", "", "which run the data come from, shown under each title")
	flag.Var(&cfg.micro, "micro", "go test -bench -benchmem output (repeatable)")
	flag.Var(&cfg.e2e, "e2e", "an end-to-end summary written by e2e -json (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments %q: name inputs with -micro and -e2e", flag.Args())
	}
	wrote, err := run(cfg)
	for _, name := range wrote {
		log.Printf("wrote %s", name)
	}
	if err != nil {
		log.Fatal(err)
	}
	if len(wrote) == 0 {
		log.Print("no chart: the inputs hold none of their data")
	}
}

type config struct {
	out, run   string
	micro, e2e files
}

// chart is one SVG to write: its file name, and what draws it.
type chart struct {
	file string
	draw func(w io.Writer, run string) error
}

// run reads the inputs, draws the charts they hold the data of, and
// returns the paths written.
func run(cfg config) ([]string, error) {
	var charts []chart
	for _, name := range cfg.micro {
		rows, err := read(name, benchresult.Parse)
		if err != nil {
			return nil, err
		}
		charts = append(charts, microCharts(rows)...)
	}
	for _, name := range cfg.e2e {
		sum, err := read(name, benchresult.ReadE2E)
		if err != nil {
			return nil, err
		}
		charts = append(charts, e2eChart(sum))
	}
	if len(charts) > 0 {
		if err := os.MkdirAll(cfg.out, 0o755); err != nil {
			return nil, err
		}
	}
	var wrote []string
	for _, c := range charts {
		path := filepath.Join(cfg.out, c.file)
		if err := writeFile(path, func(w io.Writer) error { return c.draw(w, cfg.run) }); err != nil {
			return wrote, fmt.Errorf("%s: %w", path, err)
		}
		wrote = append(wrote, path)
	}
	return wrote, nil
}

// read parses the file called name with parse.
func read[T any](name string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(name)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// microCharts returns the charts whose groups rows hold.
func microCharts(rows []*benchresult.Row) []chart {
	var charts []chart
	if c, ok := verifyChart(rows); ok {
		charts = append(charts, c)
	}
	if c, ok := cachedTokensChart(rows); ok {
		charts = append(charts, c)
	}
	return charts
}

// writeFile writes what write writes to path through a temporary file in
// the same directory, so that a failure leaves the old chart in place.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".chart-*.svg")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(tmp.Chmod(0o644), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
