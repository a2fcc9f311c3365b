package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	f := &nasFlags{}
	addCommand(&command{
		name: "search",
		summary: "fit each run's accuracy predictor on its evaluations (writes <output>/predictors/ and <output>/rank_quality/), run the evolutionary search with it " +
			"(writes <output>/search/) and evaluate the shortlist for real (<output>/evals/<run>/search-*)",
		flags: f.register,
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			return runSearch(ctx, os.Stdout, f)
		},
		output: func() string { return f.output },
	})
}

// searchPhase chains predictor fitting, search and the shortlist's
// evaluation onto evals (PCollection<schemas.Eval>), each run on its
// checkpoint ckpts[run]; it returns the shortlist's evaluations and the
// files written.
func searchPhase(s beam.Scope, f *nasFlags, spaceJSON string, runs []string, ckpts map[string]string, evals beam.PCollection, splits stages.EvalSplits) (beam.PCollection, beam.PCollection) {
	preds := stages.FitPredictors(s, evals, splits.Calib, splits.Stats, f.predictorConfig(spaceJSON, ckpts))
	jobs := stages.Search(s, evals, preds, f.searchConfig(spaceJSON, ckpts))
	rows := stages.Evaluate(s, jobs, splits, beam.PCollection{}, f.evaluateConfig(spaceJSON))
	written := writeEvals(s, rows, f.output, runs, "search", 0)
	return rows, beam.Flatten(s, preds, written)
}

func buildSearch(ctx context.Context, s beam.Scope, f *nasFlags) error {
	_, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return err
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	splits, _, err := diskSplits(ctx, s, f.output)
	if err != nil {
		return err
	}
	// Each run's checkpoint (--checkpoint, else the newest), which must
	// have enough sampled evaluations to fit a predictor: checked here,
	// before anything runs.
	ckpts, err := f.runCheckpoints(ctx, runs)
	if err != nil {
		return err
	}
	for _, run := range runs {
		rows, err := runEvals(ctx, f.output, run)
		if err != nil {
			return err
		}
		if _, err := stages.PredictorEvals(run, ckpts[run], rows); err != nil {
			return err
		}
	}
	evals, _, err := diskEvals(ctx, s, f.output, runs)
	if err != nil {
		return err
	}
	searchPhase(s, f, spaceJSON, runs, ckpts, evals, splits)
	return nil
}

func runSearch(ctx context.Context, w io.Writer, f *nasFlags) error {
	p, s := beam.NewPipelineWithRoot()
	if err := buildSearch(ctx, s, f); err != nil {
		return err
	}
	if _, err := runPipeline(ctx, w, "search", p, f.output); err != nil {
		return err
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	return summarizeSearch(ctx, w, f.output, runs)
}

// summarizeSearch prints each run's predictors and the rank quality.
func summarizeSearch(ctx context.Context, w io.Writer, out string, runs []string) error {
	for _, run := range runs {
		preds, err := stages.ReadPredictors(ctx, out, run)
		if err != nil {
			return err
		}
		ckpt := ""
		if len(preds) > 0 {
			ckpt = ", fitted on " + preds[0].Checkpoint
		}
		fmt.Fprintf(w, "predictors of %s (held-out subnets%s):\n", run, ckpt)
		fmt.Fprintf(w, "  %-14s %5s %7s %9s %8s %8s\n", "model", "fit", "holdout", "kendall", "spearman", "rmse")
		for _, r := range preds {
			sel := ""
			if r.Selected {
				sel = "  <- selected"
			}
			fmt.Fprintf(w, "  %-14s %5d %7d %9.3f %8.3f %8.4f%s\n", r.Kind, r.Fit, r.Holdout, r.KendallTau, r.Spearman, r.RMSE, sel)
		}
		rq, err := stages.ReadRankQuality(ctx, out, run)
		if err != nil {
			return err
		}
		for _, r := range rq {
			if r.Bin == -1 {
				fmt.Fprintf(w, "  rank quality within FLOPs bins, %s: Kendall tau %.3f over %d subnets\n", r.Estimator, r.KendallTau, r.N)
			}
		}
		sc, _, err := pqio.ReadFile[schemas.SearchCandidate](ctx, stages.SearchPath(out, run))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  search shortlist: %d subnets in %s (evaluated: %s/search-*)\n", len(sc), stages.SearchPath(out, run), evalsDir(out, run))
	}
	return nil
}
