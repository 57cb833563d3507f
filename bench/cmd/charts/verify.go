package main

import (
	"io"
	"math"
	"slices"
	"strings"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// verifierNames are the charts' names of the rows of Verify, CachedTokens
// and the other groups that compare verifiers; a row not listed here is
// shown by its name in the benchmark.
var verifierNames = map[string]string{
	"floor-physical":    "physical floor",
	"grpcjwt-cacheoff":  "grpcjwt, cache off",
	"grpcjwt-cachehit":  "grpcjwt, cache hit",
	"golangjwt-keyfunc": "golang-jwt + keyfunc",
	"auth0-validator":   "auth0 validator",
	"go-oidc":           "go-oidc",
	"jwx":               "jwx",
}

func verifierName(row string) string {
	if n, ok := verifierNames[row]; ok {
		return n
	}
	return row
}

func verifierKind(row string) kind {
	switch {
	case strings.HasPrefix(row, "grpcjwt"):
		return kindGRPCJWT
	case strings.HasPrefix(row, "floor"):
		return kindBase
	}
	return kindPeer
}

// verifyChart draws the Verify group (rows Verify/<alg>/<verifier>): each
// verifier's × floor, the table's column, in a group of bars per
// algorithm, the floor a line at 1. It is false when rows have no Verify
// group.
func verifyChart(rows []*benchresult.Row) (chart, bool) {
	byName := benchresult.Index(rows)
	var algs, verifiers []string
	ratio := make(map[[2]string]float64)
	for _, r := range rows {
		parts := strings.Split(r.Name, "/")
		if len(parts) != 3 || parts[0] != "Verify" || parts[2] == benchresult.FloorJSON.Row {
			continue
		}
		x, kind := benchresult.Ratio(r, byName, benchresult.FloorJSON)
		if kind == benchresult.NoRatio {
			continue
		}
		alg, v := parts[1], parts[2]
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
		if !slices.Contains(verifiers, v) {
			verifiers = append(verifiers, v)
		}
		ratio[[2]string{alg, v}] = x
	}
	if len(algs) == 0 {
		return chart{}, false
	}
	var ss []series
	for _, v := range verifiers {
		s := series{name: verifierName(v), kind: verifierKind(v)}
		for _, alg := range algs {
			x, ok := ratio[[2]string{alg, v}]
			if !ok {
				x = math.NaN()
			}
			s.values = append(s.values, x)
			s.labels = append(s.labels, benchresult.FormatRatio(x))
		}
		ss = append(ss, s)
	}
	return chart{file: "verify.svg", draw: func(w io.Writer, run string) error {
		p := newPlot("Verifying one token, cache off unless said: cost against the floor", run,
			"× floor (lower is better)")
		p.X.Label.Text = "signature algorithm (RS256: 2048-bit RSA)"
		return groupedBars(w, p, algs, ss, &refLine{name: "floor (encoding/json claims) = 1", value: 1})
	}}, true
}
