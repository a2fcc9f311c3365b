package stages

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/vet"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// The hand-computed case uses tinySpace, whose smallest and largest subnets
// cost 19,760 and 70,984 MACs and have 1,331 and 6,787 parameters. Both
// ranges are 4 steps: FLOPs lo + k*12,806 and params 1,331 + k*1,364
// normalise to exactly k/4, so the hypervolumes below are sums of quarters.
const (
	tinyMinFLOPs, tinyFLOPsStep   = 19_760, 12_806
	tinyMinParams, tinyParamsStep = 1_331, 1_364
)

// handEval is an evaluation at normalised cost k/4 on the FLOPs and params
// axes and latency k+1 ms (normalised (k+1)/5 in handConfig's fixed
// latency box of [0, 5] ms), unless lat overrides it (>= 0).
func handEval(run, arch string, k int, top1 float64, origin, ckpt string, lat float64) schemas.Eval {
	if lat < 0 {
		lat = float64(k + 1)
	}
	return schemas.Eval{Run: run, Checkpoint: ckpt, Arch: arch, Vector: []int32{int32(k)}, Widths: []int32{}, Depths: []int32{},
		Kernels: []int32{}, Expands: []int32{}, FLOPs: tinyMinFLOPs + int64(k)*tinyFLOPsStep,
		Params: tinyMinParams + int64(k)*tinyParamsStep, LatencyMs: lat, Top1: top1, Loss: 1 - top1,
		TestTop1: -1, TestLoss: -1, Origin: origin, Seed: 1}
}

// handEvals: two runs at normalised costs c = k/4 (FLOPs, params and,
// except b3, latency).
//
//	uniform  u0 (0, .60)  u1 (.25, .70)  u1' (.25, .50, older checkpoint)  u2 (.50, .65)
//	         u3 (.75, .80, origin search) + its duplicate (.75, .90, origin random: dropped)
//	         u4 (1, .80)
//	bestup-3 b0 (0, .62)  b1 (.25, .78)  b2 (.75, .76)  b3 (1, .84; latency not measured)
//	worstup-3 w0: not among cfg.Runs, ignored.
//
// Fronts against FLOPs (and params):
//
//	uniform:  u0, u1, u3 (u1' and u2 are beaten by u1, u4 by u3)
//	          HV = .25*.60 + .50*.70 + .25*.80 = .15 + .35 + .20 = .70
//	bestup-3: b0, b1, b3 (b2 is beaten by b1)
//	          HV = .25*.62 + .75*.78 + 0*.84 = .155 + .585 = .74
//	all:      b0, b1, u3, b3 (u0 beaten by b0, u1 by b1, u4 by b3)
//	          HV = .25*.62 + .50*.78 + .25*.80 = .155 + .39 + .20 = .745
//
// Against latency (normalised (k+1)/5), b3 is left out (latency 0):
//
//	uniform:  u0 (.2), u1 (.4), u3 (.8):  HV = .2*.60 + .4*.70 + .2*.80 = .56
//	bestup-3: b0 (.2), b1 (.4):           HV = .2*.62 + .6*.78 = .592
//	all:      b0, b1, u3:                 HV = .2*.62 + .4*.78 + .2*.80 = .596
func handEvals() []schemas.Eval {
	const ck, old = "out/runs/x/checkpoints/epoch-0002.parquet", "out/runs/x/checkpoints/epoch-0001.parquet"
	r := schemas.OriginRandom
	return []schemas.Eval{
		handEval("uniform", "u4", 4, 0.80, r, ck, -1),
		handEval("uniform", "u3", 3, 0.90, r, ck, -1), // duplicate of the next: loses to origin search
		handEval("bestup-3", "b2", 3, 0.76, r, ck, -1),
		handEval("uniform", "u0", 0, 0.60, schemas.OriginMin, ck, -1),
		handEval("uniform", "u1", 1, 0.70, r, ck, -1),
		handEval("uniform", "u3", 3, 0.80, schemas.OriginSearch, ck, -1),
		handEval("uniform", "u1", 1, 0.50, r, old, -1), // another checkpoint: not a duplicate
		handEval("worstup-3", "w0", 2, 0.99, r, ck, -1),
		handEval("bestup-3", "b0", 0, 0.62, schemas.OriginMin, ck, -1),
		handEval("uniform", "u2", 2, 0.65, r, ck, -1),
		handEval("bestup-3", "b1", 1, 0.78, r, ck, -1),
		handEval("bestup-3", "b3", 4, 0.84, schemas.OriginMax, ck, 0),
	}
}

func handConfig(out string) ParetoConfig {
	return ParetoConfig{Output: out, Space: tinySpace, BucketWidth: tinyFLOPsStep, Runs: []string{"uniform", "bestup-3"},
		Title: "hand-computed", LatencyBoxMs: 5}
}

func archsOf[T any](rows []T, scope, axis func(T) string, arch func(T) string, wantScope, wantAxis string) []string {
	var out []string
	for _, r := range rows {
		if scope(r) == wantScope && axis(r) == wantAxis {
			out = append(out, arch(r))
		}
	}
	return out
}

func TestParetoReportHandComputed(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	sum, err := ParetoReport(ctx, handEvals(), handConfig(out))
	if err != nil {
		t.Fatal(err)
	}
	files := ParetoPaths(out)

	// Fronts, in rank order.
	front, _, err := pqio.ReadFile[schemas.ParetoPoint](ctx, files.Front)
	if err != nil {
		t.Fatal(err)
	}
	scope := func(p schemas.ParetoPoint) string { return p.Scope }
	axis := func(p schemas.ParetoPoint) string { return p.Axis }
	arch := func(p schemas.ParetoPoint) string { return p.Arch }
	wantFronts := []struct {
		scope, axis string
		archs       []string
	}{
		{"uniform", schemas.AxisFLOPs, []string{"u0", "u1", "u3"}},
		{"bestup-3", schemas.AxisFLOPs, []string{"b0", "b1", "b3"}},
		{schemas.ScopeAll, schemas.AxisFLOPs, []string{"b0", "b1", "u3", "b3"}},
		{"uniform", schemas.AxisLatency, []string{"u0", "u1", "u3"}},
		{"bestup-3", schemas.AxisLatency, []string{"b0", "b1"}},
		{schemas.ScopeAll, schemas.AxisLatency, []string{"b0", "b1", "u3"}},
		{"uniform", schemas.AxisParams, []string{"u0", "u1", "u3"}},
		{"bestup-3", schemas.AxisParams, []string{"b0", "b1", "b3"}},
		{schemas.ScopeAll, schemas.AxisParams, []string{"b0", "b1", "u3", "b3"}},
	}
	n := 0
	for _, w := range wantFronts {
		got := archsOf(front, scope, axis, arch, w.scope, w.axis)
		if !slices.Equal(got, w.archs) {
			t.Errorf("front %s/%s = %v, want %v", w.scope, w.axis, got, w.archs)
		}
		n += len(w.archs)
	}
	if len(front) != n {
		t.Errorf("front.parquet has %d rows, want %d", len(front), n)
	}
	for _, p := range front {
		if p.Arch == "u3" && (p.Origin != schemas.OriginSearch || p.Top1 != 0.80) {
			t.Errorf("u3 kept as %s %.2f, want the origin-search row (0.80)", p.Origin, p.Top1)
		}
		if p.Arch == "u1" && !strings.HasSuffix(p.Checkpoint, "epoch-0002.parquet") {
			t.Errorf("u1 on the front from %s, want the newer checkpoint's 0.70", p.Checkpoint)
		}
	}
	// Non-domination, checked directly: no evaluation of the scope beats a front point.
	for _, p := range front {
		for _, e := range handEvals() {
			if p.Scope != schemas.ScopeAll && e.Run != p.Scope || e.Run == "worstup-3" || e.Arch == "u3" && e.Top1 == 0.90 {
				continue
			}
			c, pc := float64(e.FLOPs), float64(p.FLOPs)
			if p.Axis == schemas.AxisLatency {
				if e.LatencyMs <= 0 {
					continue
				}
				c, pc = e.LatencyMs, p.LatencyMs
			}
			if c <= pc && e.Top1 >= p.Top1 && (c < pc || e.Top1 > p.Top1) {
				t.Errorf("%s/%s: front point %s is dominated by %s", p.Scope, p.Axis, p.Arch, e.Arch)
			}
		}
	}

	// Hypervolumes.
	hvs, _, err := pqio.ReadFile[schemas.Hypervolume](ctx, files.Hypervolume)
	if err != nil {
		t.Fatal(err)
	}
	wantHV := map[[2]string]struct {
		hv     float64
		points int64
		lo, hi float64
	}{
		{"uniform", schemas.AxisFLOPs}:          {0.70, 3, 19_760, 70_984},
		{"bestup-3", schemas.AxisFLOPs}:         {0.74, 3, 19_760, 70_984},
		{schemas.ScopeAll, schemas.AxisFLOPs}:   {0.745, 4, 19_760, 70_984},
		{"uniform", schemas.AxisLatency}:        {0.56, 3, 0, 5},
		{"bestup-3", schemas.AxisLatency}:       {0.592, 2, 0, 5},
		{schemas.ScopeAll, schemas.AxisLatency}: {0.596, 3, 0, 5},
		{"uniform", schemas.AxisParams}:         {0.70, 3, 1331, 6787},
		{"bestup-3", schemas.AxisParams}:        {0.74, 3, 1331, 6787},
		{schemas.ScopeAll, schemas.AxisParams}:  {0.745, 4, 1331, 6787},
	}
	if len(hvs) != len(wantHV) {
		t.Errorf("%d hypervolume rows, want %d", len(hvs), len(wantHV))
	}
	for _, h := range hvs {
		w, ok := wantHV[[2]string{h.Scope, h.Axis}]
		if !ok {
			t.Errorf("unexpected hypervolume row %+v", h)
			continue
		}
		if math.Abs(h.Hypervolume-w.hv) > 1e-6 || h.FrontPoints != w.points || h.CostLo != w.lo || h.CostHi != w.hi || h.RefValue != 0 || h.Reference == "" {
			t.Errorf("%s/%s: got %+v, want hv %v over %d points, box [%v, %v]", h.Scope, h.Axis, h, w.hv, w.points, w.lo, w.hi)
		}
	}

	// Summary.
	if sum.Duplicates != 1 {
		t.Errorf("Duplicates = %d, want 1", sum.Duplicates)
	}
	wantRuns := []ParetoRunSummary{
		{Run: "uniform", Evaluated: 6, FrontSize: 3, Hypervolume: 0.70, LatencyHypervolume: 0.56, ParamsHypervolume: 0.70,
			BestTop1: 0.80, BestArch: "u3", BestFLOPs: 58_178, MinFLOPs: 19_760, MinTop1: 0.60, MaxFLOPs: 70_984, MaxTop1: 0.80},
		{Run: "bestup-3", Evaluated: 4, FrontSize: 3, Hypervolume: 0.74, LatencyHypervolume: 0.592, ParamsHypervolume: 0.74,
			BestTop1: 0.84, BestArch: "b3", BestFLOPs: 70_984, MinFLOPs: 19_760, MinTop1: 0.62, MaxFLOPs: 70_984, MaxTop1: 0.84},
	}
	if len(sum.Runs) != 2 {
		t.Fatalf("summary runs %+v", sum.Runs)
	}
	for i, w := range wantRuns {
		g := sum.Runs[i]
		for _, f := range []*float64{&g.Hypervolume, &g.LatencyHypervolume, &g.ParamsHypervolume} {
			*f = math.Round(*f*1e9) / 1e9
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("summary of %s:\n got %+v\nwant %+v", w.Run, g, w)
		}
	}
	var frontArchs []string
	for _, p := range sum.Front {
		frontArchs = append(frontArchs, p.Run+"/"+p.Arch)
	}
	if want := []string{"bestup-3/b0", "bestup-3/b1", "uniform/u3", "bestup-3/b3"}; !slices.Equal(frontArchs, want) {
		t.Errorf("summary front %v, want %v", frontArchs, want)
	}
	for _, s := range []string{`1 evaluation(s) of run "worstup-3" ignored`, "1 duplicate evaluation(s) dropped",
		`run "uniform": not found: ` + filepath.Join(out, "runs/uniform/train_log.parquet")} {
		if !slices.ContainsFunc(sum.Notes, func(n string) bool { return strings.Contains(n, s) }) {
			t.Errorf("notes %q lack %q", sum.Notes, s)
		}
	}
	again, err := ReadParetoSummary(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, sum) {
		t.Errorf("summary.json reads back as\n%+v\nwant\n%+v", again, sum)
	}
	var text bytes.Buffer
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"uniform", "0.7000", "84.00%", "report: " + files.Report} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("WriteText lacks %q:\n%s", s, text.String())
		}
	}

	// The report: well-formed, one marker per front point in each plot.
	page, err := os.ReadFile(files.Report)
	if err != nil {
		t.Fatal(err)
	}
	markers := frontMarkers(t, page)
	want := map[string]map[string]int{
		"plot-flops":   {"uniform": 3, "bestup-3": 3},
		"plot-latency": {"uniform": 3, "bestup-3": 2},
		"plot-params":  {"uniform": 3, "bestup-3": 3},
	}
	if !reflect.DeepEqual(markers, want) {
		t.Errorf("front markers %v, want %v", markers, want)
	}
	svg, err := os.ReadFile(files.SVG)
	if err != nil {
		t.Fatal(err)
	}
	if m := frontMarkers(t, svg); !reflect.DeepEqual(m, map[string]map[string]int{"plot-flops": want["plot-flops"]}) {
		t.Errorf("front.svg markers %v", m)
	}
}

// frontMarkers parses a report page or SVG as strict XML and counts the
// front markers per plot and run.
func frontMarkers(t *testing.T, doc []byte) map[string]map[string]int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	out := map[string]map[string]int{}
	plot := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			line, col := dec.InputPos()
			t.Fatalf("not well-formed at %d:%d: %v", line, col, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attrs := map[string]string{}
		for _, a := range el.Attr {
			attrs[a.Name.Local] = a.Value
		}
		if el.Name.Local == "svg" && attrs["id"] != "" {
			plot = attrs["id"]
		}
		if el.Name.Local == "path" && attrs["class"] == "front-marker" {
			if out[plot] == nil {
				out[plot] = map[string]int{}
			}
			out[plot][attrs["data-run"]]++
		}
	}
}

func TestParetoComparisonBuckets(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	if _, err := ParetoReport(ctx, handEvals(), handConfig(out)); err != nil {
		t.Fatal(err)
	}
	rows, _, err := pqio.ReadFile[schemas.Comparison](ctx, ParetoPaths(out).Comparison)
	if err != nil {
		t.Fatal(err)
	}
	// Width 12,806 MACs: cost step k lands in bucket k+1 (19,760 / 12,806 = 1.54).
	type row struct {
		bucket int32
		run    string
		n      int64
		best   float64
		arch   string
	}
	want := []row{
		{1, "uniform", 1, 0.60, "u0"}, {1, "bestup-3", 1, 0.62, "b0"},
		{2, "uniform", 2, 0.70, "u1"}, {2, "bestup-3", 1, 0.78, "b1"}, // u1 and u1' (older checkpoint)
		{3, "uniform", 1, 0.65, "u2"}, {3, "bestup-3", 0, -1, ""},
		{4, "uniform", 1, 0.80, "u3"}, {4, "bestup-3", 1, 0.76, "b2"}, // u3's duplicate dropped
		{5, "uniform", 1, 0.80, "u4"}, {5, "bestup-3", 1, 0.84, "b3"},
	}
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Bucket, r.Run, r.Evaluated, r.BestTop1, r.BestArch})
		if r.FLOPsLo != int64(r.Bucket)*tinyFLOPsStep || r.FLOPsHi != r.FLOPsLo+tinyFLOPsStep {
			t.Errorf("bucket %d spans [%d, %d)", r.Bucket, r.FLOPsLo, r.FLOPsHi)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("comparison\n got %v\nwant %v", got, want)
	}
	if d := defaultBucketWidth(729_248, 14_480_512); d != 1_000_000 {
		t.Errorf("default bucket width for configs/fmnist.json = %d, want 1 MFLOP", d)
	}
}

// TestParetoDeterministic: the input order changes nothing, not even which
// duplicate is kept.
func TestParetoDeterministic(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	files := ParetoPaths(out)
	read := func() [][]byte {
		var bs [][]byte
		for _, p := range []string{files.Report, files.SVG, files.Summary} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
		front, _, err := pqio.ReadFile[schemas.ParetoPoint](ctx, files.Front)
		if err != nil {
			t.Fatal(err)
		}
		var s strings.Builder
		for _, p := range front {
			s.WriteString(p.Scope + p.Axis + p.Arch + p.Origin + p.Checkpoint + ";")
		}
		return append(bs, []byte(s.String()))
	}
	evals := handEvals()
	if _, err := ParetoReport(ctx, evals, handConfig(out)); err != nil {
		t.Fatal(err)
	}
	first := read()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		rng.Shuffle(len(evals), func(i, j int) { evals[i], evals[j] = evals[j], evals[i] })
		if _, err := ParetoReport(ctx, evals, handConfig(out)); err != nil {
			t.Fatal(err)
		}
		for i, b := range read() {
			if !bytes.Equal(b, first[i]) {
				t.Fatalf("output %d differs after shuffling the input", i)
			}
		}
	}
}

func TestParetoDedup(t *testing.T) {
	a := handEval("uniform", "a", 1, 0.7, schemas.OriginRandom, "c", -1)
	b := a
	b.Origin, b.Top1 = schemas.OriginMin, 0.6
	c := a
	c.Seed = 0 // same origin as a, lower seed: kept over a
	d := a
	d.Checkpoint = "c2" // another checkpoint: kept
	for _, in := range [][]schemas.Eval{{a, b, c, d}, {d, c, b, a}, {c, d, a, b}} {
		got, dropped := dedupEvals(in)
		if dropped != 2 || len(got) != 2 || got[0].Origin != schemas.OriginMin || got[1].Checkpoint != "c2" {
			t.Errorf("dedupEvals(%v) = %v, %d dropped; want the origin-min row and the c2 row", in, got, dropped)
		}
	}
	got, _ := dedupEvals([]schemas.Eval{a, c})
	if len(got) != 1 || got[0].Seed != 0 {
		t.Errorf("between equal origins the lower seed wins: got %+v", got)
	}
}

func TestParetoErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		evals []schemas.Eval
		cfg   func(*ParetoConfig)
		want  string
	}{
		{"no evaluations", nil, func(*ParetoConfig) {}, "no evaluations"},
		{"no evaluations of the runs", handEvals(), func(c *ParetoConfig) { c.Runs = []string{"worstup-50"} }, "no evaluations"},
		{"run listed twice", handEvals(), func(c *ParetoConfig) { c.Runs = []string{"uniform", "uniform"} }, "listed twice"},
		{"bad space", handEvals(), func(c *ParetoConfig) { c.Space = "{" }, "space"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := handConfig(t.TempDir())
			c.cfg(&cfg)
			_, err := ParetoReport(ctx, c.evals, cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestParetoPointColumns: a front row carries every column of schemas.Eval
// under the same name, and converts back.
func TestParetoPointColumns(t *testing.T) {
	tags := func(typ reflect.Type) map[string]string {
		m := map[string]string{}
		for i := range typ.NumField() {
			m[typ.Field(i).Name] = typ.Field(i).Tag.Get("parquet")
		}
		return m
	}
	ev, pp := tags(reflect.TypeFor[schemas.Eval]()), tags(reflect.TypeFor[schemas.ParetoPoint]())
	for name, tag := range ev {
		if pp[name] != tag {
			t.Errorf("ParetoPoint.%s has tag %q, Eval.%s %q", name, pp[name], name, tag)
		}
	}
	e := handEval("uniform", "u1", 1, 0.7, schemas.OriginRandom, "c", -1)
	e.TestTop1, e.WallSeconds, e.LatencyThreads = 0.69, 2.5, 4
	if got := schemas.NewParetoPoint("all", "flops", 3, e).Eval(); !reflect.DeepEqual(got, e) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, e)
	}
}

// commitTrainLog commits a run's training state with a stand-in checkpoint
// and the given train log.
func commitTrainLog(t *testing.T, out, run string, steps []schemas.TrainStep) {
	t.Helper()
	ctx := context.Background()
	w, err := pqio.NewSetWriter(ctx, runDir(out, run), TrainSet, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pqio.WriteSetFile(ctx, w, "checkpoints/epoch-0001.parquet", []schemas.Tensor{{Name: "w", Role: "weight", Shape: []int32{1}, Values: []float32{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := pqio.WriteSetFile(ctx, w, "train_log.parquet", steps); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// commitPredictors commits a run's predictor and rank-quality files.
func commitPredictors(t *testing.T, out, run string, preds []schemas.Predictor, rq []schemas.RankQuality) {
	t.Helper()
	ctx := context.Background()
	w, err := pqio.NewSetWriter(ctx, out, predictorSet(run), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pqio.WriteSetFile(ctx, w, "predictors/"+run+".parquet", preds); err != nil {
		t.Fatal(err)
	}
	if err := pqio.WriteSetFile(ctx, w, "rank_quality/"+run+".parquet", rq); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestParetoLatencyBoxFixed: the latency hypervolume's box is fixed, like
// the FLOPs and params boxes, so a run's latency hypervolume does not
// depend on which other evaluations a report holds; evaluations slower
// than the box are noted.
func TestParetoLatencyBoxFixed(t *testing.T) {
	ctx := context.Background()
	a, err := ParetoReport(ctx, handEvals(), handConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	more := append(handEvals(),
		handEval("bestup-3", "fast", 0, 0.10, schemas.OriginRandom, "c", 0.5), // faster than any other
		handEval("bestup-3", "slow", 4, 0.10, schemas.OriginRandom, "c", 9))   // slower than the box
	b, err := ParetoReport(ctx, more, handConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if a.Runs[0].Run != "uniform" || a.Runs[0].LatencyHypervolume != b.Runs[0].LatencyHypervolume {
		t.Fatalf("uniform's latency hypervolume changed with another run's evaluations: %v vs %v",
			a.Runs[0].LatencyHypervolume, b.Runs[0].LatencyHypervolume)
	}
	if !slices.ContainsFunc(b.Notes, func(n string) bool {
		return strings.Contains(n, "1 evaluation(s) are slower than the latency box's 5 ms")
	}) {
		t.Errorf("notes %q", b.Notes)
	}
}

// TestParetoOptionalInputs: train logs, predictors and rank quality show up
// in the report when committed, and their absence or an incomplete set is
// noted (and its data left out).
func TestParetoOptionalInputs(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	var steps []schemas.TrainStep
	for i := range 50 {
		steps = append(steps, schemas.TrainStep{Run: "uniform", Step: int64(i), Epoch: int32(i / 25), LossMax: 2 - float64(i)/50,
			LossMin: 2.2 - float64(i)/50, ImagesPerSec: 1000, Skipped: i == 7})
	}
	commitTrainLog(t, out, "uniform", steps)
	preds := []schemas.Predictor{
		{Run: "bestup-3", Kind: "random_forest", Fit: 30, Holdout: 10, KendallTau: 0.733, Spearman: 0.9, RMSE: 0.01, R2: 0.7, Selected: true},
		{Run: "bestup-3", Kind: "ridge", Fit: 30, Holdout: 10, KendallTau: 0.512, Spearman: 0.7, RMSE: 0.02, R2: 0.4},
	}
	rq := []schemas.RankQuality{
		{Run: "bestup-3", Estimator: "minibatch_loss", Bin: 0, FLOPsLo: 0, FLOPsHi: 50_000, N: 6, KendallTau: 0.467},
		{Run: "bestup-3", Estimator: "minibatch_loss", Bin: -1, N: 6, KendallTau: 0.467},
	}
	commitPredictors(t, out, "bestup-3", preds, rq)
	// An incomplete set (a file replaced outside a commit) is a note, not
	// an error, and its rows are not used.
	commitPredictors(t, out, "uniform", preds, rq)
	if err := os.WriteFile(PredictorPath(out, "uniform"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := ParetoReport(ctx, handEvals(), handConfig(out))
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(sum.Notes, "\n")
	for _, s := range []string{
		`run "uniform": ` + PredictorPath(out, "uniform") + ": pqio: read " + PredictorPath(out, "uniform") + ": incomplete set",
		`run "uniform": ` + RankQualityPath(out, "uniform") + ": pqio: read " + PredictorPath(out, "uniform") + ": incomplete set",
		`run "bestup-3": not found: ` + trainLogPath(out, "bestup-3"),
	} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes lack %q:\n%s", s, notes)
		}
	}
	page, err := os.ReadFile(ParetoPaths(out).Report)
	if err != nil {
		t.Fatal(err)
	}
	frontMarkers(t, page) // well-formed
	for _, s := range []string{
		"<td>50</td><td>2</td><td>1</td>", // steps, epochs, skipped
		"<td>0.733</td>",                  // bestup-3's forest tau
		"✓ selected",
		"<th>τ minibatch_loss</th>",
		"<td>0.467</td>",
		"train log not found",
	} {
		if !strings.Contains(string(page), s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

// TestParetoStage runs the composite on ptest's runner (prism).
func TestParetoStage(t *testing.T) {
	out := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	ready := beam.Create(s, trainLogPath(out, "uniform"), PredictorPath(out, "uniform"))
	got := Pareto(s, beam.CreateList(s, handEvals()), ready, handConfig(out))
	passert.Equals(s, got, ParetoPaths(out).Report)
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"evaluations": 10, "duplicates_dropped": 1, "front_points": 4, "reports_written": 1} {
		if got := nsCounter(pr, "pareto", name); got != want {
			t.Errorf("counter pareto/%s = %d, want %d", name, got, want)
		}
	}
	hv, _, err := pqio.ReadFile[schemas.Hypervolume](context.Background(), ParetoPaths(out).Hypervolume)
	if err != nil {
		t.Fatal(err)
	}
	if len(hv) != 9 || hv[0].Scope != schemas.ScopeAll || math.Abs(hv[0].Hypervolume-0.745) > 1e-6 {
		t.Errorf("hypervolume rows %+v", hv)
	}
}

// TestParetoRegistered: the stage's graph runs without reflection, as
// Dataflow workers need.
func TestParetoRegistered(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	Pareto(s, beam.CreateList(s, handEvals()), beam.PCollection{}, handConfig(t.TempDir()))
	e, err := vet.Evaluate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Performant() {
		_, err := vet.Execute(context.Background(), p)
		t.Fatalf("unregistered functions or types: %v", err)
	}
}

// demoRuns writes what a realistic ablation leaves behind (150 evaluated
// subnets of configs/fmnist.json for each of uniform and bestup-3, with
// accuracy a saturating function of FLOPs; train logs; predictors; rank
// quality) and returns the evaluations.
func demoRuns(t *testing.T, out string) []schemas.Eval {
	t.Helper()
	ctx := context.Background()
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := float64(sp.FLOPs(sp.Min())), float64(sp.FLOPs(sp.Max()))
	rng := rand.New(rand.NewPCG(7, 8))
	var evals []schemas.Eval
	for ri, run := range []struct {
		name       string
		gain, loss float64
	}{{"uniform", 0, 0}, {"bestup-3", 0.004, -0.04}} {
		ckpt := CheckpointPath(out, run.name, 3)
		archs := []space.Arch{sp.Min(), sp.Max()}
		for len(archs) < 150 {
			archs = append(archs, sp.Random(rng))
		}
		var runEvals []schemas.Eval
		for i, a := range archs {
			origin := schemas.OriginRandom
			switch {
			case i == 0:
				origin = schemas.OriginMin
			case i == 1:
				origin = schemas.OriginMax
			case i >= 140:
				origin = schemas.OriginSearch
			}
			x := (float64(sp.FLOPs(a)) - lo) / (hi - lo)
			ideal := 0.842 + 0.071*(1-math.Exp(-3.2*x)) + run.gain*(1-0.5*x)
			gap := math.Abs(rng.NormFloat64()) * 0.009
			if origin == schemas.OriginSearch {
				gap *= 0.3
			}
			row := EvalRow(EvalJob{Run: run.name, Checkpoint: ckpt, Origin: origin, Seed: 1}, sp, a)
			row.Top1 = math.Round((ideal-gap)*5000) / 5000 // 5,000 val images
			row.Loss = 0.25 + 2*(1-row.Top1)
			row.TestTop1 = math.Round((row.Top1-0.004+0.003*rng.NormFloat64())*10000) / 10000
			row.TestLoss = row.Loss + 0.01
			row.LatencyMs = 0.09 + 0.052*float64(row.FLOPs)/1e6 + 0.004*float64(row.Params)/1e5 + 0.01*math.Abs(rng.NormFloat64())
			row.LatencyThreads, row.CalibImages, row.EvalImages, row.TestImages = 1, 2000, 5000, 10000
			row.WallSeconds = 1 + 0.2*float64(row.FLOPs)/1e6
			runEvals = append(runEvals, row)
		}
		evals = append(evals, runEvals...)

		// Training: 3 epochs of 400 steps.
		var steps []schemas.TrainStep
		for i := range 1200 {
			s := float64(i)
			steps = append(steps, schemas.TrainStep{Run: run.name, Step: int64(i), Epoch: int32(i / 400), LR: 0.1,
				LossMax:      0.42 + run.loss + 1.9*math.Exp(-s/220) + 0.06*rng.NormFloat64(),
				LossMin:      0.55 + run.loss + 1.7*math.Exp(-s/260) + 0.07*rng.NormFloat64(),
				ImagesPerSec: 850 + 40*rng.NormFloat64(), Skipped: ri == 1 && (i == 311 || i == 312)})
		}
		if err := pqio.WriteFile(ctx, trainLogPath(out, run.name), steps); err != nil {
			t.Fatal(err)
		}
		preds := []schemas.Predictor{
			{Run: run.name, Kind: "random_forest", Fit: 112, Holdout: 38, KendallTau: 0.712 + 0.02*float64(ri), Spearman: 0.887, RMSE: 0.0041, R2: 0.79, Selected: true},
			{Run: run.name, Kind: "gbt", Fit: 112, Holdout: 38, KendallTau: 0.684 - 0.01*float64(ri), Spearman: 0.861, RMSE: 0.0045, R2: 0.75},
			{Run: run.name, Kind: "ridge", Fit: 112, Holdout: 38, KendallTau: 0.553, Spearman: 0.741, RMSE: 0.0062, R2: 0.52},
		}
		if err := pqio.WriteFile(ctx, PredictorPath(out, run.name), preds); err != nil {
			t.Fatal(err)
		}
		var rq []schemas.RankQuality
		w := sampler.DefaultBinWidth * 2
		counts := map[int64]int64{}
		for _, e := range runEvals {
			counts[e.FLOPs/w]++
		}
		for _, est := range []string{"minibatch_loss", "predictor:random_forest"} {
			for b := int64(0); b <= int64(hi)/w; b++ {
				if counts[b] >= 5 {
					rq = append(rq, schemas.RankQuality{Run: run.name, Estimator: est, Bin: int32(b), FLOPsLo: b * w, FLOPsHi: (b + 1) * w,
						N: counts[b], KendallTau: math.Round((0.35+0.2*rng.Float64())*1000) / 1000})
				}
			}
			rq = append(rq, schemas.RankQuality{Run: run.name, Estimator: est, Bin: -1, N: 150, KendallTau: 0.447})
		}
		if err := pqio.WriteFile(ctx, RankQualityPath(out, run.name), rq); err != nil {
			t.Fatal(err)
		}
	}
	return evals
}

// TestParetoDemo renders the report of a realistic ablation. With
// PARETO_DEMO_DIR set it writes there, to look at:
//
//	PARETO_DEMO_DIR=/tmp/report_demo go test ./stages -run TestParetoDemo
//	chromium --headless --screenshot=shot.png --window-size=1400,3000 file:///tmp/report_demo/pareto/report.html
func TestParetoDemo(t *testing.T) {
	out := os.Getenv("PARETO_DEMO_DIR")
	if out == "" {
		out = t.TempDir()
	}
	evals := demoRuns(t, out)
	sum, err := ParetoReport(context.Background(), evals, ParetoConfig{Output: out, Space: string(configs.FMNIST),
		Title:       "AttentiveNAS on Fashion-MNIST: uniform vs BestUp-3",
		Description: "Demo data: 150 subnets per run of configs/fmnist.json, accuracies made up as a saturating function of FLOPs."})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Runs) != 2 || sum.Runs[0].Run != "uniform" || sum.Runs[0].Evaluated != 150 || sum.Runs[1].Evaluated != 150 {
		t.Fatalf("summary runs %+v", sum.Runs)
	}
	page, err := os.ReadFile(sum.Files.Report)
	if err != nil {
		t.Fatal(err)
	}
	m := frontMarkers(t, page)
	for _, r := range sum.Runs {
		if m["plot-flops"][r.Run] != r.FrontSize || r.FrontSize < 5 {
			t.Errorf("%s: %d front markers, front of %d", r.Run, m["plot-flops"][r.Run], r.FrontSize)
		}
		if !(r.Hypervolume > 0.8 && r.Hypervolume < 0.95) {
			t.Errorf("%s: hypervolume %v, want about 0.9", r.Run, r.Hypervolume)
		}
	}
	if sum.Runs[1].Hypervolume <= sum.Runs[0].Hypervolume {
		t.Errorf("bestup-3 was made better than uniform, but its hypervolume %v <= %v", sum.Runs[1].Hypervolume, sum.Runs[0].Hypervolume)
	}
	if testing.Verbose() {
		var b strings.Builder
		if err := sum.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + b.String())
	}
}

// paretoState reads the committed pareto set as a reader would and returns
// the summary's runs and the front file's rows, which must agree.
func paretoState(t *testing.T, out string) (string, error) {
	t.Helper()
	ctx := context.Background()
	sum, err := ReadParetoSummary(ctx, out)
	if err != nil {
		return "", err
	}
	paths, m, err := pqio.SetFiles(ctx, filepath.Join(out, "pareto"), ParetoSet)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %+v\n", sum.Runs)
	for i, f := range m.Files {
		raw, err := os.ReadFile(paths[i])
		if err != nil {
			return "", err
		}
		if f.Name == "front.parquet" {
			rows, _, err := pqio.ReadFile[schemas.ParetoPoint](ctx, paths[i])
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "front: %d rows\n", len(rows))
			continue
		}
		if f.Name == "report.html" || f.Name == "front.svg" || f.Name == "summary.json" {
			fmt.Fprintf(&b, "%s: %d bytes\n", f.Name, len(raw)) // their content names the output directory
		}
	}
	return b.String(), nil
}

// TestParetoCommitFaults stops the commit of a new report over an old one
// at each step: readers see the old report whole or the new one whole,
// and running the report again gives the uninterrupted result.
func TestParetoCommitFaults(t *testing.T) {
	ctx := context.Background()
	more := append(handEvals(), handEval("bestup-3", "b9", 2, 0.95, schemas.OriginRandom, "c", -1))
	want := map[int]string{}
	for g, evals := range [][]schemas.Eval{handEvals(), more} {
		out := t.TempDir()
		if _, err := ParetoReport(ctx, evals, handConfig(out)); err != nil {
			t.Fatal(err)
		}
		s, err := paretoState(t, out)
		if err != nil {
			t.Fatal(err)
		}
		want[g] = strings.ReplaceAll(s, out, "OUT")
	}
	if want[0] == want[1] {
		t.Fatal("the two reports do not differ")
	}
	for step := 1; ; step++ {
		out := t.TempDir()
		if _, err := ParetoReport(ctx, handEvals(), handConfig(out)); err != nil {
			t.Fatal(err)
		}
		n := 0
		var ev pqio.CommitEvent
		prev := pqio.SetFaultHook(func(e pqio.CommitEvent) error {
			if n++; n == step {
				ev = e
				return errors.New("injected crash")
			}
			return nil
		})
		_, err := ParetoReport(ctx, more, handConfig(out))
		pqio.SetFaultHook(prev)
		if err == nil {
			if step < 8 { // manifest, 6 renames, clean
				t.Fatalf("only %d commit steps", step-1)
			}
			break
		}
		got, err := paretoState(t, out)
		if err != nil {
			t.Fatalf("after a crash before %v: %v", ev, err)
		}
		g := 1
		if ev.Step == "manifest" {
			g = 0
		}
		if got = strings.ReplaceAll(got, out, "OUT"); got != want[g] {
			t.Fatalf("after a crash before %v: readers see\n%s\nwant report %d:\n%s", ev, got, g, want[g])
		}
		if _, err := ParetoReport(ctx, more, handConfig(out)); err != nil {
			t.Fatalf("again after %v: %v", ev, err)
		}
		if got, err := paretoState(t, out); err != nil || strings.ReplaceAll(got, out, "OUT") != want[1] {
			t.Fatalf("again after %v: %v\n%s", ev, err, got)
		}
	}
}
