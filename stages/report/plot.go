package report

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/attentivenas/attentivenas/schemas"
)

// Plot geometry and drawing primitives. A plot is computed here down to
// pixel coordinates formatted as strings, so the template only places
// elements.

// plot is one SVG chart.
type plot struct {
	ID            string // unique in the page: prefixes the clip path id
	Standalone    bool   // a document of its own: draws Label as a heading
	Width, Height int
	Label         string // accessible name (and heading when standalone)
	Left, Top     string // frame, in px
	FrameW        string
	FrameH        string
	Right, Bottom string // Left+FrameW, Top+FrameH
	XTicks        []tick
	YTicks        []tick
	XLabel        string
	YLabel        string
	XLabelX       string // centre of the x label
	XLabelY       string
	YLabelX       string
	YLabelY       string
	Dots          []dotGroup
	Lines         []line
	Markers       []marker
	Legend        []legendItem
	Note          string // small print under the x axis, e.g. points outside the range
	NoteY         string
	Empty         string // shown instead of data when there is none
	EmptyX        string
	EmptyY        string
}

type tick struct {
	Pos   string // px along the axis
	Label string
}

// dotGroup is a set of small faint circles of one colour.
type dotGroup struct {
	Color   string
	Opacity string
	R       string
	Points  []xy
}

type xy struct{ X, Y string }

// line is a polyline.
type line struct {
	Points  string // "x,y x,y ..."
	Color   string
	Width   string
	Dash    string // stroke-dasharray, "" for solid
	Opacity string
}

// marker is one front point: a filled shape with a tooltip.
type marker struct {
	D     string // path
	Color string
	Run   string
	Title string
}

// legendItem is a swatch (a line and/or a marker) and a label.
type legendItem struct {
	X, Y     string // text baseline start
	LineX1   string
	LineX2   string
	LineY    string
	Color    string
	Dash     string
	MarkerD  string // "" for none
	Label    string
	TextX    string
	TextSize string
}

// runStyle is how a run is drawn everywhere in the page.
type runStyle struct {
	Color string
	Shape string
}

// palette is Okabe & Ito's colour-blind-safe palette without its yellow
// (too light on white), then a few darker extras.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B"}

var shapes = []string{"circle", "square", "triangle", "diamond", "down", "hexagon"}

func styleFor(d *Data) []runStyle {
	out := make([]runStyle, len(d.Runs))
	for i := range d.Runs {
		out[i] = runStyle{Color: palette[i%len(palette)], Shape: shapes[i%len(shapes)]}
	}
	return out
}

// f1 formats a pixel coordinate.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// markerPath draws shape centred on (x, y) with radius r.
func markerPath(shape string, x, y, r float64) string {
	var b strings.Builder
	pt := func(cmd string, px, py float64) {
		b.WriteString(cmd)
		b.WriteString(f1(px))
		b.WriteByte(',')
		b.WriteString(f1(py))
	}
	switch shape {
	case "square":
		s := r * 0.88
		pt("M", x-s, y-s)
		pt("L", x+s, y-s)
		pt("L", x+s, y+s)
		pt("L", x-s, y+s)
	case "triangle":
		pt("M", x, y-1.2*r)
		pt("L", x+1.1*r, y+0.8*r)
		pt("L", x-1.1*r, y+0.8*r)
	case "down":
		pt("M", x, y+1.2*r)
		pt("L", x+1.1*r, y-0.8*r)
		pt("L", x-1.1*r, y-0.8*r)
	case "diamond":
		pt("M", x, y-1.25*r)
		pt("L", x+1.25*r, y)
		pt("L", x, y+1.25*r)
		pt("L", x-1.25*r, y)
	case "hexagon":
		for i := range 6 {
			a := math.Pi/6 + float64(i)*math.Pi/3
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			pt(cmd, x+1.05*r*math.Cos(a), y+1.05*r*math.Sin(a))
		}
	default: // circle: two arcs
		pt("M", x-r, y)
		b.WriteString("a" + f1(r) + "," + f1(r) + " 0 1,0 " + f1(2*r) + ",0")
		b.WriteString("a" + f1(r) + "," + f1(r) + " 0 1,0 " + f1(-2*r) + ",0")
	}
	b.WriteString("Z")
	return b.String()
}

// niceStep returns a step of the form {1, 2, 2.5, 5} x 10^k close to
// span/target.
func niceStep(span float64, target int) float64 {
	raw := span / float64(target)
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw*0.999 {
			return m * mag
		}
	}
	return 10 * mag
}

// axis is a linear scale from a data domain [Lo, Hi] to pixels [P0, P1].
type axis struct {
	Lo, Hi, Step float64
	P0, P1       float64
}

// niceAxis widens [lo, hi] to multiples of a nice step, about target ticks.
func niceAxis(lo, hi float64, target int) axis {
	if lo > hi {
		lo, hi = hi, lo
	}
	if hi-lo < 1e-12*math.Max(1, math.Abs(hi)) {
		pad := math.Max(math.Abs(hi)*0.05, 0.5)
		lo, hi = lo-pad, hi+pad
	}
	step := niceStep(hi-lo, target)
	return axis{Lo: math.Floor(lo/step+1e-9) * step, Hi: math.Ceil(hi/step-1e-9) * step, Step: step}
}

func (a axis) px(v float64) float64 {
	return a.P0 + (v-a.Lo)/(a.Hi-a.Lo)*(a.P1-a.P0)
}

// ticks lists the tick positions and labels of a.
func (a axis) ticks() []tick {
	dec := 0 // the fewest decimals that print the step exactly: 2.5 -> 1, 0.25 -> 2
	for dec < 9 {
		if s := a.Step * math.Pow(10, float64(dec)); math.Abs(s-math.Round(s)) < 1e-6*s {
			break
		}
		dec++
	}
	var out []tick
	n := int(math.Round((a.Hi - a.Lo) / a.Step))
	for i := 0; i <= n; i++ {
		v := a.Lo + float64(i)*a.Step
		if math.Abs(v) < a.Step*1e-9 {
			v = 0
		}
		out = append(out, tick{Pos: f1(a.px(v)), Label: strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return out
}

// frame is the layout of a plot: its size and margins, with room for a
// legend of the given labels above the frame.
type frame struct {
	W, H                     int
	Left, Right, Top, Bottom float64
}

// layoutLegend places legend items in rows above the frame and returns
// them with the frame's top margin.
func layoutLegend(items []legendItem, left, right, top float64) ([]legendItem, float64) {
	const rowH, charW = 20.0, 6.9
	x, y := left, top+12
	for i := range items {
		it := &items[i]
		w := 36 + charW*float64(len([]rune(it.Label))) + 18
		if x > left && x+w > right {
			x, y = left, y+rowH
		}
		it.LineX1, it.LineX2, it.LineY = f1(x), f1(x+24), f1(y-4)
		it.TextX, it.Y = f1(x+30), f1(y)
		if it.MarkerD != "" {
			it.MarkerD = markerPath(it.MarkerD, x+12, y-4, 4.5)
		}
		x += w
	}
	if len(items) == 0 {
		return items, top
	}
	return items, y + 14
}

// newPlot fills the frame geometry of p. legend items carry a shape name
// in MarkerD, replaced by the path.
func newPlot(p *plot, f frame, legend []legendItem, xAx, yAx *axis) {
	p.Width, p.Height = f.W, f.H
	top := f.Top
	if p.Standalone {
		top += 22
	}
	p.Legend, top = layoutLegend(legend, f.Left, float64(f.W)-f.Right, top)
	top += 6
	x0, x1 := f.Left, float64(f.W)-f.Right
	y0, y1 := top, float64(f.H)-f.Bottom
	p.Left, p.Top, p.FrameW, p.FrameH = f1(x0), f1(y0), f1(x1-x0), f1(y1-y0)
	p.Right, p.Bottom = f1(x1), f1(y1)
	p.XLabelX, p.XLabelY = f1((x0+x1)/2), f1(y1+34)
	p.YLabelX, p.YLabelY = f1(16), f1((y0+y1)/2)
	p.NoteY = f1(float64(f.H) - 4)
	p.EmptyX, p.EmptyY = f1((x0+x1)/2), f1((y0+y1)/2)
	xAx.P0, xAx.P1 = x0, x1
	yAx.P0, yAx.P1 = y1, y0
	p.XTicks, p.YTicks = xAx.ticks(), yAx.ticks()
}

// costAxis describes one cost axis of the accuracy plots.
type costAxis struct {
	Name  string // schemas.AxisFLOPs, ...
	Label string
	Unit  float64 // data units per plotted unit
	Cost  func(e schemas.Eval) (float64, bool)
	Front func(f Fronts) Front
	// Bounds to include in the x range (the space's), in data units; 0, 0 = none.
	Lo, Hi float64
}

func flopsAxis(d *Data) costAxis {
	return costAxis{Name: schemas.AxisFLOPs, Label: "MFLOPs (million multiply-accumulates per image)", Unit: 1e6,
		Cost:  func(e schemas.Eval) (float64, bool) { return float64(e.FLOPs), e.FLOPs > 0 },
		Front: func(f Fronts) Front { return f.FLOPs },
		Lo:    float64(d.Space.MinFLOPs), Hi: float64(d.Space.MaxFLOPs)}
}

func latencyAxis() costAxis {
	return costAxis{Name: schemas.AxisLatency, Label: "latency (ms per image, batch 1, CPU)", Unit: 1,
		Cost: func(e schemas.Eval) (float64, bool) {
			return e.LatencyMs, e.LatencyMs > 0 && !math.IsInf(e.LatencyMs, 0)
		},
		Front: func(f Fronts) Front { return f.Latency }}
}

func paramsAxis(d *Data) costAxis {
	a := costAxis{Name: schemas.AxisParams, Label: "parameters (thousands)", Unit: 1e3,
		Cost:  func(e schemas.Eval) (float64, bool) { return float64(e.Params), e.Params > 0 },
		Front: func(f Fronts) Front { return f.Params },
		Lo:    float64(d.Space.MinParams), Hi: float64(d.Space.MaxParams)}
	if d.Space.MaxParams >= 2_000_000 {
		a.Label, a.Unit = "parameters (millions)", 1e6
	}
	return a
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// percentile returns the p-quantile (nearest rank) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Floor(p * float64(len(sorted)-1)))
	return sorted[max(0, min(i, len(sorted)-1))]
}

// flopsPlot is the page's main plot, also written as front.svg.
func flopsPlot(d *Data, st []runStyle, standalone bool) *plot {
	f := frame{W: 980, H: 560, Left: 62, Right: 20, Top: 6, Bottom: 52}
	if standalone {
		f.H += 22 // the heading
	}
	return accuracyPlot(d, st, flopsAxis(d), "plot-flops", "Val top-1 accuracy vs MFLOPs", f, standalone)
}

// accuracyPlot draws val top-1 (%) against one cost for every run: every
// evaluation as a faint dot, each run's front as a staircase with markers.
func accuracyPlot(d *Data, st []runStyle, ax costAxis, id, label string, f frame, standalone bool) *plot {
	p := &plot{ID: id, Label: label, Standalone: standalone, XLabel: ax.Label, YLabel: "val top-1 accuracy (%)"}
	// Ranges.
	var xs, ys, frontMins []float64
	for _, r := range d.Runs {
		for _, e := range r.Evals {
			c, ok := ax.Cost(e)
			if ok && finite(e.Top1) {
				xs, ys = append(xs, c/ax.Unit), append(ys, 100*e.Top1)
			}
		}
		if pts := ax.Front(r.Fronts).Points; len(pts) > 0 && finite(pts[0].Top1) {
			frontMins = append(frontMins, 100*pts[0].Top1)
		}
	}
	var legend []legendItem
	for i, r := range d.Runs {
		fr := ax.Front(r.Fronts)
		lbl := r.Name + "  (front " + strconv.Itoa(len(fr.Points))
		if fr.HV.Hypervolume >= 0 && len(fr.Points) > 0 {
			lbl += ", HV " + strconv.FormatFloat(fr.HV.Hypervolume, 'f', 3, 64)
		}
		lbl += ")"
		legend = append(legend, legendItem{Color: st[i].Color, MarkerD: st[i].Shape, Label: lbl})
	}
	if len(xs) == 0 {
		xAx, yAx := niceAxis(0, 1, 5), niceAxis(0, 100, 5)
		newPlot(p, f, legend, &xAx, &yAx)
		p.Empty = "no evaluation has this cost measured"
		return p
	}
	xlo, xhi := slices.Min(xs), slices.Max(xs)
	if ax.Lo < ax.Hi {
		xlo, xhi = min(xlo, ax.Lo/ax.Unit), max(xhi, ax.Hi/ax.Unit)
	}
	sorted := slices.Sorted(slices.Values(ys))
	ylo := percentile(sorted, 0.02)
	if len(frontMins) > 0 {
		ylo = min(ylo, slices.Min(frontMins))
	}
	yhi := sorted[len(sorted)-1]
	xAx, yAx := niceAxis(xlo, xhi, 9), niceAxis(ylo, yhi, 6)
	if yAx.Hi > 100 && yhi <= 100 {
		yAx.Hi = math.Ceil(100/yAx.Step) * yAx.Step
	}
	newPlot(p, f, legend, &xAx, &yAx)
	hidden := 0
	for i, r := range d.Runs {
		g := dotGroup{Color: st[i].Color, Opacity: "0.30", R: "2.6"}
		for _, e := range r.Evals {
			c, ok := ax.Cost(e)
			if !ok || !finite(e.Top1) {
				continue
			}
			if 100*e.Top1 < yAx.Lo {
				hidden++
				continue
			}
			g.Points = append(g.Points, xy{f1(xAx.px(c / ax.Unit)), f1(yAx.px(100 * e.Top1))})
		}
		p.Dots = append(p.Dots, g)
	}
	for i, r := range d.Runs {
		pts := ax.Front(r.Fronts).Points
		var b strings.Builder
		var prevY float64
		for j, e := range pts {
			c, _ := ax.Cost(e)
			x, y := xAx.px(c/ax.Unit), yAx.px(100*e.Top1)
			if j > 0 {
				b.WriteString(" " + f1(x) + "," + f1(prevY) + " ")
			}
			b.WriteString(f1(x) + "," + f1(y))
			prevY = y
			p.Markers = append(p.Markers, marker{D: markerPath(st[i].Shape, x, y, 4.5), Color: st[i].Color, Run: r.Name,
				Title: pointTitle(e)})
		}
		if len(pts) > 0 {
			p.Lines = append(p.Lines, line{Points: b.String(), Color: st[i].Color, Width: "2.2", Opacity: "0.95"})
		}
	}
	if hidden > 0 {
		p.Note = strconv.Itoa(hidden) + " evaluation(s) below " + strconv.FormatFloat(yAx.Lo, 'f', -1, 64) + " % not drawn"
	}
	return p
}

// pointTitle is a front marker's tooltip.
func pointTitle(e schemas.Eval) string {
	var b strings.Builder
	b.WriteString(e.Run + " · " + e.Origin + "\n")
	b.WriteString(fmtMFLOPs(e.FLOPs) + " MFLOPs · " + fmtParams(e.Params) + " params · " + fmtMs(e.LatencyMs) + " ms\n")
	b.WriteString("val top-1 " + fmtPct(e.Top1) + " %")
	if e.TestTop1 >= 0 {
		b.WriteString(" · test top-1 " + fmtPct(e.TestTop1) + " %")
	}
	b.WriteString("\narch " + e.Arch)
	return b.String()
}

// smooth returns the centred moving average of v over a window of w
// points, ignoring non-finite values (NaN where a window has none).
func smooth(v []float64, w int) []float64 {
	n := len(v)
	sum := make([]float64, n+1)
	cnt := make([]int, n+1)
	for i, x := range v {
		sum[i+1], cnt[i+1] = sum[i], cnt[i]
		if finite(x) {
			sum[i+1] += x
			cnt[i+1]++
		}
	}
	out := make([]float64, n)
	h := w / 2
	for i := range v {
		lo, hi := max(0, i-h), min(n, i+h+1)
		if c := cnt[hi] - cnt[lo]; c > 0 {
			out[i] = (sum[hi] - sum[lo]) / float64(c)
		} else {
			out[i] = math.NaN()
		}
	}
	return out
}

// polyline formats the finite points of (xs[i], ys[i]) for i in idx,
// starting a new line at every gap; it returns one string per piece.
func polylines(xAx, yAx axis, xs, ys []float64, idx []int) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, i := range idx {
		if !finite(ys[i]) {
			flush()
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f1(xAx.px(xs[i])) + "," + f1(yAx.px(ys[i])))
	}
	flush()
	return out
}

// sampleIdx returns at most max evenly spaced indices of [0, n), always
// including the last.
func sampleIdx(n, maxN int) []int {
	if n <= maxN {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, maxN)
	for k := range maxN {
		out = append(out, int(math.Round(float64(k)*float64(n-1)/float64(maxN-1))))
	}
	return slices.Compact(out)
}

// trainPlot draws each run's loss of the largest (solid) and smallest
// (dashed) subnet per step: the raw values faint, a centred moving average
// bold.
func trainPlot(d *Data, st []runStyle) (*plot, int) {
	p := &plot{ID: "plot-train", Label: "Training loss per step (largest and smallest subnet)", XLabel: "optimiser step",
		YLabel: "training loss"}
	f := frame{W: 980, H: 420, Left: 62, Right: 20, Top: 6, Bottom: 52}
	var legend []legendItem
	type curves struct {
		i              int
		xs, max, min   []float64
		smax, smin     []float64
		idxRaw, idxSmo []int
	}
	var cs []curves
	var lo, hi = math.Inf(1), math.Inf(-1)
	var xhi float64
	longest := 0
	for _, r := range d.Runs {
		longest = max(longest, len(r.Train))
	}
	window := max(1, longest/40) | 1 // odd, about 2.5 % of the longest run; the same for every run
	for i, r := range d.Runs {
		if len(r.Train) == 0 {
			continue
		}
		legend = append(legend, legendItem{Color: st[i].Color, Label: r.Name})
		c := curves{i: i}
		for _, t := range r.Train {
			lmax, lmin := t.LossMax, t.LossMin
			if t.Skipped {
				lmax, lmin = math.NaN(), math.NaN()
			}
			c.xs, c.max, c.min = append(c.xs, float64(t.Step)), append(c.max, lmax), append(c.min, lmin)
		}
		c.smax, c.smin = smooth(c.max, window), smooth(c.min, window)
		for _, v := range [][]float64{c.smax, c.smin} {
			for _, x := range v {
				if finite(x) {
					lo, hi = min(lo, x), max(hi, x)
				}
			}
		}
		xhi = max(xhi, c.xs[len(c.xs)-1])
		c.idxRaw, c.idxSmo = sampleIdx(len(c.xs), 700), sampleIdx(len(c.xs), 300)
		cs = append(cs, c)
	}
	legend = append(legend,
		legendItem{Color: "#555", Label: "largest subnet (CE vs labels)"},
		legendItem{Color: "#555", Dash: "6 4", Label: "smallest subnet (distillation)"})
	if len(cs) == 0 || lo > hi {
		xAx, yAx := niceAxis(0, 1, 5), niceAxis(0, 1, 5)
		newPlot(p, f, nil, &xAx, &yAx)
		p.Empty = "no training log found"
		return p, 0
	}
	pad := (hi - lo) * 0.08
	xAx, yAx := niceAxis(0, xhi, 10), niceAxis(max(0, lo-pad), hi+pad, 6)
	newPlot(p, f, legend, &xAx, &yAx)
	for _, c := range cs {
		col := st[c.i].Color
		for _, pl := range polylines(xAx, yAx, c.xs, c.max, c.idxRaw) {
			p.Lines = append(p.Lines, line{Points: pl, Color: col, Width: "1", Opacity: "0.16"})
		}
		for _, pl := range polylines(xAx, yAx, c.xs, c.min, c.idxRaw) {
			p.Lines = append(p.Lines, line{Points: pl, Color: col, Width: "1", Opacity: "0.16", Dash: "3 3"})
		}
	}
	for _, c := range cs {
		col := st[c.i].Color
		for _, pl := range polylines(xAx, yAx, c.xs, c.smax, c.idxSmo) {
			p.Lines = append(p.Lines, line{Points: pl, Color: col, Width: "2.2", Opacity: "1"})
		}
		for _, pl := range polylines(xAx, yAx, c.xs, c.smin, c.idxSmo) {
			p.Lines = append(p.Lines, line{Points: pl, Color: col, Width: "2.2", Opacity: "1", Dash: "7 4"})
		}
	}
	return p, window
}
