package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// dashboard is what the test reads of deploy/grafana/grpcjwt-dashboard.json.
type dashboard struct {
	Panels     []dashboardPanel
	Templating struct {
		List []struct {
			Name, Type string
			Query      any // a string for query variables
		}
	}
}

type dashboardPanel struct {
	Title, Type string
	Datasource  *datasourceRef
	Panels      []dashboardPanel // of a collapsed row
	Targets     []struct {
		RefID      string
		Expr       string
		Datasource *datasourceRef
	}
}

// datasourceRef names a data source; every query's is the dashboard's
// variable, so that importing it asks for no data source name.
type datasourceRef struct{ Type, UID string }

var dashboardDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

// dashboardTarget is one query of a panel.
type dashboardTarget struct {
	name       string // the panel's title and the target's refId: "Calls by result A"
	expr       string
	datasource []*datasourceRef // the panel's and the query's
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(deployFile(t, "grafana/grpcjwt-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// targets returns every query of every panel, rows' panels included.
func (d dashboard) targets() []dashboardTarget {
	var out []dashboardTarget
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashboardTarget{name: p.Title + " " + tg.RefID, expr: tg.Expr, datasource: []*datasourceRef{p.Datasource, tg.Datasource}})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dashboardRun is what checkDashboard checks: the dashboard queried at end
// over the window from start (times of samples, in milliseconds), with
// the template variables set to vars.
type dashboardRun struct {
	start, end int64
	vars       map[string]string
	want       map[string]seriesWant // by dashboardTarget.name
	varValues  map[string][]string   // what each query variable must list
}

// seriesWant is what a query must return: its series, keyed by the values
// of the labels by joined by "/": those of want, each value meeting its
// check, those of may if at all, and no others.
type seriesWant struct {
	by        []string
	want, may map[string]valueCheck
}

// window is the time a query covers: from the sample at its start to the
// one at its end, and the range given to Prometheus, a millisecond more.
type window struct{ sampled, queried float64 } // seconds

// A valueCheck checks the value of a series over the window; it says what
// is wrong, or "".
type valueCheck func(v float64, w window) string

// perWindow: a rate whose increase over the window is n. Prometheus
// extrapolates the increase between the first and the last sample to the
// range queried, then divides by that range: rate × the time between the
// samples is the increase exactly, give or take rounding.
func perWindow(n float64) valueCheck {
	return func(v float64, w window) string {
		if got := v * w.sampled; math.Abs(got-n) > 1e-6*max(1, n) {
			return fmt.Sprintf("%v a second × %.3f s = %v, want %v", v, w.sampled, got, n)
		}
		return ""
	}
}

// increased: an increase by n over the window, extrapolated as
// Prometheus does to the range queried.
func increased(n float64) valueCheck {
	return func(v float64, w window) string {
		if got := v * w.sampled / w.queried; math.Abs(got-n) > 1e-6*max(1, n) {
			return fmt.Sprintf("%v over %.3f s, %v over the %.3f s between the samples, want %v", v, w.queried, got, w.sampled, n)
		}
		return ""
	}
}

// equals: exactly x, give or take rounding.
func equals(x float64) valueCheck {
	return func(v float64, _ window) string {
		if math.Abs(v-x) > 1e-9*max(1, math.Abs(x)) {
			return fmt.Sprintf("%v, want %v", v, x)
		}
		return ""
	}
}

// atLeast: x or more.
func atLeast(x float64) valueCheck {
	return func(v float64, _ window) string {
		if !(v >= x) {
			return fmt.Sprintf("%v, want at least %v", v, x)
		}
		return ""
	}
}

// within: strictly between lo and hi.
func within(lo, hi float64) valueCheck {
	return func(v float64, _ window) string {
		if !(v > lo && v < hi) {
			return fmt.Sprintf("%v, want between %v and %v", v, lo, hi)
		}
		return ""
	}
}

// latency: a time in seconds, above 0 and below 30.
var latency = within(0, 30)

// latencyOrNone: a latency, or NaN, which histogram_quantile gives when
// nothing was observed in the window (the key fetches all came before it).
func latencyOrNone(v float64, w window) string {
	if math.IsNaN(v) {
		return ""
	}
	return latency(v, w)
}

// checkDashboard evaluates every query of the dashboard through the
// Prometheus at promURL, with its variables, $__rate_interval, $__interval
// and $__range replaced, and checks each answer against r.want; and it
// checks what the query variables list.
func checkDashboard(t *testing.T, promURL string, r dashboardRun) {
	t.Helper()
	d := readDashboard(t)
	w := window{sampled: float64(r.end-r.start) / 1000, queried: float64(r.end-r.start+1) / 1000}
	// One millisecond more than the window, so that the sample at its
	// start is in it whether Prometheus's ranges are closed (2.x) or open
	// (3.x) at the start.
	window := fmt.Sprintf("%dms", r.end-r.start+1)
	at := fmt.Sprintf("%d.%03d", r.end/1000, r.end%1000)
	vars := map[string]string{"__rate_interval": window, "__interval": window, "__range": window}
	for k, v := range r.vars {
		vars[k] = v
	}
	seen := map[string]bool{}
	for _, tg := range d.targets() {
		t.Run(tg.name, func(t *testing.T) {
			seen[tg.name] = true
			want, ok := r.want[tg.name]
			if !ok {
				t.Fatalf("no expectation for the query %q: add one to dashboardWants", tg.expr)
			}
			for _, ds := range tg.datasource {
				if ds == nil || *ds != dashboardDatasource {
					t.Errorf("data source %+v, want %+v", ds, dashboardDatasource)
				}
			}
			checkCauses(t, "the dashboard's "+tg.name, tg.expr)
			query := substitute(t, tg.expr, vars)
			samples, err := promInstant(promURL, query, at)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, s := range samples {
				k := labelKey(s.Metric, want.by)
				if _, dup := got[k]; dup {
					t.Errorf("two series for %s=%q", strings.Join(want.by, ","), k)
				}
				got[k] = s.Value
			}
			for k := range want.want {
				if _, ok := got[k]; !ok {
					t.Errorf("no series %s=%q; got %v\nquery: %s", strings.Join(want.by, ","), k, got, query)
				}
			}
			for k, v := range got {
				check, ok := want.want[k]
				if !ok {
					check, ok = want.may[k]
				}
				if !ok {
					t.Errorf("unexpected series %s=%q (%v)\nquery: %s", strings.Join(want.by, ","), k, v, query)
				} else if msg := check(v, w); msg != "" {
					t.Errorf("%s=%q: %s\nquery: %s", strings.Join(want.by, ","), k, msg, query)
				}
			}
		})
	}
	for name := range r.want {
		if !seen[name] {
			t.Errorf("the dashboard has no query %q", name)
		}
	}

	// The query variables, label_values(selector, label), as Grafana runs
	// them: the values of label in the series of selector.
	labelValues := regexp.MustCompile(`^label_values\((.*), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	checked := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus" {
			checked[v.Name] = true
		}
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values(selector, label)", v.Name, q)
			continue
		}
		checked[v.Name] = true
		var resp struct {
			Status string
			Data   []string
		}
		u := promURL + "/api/v1/label/" + m[2] + "/values?" + url.Values{"match[]": {substitute(t, m[1], vars)}}.Encode()
		if err := promAPI(u, &resp); err != nil || resp.Status != "success" {
			t.Errorf("variable %s: %v %s", v.Name, err, resp.Status)
			continue
		}
		want := slices.Clone(r.varValues[v.Name])
		sort.Strings(want)
		sort.Strings(resp.Data)
		if !slices.Equal(resp.Data, want) {
			t.Errorf("variable %s (%s) lists %q, want %q", v.Name, q, resp.Data, want)
		}
	}
	for name := range r.varValues {
		if !checked[name] {
			t.Errorf("the dashboard has no query variable %s", name)
		}
	}
	if !checked["datasource"] {
		t.Error("the dashboard has no variable datasource of type datasource for prometheus")
	}
}

// substitute replaces the dashboard's variables ($name, ${name}) in expr;
// a variable it does not know fails the test.
func substitute(t *testing.T, expr string, vars map[string]string) string {
	t.Helper()
	return regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`).ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		v, ok := vars[name]
		if !ok {
			t.Errorf("%s: unknown variable %s", expr, m)
		}
		return v
	})
}

// dashboardWants is what each query of the dashboard returns over round 2
// of TestPrometheus's calls (callMix), for the server scraped at target
// and the issuer: the decisions by the counts of one round.
func dashboardWants(target, issuer string) map[string]seriesWant {
	// The decisions of a round, by label.
	byResult := map[string]valueCheck{"ok": perWindow(4), "unauthenticated": perWindow(6), "permission_denied": perWindow(2), "unavailable": perWindow(1)}
	byCause := map[string]valueCheck{
		"unauthenticated/header_missing":        perWindow(1),
		"permission_denied/insufficient_scope":  perWindow(2),
		"unauthenticated/expired":               perWindow(1),
		"unauthenticated/malformed":             perWindow(1),
		"unauthenticated/inactive":              perWindow(1),
		"unauthenticated/dpop_bound_token":      perWindow(1),
		"unauthenticated/unknown_key":           perWindow(1),
		"unavailable/introspection_unavailable": perWindow(1),
	}
	decisions := map[string]valueCheck{}
	for k, n := range (&callMix{}).decisions(1) {
		decisions[k] = increased(n)
	}
	keyFetches := map[string]valueCheck{
		// Both before the window; the unknown kid may refresh again in it
		// if the test runs for over a minute.
		issuer + "/startup/success":     atLeast(0),
		issuer + "/unknown_kid/failure": atLeast(0),
	}
	// A minute after the failure, a call may make a periodic refresh.
	lateFetches := map[string]valueCheck{issuer + "/periodic/failure": atLeast(0)}
	introspections := map[string]valueCheck{
		issuer + "/opaque/active":      perWindow(1),
		issuer + "/opaque/refused":     perWindow(1),
		issuer + "/opaque/unavailable": perWindow(1),
	}
	one := func(by []string, key string, c valueCheck) seriesWant {
		return seriesWant{by: by, want: map[string]valueCheck{key: c}}
	}
	inst, iss := []string{"instance"}, []string{"issuer"}
	return map[string]seriesWant{
		"Calls by result A":             {by: []string{"result"}, want: byResult},
		"Refusals by cause A":           {by: []string{"result", "cause"}, want: byCause},
		"Refusals by method A":          {by: []string{"rpc_method"}, want: map[string]valueCheck{sayHello: perWindow(8), chat: perWindow(1)}},
		"invalid_token by method A":     one([]string{"rpc_method"}, sayHello, perWindow(5)), // expired, malformed, inactive, dpop_bound_token, unknown_key
		"Refused share A":               one(nil, "", equals(9.0/13)),
		"Decisions in the time range A": {by: []string{"rpc_method", "result", "cause"}, want: decisions},
		"Cache hit ratio A":             one(nil, "", within(0, 1)),
		// Every miss is timed, one hit in 64.
		"Validation latency A":            {by: []string{"cache"}, want: map[string]valueCheck{"miss": latency}, may: map[string]valueCheck{"hit": latencyOrNone}},
		"Validation latency B":            {by: []string{"cache"}, want: map[string]valueCheck{"miss": latency}, may: map[string]valueCheck{"hit": latencyOrNone}},
		"Verified-token cache A":          one(inst, target, atLeast(1)),
		"Verified-token cache B":          one(inst, target, atLeast(1)),
		"Verified-token cache C":          one(inst, target, atLeast(0)),
		"Ready A":                         one(iss, issuer, equals(0)), // stale past -health-max-stale
		"Keys per issuer A":               one([]string{"instance", "issuer"}, target+"/"+issuer, atLeast(1)),
		"Key staleness A":                 one(iss, issuer, atLeast(staleBound)),
		"Key staleness B":                 one(nil, "", equals(staleBound)),
		"Key staleness C":                 one(iss, issuer, atLeast(staleBound)),
		"Key fetches A":                   {by: []string{"issuer", "reason", "outcome"}, want: keyFetches, may: lateFetches},
		"Key fetches in the time range A": {by: []string{"issuer", "reason", "outcome"}, want: keyFetches, may: lateFetches},
		"Key fetch latency A":             one(iss, issuer, latencyOrNone),
		"Replay cache fill A":             one(inst, target, within(0, 1)),
		"Replay cache fill B":             one(inst, target, within(0, 1)),
		"Replay cache proofs A":           one(inst, target, atLeast(1)),
		"Replay cache proofs B":           one(inst, target, equals(1)), // one DPoP key
		"DPoP refusals A":                 one([]string{"cause"}, "dpop_bound_token", perWindow(1)),
		"Introspection requests A":        {by: []string{"issuer", "reason", "outcome"}, want: introspections},
		"Introspection latency A":         one(iss, issuer, latency),
		"Introspection latency B":         one(iss, issuer, latency),
		"Introspection failing A":         one(iss, issuer, equals(1.0/3)),
	}
}
