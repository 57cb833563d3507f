// Command chaos proves that the example server keeps accepting every valid
// token while its issuer misbehaves. It builds the greeter example server
// (examples/greeter/server), runs it as a process against a grpcjwttest
// issuer in this process on a loopback port, loads it with unary,
// server-streaming and bidi calls from -workers goroutines, each call with a
// token from a pool of -tokens distinct tokens, while the issuer rotates
// keys, answers 500, hangs, stops and comes back. Then it prints markdown
// tables and exits 1 if any check failed, naming each.
//
//	cd bench && GOWORK=off go run ./cmd/chaos -duration 5m
//
// # The server's rate limit sets the pace
//
// The server runs with the library's defaults, which its flags do not
// change: a refresh for an unknown kid at most once per MinRefreshInterval
// (one minute; the first after startup is free), a periodic refresh every
// RefreshInterval (one hour; the issuer sends no Cache-Control), and a
// failed refresh retried MinRefreshInterval later. So the server meets the
// issuer's faults only at its refreshes, about one a minute, and the run
// schedules a fault for each: the steps "rotate", "500", "hang" and
// "down" in turn, each -phase long, each when the server's rate limit has
// just let a refresh for an unknown kid through (the run keeps an upper
// bound of when the last one started):
//
//   - rotate: the previous key is unpublished, a new key is published and
//     signs the valid pool from now on (the current key stays published and
//     its tokens are still sent). The first call with the new key makes the
//     server refresh, which also drops the unpublished key.
//   - 500, hang: the JWKS answers 500, or never; tokens of a key never
//     published ("probes", ten a second) make the server refresh into the
//     fault. Known keys must keep verifying, with no call waiting.
//   - down: the issuer is closed (connection refused) while probes are
//     sent, then started again at the same address with the same keys.
//
// Between two steps, while the rate limit holds, the issuer cycles through
// "background" 500, hang, and stop and restart, one phase each, with
// probes: the server must not depend on the issuer between refreshes, and
// the probes must not make it fetch. The last -phase+5s before a step are
// "calm": the issuer serves, no probes or removed-key tokens are sent, and
// a step waits until no JWKS request has come for a second, so that the
// step's own token is what makes the server refresh. A 5-minute run has
// five steps; a 40-second run has the first rotation only, and background
// faults.
//
// # What is checked
//
// Every call is judged by its token's key, as the run's records stood at
// its start and end:
//
//   - valid (not expired, this audience, its key published all along): must
//     succeed, whatever the issuer did. Any error, refusal or other, is a
//     "valid token refused".
//   - removed key (unpublished before or during the call): may succeed
//     (the server keeps a key until it refreshes); may be refused only if
//     the issuer has received a JWKS request since the key was unpublished
//     (counted after the call returned), else it is "refused before the
//     server could have refreshed".
//   - expired, wrong audience (one in twenty calls) and unknown key (the
//     probes): must be refused with Unauthenticated (a probe may also run
//     out of its one-second deadline while the refresh it joined hangs).
//
// JWKS requests the issuer received, in all its lives, over the D the server
// ran, must be at most
//
//	1 (startup) + (1 + ⌊D/MinRefreshInterval⌋) (unknown kid: first free, then one a minute)
//	  + ⌊D/MinRefreshInterval⌋ (periodic: only retries of failed refreshes, a minute apart)
//
// (with no Cache-Control the periodic refresh after a success is due 48 to
// 60 minutes later), and at least 1 + the rotations.
//
// Memory: the server's RSS (VmRSS from /proc/<pid>/status) after a
// warm-up of one phase, against at the end of the load; it may grow by at
// most -max-rss-growth (the verified-token cache alone may take 16 MiB by
// default). Goroutines: the server's count (from -debug-addr's
// /debug/pprof/goroutine?debug=1) before the first call, against after the
// load stopped and its connections closed (waiting up to 5s for them to
// wind down, 15s while more than goroutineSlack are left): at most
// goroutineSlack more. And the server must exit 0 on SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt"
	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// goroutineSlack is how many more goroutines the server may have after the
// load than before it: an idle connection to the issuer's new life, say.
const goroutineSlack = 5

type config struct {
	duration, phase time.Duration
	workers, tokens int
	serverBin       string
	maxRSSGrowth    int64
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", time.Minute, "how long to load the server")
	flag.DurationVar(&c.phase, "phase", 5*time.Second, "how long each fault lasts")
	flag.IntVar(&c.workers, "workers", 8, "goroutines making calls")
	flag.IntVar(&c.tokens, "tokens", 300, "distinct valid tokens in the pool")
	flag.StringVar(&c.serverBin, "server-bin", "", "a prebuilt example server (default: go build "+serverPkg+")")
	mib := flag.Int64("max-rss-growth", 64, "how many `MiB` the server's RSS may grow")
	flag.Parse()
	c.maxRSSGrowth = *mib << 20
	if flag.NArg() > 0 || c.duration < 2*c.phase || c.phase <= 0 || c.workers < 1 || c.tokens < 1 {
		fmt.Fprintln(os.Stderr, "chaos: want -duration at least twice -phase, and positive -phase, -workers and -tokens")
		os.Exit(2)
	}
	failed, err := run(c, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// run runs the chaos and prints its tables; it reports whether a check
// failed, and an error if the run itself could not be made.
func run(c config, out io.Writer) (failed bool, err error) {
	dir, err := os.MkdirTemp("", "chaos")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	bin := c.serverBin
	if bin == "" {
		if bin, err = buildServer(dir); err != nil {
			return false, err
		}
	}

	// Two keys from the start, both published, the second signing: the
	// first rotation has a previous key to unpublish.
	older, first := grpcjwttest.MustKey(alg), grpcjwttest.MustKey(alg)
	is, err := newIssuer(older, first)
	if err != nil {
		return false, err
	}
	defer is.close()
	watchDone := make(chan struct{})
	defer close(watchDone)
	go is.watch(watchDone)

	serverStart := time.Now()
	srv, err := startServer(bin, is.minter.URL, is.minter.Audience, dir+"/server.log")
	if err != nil {
		return false, err
	}
	defer func() {
		if srv.cmd.ProcessState == nil {
			_ = srv.cmd.Process.Kill()
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the server's start settle
	g0, err := srv.goroutines()
	if err != nil {
		return false, fmt.Errorf("reading the server's goroutines: %w", err)
	}

	var conns []*grpc.ClientConn
	for range 2 {
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false, err
		}
		conns = append(conns, conn)
	}
	p := newPools(is.minter, c.tokens, older, first)
	t := newTally()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	loadStart := time.Now()
	for i := range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(ctx, i, conns[i%len(conns)], p, is, t)
		}()
	}

	time.Sleep(c.phase) // warm-up
	rss0, err := srv.rss()
	if err != nil {
		stopLoad()
		return false, err
	}
	ch := &chaos{is: is, p: p, conn: conns[0], t: t, phase: c.phase, minRefresh: grpcjwt.DefaultMinRefreshInterval, start: loadStart, end: loadStart.Add(c.duration)}
	ch.steps = append(ch.steps, step{name: "warm-up", detail: "issuer serving keys " + older.KID + " and " + first.KID + ", which signs"})
	chaosErr := ch.run()
	sleepUntil(ch.end)
	stopLoad()
	wg.Wait()
	loadTime := time.Since(loadStart)
	rss1, err := srv.rss()
	if err != nil {
		return false, err
	}
	for _, conn := range conns {
		conn.Close()
	}
	if chaosErr != nil {
		return false, chaosErr
	}
	var g1 int
	// Give the connections' goroutines up to 5s to wind down (15s while
	// more than the slack are left), and report where the count settled.
	for begin := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if g1, err = srv.goroutines(); err != nil {
			return false, fmt.Errorf("reading the server's goroutines: %w", err)
		}
		waited := time.Since(begin)
		if g1 <= g0 || waited > 15*time.Second || (waited > 5*time.Second && g1 <= g0+goroutineSlack) {
			break
		}
	}
	fetches := is.fetches()
	d := time.Since(serverStart)
	exit, stopErr := srv.stop()

	// The tables.
	r := report{out: out}
	calls := t.count("", "", "")
	var byKind []string
	for _, k := range kinds {
		byKind = append(byKind, fmt.Sprintf("%s %d", k, t.count(k, "", "")))
	}
	fmt.Fprintf(out, "Chaos run: %s of load (%d workers, %d tokens, phase %s) on the example server, %s.\n\n",
		loadTime.Round(time.Second), c.workers, c.tokens, c.phase, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(out, "| check | measured | bound | |")
	fmt.Fprintln(out, "|---|---|---|---|")
	r.row("calls", fmt.Sprintf("%d (%s; %.0f/s)", calls, strings.Join(byKind, ", "), float64(calls)/loadTime.Seconds()), "", true)
	valid := t.count("", classValid, "")
	r.row("valid token refused", fmt.Sprintf("%d of %d (slowest accepted: %s, %s, returned at %s)", t.failures[checkValidRefused], valid,
		t.slowest.Round(time.Millisecond), t.slowKind, t.slowEnd.Sub(loadStart).Round(100*time.Millisecond)), "0", t.failures[checkValidRefused] == 0)
	r.row("removed key refused before the server could have refreshed", fmt.Sprintf("%d of %d (accepted %d, refused %d)", t.failures[checkRemovedEarly],
		t.count("", classRemoved, ""), t.count("", classRemoved, "ok"), t.count("", classRemoved, "refused")), "0", t.failures[checkRemovedEarly] == 0)
	var bads []string
	for _, cl := range []string{classExpired, classAudience, classUnknown} {
		bads = append(bads, fmt.Sprintf("%s %d", cl, t.count("", cl, "")))
	}
	r.row("bad token accepted", fmt.Sprintf("%d of %d (%s)", t.failures[checkBadAccepted], t.count("", classExpired, "")+t.count("", classAudience, "")+t.count("", classUnknown, ""), strings.Join(bads, ", ")),
		"0", t.failures[checkBadAccepted] == 0)
	minI := grpcjwt.DefaultMinRefreshInterval
	per := int64(d / minI)
	bound := 1 + (1 + per) + per
	var modes []string
	byMode := is.requestsByMode()
	for _, m := range []string{"serve", "500", "hang", "down"} {
		if byMode[m] > 0 {
			modes = append(modes, fmt.Sprintf("%s %d", m, byMode[m]))
		}
	}
	r.row("JWKS requests at the issuer", fmt.Sprintf("%d (%s) in D = %s", fetches, strings.Join(modes, ", "), d.Round(time.Second)),
		fmt.Sprintf("≥ 1 + rotations = %d; ≤ 1 + (1 + ⌊D/%s⌋) + ⌊D/%s⌋ = %d", 1+ch.rotations, shortDur(minI), shortDur(minI), bound),
		fetches >= int64(1+ch.rotations) && fetches <= bound)
	r.row("server RSS", fmt.Sprintf("%s after warm-up → %s at the end (%+.1f MiB)", mibs(rss0), mibs(rss1), float64(rss1-rss0)/(1<<20)),
		fmt.Sprintf("≤ +%d MiB", c.maxRSSGrowth>>20), rss1-rss0 <= c.maxRSSGrowth)
	r.row("server goroutines", fmt.Sprintf("%d before the load → %d after", g0, g1), fmt.Sprintf("≤ %d + %d", g0, goroutineSlack), g1 <= g0+goroutineSlack)
	exitText := fmt.Sprint(exit)
	if stopErr != nil {
		exitText = stopErr.Error()
	}
	r.row("server exit on SIGTERM", exitText, "0", stopErr == nil && exit == 0)

	fmt.Fprintln(out)
	fmt.Fprintln(out, "| at | step | JWKS requests | |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, s := range mergeBackground(ch.steps) {
		fmt.Fprintf(out, "| %s | %s | %d | %s |\n", shortDur(s.at.Round(100*time.Millisecond)), s.name, s.requests, s.detail)
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(out, "\nFAIL: %s\n", strings.Join(r.failed, "; "))
		for _, d := range t.details {
			fmt.Fprintf(out, "  %s\n", d)
		}
		fmt.Fprintf(out, "\nThe server's log ends:\n%s\n", srv.logTail(30))
		return true, nil
	}
	fmt.Fprintln(out, "\nok: every check passed.")
	return false, nil
}

// mergeBackground makes one step of each run of background steps.
func mergeBackground(steps []step) []step {
	var merged []step
	phases := 0 // in the run of background steps merged last
	for _, s := range steps {
		if !strings.HasPrefix(s.name, "background ") {
			merged = append(merged, s)
			phases = 0
			continue
		}
		if phases == 0 {
			merged = append(merged, step{at: s.at, name: "background"})
		}
		phases++
		last := &merged[len(merged)-1]
		last.requests += s.requests
		last.detail = fmt.Sprintf("%d phases: 500, hang, stop and restart in turn; probes", phases)
	}
	return merged
}

// report prints the rows of the checks table and remembers which failed.
type report struct {
	out    io.Writer
	failed []string
}

func (r *report) row(check, measured, bound string, ok bool) {
	verdict := "ok"
	if bound == "" {
		verdict = ""
	} else if !ok {
		verdict = "**FAIL**"
		r.failed = append(r.failed, check)
	}
	fmt.Fprintf(r.out, "| %s | %s | %s | %s |\n", check, measured, bound, verdict)
}

func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// shortDur prints d without the zero seconds time.Duration.String adds
// to whole minutes ("1m0s" is "1m").
func shortDur(d time.Duration) string {
	s := d.String()
	if m, ok := strings.CutSuffix(s, "m0s"); ok {
		return m + "m"
	}
	return s
}
