package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/stages"
)

func init() {
	f := &nasFlags{}
	pf := &preprocessFlags{}
	addCommand(&command{
		name: "run",
		summary: "the whole pipeline as one Beam job: preprocess -> train (one job per sampler) -> evaluate -> predictor -> search -> evaluate shortlist -> pareto + report, and export of each run's best subnet; " +
			"ends with a summary of the fronts",
		flags: func(fs *flag.FlagSet) {
			f.register(fs)
			pf.registerInput(fs)
			fs.Int64Var(&pf.seed, "split_seed", stages.DefaultSplitSeed, "seed of the val/calib draw")
		},
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			pf.output = f.output
			if err := checkWorkerPath("data", pf.data); err != nil {
				return err
			}
			return runAll(ctx, os.Stdout, f, pf.config())
		},
		output: func() string { return f.output },
	})
}

// runExportPick is the subnet of each run that `run` exports; the export
// command picks others (--pick=flops<=N...).
var runExportPick = stages.Pick{Kind: stages.PickBest}

// buildAll chains every stage in one pipeline; PCollections of the paths
// each stage commits order the next ones.
func buildAll(ctx context.Context, s beam.Scope, f *nasFlags, pre stages.PreprocessConfig) (*stages.PreprocessPlan, error) {
	sp, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := buildPreprocess(s, pre)
	if err != nil {
		return nil, err
	}
	if ex.Plan.Height != sp.Input.Height || ex.Plan.Width != sp.Input.Width || ex.Plan.Channels != sp.Input.Channels || ex.Plan.Classes != sp.Classes {
		return nil, fmt.Errorf("the dataset is %dx%dx%d with %d classes, the search space %q expects %dx%dx%d with %d classes: pass a matching --space",
			ex.Plan.Height, ex.Plan.Width, ex.Plan.Channels, ex.Plan.Classes, sp.Name, sp.Input.Height, sp.Input.Width, sp.Input.Channels, sp.Classes)
	}
	splits := stages.EvalSplits{Calib: ex.Calib, Val: ex.Val, Test: ex.Test, Stats: ex.Stats}

	// Every check that can fail before the job runs does.
	archs, origins, err := sampleArchs(ctx, f, sp)
	if err != nil {
		return nil, err
	}
	if n := sampledCount(origins); n < stages.MinPredictorEvals {
		return nil, fmt.Errorf("--eval_subnets=%d gives %d sampled subnets per run (with the smallest and largest), and the predictor of the search needs at least %d: pass --eval_subnets=%d or more",
			f.p.EvalSubnets, n, stages.MinPredictorEvals, f.p.EvalSubnets+stages.MinPredictorEvals-n)
	}
	jobs, err := trainJobs(ctx, f, sp, spaceJSON, true)
	if err != nil {
		return nil, err
	}
	trained := stages.Train(s, beam.CreateList(s, jobs), ex.Train, ex.Stats)
	ckpts := beam.ParDo(s, trainCheckpoint, trained)

	runs, err := f.runNames()
	if err != nil {
		return nil, err
	}
	var ejobs []stages.EvalJob
	final := map[string]string{}
	for _, job := range jobs {
		final[job.Run] = stages.CheckpointPath(f.output, job.Run, job.Epochs)
		ejobs = append(ejobs, evalJobs(job.Run, final[job.Run], f.seed, archs, origins)...)
	}
	sampled := stages.Evaluate(s, beam.CreateList(s, ejobs), splits, ckpts, f.evaluateConfig(spaceJSON))
	sampledFiles := writeEvals(s, sampled, f.output, runs, evalPhase(f), len(archs))

	searched, searchFiles := searchPhase(s, f, spaceJSON, runs, final, sampled, splits)
	all := beam.Flatten(s, sampled, searched)
	stages.Pareto(s, all, beam.Flatten(s, sampledFiles, searchFiles), f.paretoConfig(spaceJSON, runs))
	stages.ExportPicked(s, all, f.output, spaceJSON, runs, runExportPick, true)
	return ex.Plan, nil
}

// sampledCount counts the archs a predictor is fitted on (see
// stages.PredictorOrigins).
func sampledCount(origins []string) int {
	n := 0
	for _, o := range origins {
		if slices.Contains(stages.PredictorOrigins, o) {
			n++
		}
	}
	return n
}

func runAll(ctx context.Context, w io.Writer, f *nasFlags, pre stages.PreprocessConfig) error {
	start := time.Now()
	p, s := beam.NewPipelineWithRoot()
	plan, err := buildAll(ctx, s, f, pre)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "run: preset %s on %s (%d train-side + %d test images); samplers %s, %d epochs of %s images, batch %d; %d subnets evaluated per run; output %s\n",
		f.presetName, pre.Data, plan.TrainSide, plan.TestSide, f.p.Samplers, f.p.Epochs, limitText(f.p.Limit), f.p.Batch, f.p.EvalSubnets+2, f.output)
	pr, err := runPipeline(ctx, w, "run", p, f.output)
	if err != nil {
		return err
	}
	if pr == nil {
		fmt.Fprintf(w, "run: job submitted; its outputs will be under %s\n", f.output)
		return nil
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	if err := summarizeTrain(ctx, w, f.output, runs); err != nil {
		return err
	}
	if err := summarizeSearch(ctx, w, f.output, runs); err != nil {
		return err
	}
	sum, err := stages.ReadParetoSummary(ctx, f.output)
	if err != nil {
		return err
	}
	if err := sum.WriteText(w); err != nil {
		return err
	}
	for _, run := range runs {
		_, d, err := stages.ReadModel(ctx, stages.ExportPath(f.output, run, runExportPick.Name()))
		if err != nil {
			return err
		}
		printExport(w, d)
	}
	fmt.Fprintf(w, "run: done in %v\n", time.Since(start).Round(time.Second))
	return nil
}
