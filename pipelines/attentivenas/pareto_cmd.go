package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/stages"
)

func init() {
	f := &nasFlags{}
	addCommand(&command{
		name:    "pareto",
		summary: "aggregate every evaluation of every run into Pareto fronts (accuracy vs FLOPs, latency, params), hypervolumes and a run comparison; writes <output>/pareto/ with report.html",
		flags:   f.register,
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			return runPareto(ctx, os.Stdout, f)
		},
		output: func() string { return f.output },
	})
}

func (f *nasFlags) paretoConfig(spaceJSON string, runs []string) stages.ParetoConfig {
	return stages.ParetoConfig{Output: f.output, Space: spaceJSON, BucketWidth: f.p.Bucket, Runs: runs, LatencyBoxMs: f.latencyBox,
		Description: fmt.Sprintf("Preset %s: samplers %s, %d epochs of %s train images each (batch %d), %d subnets evaluated per run (calib %d, val %d images), evolutionary search %d+%dx(%d+%d) with the selected predictor, seed %d.",
			f.presetName, f.p.Samplers, f.p.Epochs, limitText(f.p.Limit), f.p.Batch, f.p.EvalSubnets+2, f.p.CalibImages, f.p.EvalImages,
			f.p.Population, f.p.Generations, f.p.Mutations, f.p.Crossovers, f.seed)}
}

func buildPareto(ctx context.Context, s beam.Scope, f *nasFlags) error {
	_, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return err
	}
	runs, err := f.runNames()
	if err != nil {
		return err
	}
	evals, _, err := diskEvals(ctx, s, f.output, runs)
	if err != nil {
		return err
	}
	stages.Pareto(s, evals, beam.PCollection{}, f.paretoConfig(spaceJSON, runs))
	return nil
}

func runPareto(ctx context.Context, w io.Writer, f *nasFlags) error {
	p, s := beam.NewPipelineWithRoot()
	if err := buildPareto(ctx, s, f); err != nil {
		return err
	}
	if _, err := runPipeline(ctx, w, "pareto", p, f.output); err != nil {
		return err
	}
	sum, err := stages.ReadParetoSummary(ctx, f.output)
	if err != nil {
		return err
	}
	return sum.WriteText(w)
}
