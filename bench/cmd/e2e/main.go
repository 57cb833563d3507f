// Command e2e runs the end-to-end benchmark: three benchserver processes on
// loopback (no interceptor, grpcjwt with its cache off, grpcjwt with its
// cache on; -modes chooses) loaded in turn by ghz calling SayHello with the
// same token, in short rounds that rotate the servers' order. With -door
// connect the servers are connect-go's behind grpcjwt's Connect door
// (benchserver -door connect), which ghz calls with the gRPC protocol over
// h2c. It prints a markdown table of
// requests per second and p50 and p99 latency, each the median over the
// rounds; p50 as a multiple of the unprotected server's, the median over
// the rounds of the ratio within each round, so that the two were measured
// seconds apart, under the same load from the rest of the machine; and the
// JWKS fetches each server's issuer served under load. With -json it also
// writes the tables' values to a file (benchresult.E2E), which cmd/charts
// draws.
//
// Then, for -paired, it calls the servers one call at a time in turns from
// a Go client (grpc-go's; with -door connect, connect-go's, speaking the
// Connect protocol over h2c), and prints a second table of p50 and p99 from
// those calls, which resolves the servers' difference in latency where ghz
// runs on a busy machine cannot (see callPaired).
//
// It fails if any call fails: a benchmark of errors proves nothing.
//
//	e2e -server bin/benchserver -ghz bin/ghz -proto ../examples/greeter/proto,../proto,../third_party/googleapis -duration 2s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// allModes are benchserver's -mode values, the unprotected one first.
var allModes = []string{"none", "cacheoff", "cacheon"}

// modeNames are the modes' names in the tables, per door.
var modeNames = map[string]map[string]string{
	"grpc": {
		"none":     "no interceptor",
		"cacheoff": "grpcjwt, cache off",
		"cacheon":  "grpcjwt, cache on",
	},
	"connect": {
		"none":     "no door",
		"cacheoff": "Connect door, cache off",
		"cacheon":  "Connect door, cache on",
	},
}

type config struct {
	server, ghz, protoDirs string
	door                   string
	modes                  []string // the unprotected one first
	duration, warmup       time.Duration
	rounds                 int
	concurrency            []int
	connections            int
	paired                 time.Duration
	json                   string // where to write the summary, if set
}

// name is the name of mode m in the tables.
func (cfg *config) name(m string) string { return modeNames[cfg.door][m] }

func main() {
	var (
		cfg         config
		conc, modes string
	)
	flag.StringVar(&cfg.server, "server", "", "path of the benchserver binary")
	flag.StringVar(&cfg.door, "door", "grpc", "benchserver's -door: grpc or connect")
	flag.StringVar(&modes, "modes", strings.Join(allModes, ","), "comma-separated benchserver -mode values to compare, none first")
	flag.StringVar(&cfg.ghz, "ghz", "ghz", "path of the ghz binary")
	flag.StringVar(&cfg.protoDirs, "proto", "../examples/greeter/proto,../proto,../third_party/googleapis", "comma-separated proto import paths: the first has greeter/v1/greeter.proto, the others its imports")
	flag.DurationVar(&cfg.duration, "duration", 2*time.Second, "length of each measured ghz run")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "length of the unmeasured run each server gets first")
	flag.IntVar(&cfg.rounds, "rounds", 6, "measured runs per server and concurrency")
	flag.StringVar(&conc, "concurrency", "1,16", "comma-separated ghz concurrencies (workers)")
	flag.IntVar(&cfg.connections, "connections", 1, "gRPC connections ghz opens")
	flag.DurationVar(&cfg.paired, "paired", 10*time.Second, "length of the one-call-at-a-time comparison; 0 skips it")
	flag.StringVar(&cfg.json, "json", "", "also write the tables' values to this file, as JSON, for cmd/charts")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("e2e: ")
	for _, s := range strings.Split(conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			log.Fatalf("bad -concurrency %q", conc)
		}
		cfg.concurrency = append(cfg.concurrency, c)
	}
	if cfg.server == "" || cfg.rounds < 1 {
		log.Fatal("-server is required and -rounds must be at least 1")
	}
	if modeNames[cfg.door] == nil {
		log.Fatalf("bad -door %q: want grpc or connect", cfg.door)
	}
	cfg.modes = strings.Split(modes, ",")
	for _, m := range cfg.modes {
		if !slices.Contains(allModes, m) {
			log.Fatalf("bad -modes %q: want some of %s", modes, strings.Join(allModes, ","))
		}
	}
	if cfg.modes[0] != "none" {
		log.Fatalf("bad -modes %q: the unprotected server, none, comes first", modes)
	}
	if err := run(cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// server is a running benchserver.
type server struct {
	mode  string
	cmd   *exec.Cmd
	out   *bufio.Reader
	hello struct {
		Addr        string `json:"addr"`
		Token       string `json:"token"`
		JWKSFetches int64  `json:"jwks_fetches"`
	}
}

func start(path, door, mode string) (*server, error) {
	s := &server{mode: mode, cmd: exec.Command(path, "-door", door, "-mode", mode)}
	s.cmd.Stderr = os.Stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.out = bufio.NewReader(stdout)
	line, err := s.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &s.hello)
	}
	if err != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		return nil, fmt.Errorf("benchserver -mode %s: %w", mode, err)
	}
	return s, nil
}

// stop stops the server and returns the JWKS fetches its issuer served since
// it said hello.
func (s *server) stop() (int64, error) {
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, err
	}
	var bye struct {
		JWKSFetches int64 `json:"jwks_fetches"`
	}
	line, err := s.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &bye)
	}
	_, _ = io.Copy(io.Discard, s.out)
	if werr := s.cmd.Wait(); err == nil {
		err = werr
	}
	return bye.JWKSFetches - s.hello.JWKSFetches, err
}

// report is the part of ghz's JSON report e2e reads.
type report struct {
	Count          uint64         `json:"count"`
	Rps            float64        `json:"rps"`
	ErrorDist      map[string]int `json:"errorDistribution"`
	StatusCodeDist map[string]int `json:"statusCodeDistribution"`
	Latencies      []struct {
		Percentage int           `json:"percentage"`
		Latency    time.Duration `json:"latency"`
	} `json:"latencyDistribution"`
}

func (r *report) percentile(p int) time.Duration {
	for _, l := range r.Latencies {
		if l.Percentage == p {
			return l.Latency
		}
	}
	return 0
}

// load runs ghz against s for d with c workers.
func (cfg *config) load(s *server, c int, d time.Duration) (*report, error) {
	md, err := json.Marshal(map[string]string{"authorization": "Bearer " + s.hello.Token})
	if err != nil {
		return nil, err
	}
	greeterDir, _, _ := strings.Cut(cfg.protoDirs, ",")
	cmd := exec.Command(cfg.ghz,
		"--insecure",
		"--proto", filepath.Join(greeterDir, "greeter/v1/greeter.proto"),
		"--import-paths", cfg.protoDirs,
		"--call", "greeter.v1.Greeter.SayHello",
		"--data", `{"name":"bench"}`,
		"--metadata", string(md),
		"--concurrency", strconv.Itoa(c),
		"--connections", strconv.Itoa(cfg.connections),
		"--duration", d.String(),
		"--duration-stop", "wait",
		"--format", "json",
		s.hello.Addr,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ghz against %s: %w: %s", s.mode, err, stderr.Bytes())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("ghz against %s: %w", s.mode, err)
	}
	if len(r.ErrorDist) > 0 || r.StatusCodeDist["OK"] != int(r.Count) || r.Count == 0 {
		return nil, fmt.Errorf("ghz against %s: calls failed: status codes %v, errors %v", s.mode, r.StatusCodeDist, r.ErrorDist)
	}
	return &r, nil
}

type key struct {
	mode string
	c    int
}

func run(cfg config, w io.Writer) (err error) {
	servers := make(map[string]*server)
	defer func() {
		for _, s := range servers {
			if s.cmd.ProcessState == nil {
				_ = s.cmd.Process.Kill()
				_ = s.cmd.Wait()
			}
		}
	}()
	for _, m := range cfg.modes {
		s, err := start(cfg.server, cfg.door, m)
		if err != nil {
			return err
		}
		servers[m] = s
	}
	for _, m := range cfg.modes {
		if _, err := cfg.load(servers[m], slices.Max(cfg.concurrency), cfg.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	results := make(map[key][]*report)
	for round := range cfg.rounds {
		for _, c := range cfg.concurrency {
			for i := range cfg.modes {
				m := cfg.modes[(i+round)%len(cfg.modes)]
				r, err := cfg.load(servers[m], c, cfg.duration)
				if err != nil {
					return err
				}
				results[key{m, c}] = append(results[key{m, c}], r)
				log.Printf("round %d, concurrency %d, %s: %.0f req/s, p50 %v, p99 %v", round+1, c, m, r.Rps, r.percentile(50), r.percentile(99))
			}
		}
	}

	var lat map[string][]time.Duration
	if cfg.paired > 0 {
		log.Printf("one call at a time, servers in turns, for %v", cfg.paired)
		if lat, err = cfg.callPaired(servers); err != nil {
			return err
		}
	}

	fetches := make(map[string]int64)
	var errs []error
	for _, m := range cfg.modes {
		n, err := servers[m].stop()
		errs = append(errs, err)
		fetches[m] = n
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	sum := cfg.summary(results, fetches, lat)
	writeTables(w, sum)
	if cfg.json != "" {
		return writeJSON(cfg.json, sum)
	}
	return nil
}

// summary gathers the values of the tables: medians over the rounds of
// each server's runs at each concurrency, and the paired calls' latencies
// (lat, nil if they did not run).
func (cfg *config) summary(results map[key][]*report, fetches map[string]int64, lat map[string][]time.Duration) *benchresult.E2E {
	sum := &benchresult.E2E{
		Door:        cfg.door,
		Connections: cfg.connections,
		Rounds:      cfg.rounds,
		Run:         benchresult.Duration(cfg.duration),
	}
	for _, m := range cfg.modes {
		sum.Servers = append(sum.Servers, cfg.name(m))
	}
	for _, c := range cfg.concurrency {
		base := results[key{"none", c}]
		for _, m := range cfg.modes {
			rs := results[key{m, c}]
			sum.Load = append(sum.Load, benchresult.E2ELoad{
				Server:      cfg.name(m),
				Concurrency: c,
				RPS:         median(rs, func(_ int, r *report) float64 { return r.Rps }),
				P50:         benchresult.Duration(median(rs, func(_ int, r *report) float64 { return float64(r.percentile(50)) })),
				P99:         benchresult.Duration(median(rs, func(_ int, r *report) float64 { return float64(r.percentile(99)) })),
				P50Ratio: median(rs, func(round int, r *report) float64 {
					return float64(r.percentile(50)) / float64(base[round].percentile(50))
				}),
				JWKSFetches: fetches[m],
			})
		}
	}
	if lat != nil {
		sum.Paired = cfg.pairedSummary(lat)
	}
	return sum
}

// writeTables writes the tables of sum in markdown: the ghz runs, then the
// calls one at a time.
func writeTables(w io.Writer, sum *benchresult.E2E) {
	against := ""
	if sum.Door == "connect" {
		against = " (gRPC protocol over h2c, against connect-go servers)"
	}
	fmt.Fprintf(w, "ghz, closed loop, %d connection(s)%s, SayHello with the same RS256 token: %d rounds, each a run of %v per server and concurrency, the servers' order rotating. Each value is the median over the rounds; p50 × unprotected is the median of the ratios within rounds.\n\n", sum.Connections, against, sum.Rounds, time.Duration(sum.Run))
	fmt.Fprintln(w, "| Server | Concurrency | Requests/s | p50 | p99 | p50 × unprotected | JWKS fetches under load |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, l := range sum.Load {
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %.3f | %d |\n",
			l.Server, l.Concurrency, l.RPS, micros(l.P50), micros(l.P99), l.P50Ratio, l.JWKSFetches)
	}
	if p := sum.Paired; p != nil {
		n := map[int]string{2: "two", 3: "three"}[len(sum.Servers)]
		if n == "" {
			n = strconv.Itoa(len(sum.Servers))
		}
		fmt.Fprintf(w, "\nOne call at a time for %v, %s taking the %s servers in turns, SayHello with the same RS256 token; the p50s compare calls made a few hundred microseconds apart.\n\n", time.Duration(p.For), p.Client, n)
		fmt.Fprintln(w, "| Server | Calls | p50 | p99 | p50 × unprotected |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, r := range p.Rows {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %.3f |\n", r.Server, r.Calls, micros(r.P50), micros(r.P99), r.P50Ratio)
		}
	}
}

// writeJSON writes sum to the file called name.
func writeJSON(name string, sum *benchresult.E2E) error {
	b, err := json.MarshalIndent(sum, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(b, '\n'), 0o644)
}

// median returns the median over the rounds of f, given the round and its
// report.
func median(rs []*report, f func(round int, r *report) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(i, r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func micros(d benchresult.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}
