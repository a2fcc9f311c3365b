package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// Wiring: how the commands compose the stages. No algorithm lives here.

func init() {
	register.DoFn2x0[schemas.Eval, func(schemas.Eval)](&runFilterFn{})
	register.Function1x1(trainCheckpoint)
	beam.RegisterType(reflect.TypeFor[runFilterFn]())
}

// runFilterFn keeps the evaluations of one run.
type runFilterFn struct{ Run string }

func (f *runFilterFn) ProcessElement(e schemas.Eval, emit func(schemas.Eval)) {
	if e.Run == f.Run {
		emit(e)
	}
}

func trainCheckpoint(r stages.TrainResult) string { return r.Checkpoint }

// trainJobs lists the training jobs of the flags, one per sampler. A
// predictor-guided sampler needs the predictor of the uniform run fitted on
// the checkpoint it is to guide training from: in `run` (inRun) the uniform
// job's final checkpoint, which must then already be trained; otherwise the
// uniform run's newest checkpoint. A missing or stale predictor fails here,
// before anything runs.
func trainJobs(ctx context.Context, f *nasFlags, sp *space.Space, spaceJSON string, inRun bool) ([]stages.TrainJob, error) {
	specs, err := f.samplerSpecs()
	if err != nil {
		return nil, err
	}
	jobs := make([]stages.TrainJob, len(specs))
	for i, spec := range specs {
		run := runName(spec)
		jobs[i] = stages.TrainJob{
			Run: run, Output: f.output, Space: spaceJSON, Sampler: spec.String(), Seed: f.seed,
			Epochs: f.p.Epochs, Batch: f.p.Batch, LR: f.p.LR, Limit: f.p.Limit,
			Flip: f.flip, Shift: f.p.Shift, PriorBinWidth: f.priorBin, DistillWarmup: f.p.DistillWarmup,
			Dropout: f.dropout, LabelSmoothing: f.labelSmoothing, Change: f.changes(),
		}
		if spec.Mode != sampler.UniformMode && spec.EstimatorName() == sampler.EstimatorPredictor {
			p, err := predictorFor(ctx, f, sp, inRun)
			if err != nil {
				return nil, fmt.Errorf("--samplers=%s: %w", spec, err)
			}
			jobs[i].Predictor = p
		}
	}
	return jobs, nil
}

// predictorRun is the run whose predictor guides the predictor samplers.
const predictorRun = "uniform"

// predictorFor checks the predictor a predictor-guided job would train
// with (see trainJobs) and returns its path.
func predictorFor(ctx context.Context, f *nasFlags, sp *space.Space, inRun bool) (string, error) {
	var ckpt string
	if inRun {
		ckpt = stages.CheckpointPath(f.output, predictorRun, f.p.Epochs)
		if err := mustExist(ctx, ckpt); err != nil {
			return "", fmt.Errorf("the predictor estimator needs %s fitted on the %s run's final checkpoint %s, which does not exist yet: "+
				"`run` cannot yet train the %s job, fit its predictor and then train a predictor-guided job in one go; "+
				"run without this sampler, then train it with `attentivenas train --samplers=<sampler>:predictor --output=%s`",
				stages.PredictorPath(f.output, predictorRun), predictorRun, ckpt, predictorRun, f.output)
		}
	} else {
		var err error
		if ckpt, _, err = stages.LatestCheckpoint(ctx, f.output, predictorRun); err != nil {
			return "", err
		}
		if ckpt == "" {
			return "", fmt.Errorf("the predictor estimator needs the predictor of the %s run, which has no checkpoint under %s: "+
				"train it, evaluate it and fit its predictor first (attentivenas train/evaluate/search --samplers=%s)", predictorRun, f.output, predictorRun)
		}
	}
	return stages.PredictorLineage(ctx, f.output, predictorRun, ckpt, sp)
}

// sampleArchs lists the subnets the evaluate stage measures for a run: the
// smallest and largest, --eval_subnets stratified over the FLOPs bins, and
// the --archs file's. Deterministic for --seed.
func sampleArchs(ctx context.Context, f *nasFlags, sp *space.Space) ([]space.Arch, []string, error) {
	var archs []space.Arch
	var origins []string
	seen := map[string]bool{}
	add := func(a space.Arch, origin string) {
		if !seen[a.Key()] {
			seen[a.Key()] = true
			archs, origins = append(archs, a), append(origins, origin)
		}
	}
	if f.archs != "" {
		data, err := readFile(ctx, f.archs)
		if err != nil {
			return nil, nil, fmt.Errorf("--archs: %w", err)
		}
		user, err := parseArchList(sp, data, f.archs)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range user {
			add(a, schemas.OriginUser)
		}
	}
	if f.p.EvalSubnets > 0 {
		add(sp.Min(), schemas.OriginMin)
		add(sp.Max(), schemas.OriginMax)
		rng := rand.New(rand.NewPCG(uint64(f.seed), 0xe7a1))
		prior, err := sampler.BuildPrior(sp, sampler.PriorConfig{BinWidth: f.priorBin}, rng)
		if err != nil {
			return nil, nil, err
		}
		random, err := sampler.Stratified(prior, f.p.EvalSubnets, rng, 0)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range random {
			add(a, schemas.OriginRandom)
		}
	}
	return archs, origins, nil
}

// evalJobs pairs archs with a run's checkpoint.
func evalJobs(run, ckpt string, seed int64, archs []space.Arch, origins []string) []stages.EvalJob {
	jobs := make([]stages.EvalJob, len(archs))
	for i, a := range archs {
		jobs[i] = stages.EvalJob{Run: run, Checkpoint: ckpt, Vector: a.Vector32(), Origin: origins[i], Seed: seed}
	}
	return jobs
}

func (f *nasFlags) evaluateConfig(spaceJSON string) stages.EvaluateConfig {
	return stages.EvaluateConfig{Space: spaceJSON, CalibImages: f.p.CalibImages, EvalImages: f.p.EvalImages,
		Test: f.p.Test, TestImages: f.p.TestImages, LatencyRuns: f.p.LatencyRuns}
}

func (f *nasFlags) predictorConfig(spaceJSON string, ckpts map[string]string) stages.PredictorConfig {
	return stages.PredictorConfig{Output: f.output, Space: spaceJSON, Seed: f.seed, Checkpoints: ckpts}
}

func (f *nasFlags) searchConfig(spaceJSON string, ckpts map[string]string) stages.SearchConfig {
	return stages.SearchConfig{Output: f.output, Space: spaceJSON, Seed: f.seed,
		Population: f.p.Population, Mutations: f.p.Mutations, Crossovers: f.p.Crossovers, Generations: f.p.Generations,
		BucketWidth: f.p.Bucket, MinFLOPs: f.minFLOPs, MaxFLOPs: f.maxFLOPs, MaxParams: f.maxParams, MaxLatency: f.maxLatency,
		Checkpoints: ckpts}
}

// writeEvals writes each run's evaluations to evals/<run>/<phase>-*.parquet
// and returns the written paths. phase keeps the sample, search and user
// evaluations of a run in separate shard sets, so one never replaces another.
// perRun > 0 is the number of rows each run must have for its shard set to
// be committed (so a failed job never replaces a complete set with part of
// one); 0 when it is only known at run time.
func writeEvals(s beam.Scope, rows beam.PCollection, out string, runs []string, phase string, perRun int) beam.PCollection {
	var written []beam.PCollection
	for _, run := range runs {
		rs := beam.ParDo(s, &runFilterFn{Run: run}, rows)
		var opts []pqio.Option
		if perRun > 0 {
			opts = append(opts, pqio.ExpectRows(int64(perRun)))
		}
		written = append(written, pqio.Write[schemas.Eval](s, evalsDir(out, run), phase, rs, opts...))
	}
	return beam.Flatten(s, written...)
}

func evalsDir(out, run string) string { return stages.JoinPath(out, "evals/"+run) }

// diskSplits are the example shards and stats of an earlier preprocess run,
// for commands that start from disk: the committed dataset
// (stages.DatasetFiles).
func diskSplits(ctx context.Context, s beam.Scope, out string) (stages.EvalSplits, beam.PCollection, error) {
	files, stats, err := stages.DatasetFiles(ctx, out)
	if err != nil {
		return stages.EvalSplits{}, beam.PCollection{}, err
	}
	var sp stages.EvalSplits
	var train beam.PCollection
	for _, x := range []struct {
		split data.Split
		pc    *beam.PCollection
	}{{data.SplitTrain, &train}, {data.SplitCalib, &sp.Calib}, {data.SplitVal, &sp.Val}, {data.SplitTest, &sp.Test}} {
		if len(files[x.split]) == 0 {
			return sp, train, fmt.Errorf("the dataset under %s has no %s shard", out, x.split)
		}
		*x.pc = beam.CreateList(s, files[x.split])
	}
	sp.Stats = beam.Create(s, stats)
	return sp, train, nil
}

// evalFiles returns the files of every committed evaluation set of a run
// (evals/<run>/_<phase>.manifest.json), checked complete. Parquet files
// that no manifest lists are an error: they are evaluations an older
// version or an interrupted job left, and reading around them would hide
// data or count it twice.
func evalFiles(ctx context.Context, out, run string) ([]string, error) {
	dir := evalsDir(out, run)
	sets, err := pqio.Sets(ctx, dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	listed := map[string]bool{}
	for _, set := range sets {
		ps, m, err := pqio.SetFiles(ctx, dir, set)
		if err != nil {
			return nil, err
		}
		paths = append(paths, ps...)
		for _, mf := range m.Files {
			listed[stages.JoinPath(dir, mf.Name)] = true
		}
	}
	all, err := pqio.Glob(ctx, dir+"/*.parquet")
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if !listed[p] {
			return nil, fmt.Errorf("%s belongs to no committed evaluation set of %s (no manifest lists it): it was written by an older version of attentivenas or by an interrupted job; delete it, or run `attentivenas evaluate --runs=%s` again", p, dir, run)
		}
	}
	return paths, nil
}

// runEvals reads every committed evaluation of a run (none is not an error
// here).
func runEvals(ctx context.Context, out, run string) ([]schemas.Eval, error) {
	paths, err := evalFiles(ctx, out, run)
	if err != nil {
		return nil, err
	}
	var rows []schemas.Eval
	for _, p := range paths {
		r, _, err := pqio.ReadFile[schemas.Eval](ctx, p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// diskEvals returns PCollection<schemas.Eval> of every committed evaluation
// of the runs found on disk.
func diskEvals(ctx context.Context, s beam.Scope, out string, runs []string) (beam.PCollection, int, error) {
	var paths []string
	for _, run := range runs {
		ps, err := evalFiles(ctx, out, run)
		if err != nil {
			return beam.PCollection{}, 0, err
		}
		if len(ps) == 0 {
			return beam.PCollection{}, 0, fmt.Errorf("run %s has no evaluations under %s: run `attentivenas evaluate` first", run, evalsDir(out, run))
		}
		paths = append(paths, ps...)
	}
	return pqio.Read[schemas.Eval](s, beam.CreateList(s, paths)), len(paths), nil
}

func mustExist(ctx context.Context, p string) error {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return r.Close()
}

func readFile(ctx context.Context, p string) ([]byte, error) {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	return filesystem.Read(ctx, fs, p)
}

// runCheckpoint is --checkpoint, or the newest checkpoint of run.
// --checkpoint names one run's checkpoint, so it needs exactly one run.
func (f *nasFlags) runCheckpoint(ctx context.Context, run string) (string, error) {
	if f.checkpoint != "" {
		runs, err := f.runNames()
		if err != nil {
			return "", err
		}
		if len(runs) != 1 {
			return "", fmt.Errorf("--checkpoint=%s is one run's checkpoint, but the command works on %d runs (%s): name its run with --runs", f.checkpoint, len(runs), strings.Join(runs, ", "))
		}
		if err := mustExist(ctx, f.checkpoint); err != nil {
			return "", fmt.Errorf("--checkpoint: %w", err)
		}
		return f.checkpoint, nil
	}
	p, _, err := stages.LatestCheckpoint(ctx, f.output, run)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", fmt.Errorf("run %s has no checkpoint under %s: train it first (attentivenas train) or pass --checkpoint", run, stages.JoinPath(f.output, "runs/"+run))
	}
	return p, nil
}

// runCheckpoints is runCheckpoint of each run.
func (f *nasFlags) runCheckpoints(ctx context.Context, runs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, run := range runs {
		p, err := f.runCheckpoint(ctx, run)
		if err != nil {
			return nil, err
		}
		out[run] = p
	}
	return out, nil
}
