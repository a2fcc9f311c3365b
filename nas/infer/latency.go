package infer

import (
	"math"
	"slices"
	"time"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// Latency defaults.
const (
	DefaultLatencyRuns = 50 // timed runs when Latency is given runs <= 0
	latencyWarmup      = 5  // untimed runs first: buffers, caches, branch predictors
)

// Latency measures the batch-1 inference time of m: one image (a fixed
// deterministic pattern at the model's input size) through Model.Forward,
// warm (latencyWarmup untimed runs first), median of runs timed runs
// (DefaultLatencyRuns if runs <= 0).
//
// threads is the number of cores the forward pass kept busy: the process's
// CPU time over the timed runs divided by their wall time, rounded and
// clamped to [1, kernels.MaxThreads()] (kernels.MaxThreads() where the CPU
// time is not available). At batch 1 the kernels run every call of the
// reference space's subnets on the caller's goroutine (each call's work is
// below their threading thresholds), so it reports 1. Run Latency alone: CPU
// used by other goroutines of the process counts too, and skews the timings
// anyway.
//
// See also: Model.Forward, ALGORITHM.md section 10 (latency is a Pareto
// axis).
func Latency(m *Model, runs int) (median time.Duration, threads int) {
	if runs <= 0 {
		runs = DefaultLatencyRuns
	}
	size, ch := m.InputShape()
	x := make([]float32, size*size*ch)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.37)) // smooth, normalised-looking values
	}
	logits := make([]float32, m.Classes())
	for i := 0; i < latencyWarmup; i++ {
		m.Forward(logits, x, 1)
	}
	times := make([]time.Duration, runs)
	cpu0, cpuOK := ProcessCPUTime()
	start := time.Now()
	for i := range times {
		t := time.Now()
		m.Forward(logits, x, 1)
		times[i] = time.Since(t)
	}
	wall := time.Since(start)
	cpu1, _ := ProcessCPUTime()
	slices.Sort(times)
	median = times[runs/2]
	if runs%2 == 0 {
		median = (times[runs/2-1] + times[runs/2]) / 2
	}
	threads = kernels.MaxThreads()
	if cpuOK && wall > 0 {
		threads = min(threads, max(1, int(math.Round(float64(cpu1-cpu0)/float64(wall)))))
	}
	return median, threads
}
