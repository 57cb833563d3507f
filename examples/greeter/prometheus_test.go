package main

import (
	"context"
	"encoding/json"
	"io"
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
)

// TestPrometheus starts the server with -metrics-addr and a real Prometheus
// (Debian's prometheus package, or $PROMETHEUS) scraping it every second,
// makes calls that succeed and calls that are refused, and reads the
// decision counter back through Prometheus's HTTP API. Without Prometheus
// it skips, except under CI=true, where it fails.
func TestPrometheus(t *testing.T) {
	prom := requirePrometheus(t)
	_, server, client := buildCommands(t)
	iss := newIssuer(t)
	srv := startServer(t, server, nil, "-issuer", iss.URL, "-audience", iss.Audience, "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0")
	if srv.metricsURL == "" {
		t.Fatalf("the server did not say where it serves metrics:\n%s", srv.stderr)
	}
	target := strings.TrimSuffix(strings.TrimPrefix(srv.metricsURL, "http://"), "/metrics")

	// What /metrics prints before Prometheus reads it: the keys gauge of
	// the issuer, from Validator.State.
	body := httpGet(t, srv.metricsURL)
	wantContains(t, "/metrics", body, []string{`grpcjwt_keys{issuer="` + iss.URL + `"`, "grpcjwt_cache_hits_total 0"})

	promURL := startPrometheus(t, prom, target)

	good := iss.Token(map[string]any{"sub": "alice", "scope": "greet:read"})
	runClient(t, client, srv.addr, []clientCall{
		{"ok 1", []string{"-token", good}, 0, []string{"subject: alice"}, nil},
		{"ok 2", []string{"-token", good}, 0, []string{"subject: alice"}, nil},
		{"ok 3", []string{"-token", good}, 0, []string{"subject: alice"}, nil},
		{"no token", nil, 1, nil, []string{"auth.authorization_header_missing"}},
		{"missing scope", []string{"-token", iss.Token(map[string]any{"sub": "alice"})}, 1, nil, []string{"insufficient_scope"}},
	})
	if testing.Verbose() {
		t.Logf("/metrics after the calls:\n%s", httpGet(t, srv.metricsURL))
	}

	const sayHello = "/greeter.v1.Greeter/SayHello"
	want := map[string]float64{
		"ok/none":                              3,
		"unauthenticated/header_missing":       1,
		"permission_denied/insufficient_scope": 1,
	}
	query := `sum by (result, cause) (grpcjwt_decisions_total{rpc_method="` + sayHello + `"})`
	var got map[string]float64
	end := time.Now().Add(deadline)
	for {
		got = promQuery(t, promURL, query, "result", "cause")
		if mapsEqual(got, want) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("Prometheus says %s = %v after %s, want %v", query, got, deadline, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The cache: the good token was verified once and then found.
	hits := promQuery(t, promURL, `grpcjwt_cache_hits_total`)
	if hits[""] != 2 {
		t.Errorf("grpcjwt_cache_hits_total: %v, want 2", hits)
	}
	srv.stop(t)
}

// requirePrometheus returns the Prometheus binary: $PROMETHEUS, or
// prometheus from PATH.
func requirePrometheus(t *testing.T) string {
	t.Helper()
	return requireCommand(t, "PROMETHEUS", "prometheus", "prometheus")
}

// startPrometheus runs Prometheus on a free loopback port, with a
// configuration of its own that scrapes target every second, and returns
// its base URL once it is ready. It stops with the test.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	err := os.WriteFile(config, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
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
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(httpGet(t, base+"/api/v1/query?query="+url.QueryEscape(query))), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s %s", query, r.Status, r.Error)
	}
	out := make(map[string]float64)
	for _, s := range r.Data.Result {
		var key []string
		for _, l := range labels {
			key = append(key, s.Metric[l])
		}
		text, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Fatalf("query %s: value %v", query, s.Value)
		}
		out[strings.Join(key, "/")] = v
	}
	return out
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
