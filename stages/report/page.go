package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/attentivenas/attentivenas/schemas"
)

// page is the template's view of Data: every number formatted.
type page struct {
	Title       string
	Description string
	Overview    string
	Space       string
	Runs        []runRow
	Overall     runRow
	FLOPsPlot   *plot
	LatencyPlot *plot
	ParamsPlot  *plot
	HVNote      string
	Front       []frontRow
	FrontNote   string
	Comparison  compTable
	TrainPlot   *plot
	TrainNote   string
	Train       []trainRow
	Predictors  []predView
	Notes       []string
	Files       []File
}

// swatch is a run's marker, drawn inline in tables.
type swatch struct {
	Name  string
	Color string
	D     string
}

func swatchOf(name string, s runStyle) swatch {
	return swatch{Name: name, Color: s.Color, D: markerPath(s.Shape, 7, 7, 4.6)}
}

type runRow struct {
	Run       swatch
	Evaluated string
	Origins   string
	FrontF    string
	FrontL    string
	FrontP    string
	HVF       string
	HVL       string
	HVP       string
	Best      string
	BestAt    string
	Smallest  string
	SmallAt   string
	Largest   string
	LargeAt   string
}

type frontRow struct {
	Rank     int
	Run      swatch
	Origin   string
	MFLOPs   string
	Params   string
	Latency  string
	Top1     string
	TestTop1 string
	Arch     string
	Ckpt     string
}

type compTable struct {
	Width  string // bucket width, MFLOPs
	Runs   []swatch
	Deltas []string // "bestup-3 − uniform" headers
	Rows   []compRow
	Wins   []string // per run
	Empty  bool
}

type compRow struct {
	Bucket string
	Cells  []compCell
	Deltas []deltaCell
}

type compCell struct {
	Top1  string
	N     string
	Arch  string
	Best  bool
	Blank bool
}

type deltaCell struct {
	Text  string
	Class string // "pos", "neg" or ""
}

type trainRow struct {
	Run     swatch
	Source  string
	Problem string
	Steps   string
	Epochs  string
	Skipped string
	LastMax string
	LastMin string
	ImgPerS string
}

type predView struct {
	Run        swatch
	Source     string
	Problem    string
	Models     []predRow
	RankSource string
	RankProb   string
	Estimators []string
	Bins       []rankRow
}

type predRow struct {
	Kind     string
	Fit      string
	Holdout  string
	Tau      string
	Spearman string
	RMSE     string
	R2       string
	Selected bool
}

type rankRow struct {
	Bin    string
	Range  string
	N      string
	Taus   []string
	Pooled bool
}

// Formatting. Missing values (negative sentinels, NaN) print as "—".

const dash = "—"

func fmtPct(v float64) string {
	if !finite(v) || v < 0 {
		return dash
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

func fmtMFLOPs(f int64) string { return strconv.FormatFloat(float64(f)/1e6, 'f', 2, 64) }

func fmtParams(p int64) string {
	switch {
	case p >= 1_000_000:
		return strconv.FormatFloat(float64(p)/1e6, 'f', 2, 64) + " M"
	case p >= 1000:
		return strconv.FormatFloat(float64(p)/1e3, 'f', 1, 64) + " K"
	}
	return strconv.FormatInt(p, 10)
}

func fmtMs(v float64) string {
	if !finite(v) || v <= 0 {
		return dash
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func fmtF(v float64, dec int) string {
	if !finite(v) {
		return dash
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func fmtHV(h schemas.Hypervolume, n int) string {
	if n == 0 || h.Hypervolume < 0 || !finite(h.Hypervolume) {
		return dash
	}
	return strconv.FormatFloat(h.Hypervolume, 'f', 4, 64)
}

// thousands formats n with thin separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// origins counts a run's evaluations per origin: "1 min, 1 max, 148 random".
func origins(evals []schemas.Eval) string {
	counts := map[string]int{}
	for _, e := range evals {
		counts[e.Origin]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	order := map[string]int{schemas.OriginMin: 0, schemas.OriginMax: 1, schemas.OriginRandom: 2, schemas.OriginSearch: 3, schemas.OriginUser: 4}
	slices.SortFunc(keys, func(a, b string) int {
		oa, ok := order[a]
		if !ok {
			oa = 9
		}
		ob, ok := order[b]
		if !ok {
			ob = 9
		}
		return cmp.Or(cmp.Compare(oa, ob), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "unknown"
		}
		parts[i] = strconv.Itoa(counts[k]) + " " + name
	}
	return strings.Join(parts, ", ")
}

// extremes returns the run's best evaluation and its cheapest and most
// expensive (by FLOPs; ties to the better top-1), ok false for no evals.
func extremes(evals []schemas.Eval) (best, small, large schemas.Eval, ok bool) {
	for _, e := range evals {
		if !finite(e.Top1) {
			continue
		}
		if !ok {
			best, small, large, ok = e, e, e, true
			continue
		}
		if e.Top1 > best.Top1 || e.Top1 == best.Top1 && e.FLOPs < best.FLOPs {
			best = e
		}
		if e.FLOPs < small.FLOPs || e.FLOPs == small.FLOPs && e.Top1 > small.Top1 {
			small = e
		}
		if e.FLOPs > large.FLOPs || e.FLOPs == large.FLOPs && e.Top1 > large.Top1 {
			large = e
		}
	}
	return
}

func newRunRow(sw swatch, evals []schemas.Eval, f Fronts) runRow {
	r := runRow{Run: sw, Evaluated: thousands(int64(len(evals))), Origins: origins(evals),
		FrontF: strconv.Itoa(len(f.FLOPs.Points)), FrontL: strconv.Itoa(len(f.Latency.Points)), FrontP: strconv.Itoa(len(f.Params.Points)),
		HVF: fmtHV(f.FLOPs.HV, len(f.FLOPs.Points)), HVL: fmtHV(f.Latency.HV, len(f.Latency.Points)), HVP: fmtHV(f.Params.HV, len(f.Params.Points)),
		Best: dash, Smallest: dash, Largest: dash}
	if best, small, large, ok := extremes(evals); ok {
		r.Best, r.BestAt = fmtPct(best.Top1), fmtMFLOPs(best.FLOPs)
		r.Smallest, r.SmallAt = fmtPct(small.Top1), fmtMFLOPs(small.FLOPs)
		r.Largest, r.LargeAt = fmtPct(large.Top1), fmtMFLOPs(large.FLOPs)
	}
	return r
}

func newPage(d *Data) *page {
	st := styleFor(d)
	sws := make([]swatch, len(d.Runs))
	for i, r := range d.Runs {
		sws[i] = swatchOf(r.Name, st[i])
	}
	swOf := func(run string) swatch {
		for _, s := range sws {
			if s.Name == run {
				return s
			}
		}
		return swatch{Name: run, Color: "#999", D: markerPath("circle", 7, 7, 4.6)}
	}
	p := &page{Title: d.Title, Description: d.Description, Notes: d.Notes, Files: d.Files}
	if p.Title == "" {
		p.Title = "AttentiveNAS report"
	}
	p.Space = d.Space.Name
	var all []schemas.Eval
	for i, r := range d.Runs {
		p.Runs = append(p.Runs, newRunRow(sws[i], r.Evals, r.Fronts))
		all = append(all, r.Evals...)
	}
	p.Overall = newRunRow(swatch{Name: "all runs"}, all, d.Overall)
	p.Overview = overview(d)

	p.FLOPsPlot = flopsPlot(d, st, false)
	small := frame{W: 620, H: 430, Left: 58, Right: 16, Top: 6, Bottom: 52}
	p.LatencyPlot = accuracyPlot(d, st, latencyAxis(), "plot-latency", "Val top-1 accuracy vs latency", small, false)
	p.ParamsPlot = accuracyPlot(d, st, paramsAxis(d), "plot-params", "Val top-1 accuracy vs parameters", small, false)
	p.HVNote = hvNote(d)

	for i, e := range d.Overall.FLOPs.Points {
		p.Front = append(p.Front, frontRow{Rank: i + 1, Run: swOf(e.Run), Origin: e.Origin, MFLOPs: fmtMFLOPs(e.FLOPs),
			Params: fmtParams(e.Params), Latency: fmtMs(e.LatencyMs), Top1: fmtPct(e.Top1), TestTop1: fmtPct(e.TestTop1),
			Arch: e.Arch, Ckpt: baseName(e.Checkpoint)})
	}
	p.Comparison = comparison(d, sws)

	var window int
	p.TrainPlot, window = trainPlot(d, st)
	if window > 1 {
		p.TrainNote = fmt.Sprintf("Bold: centred moving average over %d steps; faint: every step (skipped steps left out). ", window)
	}
	for i, r := range d.Runs {
		p.Train = append(p.Train, newTrainRow(sws[i], r))
		p.Predictors = append(p.Predictors, newPredView(sws[i], r))
	}
	return p
}

func newTrainRow(sw swatch, r Run) trainRow {
	t := trainRow{Run: sw, Source: r.TrainLog.Path, Problem: r.TrainLog.Problem}
	if len(r.Train) == 0 {
		if t.Problem == "" {
			t.Problem = "empty"
		}
		return t
	}
	skipped := 0
	var ips []float64
	var lastMax, lastMin []float64
	for _, s := range r.Train {
		if s.Skipped {
			skipped++
			continue
		}
		if finite(s.ImagesPerSec) && s.ImagesPerSec > 0 {
			ips = append(ips, s.ImagesPerSec)
		}
		lastMax, lastMin = append(lastMax, s.LossMax), append(lastMin, s.LossMin)
	}
	k := max(1, len(lastMax)/20) // the last 5 % of the steps
	mean := func(v []float64) float64 {
		if len(v) == 0 {
			return math.NaN()
		}
		v = v[len(v)-min(k, len(v)):]
		s, n := 0.0, 0
		for _, x := range v {
			if finite(x) {
				s, n = s+x, n+1
			}
		}
		if n == 0 {
			return math.NaN()
		}
		return s / float64(n)
	}
	t.Steps = thousands(int64(len(r.Train)))
	t.Epochs = strconv.Itoa(int(r.Train[len(r.Train)-1].Epoch) + 1)
	t.Skipped = strconv.Itoa(skipped)
	t.LastMax, t.LastMin = fmtF(mean(lastMax), 3), fmtF(mean(lastMin), 3)
	t.ImgPerS = dash
	if len(ips) > 0 {
		slices.Sort(ips)
		t.ImgPerS = thousands(int64(math.Round(ips[len(ips)/2])))
	}
	return t
}

func newPredView(sw swatch, r Run) predView {
	v := predView{Run: sw, Source: r.PredictorFile.Path, Problem: r.PredictorFile.Problem,
		RankSource: r.RankQualityFile.Path, RankProb: r.RankQualityFile.Problem}
	preds := slices.Clone(r.Predictors)
	slices.SortStableFunc(preds, func(a, b schemas.Predictor) int {
		return cmp.Or(-cmp.Compare(boolInt(a.Selected), boolInt(b.Selected)), cmp.Compare(b.KendallTau, a.KendallTau), cmp.Compare(a.Kind, b.Kind))
	})
	for _, m := range preds {
		v.Models = append(v.Models, predRow{Kind: m.Kind, Fit: thousands(m.Fit), Holdout: thousands(m.Holdout),
			Tau: fmtF(m.KendallTau, 3), Spearman: fmtF(m.Spearman, 3), RMSE: fmtF(100*m.RMSE, 2), R2: fmtF(m.R2, 3), Selected: m.Selected})
	}
	if v.Problem == "" && len(v.Models) == 0 {
		v.Problem = "no rows"
	}
	// Rank quality: one row per bin, one column per estimator.
	ests := map[string]bool{}
	bins := map[int32]*rankRow{}
	var binOrder []int32
	taus := map[int32]map[string]float64{}
	for _, q := range r.RankQuality {
		ests[q.Estimator] = true
		if _, ok := bins[q.Bin]; !ok {
			rr := &rankRow{Bin: strconv.Itoa(int(q.Bin)), N: thousands(q.N),
				Range: fmtMFLOPs(q.FLOPsLo) + "–" + fmtMFLOPs(q.FLOPsHi)}
			if q.Bin < 0 {
				rr.Bin, rr.Range, rr.Pooled = "all", "pooled (pair-weighted mean)", true
			}
			bins[q.Bin] = rr
			taus[q.Bin] = map[string]float64{}
			binOrder = append(binOrder, q.Bin)
		}
		taus[q.Bin][q.Estimator] = q.KendallTau
	}
	for e := range ests {
		v.Estimators = append(v.Estimators, e)
	}
	slices.SortFunc(v.Estimators, func(a, b string) int {
		// minibatch loss first: it is what the attentive sampler uses by default.
		return cmp.Or(-cmp.Compare(boolInt(a == "minibatch_loss"), boolInt(b == "minibatch_loss")), cmp.Compare(a, b))
	})
	slices.SortFunc(binOrder, func(a, b int32) int {
		if (a < 0) != (b < 0) {
			return cmp.Compare(boolInt(a < 0), boolInt(b < 0)) // pooled row last
		}
		return cmp.Compare(a, b)
	})
	for _, b := range binOrder {
		rr := bins[b]
		for _, e := range v.Estimators {
			t, ok := taus[b][e]
			if !ok {
				rr.Taus = append(rr.Taus, dash)
				continue
			}
			rr.Taus = append(rr.Taus, fmtF(t, 3))
		}
		v.Bins = append(v.Bins, *rr)
	}
	if v.RankProb == "" && len(v.Bins) == 0 {
		v.RankProb = "no rows"
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// comparison lays out the per-bucket table: one row per bucket, one
// column per run, then the differences to the first run.
func comparison(d *Data, sws []swatch) compTable {
	t := compTable{Width: strconv.FormatFloat(float64(d.BucketWidth)/1e6, 'f', -1, 64), Runs: sws}
	if len(d.Comparison) == 0 || len(d.Runs) == 0 {
		t.Empty = true
		return t
	}
	col := map[string]int{}
	for i, r := range d.Runs {
		col[r.Name] = i
	}
	for _, r := range d.Runs[1:] {
		t.Deltas = append(t.Deltas, r.Name+" − "+d.Runs[0].Name)
	}
	type bucket struct {
		lo, hi int64
		rows   []*schemas.Comparison
	}
	byIdx := map[int32]*bucket{}
	var idx []int32
	for i := range d.Comparison {
		c := &d.Comparison[i]
		b := byIdx[c.Bucket]
		if b == nil {
			b = &bucket{lo: c.FLOPsLo, hi: c.FLOPsHi, rows: make([]*schemas.Comparison, len(d.Runs))}
			byIdx[c.Bucket] = b
			idx = append(idx, c.Bucket)
		}
		if j, ok := col[c.Run]; ok {
			b.rows[j] = c
		}
	}
	slices.Sort(idx)
	wins := make([]int, len(d.Runs))
	for _, k := range idx {
		b := byIdx[k]
		row := compRow{Bucket: fmtMFLOPs(b.lo) + "–" + fmtMFLOPs(b.hi)}
		best := math.Inf(-1)
		for _, c := range b.rows {
			if c != nil && c.Evaluated > 0 && c.BestTop1 > best {
				best = c.BestTop1
			}
		}
		nBest := 0
		for _, c := range b.rows {
			if c != nil && c.Evaluated > 0 && c.BestTop1 == best {
				nBest++
			}
		}
		for j, c := range b.rows {
			if c == nil || c.Evaluated == 0 {
				row.Cells = append(row.Cells, compCell{Blank: true, Top1: dash})
				continue
			}
			isBest := c.BestTop1 == best && len(d.Runs) > 1
			if isBest && nBest == 1 {
				wins[j]++
			}
			row.Cells = append(row.Cells, compCell{Top1: fmtPct(c.BestTop1), N: thousands(c.Evaluated), Arch: c.BestArch, Best: isBest})
		}
		base := b.rows[0]
		for _, c := range b.rows[1:] {
			if base == nil || c == nil || base.Evaluated == 0 || c.Evaluated == 0 {
				row.Deltas = append(row.Deltas, deltaCell{Text: dash})
				continue
			}
			dv := 100 * (c.BestTop1 - base.BestTop1)
			dc := deltaCell{Text: fmt.Sprintf("%+.2f", dv)}
			switch {
			case dv > 0:
				dc.Class = "pos"
			case dv < 0:
				dc.Class = "neg"
			}
			row.Deltas = append(row.Deltas, dc)
		}
		t.Rows = append(t.Rows, row)
	}
	for _, w := range wins {
		t.Wins = append(t.Wins, strconv.Itoa(w))
	}
	return t
}

// hvNote explains the hypervolume reference in one sentence.
func hvNote(d *Data) string {
	h := d.Overall.FLOPs.HV
	s := "Hypervolume (HV): the area under a front's accuracy staircase once the cost is normalised to [0, 1] " +
		"by the smallest and largest subnet of the space, with reference point (cost 1, accuracy 0); " +
		"in [0, 1], larger is better, and every run of this report is measured in the same box."
	if h.CostHi > h.CostLo {
		s += fmt.Sprintf(" FLOPs box: %s–%s MFLOPs.", fmtMFLOPs(int64(h.CostLo)), fmtMFLOPs(int64(h.CostHi)))
	}
	if l := d.Overall.Latency.HV; l.CostHi > l.CostLo {
		s += fmt.Sprintf(" Latency box: %s–%s ms (%s).", fmtF(l.CostLo, 3), fmtF(l.CostHi, 3), l.Reference)
	}
	return s
}

// overview is the summary paragraph.
func overview(d *Data) string {
	var s []string
	names := make([]string, len(d.Runs))
	for i, r := range d.Runs {
		names[i] = r.Name
	}
	space := "the search space"
	if d.Space.Name != "" {
		space = "search space " + d.Space.Name
	}
	if d.Space.MaxFLOPs > 0 {
		space += " (" + fmtMFLOPs(d.Space.MinFLOPs) + "–" + fmtMFLOPs(d.Space.MaxFLOPs) + " MFLOPs per image)"
	}
	runWord := "runs"
	if len(d.Runs) == 1 {
		runWord = "run"
	}
	s = append(s, fmt.Sprintf("This report covers %d supernet training %s (%s) on %s.", len(d.Runs), runWord, strings.Join(names, ", "), space))

	var parts []string
	total := 0
	for _, r := range d.Runs {
		total += len(r.Evals)
		parts = append(parts, fmt.Sprintf("%s %s", r.Name, thousands(int64(len(r.Evals)))))
	}
	s = append(s, fmt.Sprintf("%s subnets were evaluated for real (BN recalibrated, then top-1 on the held-out val split): %s.",
		thousands(int64(total)), strings.Join(parts, ", ")))

	parts = parts[:0]
	for _, r := range d.Runs {
		if len(r.Train) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s steps over %d epochs", r.Name, thousands(int64(len(r.Train))), r.Train[len(r.Train)-1].Epoch+1))
		}
	}
	if len(parts) > 0 {
		s = append(s, "Training: "+strings.Join(parts, ", ")+".")
	}

	var all []schemas.Eval
	for _, r := range d.Runs {
		all = append(all, r.Evals...)
	}
	if best, _, _, ok := extremes(all); ok {
		s = append(s, fmt.Sprintf("Best val top-1: %s %% (%s, %s MFLOPs).", fmtPct(best.Top1), best.Run, fmtMFLOPs(best.FLOPs)))
	}

	type hv struct {
		name string
		v    float64
	}
	var hvs []hv
	for _, r := range d.Runs {
		if h := r.Fronts.FLOPs.HV.Hypervolume; len(r.Fronts.FLOPs.Points) > 0 && h >= 0 {
			hvs = append(hvs, hv{r.Name, h})
		}
	}
	slices.SortStableFunc(hvs, func(a, b hv) int { return cmp.Compare(b.v, a.v) })
	if len(hvs) > 1 {
		parts = parts[:0]
		for _, h := range hvs {
			parts = append(parts, fmt.Sprintf("%s %.4f", h.name, h.v))
		}
		s = append(s, fmt.Sprintf("Accuracy-vs-FLOPs hypervolume, larger is better: %s.", strings.Join(parts, ", ")))
	}
	if f := d.Overall.FLOPs.Points; len(f) > 0 && len(d.Runs) > 1 {
		counts := map[string]int{}
		for _, e := range f {
			counts[e.Run]++
		}
		parts = parts[:0]
		for _, r := range d.Runs {
			if counts[r.Name] > 0 {
				parts = append(parts, fmt.Sprintf("%d from %s", counts[r.Name], r.Name))
			}
		}
		s = append(s, fmt.Sprintf("The overall front (all runs together) has %d subnets: %s.", len(f), strings.Join(parts, ", ")))
	}
	if len(d.Runs) > 1 && len(d.Comparison) > 0 {
		t := comparison(d, make([]swatch, len(d.Runs)))
		parts = parts[:0]
		for i, r := range d.Runs {
			parts = append(parts, fmt.Sprintf("%s %s", r.Name, t.Wins[i]))
		}
		s = append(s, fmt.Sprintf("Best subnet per %s-MFLOPs bucket, buckets won out of %d: %s.", t.Width, len(t.Rows), strings.Join(parts, ", ")))
	}
	return strings.Join(s, " ")
}
