package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

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

// trainJobs lists the training jobs of the flags, one per sampler.
func trainJobs(f *nasFlags, spaceJSON string) ([]stages.TrainJob, error) {
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
			Flip: f.flip, Shift: f.shift, PriorBinWidth: f.priorBin,
		}
		if spec.EstimatorName() == sampler.EstimatorPredictor {
			jobs[i].Predictor = stages.PredictorPath(f.output, "uniform")
		}
	}
	return jobs, nil
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

func (f *nasFlags) predictorConfig(spaceJSON string) stages.PredictorConfig {
	return stages.PredictorConfig{Output: f.output, Space: spaceJSON, Seed: f.seed}
}

func (f *nasFlags) searchConfig(spaceJSON string) stages.SearchConfig {
	return stages.SearchConfig{Output: f.output, Space: spaceJSON, Seed: f.seed,
		Population: f.p.Population, Mutations: f.p.Mutations, Crossovers: f.p.Crossovers, Generations: f.p.Generations,
		BucketWidth: f.p.Bucket, MinFLOPs: f.minFLOPs, MaxFLOPs: f.maxFLOPs, MaxParams: f.maxParams, MaxLatency: f.maxLatency}
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
// for commands that start from disk.
func diskSplits(ctx context.Context, s beam.Scope, out string) (stages.EvalSplits, beam.PCollection, error) {
	glob := func(split string) ([]string, error) {
		paths, err := pqio.Glob(ctx, stages.ExamplesDir(out)+"/"+split+"-*-of-*.parquet")
		if err == nil && len(paths) == 0 {
			err = fmt.Errorf("no %s examples under %s: run `attentivenas preprocess --output=%s` first", split, stages.ExamplesDir(out), out)
		}
		return paths, err
	}
	var sp stages.EvalSplits
	var train beam.PCollection
	for _, x := range []struct {
		split string
		pc    *beam.PCollection
	}{{"train", &train}, {"calib", &sp.Calib}, {"val", &sp.Val}, {"test", &sp.Test}} {
		paths, err := glob(x.split)
		if err != nil {
			return sp, train, err
		}
		*x.pc = beam.CreateList(s, paths)
	}
	stats := stages.StatsPath(out)
	if err := mustExist(ctx, stats); err != nil {
		return sp, train, fmt.Errorf("%w: run `attentivenas preprocess --output=%s` first", err, out)
	}
	sp.Stats = beam.Create(s, stats)
	return sp, train, nil
}

// diskEvals returns PCollection<schemas.Eval> of every evaluation of the
// runs found on disk.
func diskEvals(ctx context.Context, s beam.Scope, out string, runs []string) (beam.PCollection, int, error) {
	var paths []string
	for _, run := range runs {
		ps, err := pqio.Glob(ctx, evalsDir(out, run)+"/*.parquet")
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
func (f *nasFlags) runCheckpoint(ctx context.Context, run string) (string, error) {
	if f.checkpoint != "" {
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
