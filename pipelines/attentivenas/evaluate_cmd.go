package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
)

func init() {
	f := &nasFlags{}
	addCommand(&command{
		name: "evaluate",
		summary: "evaluate subnets of each run's newest checkpoint (or --checkpoint) for real: BN recalibration on calib, top-1 on val (and test), latency; " +
			"--eval_subnets stratified over FLOPs plus the smallest and largest, and --archs (your own); writes <output>/evals/<run>/",
		flags: f.register,
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			return runEvaluate(ctx, os.Stdout, f)
		},
		output: func() string { return f.output },
	})
}

// buildEvaluate adds the evaluation of every run's sampled (and user) archs.
func buildEvaluate(ctx context.Context, s beam.Scope, f *nasFlags) (int, error) {
	sp, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return 0, err
	}
	runs, err := f.runNames()
	if err != nil {
		return 0, err
	}
	archs, origins, err := sampleArchs(ctx, f, sp)
	if err != nil {
		return 0, err
	}
	if len(archs) == 0 {
		return 0, fmt.Errorf("nothing to evaluate: --eval_subnets=0 and no --archs")
	}
	splits, _, err := diskSplits(ctx, s, f.output)
	if err != nil {
		return 0, err
	}
	var jobs []stages.EvalJob
	for _, run := range runs {
		ckpt, err := f.runCheckpoint(ctx, run)
		if err != nil {
			return 0, err
		}
		jobs = append(jobs, evalJobs(run, ckpt, f.seed, archs, origins)...)
	}
	rows := stages.Evaluate(s, beam.CreateList(s, jobs), splits, beam.PCollection{}, f.evaluateConfig(spaceJSON))
	writeEvals(s, rows, f.output, runs, evalPhase(f), len(archs))
	return len(jobs), nil
}

// evalPhase names the shard set of an evaluate command's rows: user archs
// alone go to "user", otherwise "sample".
func evalPhase(f *nasFlags) string {
	if f.p.EvalSubnets == 0 {
		return "user"
	}
	return "sample"
}

func runEvaluate(ctx context.Context, w io.Writer, f *nasFlags) error {
	p, s := beam.NewPipelineWithRoot()
	n, err := buildEvaluate(ctx, s, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "evaluate: %d subnets (calib %d, val %d images each)\n", n, f.p.CalibImages, f.p.EvalImages)
	if _, err := runPipeline(ctx, w, "evaluate", p, f.output); err != nil {
		return err
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	return summarizeEvals(ctx, w, f.output, runs)
}

// summarizeEvals prints per run how many subnets were evaluated and the
// extremes of the accuracy/cost trade-off.
func summarizeEvals(ctx context.Context, w io.Writer, out string, runs []string) error {
	fmt.Fprintf(w, "%-18s %6s %10s %10s %10s %12s\n", "run", "evals", "min top1", "max top1", "best top1", "best's MFLOPs")
	for _, run := range runs {
		rows, err := runEvals(ctx, out, run)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			continue
		}
		best := slices.MaxFunc(rows, func(a, b schemas.Eval) int { return cmp.Compare(a.Top1, b.Top1) })
		var minT, maxT float64
		for _, r := range rows {
			switch r.Origin {
			case schemas.OriginMin:
				minT = r.Top1
			case schemas.OriginMax:
				maxT = r.Top1
			}
		}
		fmt.Fprintf(w, "%-18s %6d %10.4f %10.4f %10.4f %12.2f\n", run, len(rows), minT, maxT, best.Top1, float64(best.FLOPs)/1e6)
	}
	return nil
}
