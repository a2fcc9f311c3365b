package stages

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/nas/pareto"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
	"github.com/attentivenas/attentivenas/stages/report"
)

func init() {
	pqio.Register[schemas.ParetoPoint]()
	pqio.Register[schemas.Hypervolume]()
	pqio.Register[schemas.Comparison]()
	beam.RegisterType(reflect.TypeFor[paretoFn]())
	beamreg.Method5x1((*paretoFn).ProcessElement)
	register.Iter1[schemas.Eval]()
	register.Iter1[string]()
	register.Emitter1[string]()
}

var (
	paretoEvaluations = beam.NewCounter("pareto", "evaluations") // after deduplication
	paretoDuplicates  = beam.NewCounter("pareto", "duplicates_dropped")
	paretoFrontPoints = beam.NewCounter("pareto", "front_points") // of the overall accuracy-vs-FLOPs front
	paretoReports     = beam.NewCounter("pareto", "reports_written")
)

// ParetoFiles are the pareto stage's outputs under <output>/pareto/.
type ParetoFiles struct {
	Front       string // front.parquet: schemas.ParetoPoint rows
	Hypervolume string // hypervolume.parquet: schemas.Hypervolume rows
	Comparison  string // comparison.parquet: schemas.Comparison rows
	Report      string // report.html: the page a person reads
	SVG         string // front.svg: the accuracy-vs-FLOPs plot alone
	Summary     string // summary.json: ParetoSummary, for the command line
}

// ParetoPaths returns where the pareto stage writes under the output root.
func ParetoPaths(out string) ParetoFiles {
	dir := joinPath(out, "pareto")
	return ParetoFiles{
		Front: joinPath(dir, "front.parquet"), Hypervolume: joinPath(dir, "hypervolume.parquet"),
		Comparison: joinPath(dir, "comparison.parquet"), Report: joinPath(dir, "report.html"),
		SVG: joinPath(dir, "front.svg"), Summary: joinPath(dir, "summary.json"),
	}
}

// ParetoConfig configures Pareto. DoFns get it as an exported field.
type ParetoConfig struct {
	Output string // output root, local or gs://: runs/, predictors/, rank_quality/ are read there, pareto/ is written
	Space  string // search space, JSON (contents): its smallest and largest subnets bound the hypervolume box
	// BucketWidth is the FLOPs bucket of the run comparison, MACs per image;
	// 0 = a round width giving about 15 buckets over the space's FLOPs range
	// (1 MFLOP for configs/fmnist.json).
	BucketWidth int64
	// Runs to report, in display order (the first is the comparison's
	// baseline); evaluations of other runs are ignored. nil = every run in
	// the evaluations, "uniform" first, then by name.
	Runs        []string
	Title       string // page title; "" = "AttentiveNAS: Pareto fronts"
	Description string // optional text under the title: what was run (preset, data, epochs...)
	// LatencyBoxMs is the upper bound of the latency axis's hypervolume box
	// (its lower bound is 0 ms); 0 = DefaultLatencyBoxMs. A fixed box, like
	// the FLOPs and params boxes, makes latency hypervolumes of different
	// reports comparable (on the same machine).
	LatencyBoxMs float64
}

// DefaultLatencyBoxMs bounds the latency hypervolume box: 1 ms of batch-1
// latency, above the largest subnet of configs/fmnist.json on the 2-core
// machine of README.md (0.8 ms). Slower evaluations fall outside the box
// and add nothing to the hypervolume; the report says how many.
const DefaultLatencyBoxMs = 1.0

// ParetoSet is the set the pareto outputs are committed as:
// pareto/_pareto.manifest.json lists them.
const ParetoSet = "pareto"

// ParetoSummary is what the pareto stage found, as plain data: the command
// line prints it (WriteText) and pareto/summary.json holds it (see
// ReadParetoSummary). Missing figures are -1.
type ParetoSummary struct {
	Runs []ParetoRunSummary
	// Front is the overall accuracy-vs-FLOPs front (all runs together), by
	// ascending FLOPs.
	Front      []ParetoFrontPoint
	Files      ParetoFiles
	Duplicates int      // evaluations dropped as duplicates of another (same run, arch and checkpoint)
	Notes      []string // what the report warns about: missing inputs, ignored rows
}

// ParetoRunSummary summarises one run.
type ParetoRunSummary struct {
	Run       string
	Evaluated int // evaluations after deduplication
	FrontSize int // of the accuracy-vs-FLOPs front
	// Hypervolumes of the run's fronts in the report's shared box (see
	// schemas.Hypervolume); -1 when unavailable.
	Hypervolume        float64 // FLOPs
	LatencyHypervolume float64
	ParamsHypervolume  float64
	BestTop1           float64 // best val top-1 of the run
	BestArch           string
	BestFLOPs          int64
	MinFLOPs           int64   // the run's cheapest evaluated subnet (normally the space's smallest)...
	MinTop1            float64 // ...and its val top-1
	MaxFLOPs           int64   // the most expensive one (normally the space's largest)
	MaxTop1            float64
}

// ParetoFrontPoint is one subnet of the overall front.
type ParetoFrontPoint struct {
	Run        string
	Origin     string
	Arch       string
	Checkpoint string
	FLOPs      int64
	Params     int64
	LatencyMs  float64
	Top1       float64
	TestTop1   float64 // -1 when the test split was not evaluated
}

// Pareto is the last stage of ALGORITHM.md section 10: Pareto fronts of
// val top-1 against FLOPs, latency and parameters, per run and over every
// run, their hypervolumes, and the best subnet per FLOPs bucket of each run
// side by side (uniform vs BestUp-3 vs WorstUp-3...). In:
// PCollection<schemas.Eval> of every run, read as a side input by a single
// element (so an empty input still reaches the stage, which then fails:
// there is nothing to report). ready,
// when valid, is a side input of paths the stage waits for (train logs,
// predictor files...), which it then reads under cfg.Output when present.
// Out: PCollection<string> holding the report's path.
//
// It writes pareto/front.parquet, pareto/hypervolume.parquet,
// pareto/comparison.parquet, pareto/front.svg, pareto/summary.json and
// pareto/report.html (see ParetoReport, which does the work and can be
// called without Beam). Counters (namespace "pareto"): evaluations,
// duplicates_dropped, front_points, reports_written.
//
// See also: nas/pareto (fronts, hypervolume), package report (the page),
// ReadParetoSummary.
func Pareto(s beam.Scope, evals, ready beam.PCollection, cfg ParetoConfig) beam.PCollection {
	s = s.Scope("stages.Pareto")
	if !ready.IsValid() {
		ready = beam.Create(s, "")
	}
	// The evaluations arrive as a side input of a single impulse element:
	// the stage runs once, also when there are none (it then reports that).
	return beam.ParDo(s, &paretoFn{Cfg: cfg}, beam.Impulse(s), beam.SideInput{Input: evals}, beam.SideInput{Input: ready})
}

type paretoFn struct {
	Cfg ParetoConfig
}

func (f *paretoFn) ProcessElement(ctx context.Context, _ []byte, rows func(*schemas.Eval) bool, _ func(*string) bool, emit func(string)) error {
	sum, err := ParetoReport(ctx, collect(rows), f.Cfg)
	if err != nil {
		return fmt.Errorf("pareto: %w", err)
	}
	n := 0
	for _, r := range sum.Runs {
		n += r.Evaluated
	}
	paretoEvaluations.Inc(ctx, int64(n))
	paretoDuplicates.Inc(ctx, int64(sum.Duplicates))
	paretoFrontPoints.Inc(ctx, int64(len(sum.Front)))
	paretoReports.Inc(ctx, 1)
	emit(sum.Files.Report)
	return nil
}

// ParetoReport is the body of Pareto, callable without Beam:
//
//  1. Keeps the evaluations of cfg.Runs (all runs when nil) and drops
//     duplicates: rows with the same run, arch and checkpoint are one
//     subnet measured twice; the kept row is the first in a fixed order
//     (origin min, max, user, search, random, other; then lower seed; then
//     the other columns), so the result does not depend on input order.
//  2. Computes the Pareto front of val top-1 against FLOPs, latency_ms and
//     params for each run and for all runs together (scope "all"). Rows
//     with a non-finite or negative top1 are left out, and so are rows
//     without a measured latency (latency_ms <= 0) from the latency fronts.
//  3. Computes each front's hypervolume in a box shared by every run
//     (nas/pareto.Hypervolume; reference point: normalised cost 1,
//     accuracy 0). Costs are normalised by fixed bounds, the same for
//     every report: the FLOPs and params of the space's smallest and
//     largest subnets, and 0 to cfg.LatencyBoxMs milliseconds.
//  4. Compares runs per FLOPs bucket (cfg.BucketWidth): each run's best
//     subnet and number of evaluations in every bucket where any run has one.
//  5. Reads, when they exist, each run's committed train log and its
//     committed predictors/<run>.parquet and rank_quality/<run>.parquet
//     under cfg.Output; a missing or unreadable one (an incomplete set
//     included) is reported in the page and in the summary's Notes and
//     left out, and is not an error.
//  6. Commits pareto/front.parquet, hypervolume.parquet, comparison.parquet,
//     front.svg, summary.json and report.html as one set (ParetoSet): a
//     reader sees all of the new files or all of the old ones.
//
// It fails when no evaluation is left after step 1 or the space is invalid.
func ParetoReport(ctx context.Context, evals []schemas.Eval, cfg ParetoConfig) (ParetoSummary, error) {
	sp, err := space.Parse([]byte(cfg.Space), "pareto search space")
	if err != nil {
		return ParetoSummary{}, err
	}
	files := ParetoPaths(cfg.Output)
	sum := ParetoSummary{Files: files}
	var notes []string

	// 1. Runs, filter, deduplicate.
	runs := cfg.Runs
	if len(runs) == 0 {
		runs = runNames(evals)
	}
	order := map[string]int{}
	for i, r := range runs {
		if _, dup := order[r]; dup {
			return ParetoSummary{}, fmt.Errorf("run %q listed twice", r)
		}
		order[r] = i
	}
	ignored := map[string]int{}
	kept := make([]schemas.Eval, 0, len(evals))
	for _, e := range evals {
		if _, ok := order[e.Run]; ok {
			kept = append(kept, e)
		} else {
			ignored[e.Run]++
		}
	}
	for _, r := range sortedKeys(ignored) {
		notes = append(notes, fmt.Sprintf("%d evaluation(s) of run %q ignored: not among the runs to report", ignored[r], r))
	}
	if len(kept) == 0 {
		return ParetoSummary{}, fmt.Errorf("no evaluations of runs %q to report (%d evaluations in)", runs, len(evals))
	}
	kept, sum.Duplicates = dedupEvals(kept)
	if sum.Duplicates > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate evaluation(s) dropped (same run, arch and checkpoint)", sum.Duplicates))
	}
	// Display and ID order: run order, then FLOPs, arch, checkpoint.
	slices.SortStableFunc(kept, func(a, b schemas.Eval) int {
		return cmp.Or(cmp.Compare(order[a.Run], order[b.Run]), cmp.Compare(a.FLOPs, b.FLOPs),
			strings.Compare(a.Arch, b.Arch), strings.Compare(a.Checkpoint, b.Checkpoint))
	})
	byRun := make([][]int, len(runs)) // indices into kept
	all := make([]int, len(kept))
	bad, outside := 0, 0
	minF, maxF := sp.FLOPs(sp.Min()), sp.FLOPs(sp.Max())
	for i, e := range kept {
		byRun[order[e.Run]] = append(byRun[order[e.Run]], i)
		all[i] = i
		if !validTop1(e.Top1) {
			bad++
		}
		if e.FLOPs < minF || e.FLOPs > maxF {
			outside++
		}
	}
	if bad > 0 {
		notes = append(notes, fmt.Sprintf("%d evaluation(s) with a non-finite or negative val top-1 left out of the fronts", bad))
	}
	if outside > 0 {
		notes = append(notes, fmt.Sprintf("%d evaluation(s) have FLOPs outside the space's range %s–%s MFLOPs: were they made with another search space?",
			outside, mflops(minF), mflops(maxF)))
	}
	for i, r := range runs {
		if len(byRun[i]) == 0 {
			notes = append(notes, fmt.Sprintf("run %q has no evaluations", r))
		}
	}

	// 2-3. Fronts and hypervolumes.
	latBox := cfg.LatencyBoxMs
	if latBox == 0 {
		latBox = DefaultLatencyBoxMs
	}
	if !(latBox > 0) || math.IsInf(latBox, 0) {
		return ParetoSummary{}, fmt.Errorf("latency box %v ms: expected a positive number", latBox)
	}
	slow := 0
	for _, e := range kept {
		if e.LatencyMs > latBox {
			slow++
		}
	}
	if slow > 0 {
		notes = append(notes, fmt.Sprintf("%d evaluation(s) are slower than the latency box's %g ms and add nothing to the latency hypervolumes (--latency_box_ms)", slow, latBox))
	}
	boxes := paretoBoxes(sp, latBox)
	var frontRows []schemas.ParetoPoint
	var hvRows []schemas.Hypervolume
	fronts := func(scope string, idx []int) report.Fronts {
		var fs report.Fronts
		for _, b := range boxes {
			pts := b.points(kept, idx)
			front := pareto.Front(pts)
			hv := schemas.Hypervolume{Scope: scope, Axis: b.axis, FrontPoints: int64(len(front)), Evaluated: int64(len(pts)),
				CostLo: b.lo, CostHi: b.hi, RefValue: 0, Reference: b.reference, Hypervolume: -1}
			if norm, err := pareto.NormalizeCost(front, b.lo, b.hi); err == nil {
				hv.Hypervolume = pareto.Hypervolume(norm, pareto.UnitRef())
			}
			hvRows = append(hvRows, hv)
			f := report.Front{HV: hv}
			for rank, p := range front {
				frontRows = append(frontRows, schemas.NewParetoPoint(scope, b.axis, int32(rank), kept[p.ID]))
				f.Points = append(f.Points, kept[p.ID])
			}
			switch b.axis {
			case schemas.AxisFLOPs:
				fs.FLOPs = f
			case schemas.AxisLatency:
				fs.Latency = f
			case schemas.AxisParams:
				fs.Params = f
			}
		}
		return fs
	}
	data := &report.Data{Title: cfg.Title, Description: cfg.Description,
		Space: report.Space{Name: sp.Name, MinFLOPs: minF, MaxFLOPs: maxF, MinParams: sp.Params(sp.Min()), MaxParams: sp.Params(sp.Max())}}
	if data.Title == "" {
		data.Title = "AttentiveNAS: Pareto fronts"
	}
	data.Overall = fronts(schemas.ScopeAll, all)
	for i, r := range runs {
		run := report.Run{Name: r, Fronts: fronts(r, byRun[i])}
		for _, j := range byRun[i] {
			run.Evals = append(run.Evals, kept[j])
		}
		data.Runs = append(data.Runs, run)
	}

	// 4. Per-bucket comparison.
	width := cfg.BucketWidth
	if width <= 0 {
		width = defaultBucketWidth(minF, maxF)
	}
	data.BucketWidth = width
	cmpRows, err := compareBuckets(kept, runs, byRun, width)
	if err != nil {
		return ParetoSummary{}, err
	}
	data.Comparison = cmpRows

	// 5. Optional inputs.
	for i := range data.Runs {
		run := &data.Runs[i]
		run.Train, run.TrainLog = readOptional(ctx, trainLogPath(cfg.Output, run.Name), pqio.ManifestPath(runDir(cfg.Output, run.Name), TrainSet),
			func(ctx context.Context) ([]report.TrainPoint, error) {
				return readTrainCurve(ctx, cfg.Output, run.Name)
			})
		predSet := pqio.ManifestPath(cfg.Output, predictorSet(run.Name))
		run.Predictors, run.PredictorFile = readOptional(ctx, PredictorPath(cfg.Output, run.Name), predSet,
			func(ctx context.Context) ([]schemas.Predictor, error) {
				return ReadPredictors(ctx, cfg.Output, run.Name)
			})
		run.RankQuality, run.RankQualityFile = readOptional(ctx, RankQualityPath(cfg.Output, run.Name), predSet,
			func(ctx context.Context) ([]schemas.RankQuality, error) {
				return ReadRankQuality(ctx, cfg.Output, run.Name)
			})
		var missing []string
		for _, a := range []report.Artifact{run.TrainLog, run.PredictorFile, run.RankQualityFile} {
			switch {
			case a.Problem == "not found":
				missing = append(missing, a.Path)
			case a.Problem != "":
				notes = append(notes, fmt.Sprintf("run %q: %s: %s", run.Name, a.Path, a.Problem))
			}
		}
		if len(missing) > 0 {
			notes = append(notes, fmt.Sprintf("run %q: not found: %s", run.Name, strings.Join(missing, ", ")))
		}
	}
	data.Notes = notes
	data.Files = []report.File{
		{Path: files.Front, What: "front points (schemas.ParetoPoint): per scope (all, each run) and axis (flops, latency_ms, params)"},
		{Path: files.Hypervolume, What: "hypervolume per scope and axis, with the normalisation bounds"},
		{Path: files.Comparison, What: "best subnet per run and " + strconv.FormatFloat(float64(width)/1e6, 'f', -1, 64) + "-MFLOPs bucket"},
		{Path: files.SVG, What: "the accuracy-vs-MFLOPs plot alone"},
		{Path: files.Summary, What: "the summary the command line prints (JSON)"},
		{Path: files.Report, What: "this page"},
	}

	// Summary.
	sum.Notes = notes
	for i, r := range data.Runs {
		rs := ParetoRunSummary{Run: r.Name, Evaluated: len(byRun[i]), FrontSize: len(r.Fronts.FLOPs.Points),
			Hypervolume: hvOrNeg(r.Fronts.FLOPs), LatencyHypervolume: hvOrNeg(r.Fronts.Latency), ParamsHypervolume: hvOrNeg(r.Fronts.Params),
			BestTop1: -1, MinTop1: -1, MaxTop1: -1}
		first := true
		for _, e := range r.Evals {
			if !validTop1(e.Top1) {
				continue
			}
			if first || e.Top1 > rs.BestTop1 {
				rs.BestTop1, rs.BestArch, rs.BestFLOPs = e.Top1, e.Arch, e.FLOPs
			}
			if first || e.FLOPs < rs.MinFLOPs || e.FLOPs == rs.MinFLOPs && e.Top1 > rs.MinTop1 {
				rs.MinFLOPs, rs.MinTop1 = e.FLOPs, e.Top1
			}
			if first || e.FLOPs > rs.MaxFLOPs || e.FLOPs == rs.MaxFLOPs && e.Top1 > rs.MaxTop1 {
				rs.MaxFLOPs, rs.MaxTop1 = e.FLOPs, e.Top1
			}
			first = false
		}
		sum.Runs = append(sum.Runs, rs)
	}
	for _, e := range data.Overall.FLOPs.Points {
		sum.Front = append(sum.Front, ParetoFrontPoint{Run: e.Run, Origin: e.Origin, Arch: e.Arch, Checkpoint: e.Checkpoint,
			FLOPs: e.FLOPs, Params: e.Params, LatencyMs: finiteOr(e.LatencyMs, -1), Top1: e.Top1, TestTop1: finiteOr(e.TestTop1, -1)})
	}

	// 6. Files, as one set.
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return ParetoSummary{}, fmt.Errorf("summary: %w", err)
	}
	w, err := pqio.NewSetWriter(ctx, joinPath(cfg.Output, "pareto"), ParetoSet, false, nil)
	if err != nil {
		return ParetoSummary{}, err
	}
	stage := func() error {
		if err := pqio.WriteSetFile(ctx, w, "front.parquet", frontRows); err != nil {
			return err
		}
		if err := pqio.WriteSetFile(ctx, w, "hypervolume.parquet", hvRows); err != nil {
			return err
		}
		if err := pqio.WriteSetFile(ctx, w, "comparison.parquet", cmpRows); err != nil {
			return err
		}
		if err := w.WriteStream(ctx, "front.svg", func(w io.Writer) error { return report.RenderFrontSVG(w, data) }); err != nil {
			return err
		}
		if err := w.WriteStream(ctx, "summary.json", func(w io.Writer) error { _, err := w.Write(append(js, '\n')); return err }); err != nil {
			return err
		}
		return w.WriteStream(ctx, "report.html", func(w io.Writer) error { return report.Render(w, data) })
	}
	if err := stage(); err != nil {
		return ParetoSummary{}, errors.Join(err, w.Abort(ctx))
	}
	if _, err := w.Commit(ctx); err != nil {
		return ParetoSummary{}, err
	}
	return sum, nil
}

// runNames lists the runs of evals: "uniform" (the paper's baseline) first,
// then by name.
func runNames(evals []schemas.Eval) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range evals {
		if !seen[e.Run] {
			seen[e.Run] = true
			out = append(out, e.Run)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(boolRank(a != "uniform"), boolRank(b != "uniform")), strings.Compare(a, b))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// originRank orders origins for deduplication: the specific ones first.
func originRank(o string) int {
	switch o {
	case schemas.OriginMin:
		return 0
	case schemas.OriginMax:
		return 1
	case schemas.OriginUser:
		return 2
	case schemas.OriginSearch:
		return 3
	case schemas.OriginRandom:
		return 4
	}
	return 5
}

// dedupEvals keeps one row per (run, arch, checkpoint): the first in a
// total order of the rows, so the choice does not depend on input order.
// It returns the kept rows (in that order) and how many it dropped.
func dedupEvals(evals []schemas.Eval) ([]schemas.Eval, int) {
	out := slices.Clone(evals)
	slices.SortFunc(out, func(a, b schemas.Eval) int {
		if c := cmp.Or(strings.Compare(a.Run, b.Run), strings.Compare(a.Arch, b.Arch), strings.Compare(a.Checkpoint, b.Checkpoint),
			cmp.Compare(originRank(a.Origin), originRank(b.Origin)), strings.Compare(a.Origin, b.Origin),
			cmp.Compare(a.Seed, b.Seed), cmp.Compare(b.Top1, a.Top1), cmp.Compare(a.Loss, b.Loss),
			cmp.Compare(b.TestTop1, a.TestTop1), cmp.Compare(a.LatencyMs, b.LatencyMs)); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprintf("%#v", a), fmt.Sprintf("%#v", b))
	})
	n := len(out)
	out = slices.CompactFunc(out, func(a, b schemas.Eval) bool {
		return a.Run == b.Run && a.Arch == b.Arch && a.Checkpoint == b.Checkpoint
	})
	return out, n - len(out)
}

func validTop1(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }

func finiteOr(v, alt float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return alt
	}
	return v
}

func hvOrNeg(f report.Front) float64 {
	if len(f.Points) == 0 {
		return -1
	}
	return finiteOr(f.HV.Hypervolume, -1)
}

func mflops(f int64) string { return fmt.Sprintf("%.2f", float64(f)/1e6) }

// costBox is one cost axis with its hypervolume normalisation bounds.
type costBox struct {
	axis      string
	lo, hi    float64
	reference string
	cost      func(e schemas.Eval) (float64, bool)
}

// points returns the pareto points (ID = index into evals) of idx that
// have a valid top1 and cost.
func (b costBox) points(evals []schemas.Eval, idx []int) []pareto.Point {
	var pts []pareto.Point
	for _, i := range idx {
		e := evals[i]
		c, ok := b.cost(e)
		if ok && validTop1(e.Top1) {
			pts = append(pts, pareto.Point{Cost: c, Value: e.Top1, ID: i})
		}
	}
	return pts
}

// paretoBoxes returns the three cost axes, each with a fixed box: FLOPs
// and params normalised by the space's smallest and largest subnets,
// latency by 0 and latBox milliseconds.
func paretoBoxes(sp *space.Space, latBox float64) []costBox {
	return []costBox{
		{axis: schemas.AxisFLOPs, lo: float64(sp.FLOPs(sp.Min())), hi: float64(sp.FLOPs(sp.Max())),
			reference: "FLOPs of the space's smallest and largest subnets",
			cost:      func(e schemas.Eval) (float64, bool) { return float64(e.FLOPs), true }},
		{axis: schemas.AxisLatency, lo: 0, hi: latBox,
			reference: fmt.Sprintf("fixed latency box: 0 to %g ms (--latency_box_ms), the same for every report", latBox),
			cost: func(e schemas.Eval) (float64, bool) {
				return e.LatencyMs, e.LatencyMs > 0 && !math.IsInf(e.LatencyMs, 0)
			}},
		{axis: schemas.AxisParams, lo: float64(sp.Params(sp.Min())), hi: float64(sp.Params(sp.Max())),
			reference: "parameters of the space's smallest and largest subnets",
			cost:      func(e schemas.Eval) (float64, bool) { return float64(e.Params), true }},
	}
}

// defaultBucketWidth is a round width ({1, 2, 2.5, 5} x 10^k MACs) giving
// about 15 buckets over [lo, hi].
func defaultBucketWidth(lo, hi int64) int64 {
	raw := float64(hi-lo) / 15
	if raw < 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return int64(math.Round(m * mag))
		}
	}
	return int64(math.Round(10 * mag))
}

// compareBuckets returns one row per (bucket, run) for every bucket where
// some run has an evaluation with a valid top1, by bucket then run order.
func compareBuckets(evals []schemas.Eval, runs []string, byRun [][]int, width int64) ([]schemas.Comparison, error) {
	per := make([]map[int]pareto.Bucket, len(runs))
	buckets := map[int]bool{}
	for i := range runs {
		var pts []pareto.Point
		for _, j := range byRun[i] {
			if validTop1(evals[j].Top1) {
				pts = append(pts, pareto.Point{Cost: float64(evals[j].FLOPs), Value: evals[j].Top1, ID: j})
			}
		}
		bs, err := pareto.BestPerBucket(pts, float64(width))
		if err != nil {
			return nil, err
		}
		per[i] = map[int]pareto.Bucket{}
		for _, b := range bs {
			per[i][b.Index] = b
			buckets[b.Index] = true
		}
	}
	idx := make([]int, 0, len(buckets))
	for b := range buckets {
		idx = append(idx, b)
	}
	slices.Sort(idx)
	var rows []schemas.Comparison
	for _, k := range idx {
		for i, r := range runs {
			row := schemas.Comparison{Bucket: int32(k), FLOPsLo: int64(k) * width, FLOPsHi: int64(k+1) * width, Run: r,
				BestTop1: -1, BestTestTop1: -1}
			if b, ok := per[i][k]; ok {
				e := evals[b.Best.ID]
				row.Evaluated, row.BestTop1, row.BestArch, row.BestFLOPs = int64(b.Count), e.Top1, e.Arch, e.FLOPs
				row.BestTestTop1, row.BestOrigin = finiteOr(e.TestTop1, -1), e.Origin
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// readOptional reads an optional input, path, committed in the set whose
// manifest is set: no manifest gives the zero value and Problem "not
// found", an unreadable or incomplete set its error as the Problem.
func readOptional[T any](ctx context.Context, path, set string, read func(context.Context) (T, error)) (T, report.Artifact) {
	var zero T
	a := report.Artifact{Path: path}
	v, err := read(ctx)
	switch {
	case errors.Is(err, pqio.ErrNoManifest), errors.Is(err, sampler.ErrNoPredictor):
		a.Problem = "not found"
		return zero, a
	case err != nil:
		a.Problem = err.Error()
		return zero, a
	}
	return v, a
}

// readTrainCurve reads the columns of a run's committed train log that the
// report draws, row group by row group (the candidate lists are dropped as
// it goes), in step order.
func readTrainCurve(ctx context.Context, out, run string) (pts []report.TrainPoint, err error) {
	st, err := ReadTrainState(ctx, out, run)
	if err != nil {
		return nil, err
	}
	if st.Checkpoint == "" {
		return nil, fmt.Errorf("%w: run %s has no training state", pqio.ErrNoManifest, run)
	}
	r, err := pqio.OpenReader[schemas.TrainStep](ctx, st.log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	for i := range r.NumRowGroups() {
		err := r.ReadRowGroupFunc(i, func(s schemas.TrainStep) error {
			pts = append(pts, report.TrainPoint{Step: s.Step, Epoch: s.Epoch, LossMax: s.LossMax, LossMin: s.LossMin,
				ImagesPerSec: s.ImagesPerSec, Skipped: s.Skipped})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(pts, func(a, b report.TrainPoint) int { return cmp.Compare(a.Step, b.Step) })
	return pts, nil
}

// ReadParetoSummary reads pareto/summary.json under the output root from
// the committed pareto set, e.g. to print it after a pipeline run.
func ReadParetoSummary(ctx context.Context, out string) (ParetoSummary, error) {
	paths, m, err := pqio.SetFiles(ctx, joinPath(out, "pareto"), ParetoSet)
	if err != nil {
		return ParetoSummary{}, err
	}
	p := ""
	for i, f := range m.Files {
		if f.Name == "summary.json" {
			p = paths[i]
		}
	}
	if p == "" {
		return ParetoSummary{}, fmt.Errorf("%s lists no summary.json", pqio.ManifestPath(joinPath(out, "pareto"), ParetoSet))
	}
	ra, size, c, err := pqio.OpenReaderAt(ctx, p)
	if err != nil {
		return ParetoSummary{}, err
	}
	var s ParetoSummary
	err = json.NewDecoder(io.NewSectionReader(ra, 0, size)).Decode(&s)
	if err = errors.Join(err, c.Close()); err != nil {
		return ParetoSummary{}, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// WriteText prints the summary for a terminal: a line per run, the overall
// front, the notes and the report's path.
func (s ParetoSummary) WriteText(w io.Writer) error {
	pct := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	hv := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.4f", v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevaluated\tfront\tHV flops\tHV latency\tbest top-1\t@MFLOPs\tsmallest\t@MFLOPs\tlargest\t@MFLOPs\t")
	for _, r := range s.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Run, r.Evaluated, r.FrontSize, hv(r.Hypervolume),
			hv(r.LatencyHypervolume), pct(r.BestTop1), mflops(r.BestFLOPs), pct(r.MinTop1), mflops(r.MinFLOPs), pct(r.MaxTop1), mflops(r.MaxFLOPs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\noverall front, val top-1 vs FLOPs (%d subnets):\n", len(s.Front))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MFLOPs\tparams\tlatency ms\tval top-1\ttest top-1\trun\torigin\tarch")
	for _, p := range s.Front {
		lat := "-"
		if p.LatencyMs > 0 {
			lat = fmt.Sprintf("%.3f", p.LatencyMs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", mflops(p.FLOPs), p.Params, lat, pct(p.Top1), pct(p.TestTop1), p.Run, p.Origin, p.Arch)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range s.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	_, err := fmt.Fprintf(w, "report: %s\n", s.Files.Report)
	return err
}
