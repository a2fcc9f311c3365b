package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/space"
)

func reference(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// tiny is the smallest useful run: it checks what the benchmarks report,
// never how fast (no timing assertions: shared, noisy machines).
var tiny = Options{Steps: 2, Warmup: 1, Batch: 8, InferSteps: 2, InferBatch: 8, LatencyRuns: 3, Seed: 7}

// TestRun runs every default benchmark at tiny sizes and checks the
// results: the documented names, metrics and units in order, positive
// finite values, and the context fields filled in.
func TestRun(t *testing.T) {
	sp := reference(t)
	var got []Result
	var progress bytes.Buffer
	opts := tiny
	opts.Progress = &progress
	if err := Run(sp, opts, func(r Result) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	type key struct{ name, metric, unit string }
	var want []key
	for _, n := range Names() {
		if strings.HasPrefix(n, "latency/") {
			want = append(want, key{n, MetricLatency, "us"})
		} else {
			want = append(want, key{n, MetricThroughput, "img/s"}, key{n, MetricCompute, "GFLOP/s"})
		}
	}
	var keys []key
	for _, r := range got {
		keys = append(keys, key{r.Name, r.Metric, r.Unit})
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("results %v, want %v", keys, want)
	}
	wantNames := []string{TrainUniform, TrainBestUp3, InferMax, InferMin, LatencyMax, LatencyMin}
	if !slices.Equal(Names(), wantNames) {
		t.Errorf("Names() = %v, want %v", Names(), wantNames)
	}
	maxMACs, minMACs := float64(sp.FLOPs(sp.Max())), float64(sp.FLOPs(sp.Min()))
	for _, r := range got {
		pos := func(what string, v float64) {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s %s: %s = %v, want positive and finite", r.Name, r.Metric, what, v)
			}
		}
		pos("value", r.Value)
		pos("seconds", r.Seconds)
		pos("macs_per_image", r.MACsPerImage)
		pos("flops_per_image", r.FLOPsPerImage)
		if r.Threads < 1 || r.KernelThreads < 1 || r.Backend == "" || r.GoVersion == "" || r.FLOPs == "" {
			t.Errorf("%s %s: context not filled in: %+v", r.Name, r.Metric, r.Env)
		}
		if r.SIMD != simdBuild {
			t.Errorf("%s: simd = %v in a build with simd %v", r.Name, r.SIMD, simdBuild)
		}
		switch {
		case strings.HasPrefix(r.Name, TrainPrefix):
			if r.Batch != tiny.Batch || r.Steps != tiny.Steps || r.Warmup != tiny.Warmup {
				t.Errorf("%s: batch %d steps %d warmup %d, want %d %d %d", r.Name, r.Batch, r.Steps, r.Warmup, tiny.Batch, tiny.Steps, tiny.Warmup)
			}
			// The four trained subnets at least; forward + backward.
			if r.MACsPerImage < maxMACs+3*minMACs || r.FLOPsPerImage < 6*(maxMACs+3*minMACs) {
				t.Errorf("%s: %v MACs and %v FLOPs per image, below the largest + 3 smallest subnets' %v MACs", r.Name, r.MACsPerImage, r.FLOPsPerImage, maxMACs+3*minMACs)
			}
		case r.Name == InferMax || r.Name == LatencyMax:
			if r.MACsPerImage != maxMACs || r.FLOPsPerImage != 2*maxMACs {
				t.Errorf("%s: %v MACs, %v FLOPs per image, want %v and twice that", r.Name, r.MACsPerImage, r.FLOPsPerImage, maxMACs)
			}
		case r.Name == InferMin || r.Name == LatencyMin:
			if r.MACsPerImage != minMACs || r.FLOPsPerImage != 2*minMACs {
				t.Errorf("%s: %v MACs, %v FLOPs per image, want %v and twice that", r.Name, r.MACsPerImage, r.FLOPsPerImage, minMACs)
			}
		}
		if r.Metric == MetricCompute {
			if rel := math.Abs(r.Value-got[slices.IndexFunc(got, func(o Result) bool {
				return o.Name == r.Name && o.Metric == MetricThroughput
			})].Value*r.FLOPsPerImage/1e9) / r.Value; rel > 1e-9 {
				t.Errorf("%s: compute %v GFLOP/s is not throughput x flops_per_image", r.Name, r.Value)
			}
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"name", "metric", "value", "unit", "batch", "steps", "threads", "simd", "go_version", "backend", "flops"} {
			if _, ok := m[f]; !ok {
				t.Errorf("%s: JSON %s has no field %q", r.Name, b, f)
			}
		}
	}
	if !strings.Contains(progress.String(), "bench: "+TrainBestUp3) {
		t.Errorf("progress does not mention %s:\n%s", TrainBestUp3, progress.String())
	}
}

// TestRunOnly: Only picks and orders benchmarks, takes any sampler spec,
// and unknown names fail before anything runs.
func TestRunOnly(t *testing.T) {
	sp := reference(t)
	opts := tiny
	opts.Only = []string{LatencyMin, " train/worstup-2 "}
	var names []string
	if err := Run(sp, opts, func(r Result) error { names = append(names, r.Name+" "+r.Metric); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{LatencyMin + " latency", "train/worstup-2 throughput", "train/worstup-2 compute"}
	if !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}

	for _, only := range [][]string{{InferMax, "infer/medium"}, {"train/bestup"}, {"train/bestup-3:predictor"}} {
		opts.Only = only
		ran := false
		err := Run(sp, opts, func(Result) error { ran = true; return nil })
		if err == nil || ran {
			t.Errorf("Only %q: error %v after running %v, want an error before anything runs", only, err, ran)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	sp := reference(t)
	for _, o := range []Options{{Steps: -1}, {Batch: -8}, {InferBatch: -1}, {LatencyRuns: -2}} {
		if err := Run(sp, o, func(Result) error { return nil }); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if err := Run(nil, Options{}, func(Result) error { return nil }); err == nil {
		t.Error("nil space: no error")
	}
}

func TestEnvironment(t *testing.T) {
	e := Environment()
	if e.Threads < 1 || e.GoVersion == "" || e.GOARCH == "" || e.Backend == "" {
		t.Errorf("Environment() = %+v", e)
	}
}

// TestDefaults: zero Options take DefaultOptions.
func TestDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultOptions()
	if o.Steps != d.Steps || o.Warmup != d.Warmup || o.Batch != d.Batch || o.InferSteps != d.InferSteps ||
		o.InferBatch != d.InferBatch || o.LatencyRuns != d.LatencyRuns || o.Seed != d.Seed || !slices.Equal(o.Only, Names()) || o.Progress == nil {
		t.Errorf("Options{} with defaults = %+v, want %+v", o, d)
	}
	if d.Batch != 128 || d.InferBatch != 256 {
		t.Errorf("default batches %d and %d, want PERFORMANCE.md's 128 and 256", d.Batch, d.InferBatch)
	}
}
