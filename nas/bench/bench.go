// Package bench measures the engine's speed on a search space (the
// reference space, configs.FMNIST, in `attentivenas bench`) with synthetic
// inputs, and reports each measurement as a Result that encodes as one JSON
// object:
//
//	sp, _ := space.Parse(configs.FMNIST, configs.FMNISTName)
//	err := bench.Run(sp, bench.Options{Progress: os.Stderr}, func(r bench.Result) error {
//		return json.NewEncoder(os.Stdout).Encode(r)
//	})
//
// The benchmarks, by name (Names lists them in the order Run runs them):
//
//   - train/uniform, train/bestup-3 (or train/SPEC for any sampler spec
//     with the minibatch_loss estimator, e.g. train/worstup-5): sandwich
//     training steps (nas/trainer: the largest, two middle and the smallest
//     subnet, one SGD update) at Options.Batch. The middle subnets come from
//     the sampler; an attentive sampler scores K candidates per middle slot
//     with the minibatch-loss estimator (the trainer's) on the step's batch, as
//     the training job does, and that scoring is timed too. Metrics:
//     throughput (img/s = Batch*Steps/seconds after Warmup untimed steps)
//     and compute (GFLOP/s, see below).
//   - infer/max, infer/min: Model.Forward of the largest and smallest
//     subnets, BN recalibrated on one synthetic batch and folded, at
//     Options.InferBatch. Metrics: throughput (img/s) and compute (GFLOP/s).
//   - latency/max, latency/min: infer.Latency of the same folded models
//     (batch 1, median of Options.LatencyRuns warm runs). Metric: latency
//     (us).
//
// FLOPs convention: a forward pass of subnet a costs 2*space.FLOPs(a) FLOPs
// per image (space.FLOPs counts multiply-accumulates), a backward pass twice
// its forward; so a trained subnet costs 6*MACs and a no-grad forward
// (inference, an attentive candidate's score) 2*MACs. Result.FLOPsPerImage
// holds the total for one image of one step or pass, and Result.FLOPs says
// which convention it follows. PERFORMANCE.md's "roughly 9 GFLOP/s" for
// PyTorch's uniform sandwich step uses the same count.
//
// Every input comes from Options.Seed (supernet weights, images, labels,
// sampled subnets), so two runs with the same kernel thread count do the
// same work; the timings of course differ. Result.Load1 and
// Result.CPUSeconds (against Result.Seconds) show how busy the machine was.
// The package makes no timing assertions: compare numbers measured in one
// run on one machine (PERFORMANCE.md, "How to measure").
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/nas/trainer"
)

// Benchmark names (Result.Name). TrainPrefix followed by any sampler spec
// with the minibatch_loss estimator is a training benchmark too.
const (
	TrainUniform = "train/uniform"
	TrainBestUp3 = "train/bestup-3"
	InferMax     = "infer/max"
	InferMin     = "infer/min"
	LatencyMax   = "latency/max"
	LatencyMin   = "latency/min"

	TrainPrefix = "train/"
)

// Metric names (Result.Metric) and their units (Result.Unit).
const (
	MetricThroughput = "throughput" // images per second, "img/s"
	MetricCompute    = "compute"    // GFLOP/s by the package's FLOPs convention, "GFLOP/s"
	MetricLatency    = "latency"    // median batch-1 forward time, "us"
)

// Names returns the default benchmarks, in the order Run runs them.
func Names() []string {
	return []string{TrainUniform, TrainBestUp3, InferMax, InferMin, LatencyMax, LatencyMin}
}

// Options configures Run. Zero fields take the values of DefaultOptions.
type Options struct {
	Steps       int       // timed sandwich steps per training benchmark
	Warmup      int       // untimed steps (and forward passes) before the timed ones
	Batch       int       // training batch
	InferSteps  int       // timed forward passes per inference benchmark
	InferBatch  int       // inference batch
	LatencyRuns int       // timed batch-1 runs per latency benchmark
	Seed        uint64    // of every random input
	Only        []string  // benchmarks to run, in this order; nil or empty: Names()
	Progress    io.Writer // progress lines; nil: none
}

// DefaultOptions returns the defaults: sizes chosen so that every benchmark
// together takes about a minute on 2 quiet cores, and PERFORMANCE.md's
// batches (128 for training, 256 for inference).
func DefaultOptions() Options {
	return Options{Steps: 16, Warmup: 2, Batch: 128, InferSteps: 40, InferBatch: 256, LatencyRuns: 200, Seed: 1}
}

func (o Options) withDefaults() (Options, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"steps", o.Steps}, {"warmup", o.Warmup}, {"batch", o.Batch}, {"infer steps", o.InferSteps},
		{"infer batch", o.InferBatch}, {"latency runs", o.LatencyRuns}} {
		if f.v < 0 {
			return o, fmt.Errorf("bench: %s %d: expected a positive number (0 takes the default)", f.name, f.v)
		}
	}
	d := DefaultOptions()
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Steps, d.Steps)
	def(&o.Warmup, d.Warmup)
	def(&o.Batch, d.Batch)
	def(&o.InferSteps, d.InferSteps)
	def(&o.InferBatch, d.InferBatch)
	def(&o.LatencyRuns, d.LatencyRuns)
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	if len(o.Only) == 0 {
		o.Only = Names()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o, nil
}

// Result is one measurement. It encodes as one flat JSON object: name,
// metric, value and unit, then what was measured and the machine it ran on.
type Result struct {
	Name   string  `json:"name"`   // the benchmark, e.g. "train/uniform"
	Metric string  `json:"metric"` // MetricThroughput, MetricCompute or MetricLatency
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"` // "img/s", "GFLOP/s" or "us"

	Batch   int `json:"batch"`                   // images per step or forward pass
	Steps   int `json:"steps"`                   // timed steps, forward passes or latency runs
	Warmup  int `json:"warmup"`                  // untimed ones before them
	Skipped int `json:"skipped_steps,omitempty"` // timed training steps skipped for a non-finite loss or gradient
	// Seconds is the wall time of the timed steps; CPUSeconds the process's
	// CPU time over them (user+system, where the OS reports it): their ratio
	// is the number of cores kept busy.
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// MACsPerImage is space.FLOPs of the subnet (inference, latency) or, for
	// training, the mean over timed steps of the forward MACs of every
	// subnet the step runs (the four trained ones and the scored candidates).
	MACsPerImage  float64 `json:"macs_per_image"`
	FLOPsPerImage float64 `json:"flops_per_image"` // by the convention in FLOPs
	FLOPs         string  `json:"flops"`           // how FLOPsPerImage is counted
	// BusyThreads is, for latency, the cores the batch-1 forward kept busy
	// (infer.Latency).
	BusyThreads int     `json:"busy_threads,omitempty"`
	Load1       float64 `json:"load1"` // 1-minute load average when the benchmark started (-1: unknown)

	Env
}

// FLOPs conventions (Result.FLOPs).
const (
	FLOPsForward = "2*MACs (space.FLOPs) per forward"
	FLOPsTrain   = "6*MACs per trained subnet (forward + backward = 3 forwards) + 2*MACs per scored candidate"
)

// Run runs the benchmarks of opts.Only on sp, one after another, and calls
// emit with each result as soon as it is measured. It stops at the first
// error, from a benchmark or from emit. Unknown names fail before anything
// runs.
func Run(sp *space.Space, opts Options, emit func(Result) error) error {
	if sp == nil {
		return errors.New("bench: nil search space")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	type job func() ([]Result, error)
	var jobs []job
	models := map[string]*infer.Model{} // folded max and min, built once
	model := func(which string) (*infer.Model, space.Arch, error) {
		a := sp.Max()
		if which == "min" {
			a = sp.Min()
		}
		if m := models[which]; m != nil {
			return m, a, nil
		}
		fmt.Fprintf(opts.Progress, "bench: recalibrating and folding the %s subnet\n", which)
		m, err := foldedModel(sp, a, opts)
		if err != nil {
			return nil, a, err
		}
		models[which] = m
		return m, a, nil
	}
	for _, name := range opts.Only {
		name = strings.TrimSpace(name)
		switch {
		case strings.HasPrefix(name, TrainPrefix):
			spec, err := sampler.Parse(strings.TrimPrefix(name, TrainPrefix))
			if err != nil {
				return fmt.Errorf("bench: %q: %w", name, err)
			}
			if spec.EstimatorName() == sampler.EstimatorPredictor {
				return fmt.Errorf("bench: %q: the predictor estimator needs a trained predictor; benchmark the minibatch_loss estimator (train/%s)",
					name, strings.TrimSuffix(spec.String(), ":"+sampler.EstimatorPredictor))
			}
			jobs = append(jobs, func() ([]Result, error) { return Train(sp, spec, opts) })
		case name == InferMax || name == InferMin:
			which := strings.TrimPrefix(name, "infer/")
			jobs = append(jobs, func() ([]Result, error) {
				m, a, err := model(which)
				if err != nil {
					return nil, err
				}
				return Inference(sp, name, m, a, opts)
			})
		case name == LatencyMax || name == LatencyMin:
			which := strings.TrimPrefix(name, "latency/")
			jobs = append(jobs, func() ([]Result, error) {
				m, a, err := model(which)
				if err != nil {
					return nil, err
				}
				r, err := Latency(sp, name, m, a, opts)
				return []Result{r}, err
			})
		default:
			return fmt.Errorf("bench: unknown benchmark %q; expected one of %s, or %sSPEC for a sampler spec",
				name, strings.Join(Names(), ", "), TrainPrefix)
		}
	}
	for _, j := range jobs {
		rs, err := j()
		if err != nil {
			return err
		}
		for _, r := range rs {
			if !finite(r.Value) || !finite(r.FLOPsPerImage) {
				return fmt.Errorf("bench: %s %s: measured %v %s (%.3g s timed): not a finite number", r.Name, r.Metric, r.Value, r.Unit, r.Seconds)
			}
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Train measures sandwich training steps with the sampler spec (uniform,
// or attentive with the minibatch_loss estimator) on a fresh supernet of sp
// (weights from opts.Seed) and one synthetic batch: a throughput and a
// compute result named TrainPrefix+spec. Zero fields of opts take their
// defaults.
func Train(sp *space.Space, spec sampler.Spec, opts Options) ([]Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	name := TrainPrefix + spec.String()
	B := opts.Batch
	load := loadAvg()
	fmt.Fprintf(opts.Progress, "bench: %s: building (batch %d)\n", name, B)
	net := supernet.New(sp, opts.Seed)
	tr, err := trainer.New(net, trainer.Config{Batch: B, Dropout: 0.2, LabelSmoothing: 0.1})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	var (
		smp sampler.Sampler = sampler.Uniform{Space: sp}
		est *trainer.MinibatchLoss
	)
	if spec.Mode != sampler.UniformMode {
		est = tr.MinibatchLoss()
		prior, err := sampler.BuildPrior(sp, sampler.PriorConfig{}, rand.New(rand.NewPCG(opts.Seed, 0x9e1)))
		if err != nil {
			return nil, err
		}
		if smp, err = sampler.New(spec, sp, prior, est); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 2))
	x, labels := synthBatch(sp, B, rng)

	// Forward MACs per image of the timed steps: of the trained subnets
	// (the largest, the middle ones, the smallest) and of the scored
	// candidates.
	var trainedMACs, candMACs int64
	fixed := sp.FLOPs(sp.Max()) + sp.FLOPs(sp.Min())
	skipped := 0
	step := func(i int, timed bool) error {
		if est != nil {
			est.SetBatch(x, labels, B)
		}
		mids := make([]space.Arch, 2)
		for s := range mids {
			d, err := smp.Sample(rng)
			if err != nil {
				return fmt.Errorf("bench: %s step %d: sampling: %w", name, i, err)
			}
			mids[s] = d.Arch
			if timed {
				trainedMACs += d.FLOPs
				for _, c := range d.Candidates {
					candMACs += c.FLOPs
				}
			}
		}
		r, err := tr.Step(x, labels, mids, 0.05, uint64(i))
		if err != nil {
			return fmt.Errorf("bench: %s step %d: %w", name, i, err)
		}
		if timed {
			trainedMACs += fixed
			if r.Skipped {
				skipped++
			}
		}
		return nil
	}
	fmt.Fprintf(opts.Progress, "bench: %s: %d warm-up and %d timed steps\n", name, opts.Warmup, opts.Steps)
	for i := range opts.Warmup {
		if err := step(i, false); err != nil {
			return nil, err
		}
	}
	t := startTimer()
	for i := range opts.Steps {
		if err := step(opts.Warmup+i, true); err != nil {
			return nil, err
		}
	}
	wall, cpu := t.stop()
	n := float64(opts.Steps)
	macs := float64(trainedMACs+candMACs) / n
	flops := (6*float64(trainedMACs) + 2*float64(candMACs)) / n
	base := Result{Name: name, Batch: B, Steps: opts.Steps, Warmup: opts.Warmup, Skipped: skipped,
		Seconds: wall, CPUSeconds: cpu, MACsPerImage: macs, FLOPsPerImage: flops,
		FLOPs: FLOPsTrain, Load1: load, Env: Environment()}
	return throughput(base, float64(B*opts.Steps)/wall, opts.Progress), nil
}

// foldedModel recalibrates subnet a of a fresh supernet on one synthetic
// batch and folds its BatchNorms.
func foldedModel(sp *space.Space, a space.Arch, opts Options) (*infer.Model, error) {
	sn := supernet.New(sp, opts.Seed)
	calib, _ := synthBatch(sp, opts.InferBatch, rand.New(rand.NewPCG(opts.Seed, 3)))
	st, err := infer.Recalibrate(sn, a, calib, infer.RecalConfig{})
	if err != nil {
		return nil, fmt.Errorf("bench: recalibrating %s: %w", a, err)
	}
	m, err := infer.Fold(sn, a, st)
	if err != nil {
		return nil, fmt.Errorf("bench: folding %s: %w", a, err)
	}
	return m, nil
}

// Inference measures m.Forward (subnet a of sp) at opts.InferBatch on a
// synthetic batch: a throughput and a compute result with the given name.
// Zero fields of opts take their defaults.
func Inference(sp *space.Space, name string, m *infer.Model, a space.Arch, opts Options) ([]Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	B := opts.InferBatch
	load := loadAvg()
	x, _ := synthBatch(sp, B, rand.New(rand.NewPCG(opts.Seed, 4)))
	logits := make([]float32, B*m.Classes())
	fmt.Fprintf(opts.Progress, "bench: %s: %d warm-up and %d timed forward passes at batch %d\n", name, opts.Warmup, opts.InferSteps, B)
	for range opts.Warmup {
		m.Forward(logits, x, B)
	}
	t := startTimer()
	for range opts.InferSteps {
		m.Forward(logits, x, B)
	}
	wall, cpu := t.stop()
	macs := float64(sp.FLOPs(a))
	base := Result{Name: name, Batch: B, Steps: opts.InferSteps, Warmup: opts.Warmup, Seconds: wall, CPUSeconds: cpu,
		MACsPerImage: macs, FLOPsPerImage: 2 * macs, FLOPs: FLOPsForward, Load1: load, Env: Environment()}
	return throughput(base, float64(B*opts.InferSteps)/wall, opts.Progress), nil
}

// latencyWarmup is the number of untimed runs infer.Latency makes first.
const latencyWarmup = 5

// Latency measures infer.Latency of m (subnet a of sp) with
// opts.LatencyRuns runs: one result with the given name, the median in
// microseconds. Zero fields of opts take their defaults.
func Latency(sp *space.Space, name string, m *infer.Model, a space.Arch, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	load := loadAvg()
	fmt.Fprintf(opts.Progress, "bench: %s: median of %d batch-1 runs\n", name, opts.LatencyRuns)
	t := startTimer()
	med, busy := infer.Latency(m, opts.LatencyRuns)
	wall, cpu := t.stop()
	macs := float64(sp.FLOPs(a))
	r := Result{Name: name, Metric: MetricLatency, Value: float64(med.Nanoseconds()) / 1e3, Unit: "us",
		Batch: 1, Steps: opts.LatencyRuns, Warmup: latencyWarmup, Seconds: wall, CPUSeconds: cpu, MACsPerImage: macs, FLOPsPerImage: 2 * macs,
		FLOPs: FLOPsForward, BusyThreads: busy, Load1: load, Env: Environment()}
	fmt.Fprintf(opts.Progress, "bench: %s: %.1f us\n", name, r.Value)
	return r, nil
}

// throughput returns base as a throughput result (img/s) and a compute
// result (GFLOP/s, from base.FLOPsPerImage).
func throughput(base Result, ips float64, progress io.Writer) []Result {
	tp, comp := base, base
	tp.Metric, tp.Value, tp.Unit = MetricThroughput, ips, "img/s"
	comp.Metric, comp.Value, comp.Unit = MetricCompute, base.FLOPsPerImage*ips/1e9, "GFLOP/s"
	fmt.Fprintf(progress, "bench: %s: %.1f img/s, %.2f GFLOP/s (%.2f s timed)\n", base.Name, tp.Value, comp.Value, base.Seconds)
	return []Result{tp, comp}
}

// synthBatch returns B images of sp's input shape, normal values (as
// normalised images are), and B uniform labels.
func synthBatch(sp *space.Space, B int, rng *rand.Rand) ([]float32, []int) {
	in := sp.Input
	x := make([]float32, B*in.Height*in.Width*in.Channels)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, B)
	for i := range labels {
		labels[i] = rng.IntN(sp.Classes)
	}
	return x, labels
}

// timer measures wall and process CPU time.
type timer struct {
	start time.Time
	cpu   time.Duration
	cpuOK bool
}

func startTimer() timer {
	runtime.GC() // the previous benchmark's garbage is not this one's cost
	c, ok := infer.ProcessCPUTime()
	return timer{start: time.Now(), cpu: c, cpuOK: ok}
}

// stop returns the elapsed wall seconds and CPU seconds (0 when unknown).
func (t timer) stop() (wall, cpu float64) {
	wall = time.Since(t.start).Seconds()
	if c, ok := infer.ProcessCPUTime(); ok && t.cpuOK {
		cpu = (c - t.cpu).Seconds()
	}
	return wall, cpu
}

// finite reports whether v is a finite number (JSON cannot hold others).
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
