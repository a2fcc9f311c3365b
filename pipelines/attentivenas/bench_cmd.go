package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/attentivenas/attentivenas/nas/bench"
)

func init() {
	var (
		opts      = bench.DefaultOptions()
		only      string
		spacePath string
	)
	addCommand(&command{
		name:    "bench",
		summary: "measure training, inference and latency speed on synthetic data (one JSON object per line on stdout, progress on stderr)",
		flags: func(fs *flag.FlagSet) {
			d := bench.DefaultOptions()
			fs.IntVar(&opts.Steps, "steps", d.Steps, "timed sandwich steps per training benchmark")
			fs.IntVar(&opts.Warmup, "warmup", d.Warmup, "untimed sandwich steps (and forward passes) before the timed ones, at least 1")
			fs.IntVar(&opts.Batch, "batch", d.Batch, "training batch")
			fs.IntVar(&opts.InferSteps, "infer-steps", d.InferSteps, "timed forward passes per inference benchmark")
			fs.IntVar(&opts.InferBatch, "infer-batch", d.InferBatch, "inference batch")
			fs.IntVar(&opts.LatencyRuns, "latency-runs", d.LatencyRuns, "timed batch-1 runs per latency benchmark (the median is reported)")
			fs.StringVar(&only, "only", "", "comma-separated benchmarks to run, in that order (default all: "+
				strings.Join(bench.Names(), ",")+"); train/SPEC takes any sampler spec, e.g. train/worstup-5")
			fs.Uint64Var(&opts.Seed, "seed", d.Seed, "seed of the synthetic images, labels, weights and sampled subnets (0 means 1)")
			fs.StringVar(&spacePath, "space", "", "search space file, JSON or YAML, local or gs:// (default: the built-in configs/fmnist.json)")
		},
		run: func(ctx context.Context) error {
			sp, err := loadSpace(ctx, spacePath)
			if err != nil {
				return err
			}
			for _, n := range strings.Split(only, ",") {
				if n = strings.TrimSpace(n); n != "" {
					opts.Only = append(opts.Only, n)
				}
			}
			for _, f := range []struct {
				name string
				v    int
			}{{"steps", opts.Steps}, {"warmup", opts.Warmup}, {"batch", opts.Batch}, {"infer-steps", opts.InferSteps},
				{"infer-batch", opts.InferBatch}, {"latency-runs", opts.LatencyRuns}} {
				if f.v < 1 { // the first step or pass allocates buffers: at least one warm-up
					return fmt.Errorf("--%s=%d: expected at least 1", f.name, f.v)
				}
			}
			opts.Progress = os.Stderr
			enc := json.NewEncoder(os.Stdout)
			return bench.Run(sp, opts, func(r bench.Result) error { return enc.Encode(r) })
		},
	})
}
