package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/stages"
)

func init() {
	f := &nasFlags{}
	addCommand(&command{
		name:    "train",
		summary: "train the supernet, one job per --samplers entry (in parallel when the runner has workers), resuming from each run's newest checkpoint; writes <output>/runs/<run>/",
		flags:   f.register,
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			return runTrain(ctx, os.Stdout, f)
		},
		output: func() string { return f.output },
	})
}

// buildTrain adds the train stage over the examples an earlier preprocess
// run left under --output.
func buildTrain(ctx context.Context, s beam.Scope, f *nasFlags) error {
	sp, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return err
	}
	jobs, err := trainJobs(ctx, f, sp, spaceJSON, false)
	if err != nil {
		return err
	}
	splits, train, err := diskSplits(ctx, s, f.output)
	if err != nil {
		return err
	}
	stages.Train(s, beam.CreateList(s, jobs), train, splits.Stats)
	return nil
}

func runTrain(ctx context.Context, w io.Writer, f *nasFlags) error {
	p, s := beam.NewPipelineWithRoot()
	if err := buildTrain(ctx, s, f); err != nil {
		return err
	}
	fmt.Fprintf(w, "train: %s, %d epochs of %s images per job, batch %d\n", f.p.Samplers, f.p.Epochs, limitText(f.p.Limit), f.p.Batch)
	if _, err := runPipeline(ctx, w, "train", p, f.output); err != nil {
		return err
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	return summarizeTrain(ctx, w, f.output, runs)
}

func limitText(n int) string {
	if n == 0 {
		return "all train"
	}
	return fmt.Sprint(n)
}

// summarizeTrain prints each run's final checkpoint and losses from its
// train log.
func summarizeTrain(ctx context.Context, w io.Writer, out string, runs []string) error {
	fmt.Fprintf(w, "%-18s %6s %7s %9s %9s %8s  %s\n", "run", "epochs", "steps", "loss max", "loss min", "img/s", "checkpoint")
	for _, run := range runs {
		ckpt, epoch, err := stages.LatestCheckpoint(ctx, out, run)
		if err != nil {
			return err
		}
		log, err := stages.ReadTrainLog(ctx, out, run)
		if err != nil {
			return err
		}
		if len(log) == 0 {
			continue
		}
		// Mean of the last tenth of the steps: single steps are noisy.
		tail := log[len(log)-max(1, len(log)/10):]
		var lmax, lmin, ips []float64
		for _, r := range tail {
			lmax, lmin = append(lmax, r.LossMax), append(lmin, r.LossMin)
		}
		for _, r := range log {
			ips = append(ips, r.ImagesPerSec)
		}
		slices.Sort(ips)
		fmt.Fprintf(w, "%-18s %6d %7d %9.3f %9.3f %8.0f  %s\n", run, epoch, len(log), mean(lmax), mean(lmin), ips[len(ips)/2], ckpt)
	}
	return nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(1, len(xs)))
}
