package stages

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/nas/evolution"
	"github.com/attentivenas/attentivenas/nas/predictor"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.SearchCandidate]()
	beam.RegisterType(reflect.TypeFor[searchFn]())
	beamreg.Method5x1((*searchFn).ProcessElement)
	register.Emitter1[EvalJob]()
}

var searchShortlisted = beam.NewCounter("search", "shortlisted")

// SearchPath is search/<run>.parquet, a run's shortlist.
func SearchPath(out, run string) string { return joinPath(out, "search/"+run+".parquet") }

// SearchConfig configures Search: the evolution's sizes (ALGORITHM.md
// section 9; the reference uses 512, 128, 128, 20) and the constraints.
type SearchConfig struct {
	Output      string
	Space       string // search space, JSON
	Seed        int64
	Population  int
	Mutations   int
	Crossovers  int
	Generations int
	BucketWidth int64   // FLOPs bucket of the archive (MACs); 0 = evolution's default
	MinFLOPs    int64   // FLOPs window; 0 = unbounded
	MaxFLOPs    int64   // 0 = unbounded
	MaxParams   int64   // parameter budget; 0 = none
	MaxLatency  float64 // latency budget in ms, through a linear model of the run's measured latencies; 0 = none
	// Checkpoints names each run's checkpoint: the one its predictor was
	// fitted on, whose evaluations calibrate the latency model and on which
	// the shortlist is evaluated. Required.
	Checkpoints map[string]string
}

// Search runs the evolutionary search of each run with its selected
// predictor as fitness. In: PCollection<schemas.Eval> (the run's real
// evaluations: those of its checkpoint, cfg.Checkpoints, calibrate the
// latency model, and its sampled and user ones say which archs need no new
// evaluation);
// predictors is a side input of predictor files the stage waits for. It
// writes search/<run>.parquet (the final archive, best predicted accuracy
// per FLOPs bucket) and emits one EvalJob (origin "search") per shortlisted
// arch, so the shortlist is then evaluated for real.
func Search(s beam.Scope, evals, predictors beam.PCollection, cfg SearchConfig) beam.PCollection {
	s = s.Scope("stages.Search")
	byRun := beam.GroupByKey(s, beam.ParDo(s, evalByRun, evals))
	return beam.ParDo(s, &searchFn{Cfg: cfg}, byRun, beam.SideInput{Input: predictors})
}

type searchFn struct {
	Cfg SearchConfig
}

func (f *searchFn) ProcessElement(ctx context.Context, run string, rows func(*schemas.Eval) bool, _ func(*string) bool, emit func(EvalJob)) error {
	jobs, err := SearchRun(ctx, run, collect(rows), f.Cfg, os.Stderr)
	if err != nil {
		return fmt.Errorf("search %s: %w", run, err)
	}
	searchShortlisted.Inc(ctx, int64(len(jobs)))
	for _, j := range jobs {
		emit(j)
	}
	return nil
}

// SearchRun is the body of Search for one run: it returns the shortlist's
// evaluation jobs, on the run's checkpoint (cfg.Checkpoints).
func SearchRun(ctx context.Context, run string, evals []schemas.Eval, cfg SearchConfig, w io.Writer) ([]EvalJob, error) {
	var jobs []EvalJob
	err := cpu.shared("search", func() error {
		var err error
		jobs, err = searchRun(ctx, run, evals, cfg, w)
		return err
	})
	return jobs, err
}

func searchRun(ctx context.Context, run string, evals []schemas.Eval, cfg SearchConfig, w io.Writer) ([]EvalJob, error) {
	ckpt := cfg.Checkpoints[run]
	if ckpt == "" {
		return nil, fmt.Errorf("no checkpoint chosen for run %s (SearchConfig.Checkpoints)", run)
	}
	var of []schemas.Eval
	for _, e := range evals {
		if e.Run == run && e.Checkpoint == ckpt {
			of = append(of, e)
		}
	}
	if len(of) == 0 {
		return nil, fmt.Errorf("no evaluations of run %s on checkpoint %s", run, ckpt)
	}
	sp, err := space.Parse([]byte(cfg.Space), "search space")
	if err != nil {
		return nil, err
	}
	pred, err := LoadPredictor(ctx, PredictorPath(cfg.Output, run), sp)
	if err != nil {
		return nil, err
	}
	if pred.Row.Checkpoint != ckpt {
		return nil, fmt.Errorf("%s was fitted on the evaluations of %s, not of %s", pred.Path, pred.Row.Checkpoint, ckpt)
	}
	ec := evolution.DefaultConfig()
	ec.Population, ec.Mutations, ec.Crossovers, ec.Generations = cfg.Population, cfg.Mutations, cfg.Crossovers, cfg.Generations
	if cfg.BucketWidth > 0 {
		ec.BucketWidth = cfg.BucketWidth
	}
	ec.MinFLOPs, ec.MaxFLOPs, ec.MaxParams = cfg.MinFLOPs, cfg.MaxFLOPs, cfg.MaxParams
	var lat predictor.LatencyModel
	if cfg.MaxLatency > 0 {
		var fl, pa []int64
		var ms []float64
		for _, r := range of {
			fl, pa, ms = append(fl, r.FLOPs), append(pa, r.Params), append(ms, r.LatencyMs)
		}
		if lat, err = predictor.FitLatencyModel(fl, pa, ms); err != nil {
			return nil, err
		}
		ec.Constraint = func(a space.Arch) bool { return lat.Predict(sp.FLOPs(a), sp.Params(a)) <= cfg.MaxLatency }
	}
	fit := func(archs []space.Arch) ([]float64, error) {
		out := make([]float64, len(archs))
		for i, a := range archs {
			v, err := pred.Predict(a)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	res, err := evolution.Search(sp, ec, fit, rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5ea)))
	if err != nil {
		return nil, err
	}
	// The shortlist is evaluated on the checkpoint, skipping archs its
	// sampled or user evaluations already measured there. Earlier search
	// rows do not count: the search phase's set holds the shortlist of the
	// latest search, so running the search again (after a crash, say)
	// gives the same set.
	done := map[string]bool{}
	for _, e := range of {
		if e.Origin != schemas.OriginSearch {
			done[e.Arch] = true
		}
	}
	rows := make([]schemas.SearchCandidate, 0, len(res.Archive))
	jobs := make([]EvalJob, 0, len(res.Archive))
	for _, c := range res.Archive {
		row := schemas.SearchCandidate{Run: run, Arch: c.Arch.Key(), Vector: c.Arch.Vector32(), FLOPs: c.FLOPs,
			Params: c.Params, Predicted: c.Fitness, Bucket: int32(c.FLOPs / ec.BucketWidth),
			Generation: int32(c.Generation), Origin: string(c.Origin)}
		if cfg.MaxLatency > 0 {
			row.LatencyMs = lat.Predict(c.FLOPs, c.Params)
		}
		rows = append(rows, row)
		if !done[row.Arch] {
			jobs = append(jobs, EvalJob{Run: run, Checkpoint: ckpt, Vector: c.Arch.Vector32(), Origin: schemas.OriginSearch, Seed: cfg.Seed})
		}
	}
	if err := pqio.WriteFile(ctx, SearchPath(cfg.Output, run), rows, pqio.Metadata("attentivenas.checkpoint", ckpt),
		pqio.Metadata("attentivenas.predictor", pred.ID())); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "search %s: %d archs scored over %d generations, shortlist of %d (predictor %s, held-out tau %.3f), %d not evaluated yet on %s\n",
		run, len(res.Evaluated), len(res.Generations)-1, len(rows), pred.Row.Kind, pred.Row.KendallTau, len(jobs), ckpt)
	return jobs, nil
}
