package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// deployFile returns the absolute path of a file under the repository's
// deploy/ directory.
func deployFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "deploy", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func alertRulesFile(t *testing.T) string { return deployFile(t, "prometheus/grpcjwt-alerts.yml") }

// TestAlertRules checks the alert rules with promtool (Debian's prometheus
// package, or $PROMTOOL) and runs their unit tests, which have, for each
// alert, series that fire it and series that do not. Without promtool it
// skips, except under CI=true, where it fails. TestPrometheus loads the
// same rules into a real Prometheus.
func TestAlertRules(t *testing.T) {
	promtool := requireCommand(t, "PROMTOOL", "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", alertRulesFile(t)},
		{"test", "rules", deployFile(t, "prometheus/grpcjwt-alerts_test.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else if !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s said no SUCCESS:\n%s", strings.Join(args, " "), out)
		}
	}
}

// activeAlert is an alert Prometheus reports: its name, state (pending or
// firing) and some of its labels.
type activeAlert struct {
	name, state string
	labels      map[string]string
}

// waitAlerts polls Prometheus until its active alerts are want: each with
// its name and state, and at least the labels given.
func waitAlerts(t *testing.T, promURL string, want []activeAlert) {
	t.Helper()
	var got []activeAlert
	end := time.Now().Add(deadline)
	for {
		var r struct {
			Status string
			Data   struct {
				Alerts []struct {
					Labels map[string]string
					State  string
				}
			}
		}
		if err := promAPI(promURL+"/api/v1/alerts", &r); err != nil || r.Status != "success" {
			t.Fatalf("/api/v1/alerts: %v %s", err, r.Status)
		}
		got = got[:0]
		for _, a := range r.Data.Alerts {
			got = append(got, activeAlert{name: a.Labels["alertname"], state: a.State, labels: a.Labels})
		}
		if alertsMatch(got, want) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("active alerts after %s: %v, want %v", deadline, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func alertsMatch(got, want []activeAlert) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.state != w.state {
			return false
		}
		for k, v := range w.labels {
			if g.labels[k] != v {
				return false
			}
		}
	}
	return true
}

// runbookBase is where every alert's runbook_url points, at an anchor of
// deploy/README.md.
const runbookBase = "https://github.com/grpcjwt/grpcjwt/blob/main/deploy/README.md#"

// checkAlertRules reads the alert rules as the Prometheus at promURL loaded
// them, once each has been evaluated: each must be healthy, have a severity
// and a summary, a description and a runbook at a heading of
// deploy/README.md; its query must run; the causes it names must be causes
// of docs/operations.md (checkCauses); and every metric it names, or its
// unit tests feed it, must be one the server exports: a metric renamed in
// the code fails here, not in production.
func checkAlertRules(t *testing.T, promURL string) {
	t.Helper()
	type rule struct {
		Name, Query, Health, LastError, Type string
		Labels, Annotations                  map[string]string
	}
	var rules []rule
	end := time.Now().Add(deadline)
	for {
		var r struct {
			Status string
			Data   struct{ Groups []struct{ Rules []rule } }
		}
		if err := promAPI(promURL+"/api/v1/rules", &r); err != nil || r.Status != "success" {
			t.Fatalf("/api/v1/rules: %v %s", err, r.Status)
		}
		rules = rules[:0]
		evaluated := true
		for _, g := range r.Data.Groups {
			for _, ru := range g.Rules {
				rules = append(rules, ru)
				evaluated = evaluated && ru.Health != "unknown"
			}
		}
		if evaluated {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("rules not all evaluated within %s: %+v", deadline, rules)
		}
		time.Sleep(200 * time.Millisecond)
	}
	anchors := readmeAnchors(t)
	var names, metrics []string
	for _, ru := range rules {
		if ru.Type != "alerting" {
			t.Errorf("rule %s is %s; the file has alerting rules only", ru.Name, ru.Type)
			continue
		}
		names = append(names, ru.Name)
		if ru.Health != "ok" || ru.LastError != "" {
			t.Errorf("alert %s: health %s: %s", ru.Name, ru.Health, ru.LastError)
		}
		if _, err := promInstant(promURL, ru.Query, ""); err != nil {
			t.Errorf("alert %s: %v", ru.Name, err)
		}
		if s := ru.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q, want critical or warning", ru.Name, s)
		}
		for _, a := range []string{"summary", "description"} {
			if ru.Annotations[a] == "" {
				t.Errorf("alert %s has no %s", ru.Name, a)
			}
		}
		anchor, ok := strings.CutPrefix(ru.Annotations["runbook_url"], runbookBase)
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q, want %s and a heading of deploy/README.md", ru.Name, ru.Annotations["runbook_url"], runbookBase)
		}
		checkCauses(t, "alert "+ru.Name, ru.Query)
		metrics = append(metrics, metricName.FindAllString(ru.Query, -1)...)
	}
	tests, err := os.ReadFile(deployFile(t, "prometheus/grpcjwt-alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	metrics = append(metrics, metricName.FindAllString(string(tests), -1)...)
	for _, m := range slices.Compact(slices.Sorted(slices.Values(metrics))) {
		if n := promQuery(t, promURL, "count("+m+")"); n[""] == 0 {
			t.Errorf("the alerts or their tests name %s, which the server does not export", m)
		}
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	want := []string{"GrpcjwtIntrospectionUnavailable", "GrpcjwtInvalidTokenSurge", "GrpcjwtIssuerNotReady", "GrpcjwtKeysStale", "GrpcjwtReplayCacheNearFull"}
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v", names, want)
	}
}

// readmeAnchors returns the anchors of deploy/README.md's headings, as
// code hosts make them: lower case, spaces to hyphens, other punctuation
// dropped.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(deployFile(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return anchors
}

// metricName finds the names of grpcjwt's metrics.
var metricName = regexp.MustCompile(`\bgrpcjwt_[a-z_]+`)

// causeMatcher finds the causes a query names: cause="x", cause=~"x|y".
var causeMatcher = regexp.MustCompile(`cause=~?"([^"]*)"`)

// checkCauses checks the causes a query names against the table of
// docs/operations.md, which TestDocsListEveryCause holds to the code:
// each must be a cause, and a list with expired in it must be exactly the
// causes whose status message is invalid_token.
func checkCauses(t *testing.T, what, query string) {
	t.Helper()
	messages := causeMessages(t)
	var invalidToken []string
	for c, m := range messages {
		if m == "invalid_token" {
			invalidToken = append(invalidToken, c)
		}
	}
	sort.Strings(invalidToken)
	for _, m := range causeMatcher.FindAllStringSubmatch(query, -1) {
		causes := strings.Split(m[1], "|")
		for _, c := range causes {
			if _, ok := messages[c]; !ok && c != "none" && c != "other" {
				t.Errorf("%s names the cause %q, which docs/operations.md does not list", what, c)
			}
		}
		if slices.Contains(causes, "expired") {
			if sort.Strings(causes); !slices.Equal(causes, invalidToken) {
				t.Errorf("%s: the causes of invalid_token are %v, docs/operations.md says %v", what, causes, invalidToken)
			}
		}
	}
}

// causeMessages reads the table of causes of docs/operations.md: each
// cause with the status message the client gets.
func causeMessages(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| `Err[A-Za-z]+` \\| `([a-z_.]+)` \\|$")
	out := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) < 20 {
		t.Fatalf("docs/operations.md: %d rows of causes found, want the whole table", len(out))
	}
	return out
}
