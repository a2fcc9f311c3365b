package stages

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/predictor"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.Predictor]()
	pqio.Register[schemas.RankQuality]()
	register.Function1x2(evalByRun)
	beam.RegisterType(reflect.TypeFor[fitPredictorFn]())
	beamreg.Method6x1((*fitPredictorFn).ProcessElement)
	register.Iter1[schemas.Eval]()
}

var predictorsFitted = beam.NewCounter("predictor", "models_fitted")

// PredictorPath is where a run's predictors live: predictors/<run>.parquet.
func PredictorPath(out, run string) string { return joinPath(out, "predictors/"+run+".parquet") }

// RankQualityPath is rank_quality/<run>.parquet.
func RankQualityPath(out, run string) string { return joinPath(out, "rank_quality/"+run+".parquet") }

// MinPredictorEvals is the fewest evaluated subnets a predictor is fitted
// and tested on.
const MinPredictorEvals = 10

// PredictorOrigins are the evaluations a predictor is fitted on: the
// sampled ones (stratified over FLOPs, plus the smallest and largest), an
// unbiased draw of the space. User archs and the search's shortlist are
// left out: the shortlist was chosen by an earlier predictor, and fitting
// on it would bias the held-out metrics.
var PredictorOrigins = []string{schemas.OriginMin, schemas.OriginMax, schemas.OriginRandom}

// predictorSet names the set a run's predictor and rank-quality files are
// committed as, under the output root: <output>/_predictor-<run>.manifest.json.
func predictorSet(run string) string { return "predictor-" + run }

// predictorFile returns where to read predictors/<run>.parquet under its
// output root, through the committed set (see predictorSet).
func predictorFile(ctx context.Context, path string) (string, error) {
	dir, base := splitLast(path)
	root, sub := splitLast(dir)
	run, ok := strings.CutSuffix(base, ".parquet")
	if sub != "predictors" || !ok {
		return "", fmt.Errorf("%s: expected <output>/predictors/<run>.parquet", path)
	}
	paths, m, err := pqio.SetFiles(ctx, root, predictorSet(run))
	if errors.Is(err, pqio.ErrNoManifest) {
		return "", fmt.Errorf("%s does not exist (no %s): fit it first with `attentivenas search --runs=%s --output=%s`: %w",
			path, pqio.ManifestPath(root, predictorSet(run)), run, root, sampler.ErrNoPredictor)
	}
	if err != nil {
		return "", err
	}
	for i, f := range m.Files {
		if f.Name == "predictors/"+base {
			return paths[i], nil
		}
	}
	return "", fmt.Errorf("%s does not list %s", pqio.ManifestPath(root, predictorSet(run)), path)
}

// PredictorLineage checks that the predictor of run under out was fitted on
// the evaluations of checkpoint ckpt as it is now (same path and file id),
// with archs of sp, and returns its path. A predictor that does not exist,
// or was fitted for another space or another checkpoint (an earlier
// training of the run), is an error that says how to refit it.
func PredictorLineage(ctx context.Context, out, run, ckpt string, sp *space.Space) (string, error) {
	path := PredictorPath(out, run)
	p, err := LoadPredictor(ctx, path, sp)
	if err != nil {
		return "", err
	}
	refit := fmt.Sprintf("refit it with `attentivenas search --runs=%s --output=%s`", run, out)
	if p.Row.Checkpoint != ckpt {
		return "", fmt.Errorf("%s was fitted on the evaluations of %s, not of %s (the checkpoint it must guide training with): %s",
			path, cmp.Or(p.Row.Checkpoint, "an unrecorded checkpoint"), ckpt, refit)
	}
	id, err := pqio.FileID(ctx, ckpt)
	if err != nil {
		return "", fmt.Errorf("%s was fitted on %s, which cannot be read: %w", path, ckpt, err)
	}
	if id != p.Row.CheckpointID {
		return "", fmt.Errorf("%s was fitted on an earlier file at %s (file id %s, now %s: the run was trained again since): %s",
			path, ckpt, p.Row.CheckpointID, id, refit)
	}
	return path, nil
}

// PredictorConfig configures FitPredictors.
type PredictorConfig struct {
	Output string
	Space  string // search space, JSON
	Seed   int64  // hold-out split and model randomness
	// Checkpoints names, for each run, the checkpoint whose evaluations
	// the predictor is fitted on (and the rank study scores); evaluations
	// of other checkpoints are left out. Required.
	Checkpoints map[string]string
	Kinds       []string // model kinds to fit and compare; nil = every kind
	Holdout     float64  // fraction of pairs held out for the reported metrics; 0 = 0.25
	Folds       int      // folds of the out-of-fold predictions for rank quality; 0 = 5
	// BinWidth groups subnets of similar FLOPs for rank quality (MACs);
	// 0 = wide enough for about 10 evaluations per bin (predictor.AutoBinWidth).
	BinWidth int64
	Batch    int // images of the minibatch-loss estimate; 0 = 128
}

// FitPredictors fits accuracy predictors on the real evaluations of each
// run (ALGORITHM.md section 8). In: PCollection<schemas.Eval>; the calib
// split's shards and the stats file are side inputs (PCollection<string>).
// For each run it keeps the evaluations of its checkpoint
// (cfg.Checkpoints) with a PredictorOrigins origin, one per arch, and
// fits every model kind on (Arch features -> val top-1),
// reports Kendall tau, Spearman, RMSE and R2 on held-out evaluations, marks
// the best tau as selected, and writes predictors/<run>.parquet. It also
// writes rank_quality/<run>.parquet: within each FLOPs bin, the Kendall tau
// against val top-1 of the minibatch loss (a no-grad batch-statistics
// forward on a calib minibatch, as the attentive sampler scores candidates)
// and of the selected predictor's out-of-fold predictions. The two files
// are committed together (one set, <output>/_predictor-<run>.manifest.json)
// and the predictor rows record their lineage (checkpoint path and file
// id). Out: PCollection<string> of the predictor files.
func FitPredictors(s beam.Scope, evals, calib, stats beam.PCollection, cfg PredictorConfig) beam.PCollection {
	s = s.Scope("stages.FitPredictors")
	byRun := beam.GroupByKey(s, beam.ParDo(s, evalByRun, evals))
	fn := &fitPredictorFn{Output: cfg.Output, Space: cfg.Space, Seed: cfg.Seed, Kinds: cfg.Kinds,
		Holdout: cfg.Holdout, Folds: cfg.Folds, BinWidth: cfg.BinWidth, Batch: cfg.Batch, Checkpoints: cfg.Checkpoints}
	return beam.ParDo(s, fn, byRun, beam.SideInput{Input: calib}, beam.SideInput{Input: stats})
}

func evalByRun(e schemas.Eval) (string, schemas.Eval) { return e.Run, e }

type fitPredictorFn struct {
	Output      string
	Space       string
	Seed        int64
	Kinds       []string
	Holdout     float64
	Folds       int
	BinWidth    int64
	Batch       int
	Checkpoints map[string]string
}

func (f *fitPredictorFn) ProcessElement(ctx context.Context, run string, rows func(*schemas.Eval) bool, calib, stats func(*string) bool, emit func(string)) error {
	p, err := FitRunPredictors(ctx, run, collect(rows), collect(calib), first(stats), PredictorConfig{
		Output: f.Output, Space: f.Space, Seed: f.Seed, Kinds: f.Kinds, Holdout: f.Holdout,
		Folds: f.Folds, BinWidth: f.BinWidth, Batch: f.Batch, Checkpoints: f.Checkpoints})
	if err != nil {
		return fmt.Errorf("predictor %s: %w", run, err)
	}
	predictorsFitted.Inc(ctx, 1)
	emit(p)
	return nil
}

// FitRunPredictors is the body of FitPredictors for one run.
func FitRunPredictors(ctx context.Context, run string, evals []schemas.Eval, calib []string, statsFile string, cfg PredictorConfig) (string, error) {
	var out string
	err := cpu.shared("predictor", func() error {
		var err error
		out, err = fitRunPredictors(ctx, run, evals, calib, statsFile, cfg)
		return err
	})
	return out, err
}

// PredictorEvals selects the evaluations a run's predictor is fitted on:
// those of checkpoint ckpt with a PredictorOrigins origin, one per arch (the
// same row pareto keeps, see dedupEvals: a checkpoint evaluates an arch
// deterministically, so duplicates differ only in origin and timing), in
// arch order. Fewer than MinPredictorEvals is an error saying what to do.
func PredictorEvals(run, ckpt string, evals []schemas.Eval) ([]schemas.Eval, error) {
	var keep []schemas.Eval
	other := map[string]int{}
	for _, e := range evals {
		switch {
		case e.Run != run:
		case e.Checkpoint != ckpt:
			other[e.Checkpoint]++
		case slices.Contains(PredictorOrigins, e.Origin):
			keep = append(keep, e)
		}
	}
	keep, _ = dedupEvals(keep)
	if len(keep) < MinPredictorEvals {
		msg := fmt.Sprintf("run %s has %d sampled evaluations (origins %s) of checkpoint %s: at least %d are needed to fit and test a predictor; evaluate more subnets of it (attentivenas evaluate --eval_subnets=N)",
			run, len(keep), strings.Join(PredictorOrigins, ", "), ckpt, MinPredictorEvals)
		if len(other) > 0 {
			msg += fmt.Sprintf(" or pass --checkpoint with one of the checkpoints the run's other evaluations are of (%s)", strings.Join(sortedKeys(other), ", "))
		}
		return nil, errors.New(msg)
	}
	return keep, nil
}

func fitRunPredictors(ctx context.Context, run string, evals []schemas.Eval, calib []string, statsFile string, cfg PredictorConfig) (string, error) {
	sp, err := space.Parse([]byte(cfg.Space), "predictor search space")
	if err != nil {
		return "", err
	}
	ckpt := cfg.Checkpoints[run]
	if ckpt == "" {
		return "", fmt.Errorf("no checkpoint chosen for run %s (PredictorConfig.Checkpoints)", run)
	}
	if evals, err = PredictorEvals(run, ckpt, evals); err != nil {
		return "", err
	}
	ckptID, err := pqio.FileID(ctx, ckpt)
	if err != nil {
		return "", err
	}
	opt := predictor.DefaultEncoderOptions()
	enc, err := predictor.NewEncoder(sp, opt)
	if err != nil {
		return "", err
	}
	X := make([][]float64, len(evals))
	y := make([]float64, len(evals))
	archs := make([]space.Arch, len(evals))
	flops := make([]int64, len(evals))
	for i, r := range evals {
		a, err := sp.ArchFromVector32(r.Vector)
		if err != nil {
			return "", err
		}
		X[i] = make([]float64, enc.NumFeatures())
		if err := enc.EncodeWithCosts(X[i], a, r.FLOPs, r.Params); err != nil {
			return "", err
		}
		y[i], archs[i], flops[i] = r.Top1, a, r.FLOPs
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = predictor.Kinds()
	}
	holdout := cfg.Holdout
	if holdout == 0 {
		holdout = 0.25
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xf17))
	results, err := predictor.EvaluateAll(kinds, X, y, predictor.DefaultConfig(), holdout, rng)
	if err != nil {
		return "", err
	}
	encJSON, _ := json.Marshal(opt)
	var prows []schemas.Predictor
	for i, r := range results {
		b, err := predictor.Marshal(r.Model)
		if err != nil {
			return "", err
		}
		rep := r.Report
		prows = append(prows, schemas.Predictor{Run: run, Kind: rep.Kind, Model: b, Encoder: string(encJSON),
			SpaceFingerprint: sp.Fingerprint(), Checkpoint: ckpt, CheckpointID: ckptID, Origins: strings.Join(PredictorOrigins, ","),
			Fit: int64(rep.Fit), Holdout: int64(rep.Holdout),
			KendallTau: rep.KendallTau, Spearman: rep.Spearman, RMSE: rep.RMSE, R2: rep.R2, Selected: i == 0})
	}

	// Rank quality within FLOPs bins: minibatch loss vs out-of-fold predictor.
	width := cfg.BinWidth
	if width == 0 {
		width = predictor.AutoBinWidth(flops, 10, sampler.DefaultBinWidth/2)
	}
	folds := cfg.Folds
	if folds == 0 {
		folds = 5
	}
	best := results[0].Report.Kind
	oof, err := predictor.OutOfFold(best, X, y, min(folds, len(y)), predictor.DefaultConfig(), rng)
	if err != nil {
		return "", err
	}
	loss, err := minibatchLosses(ctx, ckpt, sp, archs, calib, statsFile, cfg.Batch)
	if err != nil {
		return "", err
	}
	negLoss := make([]float64, len(loss))
	for i, l := range loss {
		negLoss[i] = -l
	}
	var rq []schemas.RankQuality
	add := func(name string, est []float64) {
		bins, pooled := predictor.RankByBin(flops, width, est, y, 5)
		n := 0
		for _, b := range bins {
			rq = append(rq, schemas.RankQuality{Run: run, Estimator: name, Bin: int32(b.Bin), FLOPsLo: b.Lo, FLOPsHi: b.Hi,
				N: int64(b.N), KendallTau: b.Tau})
			n += b.N
		}
		rq = append(rq, schemas.RankQuality{Run: run, Estimator: name, Bin: -1, N: int64(n), KendallTau: pooled})
	}
	add(sampler.EstimatorMinibatchLoss, negLoss)
	add(sampler.EstimatorPredictor+":"+best, oof)

	// Predictor and rank quality commit together.
	w, err := pqio.NewSetWriter(ctx, cfg.Output, predictorSet(run), false, map[string]string{"checkpoint": ckpt, "checkpoint_id": ckptID})
	if err != nil {
		return "", err
	}
	err = pqio.WriteSetFile(ctx, w, "predictors/"+run+".parquet", prows)
	if err == nil {
		err = pqio.WriteSetFile(ctx, w, "rank_quality/"+run+".parquet", rq)
	}
	if err != nil {
		return "", errors.Join(err, w.Abort(ctx))
	}
	if _, err := w.Commit(ctx); err != nil {
		return "", err
	}
	return PredictorPath(cfg.Output, run), nil
}

// ReadRankQuality reads a run's committed rank-quality file.
func ReadRankQuality(ctx context.Context, out, run string) ([]schemas.RankQuality, error) {
	paths, m, err := pqio.SetFiles(ctx, out, predictorSet(run))
	if err != nil {
		return nil, err
	}
	for i, f := range m.Files {
		if f.Name == "rank_quality/"+run+".parquet" {
			rows, _, err := pqio.ReadFile[schemas.RankQuality](ctx, paths[i])
			return rows, err
		}
	}
	return nil, fmt.Errorf("%s does not list rank_quality/%s.parquet", pqio.ManifestPath(out, predictorSet(run)), run)
}

// ReadPredictors reads a run's committed predictor file (every kind).
func ReadPredictors(ctx context.Context, out, run string) ([]schemas.Predictor, error) {
	p, err := predictorFile(ctx, PredictorPath(out, run))
	if err != nil {
		return nil, err
	}
	rows, _, err := pqio.ReadFile[schemas.Predictor](ctx, p)
	return rows, err
}

// minibatchLosses scores archs as the attentive sampler does: the
// label-smoothed loss of a batch-statistics forward on one minibatch (the
// first Batch calib images).
func minibatchLosses(ctx context.Context, ckpt string, sp *space.Space, archs []space.Arch, calib []string, statsFile string, batch int) ([]float64, error) {
	if batch <= 0 {
		batch = 128
	}
	net, _, err := LoadSupernet(ctx, ckpt, sp)
	if err != nil {
		return nil, err
	}
	d, err := loadSplit(ctx, calib, string(data.SplitCalib), sp.Classes)
	if err != nil {
		return nil, err
	}
	mean, std, err := loadStats(ctx, statsFile)
	if err != nil {
		return nil, err
	}
	x, labels := normalized(d, mean, std)
	batch = min(batch, len(labels))
	est := infer.NewMinibatchLoss(net)
	est.SetBatch(x, labels, batch)
	loss, err := est.Estimate(archs)
	if err != nil {
		return nil, err
	}
	for i, l := range loss {
		if math.IsNaN(l) {
			loss[i] = math.Inf(1)
		}
	}
	return loss, nil
}
