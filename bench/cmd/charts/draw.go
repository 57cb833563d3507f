package main

import (
	"bytes"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The charts' size: about 960 × 500 pixels, which a README shows scaled
// to its column.
const (
	chartWidth  vg.Length = 720
	chartHeight vg.Length = 380
)

// sans is the charts' font: Liberation Sans, which gonum/plot carries and
// measures text with. An SVG names its fonts and does not embed them, so
// the SVG lists after it fonts of the same metrics that browsers have
// (Arial, Helvetica; see svgFonts), and the generic sans-serif.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

func init() {
	plot.DefaultFont = sans
	plotter.DefaultFont = sans
}

// svgFonts is what vgsvg writes for sans, and what the charts say instead.
var svgFonts = [2][]byte{
	[]byte("font-family:Liberation Sans;"),
	[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"),
}

// Colors: grpcjwt's series in blues, the floors and unprotected servers in
// greys, the peers in other colors.
var (
	grpcjwtColors = []color.Color{rgb(0x1f, 0x5f, 0xbf), rgb(0x6f, 0xa8, 0xeb), rgb(0x12, 0x3a, 0x75)}
	baseColors    = []color.Color{rgb(0x9a, 0x9a, 0x9a), rgb(0xc8, 0xc8, 0xc8)}
	peerColors    = []color.Color{rgb(0xe0, 0x8a, 0x2c), rgb(0xc8, 0x45, 0x3b), rgb(0x4a, 0x9a, 0x4a), rgb(0x8a, 0x5b, 0xb5), rgb(0x9c, 0x6b, 0x3f), rgb(0xd4, 0x6a, 0xb0)}
)

func rgb(r, g, b uint8) color.Color { return color.RGBA{R: r, G: g, B: b, A: 0xff} }

// palette hands out the colors of one chart's series by kind, in turn.
type palette struct{ grpcjwt, base, peer int }

func (p *palette) next(k kind) color.Color {
	pick := func(cs []color.Color, i *int) color.Color {
		c := cs[*i%len(cs)]
		*i++
		return c
	}
	switch k {
	case kindGRPCJWT:
		return pick(grpcjwtColors, &p.grpcjwt)
	case kindBase:
		return pick(baseColors, &p.base)
	}
	return pick(peerColors, &p.peer)
}

// kind is what a series is, for its color.
type kind int

const (
	kindPeer    kind = iota // another library
	kindGRPCJWT             // grpcjwt, in any configuration
	kindBase                // a floor, or an unprotected server
)

// series is one bar in every group of a bar chart.
type series struct {
	name   string
	kind   kind
	values []float64 // one a group (a point); NaN where the series has none
	labels []string  // written at each value
}

// refLine is a dashed horizontal line across a chart, named in its legend.
type refLine struct {
	name  string
	value float64
}

// newPlot returns a plot with the title, the run under it, and a grid of
// horizontal lines.
func newPlot(title, run, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	if run != "" {
		p.Title.Text += "\n" + run
	}
	p.Title.TextStyle.Font.Size = 13
	p.Title.Padding = 8
	p.Y.Label.Text = yLabel
	p.Y.Label.TextStyle.Font.Size = 11
	p.X.Label.TextStyle.Font.Size = 11
	p.X.Tick.Label.Font.Size = 11
	p.Y.Tick.Label.Font.Size = 10
	p.Y.Tick.Marker = plainTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = rgb(0xe4, 0xe4, 0xe4)
	p.Add(grid)
	return p
}

// plainTicks are gonum/plot's default ticks, labelled with as few digits
// as each needs, to six: 250, not 250.00; 1.2, not 1.2000000000000002.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
	}
	return ticks
}

// legend is a chart's legend, and the names in it. It is drawn right of
// the plot, or, inside, in the top left corner of the data.
type legend struct {
	plot.Legend
	names  []string
	inside bool
}

func newLegend() *legend {
	l := &legend{Legend: plot.NewLegend()}
	l.TextStyle.Font.Size = 11
	l.Top, l.Left = true, true
	l.ThumbnailWidth = 14
	l.Padding = 4
	return l
}

func (l *legend) add(name string, thumbs ...plot.Thumbnailer) {
	l.Add(name, thumbs...)
	l.names = append(l.names, name)
}

// labelStyle is the style of the values written at bars and points.
func labelStyle() text.Style {
	return text.Style{
		Color:   rgb(0x33, 0x33, 0x33),
		Font:    font.From(sans, 9),
		XAlign:  text.XCenter,
		YAlign:  text.YBottom,
		Handler: plot.DefaultTextHandler,
	}
}

// addRef adds r to p, dashed, with an entry in leg.
func addRef(p *plot.Plot, leg *legend, r refLine) {
	f := plotter.NewFunction(func(float64) float64 { return r.value })
	f.Color = rgb(0x22, 0x22, 0x22)
	f.Width = vg.Points(1.2)
	f.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(f)
	leg.add(r.name, f)
}

// groupedBars draws series as bars side by side in each of groups, and ref
// across, with a legend to the right. Each bar's label stands upright in
// the bar, or above it when the bar is too short to hold it.
func groupedBars(w io.Writer, p *plot.Plot, groups []string, ss []series, ref *refLine) error {
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.Y.Min = 0
	top := 0.0
	var pal palette
	leg := newLegend()
	bars := make([]*plotter.BarChart, len(ss))
	for i, s := range ss {
		vals := make(plotter.Values, len(s.values))
		for g, v := range s.values {
			if !math.IsNaN(v) {
				vals[g] = v
				top = max(top, v)
			}
		}
		b, err := plotter.NewBarChart(vals, 1)
		if err != nil {
			return err
		}
		b.Color = pal.next(s.kind)
		b.LineStyle.Width = 0
		p.Add(b)
		leg.add(s.name, b)
		bars[i] = b
	}
	if ref != nil {
		top = max(top, ref.value)
		addRef(p, leg, *ref)
	}
	return render(w, p, leg, func(data draw.Canvas) {
		// Bars take 80% of a group's width.
		barW := data.Size().X / vg.Length(len(groups)) * 0.8 / vg.Length(len(ss))
		for i, b := range bars {
			b.Width = barW * 0.92
			b.Offset = (vg.Length(i) - vg.Length(len(ss)-1)/2) * barW
		}
		p.Y.Max = barsTop(data.Size().Y, top, ss)
		for i, s := range ss {
			if err := addBarLabels(p, s, bars[i].Offset, data.Size().Y/vg.Length(p.Y.Max)); err != nil {
				panic(err) // the labels' points are the bars', which are valid
			}
		}
	})
}

// labelSpace is how much longer than its text, set in Liberation Sans, a
// label's room must be, for the fonts that stand in for it.
const labelSpace = 1.15

// labelInside says whether the label of a bar of the given height (in
// points) stands inside it.
func labelInside(label string, height vg.Length) bool {
	return height > labelStyle().Width(label)*labelSpace+vg.Points(8)
}

// barsTop returns the top of the Y axis that leaves room, in a data canvas
// height points high, above the bars whose labels stand above them.
func barsTop(height vg.Length, top float64, ss []series) float64 {
	m := top * 1.05
	for range 5 { // a label moved out of its bar may need more room
		next := m
		for _, s := range ss {
			for g, v := range s.values {
				if math.IsNaN(v) || labelInside(s.labels[g], vg.Length(v/m)*height) {
					continue
				}
				room := labelStyle().Width(s.labels[g])*labelSpace + vg.Points(6)
				next = max(next, v*float64(height/(height-room)))
			}
		}
		if next == m {
			break
		}
		m = next
	}
	return m
}

// addBarLabels adds to p the labels of the bars of s, drawn offset from the
// groups' centers, at scale points per unit: upright, in white inside the
// bars that hold them, above the others.
func addBarLabels(p *plot.Plot, s series, offset vg.Length, scale vg.Length) error {
	var in, out plotter.XYLabels
	for g, v := range s.values {
		if math.IsNaN(v) {
			continue
		}
		l, y := &out, v
		if labelInside(s.labels[g], vg.Length(v)*scale) {
			// It starts low enough to end 4 points under the bar's
			// top in a font wider than Liberation Sans.
			l = &in
			y -= float64((labelStyle().Width(s.labels[g])*labelSpace + vg.Points(4)) / scale)
		}
		l.XYs = append(l.XYs, plotter.XY{X: float64(g), Y: y})
		l.Labels = append(l.Labels, s.labels[g])
	}
	for _, l := range []struct {
		xy     plotter.XYLabels
		inside bool
	}{{in, true}, {out, false}} {
		if len(l.xy.Labels) == 0 {
			continue
		}
		labels, err := plotter.NewLabels(l.xy)
		if err != nil {
			return err
		}
		for j := range labels.TextStyle {
			st := labelStyle()
			st.Rotation = math.Pi / 2
			st.XAlign, st.YAlign = text.XLeft, text.YCenter
			labels.Offset = vg.Point{X: offset, Y: vg.Points(3)}
			if l.inside {
				st.Color = color.White
				labels.Offset.Y = 0
			}
			labels.TextStyle[j] = st
		}
		p.Add(labels)
	}
	return nil
}

// render draws p onto an SVG canvas on white, leg right of the plot,
// calling layout with the canvas the data will be drawn in before the plot
// is drawn, and writes the SVG to w.
func render(w io.Writer, p *plot.Plot, leg *legend, layout func(data draw.Canvas)) error {
	c := vgsvg.New(chartWidth, chartHeight)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if leg.inside {
		if layout != nil {
			layout(p.DataCanvas(dc))
		}
		p.Draw(dc)
		leg.Draw(draw.Crop(p.DataCanvas(dc), vg.Points(10), 0, 0, -vg.Points(8)))
		return writeSVG(w, c)
	}
	legendW := vg.Length(0)
	for _, e := range leg.names {
		legendW = max(legendW, leg.TextStyle.Width(e))
	}
	legendW = legendW*labelSpace + leg.ThumbnailWidth + leg.TextStyle.Width(" ") + vg.Points(12)
	titleH := p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding
	plotArea := draw.Crop(dc, 0, -legendW, 0, 0)
	legendArea := draw.Crop(dc, chartWidth-legendW, 0, 0, -titleH-vg.Points(12))
	if layout != nil {
		layout(p.DataCanvas(plotArea))
	}
	p.Draw(plotArea)
	leg.Draw(legendArea)
	return writeSVG(w, c)
}

// writeSVG writes c to w, naming the fonts that can stand in for sans.
func writeSVG(w io.Writer, c *vgsvg.Canvas) error {
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	_, err := w.Write(bytes.ReplaceAll(buf.Bytes(), svgFonts[0], svgFonts[1]))
	return err
}
