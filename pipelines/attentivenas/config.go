package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/trainer"
	"github.com/attentivenas/attentivenas/stages"
)

// preset is a named set of defaults for the knobs of the NAS stages; an
// explicit flag always wins. README.md documents what each trains.
type preset struct {
	Samplers string  // training jobs, one per sampler spec
	Epochs   int     // per job
	Batch    int     // images per sandwich step
	Limit    int     // train images per epoch (0 = the whole split)
	LR       float64 // peak learning rate; 0 = the reference's 0.1 per 256 images of batch
	Shift    int     // augmentation: random shifts of up to this many pixels
	// DistillWarmup: fraction of a job over which the students' targets move
	// from the labels to the largest subnet's output (0 = the method's
	// in-place distillation from the first step).
	DistillWarmup float64
	EvalSubnets   int  // subnets evaluated per run, stratified over FLOPs (plus min and max)
	CalibImages   int  // BN recalibration images
	EvalImages    int  // val images per evaluation
	Test          bool // also evaluate the test split
	TestImages    int  // test images per evaluation (0 = the whole split)
	LatencyRuns   int
	Population    int // evolutionary search sizes (reference: 512, 128, 128, 20)
	Mutations     int
	Crossovers    int
	Generations   int
	Bucket        int64 // FLOPs bucket of the search archive and comparisons, MACs
}

var presets = map[string]preset{
	// quick: the README's main job, the whole pipeline in about 15 minutes
	// on 2 cores. Two jobs (uniform, BestUp-3) train side by side, each for
	// 400 sandwich steps of 64 images (2 epochs of 12,800), about half of
	// Fashion-MNIST seen once: enough for subnets well above chance and a
	// front with a visible slope, not for the final accuracy.
	"quick": {
		Samplers: "uniform,bestup-3", Epochs: 2, Batch: 64, Limit: 12800, Shift: 0, DistillWarmup: 1,
		EvalSubnets: 80, CalibImages: 1000, EvalImages: 2000, Test: true, TestImages: 2000, LatencyRuns: 20,
		Population: 256, Mutations: 64, Crossovers: 64, Generations: 10, Bucket: 500_000,
	},
	// full: the ablation of the paper at small scale: uniform vs BestUp-3 vs
	// WorstUp-3, each trained for 6 epochs over the whole train split
	// (about 318k images per job), 300 evaluated subnets per run, the
	// reference's evolution sizes.
	"full": {
		Samplers: "uniform,bestup-3,worstup-3", Epochs: 6, Batch: 128, Limit: 0, Shift: 2, DistillWarmup: 0.3,
		EvalSubnets: 300, CalibImages: 2000, EvalImages: 5000, Test: true, TestImages: 0, LatencyRuns: 30,
		Population: 512, Mutations: 128, Crossovers: 128, Generations: 20, Bucket: 250_000,
	},
}

// nasFlags are the knobs of the train, evaluate, search and pareto stages.
type nasFlags struct {
	output, spacePath, presetName string
	seed                          int64
	p                             preset
	flip                          bool
	priorBin                      int64
	archs, checkpoint, runs       string
	minFLOPs, maxFLOPs, maxParams int64
	maxLatency                    float64
	dropout, labelSmoothing       float64
	change                        string
	latencyBox                    float64
	fs                            *flag.FlagSet
}

func (f *nasFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.output, "output", "out", "output root, local or gs://: every stage reads and writes its artifacts under it")
	fs.StringVar(&f.spacePath, "space", "", "search space file, JSON or YAML, local or gs:// (default: the built-in configs/fmnist.json)")
	fs.StringVar(&f.presetName, "preset", "quick", "defaults of every knob below: quick (the main job, ~15 min on 2 cores) or full (the ablation; see README.md)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of every random choice (weights, data order, augmentation, sampling, evaluation, search)")
	// Training.
	fs.StringVar(&f.p.Samplers, "samplers", "", "training jobs, one per sampler: uniform, bestup-K, worstup-K, optionally :predictor (comma-separated)")
	fs.IntVar(&f.p.Epochs, "epochs", 0, "epochs per training job")
	fs.IntVar(&f.p.Batch, "batch", 0, "images per sandwich step")
	fs.IntVar(&f.p.Limit, "limit", 0, "train images per epoch (a prefix of each epoch's shuffle); 0 = the preset's")
	fs.Float64Var(&f.p.LR, "lr", 0, "peak learning rate (warm-up, then cosine to 0); 0 = the reference's 0.1 per 256 images of batch (0.025 at batch 64)")
	fs.BoolVar(&f.flip, "flip", false, "augmentation: random horizontal flips (off: Fashion-MNIST classes are not all mirror-symmetric in shape)")
	fs.IntVar(&f.p.Shift, "shift", 0, "augmentation: random shifts of up to this many pixels (default: the preset's)")
	fs.Float64Var(&f.p.DistillWarmup, "distill_warmup", 0, "fraction of each training job over which the middle and smallest subnets' targets move linearly from the labels to the largest subnet's output; 0 = in-place distillation from the first step, as the reference (default: the preset's)")
	fs.Int64Var(&f.priorBin, "prior_bin", 0, "FLOPs bin width of the attentive samplers' prior, MACs (0 = 500,000)")
	fs.Float64Var(&f.dropout, "dropout", trainer.DefaultDropout, "dropout before the largest subnet's classifier (0 = none)")
	fs.Float64Var(&f.labelSmoothing, "label_smoothing", trainer.DefaultLabelSmoothing, "label smoothing of the largest subnet's loss (0 = none)")
	fs.StringVar(&f.change, "change", "", "train: settings a resumed run may change from its checkpoint's, comma-separated ("+
		strings.Join(stages.ChangeableSettings, ", ")+"); each change is recorded in the checkpoints, and a change of lr, warmup or epochs "+
		"restarts the learning-rate schedule at the resume step (a warm-up from the current rate to the peak, then a cosine to 0)")
	// Evaluation.
	fs.IntVar(&f.p.EvalSubnets, "eval_subnets", 0, "subnets evaluated per run, stratified over FLOPs bins (the smallest and largest are added)")
	fs.IntVar(&f.p.CalibImages, "calib_images", 0, "calib images for BN recalibration (0 = the preset's)")
	fs.IntVar(&f.p.EvalImages, "eval_images", 0, "val images per evaluation (0 = the preset's)")
	fs.BoolVar(&f.p.Test, "test", false, "also evaluate every subnet on the test split (the presets do)")
	fs.IntVar(&f.p.TestImages, "test_images", 0, "test images per evaluation; 0 = the preset's (quick: 2000, full: the whole split)")
	fs.IntVar(&f.p.LatencyRuns, "latency_runs", 0, "batch-1 forward passes timed per subnet (median)")
	fs.StringVar(&f.archs, "archs", "", "file of archs to evaluate too (origin user): one per line, as printed (28-8-8-...) or as JSON vectors, or a JSON list of lists")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "evaluate/search/export: use this checkpoint instead of the run's newest")
	fs.StringVar(&f.runs, "runs", "", "evaluate/search/export: runs to work on (default: the --samplers runs)")
	// Search.
	fs.IntVar(&f.p.Population, "population", 0, "evolutionary search: initial population")
	fs.IntVar(&f.p.Mutations, "mutations", 0, "evolutionary search: mutation children per generation")
	fs.IntVar(&f.p.Crossovers, "crossovers", 0, "evolutionary search: crossover children per generation")
	fs.IntVar(&f.p.Generations, "generations", 0, "evolutionary search: generations")
	fs.Int64Var(&f.p.Bucket, "bucket", 0, "FLOPs bucket of the search archive and of the run comparison, MACs")
	fs.Int64Var(&f.minFLOPs, "min_flops", 0, "search constraint: lowest FLOPs (MACs per image)")
	fs.Int64Var(&f.maxFLOPs, "max_flops", 0, "search constraint: highest FLOPs (MACs per image); 0 = none")
	fs.Int64Var(&f.maxParams, "max_params", 0, "search constraint: parameter budget; 0 = none")
	fs.Float64Var(&f.maxLatency, "max_latency_ms", 0, "search constraint: batch-1 latency budget in ms (linear model of the measured latencies); 0 = none")
	fs.Float64Var(&f.latencyBox, "latency_box_ms", stages.DefaultLatencyBoxMs, "pareto: upper bound of the latency hypervolume's box, ms (lower bound 0); keep it fixed to compare reports")
}

// resolve applies the preset to every knob not set on the command line
// and checks the result.
func (f *nasFlags) resolve() error {
	pr, ok := presets[f.presetName]
	if !ok {
		return fmt.Errorf("--preset=%q: expected one of %s", f.presetName, strings.Join(slices.Sorted(maps.Keys(presets)), ", "))
	}
	set := map[string]bool{}
	if f.fs != nil {
		f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	}
	def := func(name string, v any, from any) {
		if set[name] {
			return
		}
		switch p := v.(type) {
		case *int:
			*p = from.(int)
		case *int64:
			*p = from.(int64)
		case *float64:
			*p = from.(float64)
		case *string:
			*p = from.(string)
		case *bool:
			*p = from.(bool)
		}
	}
	def("samplers", &f.p.Samplers, pr.Samplers)
	def("epochs", &f.p.Epochs, pr.Epochs)
	def("batch", &f.p.Batch, pr.Batch)
	def("limit", &f.p.Limit, pr.Limit)
	def("lr", &f.p.LR, pr.LR)
	if f.p.LR == 0 && f.p.Batch > 0 {
		// Linear scaling as in the reference. Measured on Fashion-MNIST, 400
		// sandwich steps of 64: largest/smallest val top-1 76.9%/72.8% at
		// 0.025, 71.4%/69.3% at 0.1.
		f.p.LR = 0.1 * float64(f.p.Batch) / 256
	}
	def("eval_subnets", &f.p.EvalSubnets, pr.EvalSubnets)
	def("calib_images", &f.p.CalibImages, pr.CalibImages)
	def("eval_images", &f.p.EvalImages, pr.EvalImages)
	def("test", &f.p.Test, pr.Test)
	def("test_images", &f.p.TestImages, pr.TestImages)
	def("latency_runs", &f.p.LatencyRuns, pr.LatencyRuns)
	def("population", &f.p.Population, pr.Population)
	def("mutations", &f.p.Mutations, pr.Mutations)
	def("crossovers", &f.p.Crossovers, pr.Crossovers)
	def("generations", &f.p.Generations, pr.Generations)
	def("bucket", &f.p.Bucket, pr.Bucket)
	def("shift", &f.p.Shift, pr.Shift)
	def("distill_warmup", &f.p.DistillWarmup, pr.DistillWarmup)
	switch {
	case f.p.Epochs < 1:
		return fmt.Errorf("--epochs=%d: expected at least 1", f.p.Epochs)
	case f.p.Batch < 2:
		return fmt.Errorf("--batch=%d: expected at least 2 (BatchNorm needs a batch)", f.p.Batch)
	case f.p.Shift < 0:
		return fmt.Errorf("--shift=%d: expected 0 or more pixels", f.p.Shift)
	case f.p.DistillWarmup < 0 || f.p.DistillWarmup > 1:
		return fmt.Errorf("--distill_warmup=%v: expected a fraction of the run in [0, 1]", f.p.DistillWarmup)
	case f.p.LR <= 0:
		return fmt.Errorf("--lr=%v: expected a positive learning rate", f.p.LR)
	case f.p.EvalSubnets < 0 || f.p.Bucket <= 0 || f.p.LatencyRuns < 1:
		return fmt.Errorf("--eval_subnets=%d, --bucket=%d, --latency_runs=%d: expected >= 0, > 0, >= 1", f.p.EvalSubnets, f.p.Bucket, f.p.LatencyRuns)
	case f.minFLOPs < 0 || f.maxFLOPs < 0 || (f.maxFLOPs > 0 && f.maxFLOPs < f.minFLOPs):
		return fmt.Errorf("--min_flops=%d --max_flops=%d: expected 0 <= min <= max", f.minFLOPs, f.maxFLOPs)
	case !(f.dropout >= 0 && f.dropout < 1):
		return fmt.Errorf("--dropout=%v: expected a probability in [0, 1)", f.dropout)
	case !(f.labelSmoothing >= 0 && f.labelSmoothing < 1):
		return fmt.Errorf("--label_smoothing=%v: expected a value in [0, 1)", f.labelSmoothing)
	case !(f.latencyBox > 0) || math.IsInf(f.latencyBox, 0):
		return fmt.Errorf("--latency_box_ms=%v: expected a positive number of milliseconds", f.latencyBox)
	}
	for _, c := range f.changes() {
		if !slices.Contains(stages.ChangeableSettings, c) {
			return fmt.Errorf("--change=%s: %q cannot change in the middle of a run; expected some of %s", f.change, c, strings.Join(stages.ChangeableSettings, ", "))
		}
	}
	if _, err := f.samplerSpecs(); err != nil {
		return err
	}
	return errors.Join(checkWorkerPath("output", f.output), checkWorkerPath("checkpoint", f.checkpoint))
}

// changes parses --change.
func (f *nasFlags) changes() []string {
	var out []string
	for _, c := range strings.Split(f.change, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// samplerSpecs parses --samplers.
func (f *nasFlags) samplerSpecs() ([]sampler.Spec, error) {
	var specs []sampler.Spec
	seen := map[string]bool{}
	for _, s := range strings.Split(f.p.Samplers, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		spec, err := sampler.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--samplers: %w", err)
		}
		if seen[spec.String()] {
			return nil, fmt.Errorf("--samplers: %s twice", spec)
		}
		seen[spec.String()] = true
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("--samplers=%q: expected at least one sampler (uniform, bestup-3, ...)", f.p.Samplers)
	}
	return specs, nil
}

// runName is the directory name of a sampler's run: its spec with ':'
// replaced, e.g. "bestup-3" or "bestup-3_predictor".
func runName(spec sampler.Spec) string { return strings.ReplaceAll(spec.String(), ":", "_") }

// runNames lists the runs --runs names, or the --samplers runs.
func (f *nasFlags) runNames() ([]string, error) {
	if f.runs != "" {
		var out []string
		for _, r := range strings.Split(f.runs, ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
		return out, nil
	}
	specs, err := f.samplerSpecs()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = runName(s)
	}
	return out, nil
}

// loadSpaceJSON reads --space and returns the space with its canonical JSON,
// the form stages take.
func (f *nasFlags) loadSpaceJSON(ctx context.Context) (*space.Space, string, error) {
	sp, err := loadSpace(ctx, f.spacePath)
	if err != nil {
		return nil, "", err
	}
	return sp, string(sp.JSON()), nil
}

// parseArchList reads a file of archs: one per line, as a key
// ("28-8-8-...") or a JSON list, or one JSON list of lists.
func parseArchList(sp *space.Space, data []byte, name string) ([]space.Arch, error) {
	trimmed := strings.TrimSpace(string(data))
	var archs []space.Arch
	if strings.HasPrefix(trimmed, "[[") {
		var vs [][]int
		if err := json.Unmarshal([]byte(trimmed), &vs); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for i, v := range vs {
			a, err := sp.ArchFromVector(v)
			if err != nil {
				return nil, fmt.Errorf("%s: arch %d: %w", name, i+1, err)
			}
			archs = append(archs, a)
		}
		return archs, nil
	}
	for i, line := range strings.Split(trimmed, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		a, err := sp.ParseArch(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		archs = append(archs, a)
	}
	return archs, nil
}
