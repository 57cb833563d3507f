package benchresult

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// E2E is the summary of one end-to-end run (cmd/e2e): the values of its
// tables, which e2e writes as JSON with -json for the charts.
type E2E struct {
	// Door is benchserver's -door: "grpc" or "connect".
	Door string `json:"door"`
	// Servers are the servers' names in the tables, the unprotected one
	// first.
	Servers []string `json:"servers"`
	// Connections, Rounds and Run describe the ghz runs: connections ghz
	// opened, measured rounds, and the length of each run.
	Connections int      `json:"connections"`
	Rounds      int      `json:"rounds"`
	Run         Duration `json:"run"`
	// Load has a row per concurrency and server, in the table's order.
	Load []E2ELoad `json:"load"`
	// Paired is the one-call-at-a-time comparison, if it ran.
	Paired *E2EPaired `json:"paired,omitempty"`
}

// E2ELoad is one server under ghz at one concurrency: medians over the
// rounds.
type E2ELoad struct {
	Server      string  `json:"server"`
	Concurrency int     `json:"concurrency"`
	RPS         float64 `json:"rps"`
	// P50 and P99 are latencies.
	P50 Duration `json:"p50"`
	P99 Duration `json:"p99"`
	// P50Ratio is the median over the rounds of the ratio of the server's
	// p50 to the unprotected server's in the same round.
	P50Ratio float64 `json:"p50_x_unprotected"`
	// JWKSFetches are those the server's issuer served under load.
	JWKSFetches int64 `json:"jwks_fetches"`
}

// E2EPaired is the comparison of the servers one call at a time, in turns.
type E2EPaired struct {
	// For is how long the calls went on.
	For Duration `json:"for"`
	// Client says which client called, as the table's caption does.
	Client string `json:"client"`
	// Rows has a row per server, in the order of E2E.Servers.
	Rows []E2EPairedRow `json:"rows"`
}

// E2EPairedRow is one server's calls in the comparison one call at a time.
type E2EPairedRow struct {
	Server string   `json:"server"`
	Calls  int      `json:"calls"`
	P50    Duration `json:"p50"`
	P99    Duration `json:"p99"`
	// P50Ratio is the server's p50 over the unprotected server's.
	P50Ratio float64 `json:"p50_x_unprotected"`
}

// Duration is a time.Duration written in JSON as Go writes a duration:
// "2s", "183.5µs".
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a string that time.ParseDuration accepts.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// maxE2E bounds the size of an end-to-end summary: a few kilobytes in
// practice.
const maxE2E = 1 << 20

// ReadE2E reads the JSON summary of an end-to-end run, refusing unknown
// members and a summary with no servers.
func ReadE2E(in io.Reader) (*E2E, error) {
	dec := json.NewDecoder(io.LimitReader(in, maxE2E))
	dec.DisallowUnknownFields()
	var e E2E
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("end-to-end summary: %w", err)
	}
	if len(e.Servers) == 0 {
		return nil, fmt.Errorf("end-to-end summary of door %q: no servers", e.Door)
	}
	return &e, nil
}

// String writes d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }
