package stages

import (
	"context"
	"encoding/json"
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

// PredictorConfig configures FitPredictors.
type PredictorConfig struct {
	Output  string
	Space   string   // search space, JSON
	Seed    int64    // hold-out split and model randomness
	Kinds   []string // model kinds to fit and compare; nil = every kind
	Holdout float64  // fraction of pairs held out for the reported metrics; 0 = 0.25
	Folds   int      // folds of the out-of-fold predictions for rank quality; 0 = 5
	// BinWidth groups subnets of similar FLOPs for rank quality (MACs);
	// 0 = wide enough for about 10 evaluations per bin (predictor.AutoBinWidth).
	BinWidth int64
	Batch    int // images of the minibatch-loss estimate; 0 = 128
}

// FitPredictors fits accuracy predictors on the real evaluations of each
// run (ALGORITHM.md section 8). In: PCollection<schemas.Eval>; the calib
// split's shards and the stats file are side inputs (PCollection<string>).
// For each run it fits every model kind on (Arch features -> val top-1),
// reports Kendall tau, Spearman, RMSE and R2 on held-out evaluations, marks
// the best tau as selected, and writes predictors/<run>.parquet. It also
// writes rank_quality/<run>.parquet: within each FLOPs bin, the Kendall tau
// against val top-1 of the minibatch loss (a no-grad batch-statistics
// forward on a calib minibatch, as the attentive sampler scores candidates)
// and of the selected predictor's out-of-fold predictions. Out:
// PCollection<string> of the predictor files.
func FitPredictors(s beam.Scope, evals, calib, stats beam.PCollection, cfg PredictorConfig) beam.PCollection {
	s = s.Scope("stages.FitPredictors")
	byRun := beam.GroupByKey(s, beam.ParDo(s, evalByRun, evals))
	fn := &fitPredictorFn{Output: cfg.Output, Space: cfg.Space, Seed: cfg.Seed, Kinds: cfg.Kinds,
		Holdout: cfg.Holdout, Folds: cfg.Folds, BinWidth: cfg.BinWidth, Batch: cfg.Batch}
	return beam.ParDo(s, fn, byRun, beam.SideInput{Input: calib}, beam.SideInput{Input: stats})
}

func evalByRun(e schemas.Eval) (string, schemas.Eval) { return e.Run, e }

type fitPredictorFn struct {
	Output   string
	Space    string
	Seed     int64
	Kinds    []string
	Holdout  float64
	Folds    int
	BinWidth int64
	Batch    int
}

func (f *fitPredictorFn) ProcessElement(ctx context.Context, run string, rows func(*schemas.Eval) bool, calib, stats func(*string) bool, emit func(string)) error {
	p, err := FitRunPredictors(ctx, run, collect(rows), collect(calib), first(stats), PredictorConfig{
		Output: f.Output, Space: f.Space, Seed: f.Seed, Kinds: f.Kinds, Holdout: f.Holdout,
		Folds: f.Folds, BinWidth: f.BinWidth, Batch: f.Batch})
	if err != nil {
		return fmt.Errorf("predictor %s: %w", run, err)
	}
	predictorsFitted.Inc(ctx, 1)
	emit(p)
	return nil
}

// FitRunPredictors is the body of FitPredictors for one run.
func FitRunPredictors(ctx context.Context, run string, evals []schemas.Eval, calib []string, statsFile string, cfg PredictorConfig) (string, error) {
	sp, err := space.Parse([]byte(cfg.Space), "predictor search space")
	if err != nil {
		return "", err
	}
	// Order the pairs by arch key so the fit does not depend on the order
	// the runner delivered them in; one row per arch (the latest origin wins).
	slices.SortFunc(evals, func(a, b schemas.Eval) int {
		if c := strings.Compare(a.Arch, b.Arch); c != 0 {
			return c
		}
		return strings.Compare(a.Origin, b.Origin)
	})
	evals = slices.CompactFunc(evals, func(a, b schemas.Eval) bool { return a.Arch == b.Arch })
	if len(evals) < 10 {
		return "", fmt.Errorf("%d evaluated subnets: at least 10 are needed to fit and test a predictor", len(evals))
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
			SpaceFingerprint: sp.Fingerprint(), Fit: int64(rep.Fit), Holdout: int64(rep.Holdout),
			KendallTau: rep.KendallTau, Spearman: rep.Spearman, RMSE: rep.RMSE, R2: rep.R2, Selected: i == 0})
	}
	out := PredictorPath(cfg.Output, run)
	if err := pqio.WriteFile(ctx, out, prows); err != nil {
		return "", err
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
	loss, err := minibatchLosses(ctx, evals[0].Checkpoint, sp, archs, calib, statsFile, cfg.Batch)
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
	if err := pqio.WriteFile(ctx, RankQualityPath(cfg.Output, run), rq); err != nil {
		return "", err
	}
	return out, nil
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
