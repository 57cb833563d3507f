package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestPrometheus starts the server with -metrics-addr, -dpop and an
// introspection client, and a real Prometheus (Debian's prometheus
// package, or $PROMETHEUS) scraping it every second with the alert rules of
// deploy/prometheus loaded. It makes a known mix of calls twice (calls that
// succeed, and calls refused for nine causes, with JWTs, opaque
// tokens and a DPoP-bound token), and reads back through Prometheus's HTTP
// API the decision counters, every query of the Grafana dashboard of
// deploy/grafana over the second round (dashboard_test.go), and the alerts
// (alerts_test.go). Without Prometheus it skips, except under CI=true,
// where it fails.
func TestPrometheus(t *testing.T) {
	prom := requirePrometheus(t)
	_, server, client := buildCommands(t)
	iss := newIssuer(t)
	iss.AddClient("greeter-api", "introspection-secret")
	srv := startServer(t, server, []string{"GRPCJWT_INTROSPECTION_CLIENT_SECRET=introspection-secret"},
		"-issuer", iss.URL, "-audience", iss.Audience, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-dpop", "-introspection-client-id", "greeter-api", "-health-max-stale", strconv.Itoa(staleBound)+"s")
	if srv.metricsURL == "" {
		t.Fatalf("the server did not say where it serves metrics:\n%s", srv.stderr)
	}
	target := strings.TrimSuffix(strings.TrimPrefix(srv.metricsURL, "http://"), "/metrics")

	// What /metrics prints before Prometheus reads it: the keys gauge of
	// the issuer, from Validator.State.
	body := httpGet(t, srv.metricsURL)
	wantContains(t, "/metrics", body, []string{`grpcjwt_keys{issuer="` + iss.URL + `"`, "grpcjwt_cache_hits_total 0"})

	promURL := startPrometheus(t, prom, target, alertRulesFile(t))
	mix := newCallMix(t, iss)

	// Round 1 makes every series, round 2 moves them by known amounts.
	// Between them, a scrape that saw round 1 whole and nothing of round 2:
	// its time is the start of the window the dashboard is queried over.
	mix.run(t, client, srv.addr, 1)
	waitDecisions(t, promURL, mix.decisions(1))
	start := sampleTime(t, promURL)
	mix.run(t, client, srv.addr, 2)
	waitDecisions(t, promURL, mix.decisions(2))
	if testing.Verbose() {
		t.Logf("/metrics after the calls:\n%s", httpGet(t, srv.metricsURL))
	}

	// The unknown kid's refresh failed in round 1: the keys are stale, and
	// once longer than -health-max-stale, GrpcjwtKeysStale fires, and no
	// other alert is active.
	waitAlerts(t, promURL, []activeAlert{{name: "GrpcjwtKeysStale", state: "firing", labels: map[string]string{"issuer": iss.URL, "severity": "critical", "instance": target}}})
	checkAlertRules(t, promURL)

	end := sampleTime(t, promURL)
	checkDashboard(t, promURL, dashboardRun{
		start: start, end: end,
		vars: map[string]string{"job": "greeter", "instance": target, "issuer": iss.URL, "method": ".*"},
		want: dashboardWants(target, iss.URL),
		varValues: map[string][]string{
			"job":      {"greeter"},
			"instance": {target},
			"issuer":   {iss.URL},
			"method":   {sayHello, chat},
		},
	})
	srv.stop(t)
}

// staleBound is the server's -health-max-stale, in seconds: the bound of
// GrpcjwtKeysStale.
const staleBound = 2

const (
	sayHello = "/greeter.v1.Greeter/SayHello"
	chat     = "/greeter.v1.Greeter/Chat"
)

// callMix is the calls of TestPrometheus: each round makes the same
// decisions, with the tokens of the round.
type callMix struct {
	iss                              *grpcjwttest.Issuer
	good, readOnly, noScope, expired string
	unknownKey, bound, dpopKeyFile   string
}

func newCallMix(t *testing.T, iss *grpcjwttest.Issuer) *callMix {
	key := grpcjwttest.MustKey("ES256")
	return &callMix{
		iss:      iss,
		good:     iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}),
		readOnly: iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}),
		noScope:  iss.Token(map[string]any{"sub": "alice"}),
		expired:  iss.Token(map[string]any{"sub": "alice", "scope": "greet:read", "exp": time.Now().Add(-time.Hour).Unix()}),
		// Signed by a key the issuer never published: its kid is unknown.
		unknownKey:  iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}, grpcjwttest.WithKey(grpcjwttest.MustKey("RS256"))),
		bound:       iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"}, grpcjwttest.WithDPoPBinding(thumbprint(t, key))),
		dpopKeyFile: writeJWK(t, key),
	}
}

// run makes the round's calls. In round 1 the issuer's JWKS starts failing
// before the call with an unknown kid, whose refresh then fails.
func (m *callMix) run(t *testing.T, client, addr string, round int) {
	t.Run("round "+strconv.Itoa(round), func(t *testing.T) {
		opaque := m.iss.OpaqueToken(map[string]any{"sub": "olivia", "scope": "greet:read"})
		failing := m.iss.OpaqueToken(map[string]any{"sub": "olivia", "scope": "greet:read"})
		// A new one each round: the server remembers a refused token.
		unknown := "opaque-token-the-issuer-never-issued-" + strconv.Itoa(round)
		runClient(t, client, addr, []clientCall{
			{"ok", []string{"-token", m.good}, 0, []string{"subject: alice"}, nil},
			{"ok again", []string{"-token", m.good}, 0, []string{"subject: alice"}, nil},
			{"no token", nil, 1, nil, []string{"auth.authorization_header_missing"}},
			{"missing scope", []string{"-token", m.noScope}, 1, nil, []string{"SayHello failed: PermissionDenied: insufficient_scope"}},
			{"missing scope for chat", []string{"-token", m.readOnly, "-method", "chat"}, 1, nil, []string{"Chat failed: PermissionDenied: insufficient_scope"}},
			{"expired", []string{"-token", m.expired}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"malformed", []string{"-token", "not.a.jwt"}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"opaque", []string{"-token", opaque}, 0, []string{"subject: olivia"}, nil},
			{"opaque, unknown to the issuer", []string{"-token", unknown}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
			{"DPoP-bound", []string{"-token", m.bound, "-dpop", m.dpopKeyFile}, 0, []string{"subject: alice"}, nil},
			{"DPoP-bound as Bearer", []string{"-token", m.bound}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
		})
		m.iss.SetIntrospectionMode(grpcjwttest.Fail)
		runClient(t, client, addr, []clientCall{
			{"opaque, introspection failing", []string{"-token", failing}, 1, nil, []string{"SayHello failed: Unavailable: temporarily_unavailable"}},
		})
		m.iss.SetIntrospectionMode(grpcjwttest.Serve)
		if round == 1 {
			m.iss.SetJWKSMode(grpcjwttest.Fail)
		}
		runClient(t, client, addr, []clientCall{
			{"unknown kid", []string{"-token", m.unknownKey}, 1, nil, []string{"SayHello failed: Unauthenticated: invalid_token"}},
		})
	})
}

// decisions are the decision counters after round, by method, result and
// cause: each round makes the same.
func (m *callMix) decisions(round int) map[string]float64 {
	n := float64(round)
	return map[string]float64{
		sayHello + "/ok/none":                               4 * n,
		sayHello + "/unauthenticated/header_missing":        n,
		sayHello + "/permission_denied/insufficient_scope":  n,
		chat + "/permission_denied/insufficient_scope":      n,
		sayHello + "/unauthenticated/expired":               n,
		sayHello + "/unauthenticated/malformed":             n,
		sayHello + "/unauthenticated/inactive":              n,
		sayHello + "/unauthenticated/dpop_bound_token":      n,
		sayHello + "/unavailable/introspection_unavailable": n,
		sayHello + "/unauthenticated/unknown_key":           n,
	}
}

// waitDecisions polls Prometheus until the decision counters are want.
func waitDecisions(t *testing.T, promURL string, want map[string]float64) {
	t.Helper()
	query := `sum by (rpc_method, result, cause) (grpcjwt_decisions_total{job="greeter"})`
	var got map[string]float64
	end := time.Now().Add(deadline)
	for {
		got = promQuery(t, promURL, query, "rpc_method", "result", "cause")
		if mapsEqual(got, want) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("Prometheus says %s = %v after %s, want %v", query, got, deadline, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sampleTime returns the time of the server's latest sample in Prometheus,
// in milliseconds since the epoch: every series of a scrape has it.
func sampleTime(t *testing.T, promURL string) int64 {
	t.Helper()
	ts := promQuery(t, promURL, `timestamp(grpcjwt_cache_hits_total{job="greeter"})`)
	v, ok := ts[""]
	if !ok || len(ts) != 1 {
		t.Fatalf("timestamp(grpcjwt_cache_hits_total): %v", ts)
	}
	return int64(math.Round(v * 1000))
}

// requirePrometheus returns the Prometheus binary: $PROMETHEUS, or
// prometheus from PATH.
func requirePrometheus(t *testing.T) string {
	t.Helper()
	return requireCommand(t, "PROMETHEUS", "prometheus", "prometheus")
}

// startPrometheus runs Prometheus on a free loopback port, with a
// configuration of its own that scrapes target every second and evaluates
// the rules of ruleFiles every second, and returns its base URL once it is
// ready. It stops with the test.
func startPrometheus(t *testing.T, bin, target string, ruleFiles ...string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	rules := "rule_files:\n"
	for _, f := range ruleFiles {
		rules += "  - " + strconv.Quote(f) + "\n"
	}
	err := os.WriteFile(config, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
`+rules+`scrape_configs:
  - job_name: greeter
    static_configs:
      - targets: ["`+target+`"]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", log)
		}
	})
	base := "http://" + addr
	end := time.Now().Add(deadline)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", log)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("prometheus not ready within %s:\n%s", deadline, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promQuery runs an instant query and returns its samples by the values of
// labels, joined by "/".
func promQuery(t *testing.T, base, query string, labels ...string) map[string]float64 {
	t.Helper()
	samples, err := promInstant(base, query, "")
	if err != nil {
		t.Fatal(err)
	}
	return byLabels(samples, labels)
}

// promSample is one sample of a query's answer.
type promSample struct {
	Metric map[string]string
	Value  float64 // NaN for "NaN"
}

// promInstant runs an instant query at time at (Prometheus's form, such as
// "1712345678.901"; "" for now). It fails for an answer that is not
// "success", with Prometheus's error, and for a result that is not a
// vector.
func promInstant(base, query, at string) ([]promSample, error) {
	form := url.Values{"query": {query}}
	if at != "" {
		form.Set("time", at)
	}
	var r struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := promAPI(base+"/api/v1/query?"+form.Encode(), &r); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", query, r.Status, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: a %s, want a vector", query, r.Data.ResultType)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		text, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", query, s.Value)
		}
		out = append(out, promSample{Metric: s.Metric, Value: v})
	}
	return out, nil
}

// promAPI reads a JSON answer of Prometheus's HTTP API into v, whatever
// its status code: errors come as JSON too.
func promAPI(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %s: %w\n%s", u, resp.Status, err, b)
	}
	return nil
}

// byLabels keys samples by the values of labels, joined by "/".
func byLabels(samples []promSample, labels []string) map[string]float64 {
	out := make(map[string]float64)
	for _, s := range samples {
		out[labelKey(s.Metric, labels)] = s.Value
	}
	return out
}

func labelKey(m map[string]string, labels []string) string {
	key := make([]string, len(labels))
	for i, l := range labels {
		key[i] = m[l]
	}
	return strings.Join(key, "/")
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", u, resp.Status, err, b)
	}
	return string(b)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
