package main

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/grpcjwt/grpcjwt/bench/internal/benchresult"
)

// cachedPoint is one row of CachedTokens: the tokens cached, and the row.
type cachedPoint struct {
	tokens int
	row    *benchresult.Row
}

// cachedTokensChart draws the CachedTokens group (rows
// CachedTokens/<alg>/tokens=<n>/<verifier>): each verifier's median ns/op,
// the table's column, against the number of tokens cached, on a log scale,
// with the range over the runs. It is false when rows have no such group.
func cachedTokensChart(rows []*benchresult.Row) (chart, bool) {
	var keys []string
	points := make(map[string][]cachedPoint)
	for _, r := range rows {
		parts := strings.Split(r.Name, "/")
		if len(parts) != 4 || parts[0] != "CachedTokens" || len(r.Metrics["ns/op"]) == 0 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(parts[2], "tokens="))
		if err != nil || !strings.HasPrefix(parts[2], "tokens=") || n < 1 {
			continue
		}
		k := verifierName(parts[3]) + ", " + parts[1] + " token"
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		points[k] = append(points[k], cachedPoint{n, r})
	}
	if len(keys) == 0 {
		return chart{}, false
	}
	return chart{file: "cached-tokens.svg", draw: func(w io.Writer, run string) error {
		return drawCachedTokens(w, run, keys, points)
	}}, true
}

func drawCachedTokens(w io.Writer, run string, keys []string, points map[string][]cachedPoint) error {
	p := newPlot("Cache hit: cost against the number of distinct tokens cached", run,
		"ns per call (median over the runs; bars: their range)")
	p.X.Label.Text = "distinct tokens in the cache (log scale)"
	p.X.Scale = plot.LogScale{}
	var ticks []int
	top := 0.0
	var pal palette
	leg := newLegend()
	leg.inside = true
	for _, k := range keys {
		ps := points[k]
		slices.SortFunc(ps, func(a, b cachedPoint) int { return a.tokens - b.tokens })
		var xys plotter.XYs
		var errs plotter.YErrors
		var texts []string
		for _, pt := range ps {
			med, _ := pt.row.Median("ns/op")
			v := pt.row.Metrics["ns/op"]
			lo, hi := slices.Min(v), slices.Max(v)
			xys = append(xys, plotter.XY{X: float64(pt.tokens), Y: med})
			errs = append(errs, struct{ Low, High float64 }{med - lo, hi - med})
			texts = append(texts, benchresult.FormatNs(med)+" ns")
			top = max(top, hi)
			if !slices.Contains(ticks, pt.tokens) {
				ticks = append(ticks, pt.tokens)
			}
		}
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		c := pal.next(kindGRPCJWT)
		line.Color, line.Width = c, vg.Points(2)
		pts.Color, pts.Shape, pts.Radius = c, draw.CircleGlyph{}, vg.Points(3.5)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{xys, errs})
		if err != nil {
			return err
		}
		eb.Color = c
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
		if err != nil {
			return err
		}
		for j := range l.TextStyle {
			l.TextStyle[j] = labelStyle()
			l.TextStyle[j].XAlign = text.XLeft
			l.TextStyle[j].YAlign = text.YTop
		}
		l.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(-4)}
		p.Add(line, pts, eb, l)
		leg.add(k, line, pts)
	}
	slices.Sort(ticks)
	var marks plot.ConstantTicks
	for _, n := range ticks {
		marks = append(marks, plot.Tick{Value: float64(n), Label: benchresult.Thousands(float64(n))})
	}
	p.X.Tick.Marker = marks
	// Room left and right of the extreme points, on the log scale.
	p.X.Min = float64(ticks[0]) / 2
	p.X.Max = float64(ticks[len(ticks)-1]) * 3
	p.Y.Min, p.Y.Max = 0, top*1.15
	return render(w, p, leg, nil)
}
