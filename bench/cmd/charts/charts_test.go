package main

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// long matches a number written with more digits than a table writes.
var long = regexp.MustCompile(`[0-9]\.[0-9]{5,}`)

// svgTexts parses the SVG file at path as XML, strictly, and returns the
// text of its <text> elements.
func svgTexts(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	dec.Strict = true
	var texts []string
	var root string
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			if tok.Name.Local == "text" {
				inText = true
				texts = append(texts, "")
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				inText = false
			}
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(tok)
			}
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", path, root)
	}
	return texts
}

// TestCharts draws the charts of a fixed sample (testdata: go test -bench
// output of Verify, two Policy rows and CachedTokens; e2e -json summaries
// of both doors) and checks that each is an SVG whose texts name every
// series, group and axis, and write the values the tables show for the
// same input: a parser that lost a row, or a chart that drew another
// column, fails here.
func TestCharts(t *testing.T) {
	dir := t.TempDir()
	wrote, err := run(config{
		out:   dir,
		run:   "sample run, grpcjwt at 0000000",
		micro: files{"testdata/micro.txt"},
		e2e:   files{"testdata/e2e-grpc.json", "testdata/e2e-connect.json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"verify.svg": {
			"Verifying one token, cache off unless said: cost against the floor",
			"sample run, grpcjwt at 0000000",
			"× floor (lower is better)",
			"signature algorithm (RS256: 2048-bit RSA)",
			"RS256", "ES256", "EdDSA",
			"physical floor", "grpcjwt, cache off", "grpcjwt, cache hit", "golang-jwt + keyfunc",
			"auth0 validator", "go-oidc", "jwx", "floor (encoding/json claims) = 1",
			// × floor, as benchtable writes the sample's (its starred
			// ratios of medians without the star).
			"0.864", "0.968", "0.0035", "1.125", "2.119", "1.542", "1.809",
			"0.923", "0.972", "0.0015", "1.061", "1.613", "1.298", "1.392",
			"0.912", "0.983", "0.0022", "1.086", "1.775", "1.304", "1.437",
		},
		"cached-tokens.svg": {
			"Cache hit: cost against the number of distinct tokens cached",
			"sample run, grpcjwt at 0000000",
			"ns per call (median over the runs; bars: their range)",
			"distinct tokens in the cache (log scale)",
			"grpcjwt, cache hit, EdDSA token",
			"1", "100", "10,000", "100,000",
			"133 ns", "142 ns", "172 ns", "466 ns",
		},
		"e2e-grpc.svg": {
			"End to end, gRPC: p50 latency against the unprotected server",
			"p50 × the unprotected server's (lower is better)",
			"SayHello over loopback, RS256 token; ghz: median of 2 rounds of 300ms",
			"ghz, 1 worker", "ghz, 16 workers", "one call at a time, in turns",
			"no interceptor", "grpcjwt, cache off", "grpcjwt, cache on", "no interceptor = 1",
			"1.000 (98 µs)", "1.850 (165 µs)", "1.210 (111 µs)",
			"1.000 (10254 µs)", "1.678 (9041 µs)", "0.659 (1512 µs)",
			"1.000 (128 µs)", "1.569 (201 µs)", "1.035 (132 µs)",
		},
		"e2e-connect.svg": {
			"End to end, the Connect door: p50 latency against the unprotected server",
			"no door", "Connect door, cache on", "no door = 1",
			"1.000 (306 µs)", "0.981 (300 µs)", "1.000 (2882 µs)", "1.008 (2898 µs)",
			"1.000 (367 µs)", "1.042 (382 µs)",
		},
	}
	var got []string
	for _, p := range wrote {
		got = append(got, filepath.Base(p))
	}
	slices.Sort(got)
	if wantFiles := []string{"cached-tokens.svg", "e2e-connect.svg", "e2e-grpc.svg", "verify.svg"}; !slices.Equal(got, wantFiles) {
		t.Fatalf("wrote %q, want %q", got, wantFiles)
	}
	for file, texts := range want {
		t.Run(file, func(t *testing.T) {
			have := svgTexts(t, filepath.Join(dir, file))
			for _, w := range texts {
				if !slices.Contains(have, w) {
					t.Errorf("no text %q in %s; it has %q", w, file, have)
				}
			}
			for _, h := range have {
				if long.MatchString(h) {
					t.Errorf("%s: text %q has a number with more digits than the tables'", file, h)
				}
			}
			raw, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), string(svgFonts[1])) || strings.Contains(string(raw), string(svgFonts[0])) {
				t.Errorf("%s does not name the fonts that stand in for Liberation Sans", file)
			}
		})
	}
	// The verify chart has no bar for the floor itself, which is its line,
	// nor for the Policy rows of the same input.
	for _, absent := range []string{"floor", "check/unused", "0.0085"} {
		if slices.Contains(svgTexts(t, filepath.Join(dir, "verify.svg")), absent) {
			t.Errorf("verify.svg has the text %q", absent)
		}
	}
}

// TestChartsOfPartsThatRan checks that a chart is drawn only from inputs
// that hold its data, and that the charts of other parts are left alone.
func TestChartsOfPartsThatRan(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "verify.svg")
	if err := os.WriteFile(kept, []byte("an earlier run's chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	policyOnly := filepath.Join(t.TempDir(), "micro.txt")
	sample, err := os.ReadFile("testdata/micro.txt")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.Lines(string(sample)) {
		if !strings.HasPrefix(l, "BenchmarkVerify/") && !strings.HasPrefix(l, "BenchmarkCachedTokens/") {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(policyOnly, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}

	wrote, err := run(config{out: dir, micro: files{policyOnly}, e2e: files{"testdata/e2e-connect.json"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "e2e-connect.svg")}; !slices.Equal(wrote, want) {
		t.Errorf("wrote %q, want %q", wrote, want)
	}
	if b, err := os.ReadFile(kept); err != nil || string(b) != "an earlier run's chart" {
		t.Errorf("verify.svg = %q, %v: the chart of a part that did not run changed", b, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("%s holds %d files, want verify.svg and e2e-connect.svg (no temporary file left)", dir, len(entries))
	}

	wrote, err = run(config{out: filepath.Join(dir, "none")})
	if err != nil || len(wrote) != 0 {
		t.Errorf("no inputs: wrote %q, %v; want nothing", wrote, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no inputs: the output directory was made (%v)", err)
	}
}

// TestChartsRefuseBadInput checks that a broken input fails the command
// instead of drawing a chart of part of it.
func TestChartsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, cfg := range map[string]config{
		"a value that is no number": {micro: files{write("bad.txt", "BenchmarkVerify/RS256/jwx-2 10 fast ns/op\n")}},
		"a missing file":            {micro: files{filepath.Join(dir, "absent.txt")}},
		"an unknown member":         {e2e: files{write("unknown.json", `{"door":"grpc","servers":["a"],"speed":1}`)}},
		"no servers":                {e2e: files{write("empty.json", `{"door":"grpc","servers":[]}`)}},
		"a bad duration":            {e2e: files{write("duration.json", `{"door":"grpc","servers":["a"],"run":"soon"}`)}},
		"not JSON":                  {e2e: files{write("text.json", "| Server | Concurrency |")}},
	} {
		cfg.out = filepath.Join(dir, "out")
		if wrote, err := run(cfg); err == nil {
			t.Errorf("%s: no error (wrote %q)", name, wrote)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad inputs: the output directory was made (%v)", err)
	}
}

// TestE2ERoundTrip checks that a summary written as e2e -json writes it
// reads back the same, durations included.
func TestE2ERoundTrip(t *testing.T) {
	f, err := os.Open("testdata/e2e-grpc.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := benchresult.ReadE2E(f)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Door != "grpc" || len(sum.Servers) != 3 || len(sum.Load) != 6 || sum.Paired == nil || len(sum.Paired.Rows) != 3 {
		t.Fatalf("read %+v", sum)
	}
	if got, want := sum.Load[1].P50.String(), "165.41µs"; got != want {
		t.Errorf("p50 of %s at concurrency 1 = %s, want %s", sum.Load[1].Server, got, want)
	}
}

// TestPlainTicks checks that tick labels carry no float noise: the axis of
// an end-to-end chart whose top is 1.23 once read "1.2000000000000002".
func TestPlainTicks(t *testing.T) {
	plain := regexp.MustCompile(`^[0-9]+(\.[0-9]{1,4})?$`)
	for _, hi := range []float64{1.23, 2.2, 0.0093, 600, 16_000} {
		labelled := 0
		for _, tk := range (plainTicks{}).Ticks(0, hi) {
			if tk.Label == "" {
				continue
			}
			labelled++
			if !plain.MatchString(tk.Label) {
				t.Errorf("Ticks(0, %v): label %q for %v", hi, tk.Label, tk.Value)
			}
		}
		if labelled < 2 {
			t.Errorf("Ticks(0, %v): %d labelled ticks", hi, labelled)
		}
	}
}
