package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Benchmarks on the reference space (configs/fmnist.json) at batch 256, the
// batch PERFORMANCE.md measures PyTorch at (eval mode: ~360 images/s for the
// largest subnet, ~3,560 for the smallest). Each reports images/s and
// GFLOP/s = 2 x MACs per image (space.FLOPs) x images/s.
//
//	go test -run XXX -bench . ./nas/infer
//	GOEXPERIMENT=simd go test -run XXX -bench . ./nas/infer

const benchBatch = 256

type benchNet struct {
	name string
	sp   *space.Space
	sn   *supernet.Supernet
	arch space.Arch
	m    *Model
}

var benchNets []benchNet

// nets returns the largest and smallest subnets of the reference space,
// recalibrated and folded (built once).
func nets(b *testing.B) []benchNet {
	if benchNets != nil {
		return benchNets
	}
	sp := reference(b)
	sn := supernet.New(sp, 1)
	calib := randImages(sp, benchBatch, 1)
	for _, c := range []struct {
		name string
		a    space.Arch
	}{{"max", sp.Max()}, {"min", sp.Min()}} {
		st, err := Recalibrate(sn, c.a, calib, RecalConfig{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := Fold(sn, c.a, st)
		if err != nil {
			b.Fatal(err)
		}
		benchNets = append(benchNets, benchNet{c.name, sp, sn, c.a, m})
	}
	return benchNets
}

// cpuStart is the process CPU time when the benchmark's timer last started.
var cpuStart time.Duration

// resetTimer is b.ResetTimer that also restarts the CPU-time count.
func resetTimer(b *testing.B) {
	b.ResetTimer()
	cpuStart, _ = ProcessCPUTime()
}

// report sets images/s and GFLOP/s for images processed per op, and
// cpu-img/s: images per CPU-second of this process, which on a shared
// machine is less sensitive to other load (and shows a strategy's
// efficiency: cpu-img/s x cores used = img/s).
func report(b *testing.B, sp *space.Space, a space.Arch, images int) {
	ips := float64(images) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(ips, "img/s")
	b.ReportMetric(2*float64(sp.FLOPs(a))*ips/1e9, "GFLOP/s")
	if c, ok := ProcessCPUTime(); ok && c > cpuStart {
		b.ReportMetric(float64(images)*float64(b.N)/(c-cpuStart).Seconds(), "cpu-img/s")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkModelForward is Model.Forward (BN folded) at batch 256 with the
// default strategy.
func BenchmarkModelForward(b *testing.B) {
	for _, n := range nets(b) {
		x := randImages(n.sp, benchBatch, 2)
		logits := make([]float32, benchBatch*n.sp.Classes)
		b.Run(n.name, func(b *testing.B) {
			n.m.Forward(logits, x, benchBatch)
			resetTimer(b)
			for b.Loop() {
				n.m.Forward(logits, x, benchBatch)
			}
			report(b, n.sp, n.arch, benchBatch)
		})
	}
}

// BenchmarkModelStrategy compares ways of running a batch of 256 on the
// cores (see the package doc):
//
//	kernel:    the whole batch through each layer, one goroutine; the kernels
//	           split large calls over kernels.MaxThreads goroutines
//	mbN-gG:    micro-batches of N images on G goroutines (kernels still split
//	           the calls that are large enough)
//	mbN-g2-k1: the same with kernels.SetMaxThreads(1) (single-threaded
//	           kernels; measured only: the budget is a process-wide global)
func BenchmarkModelStrategy(b *testing.B) {
	type strat struct {
		name   string
		mb, g  int
		k1     bool
		images int
	}
	strats := []strat{
		{"kernel", benchBatch, 1, false, benchBatch},
		{"batch256-g2", benchBatch, 2, false, 2 * benchBatch},
		{"batch256-g2-k1", benchBatch, 2, true, 2 * benchBatch},
	}
	for _, mb := range []int{4, 8, 16, 32, 64} {
		strats = append(strats, strat{fmt.Sprintf("mb%d-g1", mb), mb, 1, false, benchBatch},
			strat{fmt.Sprintf("mb%d-g2", mb), mb, 2, false, benchBatch},
			strat{fmt.Sprintf("mb%d-g2-k1", mb), mb, 2, true, benchBatch})
	}
	for _, n := range nets(b) {
		x := randImages(n.sp, 2*benchBatch, 2)
		logits := make([]float32, 2*benchBatch*n.sp.Classes)
		for _, s := range strats {
			b.Run(n.name+"/"+s.name, func(b *testing.B) {
				if s.k1 {
					prev := kernels.SetMaxThreads(1)
					defer kernels.SetMaxThreads(prev)
				}
				saved := n.m.microBatch
				n.m.microBatch = s.mb
				defer func() { n.m.microBatch = saved }()
				run := func() { n.m.forward(logits, x, s.images, s.g) }
				run()
				resetTimer(b)
				for b.Loop() {
					run()
				}
				report(b, n.sp, n.arch, s.images)
			})
		}
	}
}

// BenchmarkEvaluate is Evaluate over 1024 images (4 batches of 256) with
// batch-level parallelism on 1 or 2 goroutines.
func BenchmarkEvaluate(b *testing.B) {
	const N = 4 * benchBatch
	for _, n := range nets(b) {
		x, y := randImages(n.sp, N, 3), randLabels(N, n.sp.Classes, 1)
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/g%d", n.name, g), func(b *testing.B) {
				resetTimer(b)
				for b.Loop() {
					if _, err := Evaluate(n.m, x, y, EvalConfig{Goroutines: g}); err != nil {
						b.Fatal(err)
					}
				}
				report(b, n.sp, n.arch, N)
			})
		}
	}
}

// BenchmarkCalibration is Recalibrate (batch-statistics forward passes and
// exact sums) over 512 images in batches of 256, with the batches run one
// after another (g1, kernels parallel) or two at a time (g2).
func BenchmarkCalibration(b *testing.B) {
	const N = 2 * benchBatch
	for _, n := range nets(b) {
		x := randImages(n.sp, N, 4)
		for _, g := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/g%d", n.name, g), func(b *testing.B) {
				resetTimer(b)
				for b.Loop() {
					if _, err := Recalibrate(n.sn, n.arch, x, RecalConfig{Goroutines: g}); err != nil {
						b.Fatal(err)
					}
				}
				report(b, n.sp, n.arch, N)
			})
		}
	}
}

// BenchmarkEngineForward is one batch-statistics forward pass (mode a) of
// 256 images over the supernet's tensors: the minibatch-loss estimator's and
// the calibration's unit of work.
func BenchmarkEngineForward(b *testing.B) {
	for _, n := range nets(b) {
		x := randImages(n.sp, benchBatch, 2)
		logits := make([]float32, benchBatch*n.sp.Classes)
		e := NewEngine(n.sn)
		b.Run(n.name, func(b *testing.B) {
			resetTimer(b)
			for b.Loop() {
				if err := e.Forward(logits, x, benchBatch, n.arch, nil); err != nil {
					b.Fatal(err)
				}
			}
			report(b, n.sp, n.arch, benchBatch)
		})
	}
}

// BenchmarkLatency is Latency (batch 1, median of 200 warm runs) per op; it
// reports the median as latency-us and the thread count.
func BenchmarkLatency(b *testing.B) {
	for _, n := range nets(b) {
		b.Run(n.name, func(b *testing.B) {
			var d time.Duration
			var th int
			for b.Loop() {
				d, th = Latency(n.m, 200)
			}
			b.ReportMetric(float64(d.Nanoseconds())/1e3, "latency-us")
			b.ReportMetric(float64(th), "threads")
			b.ReportMetric(2*float64(n.sp.FLOPs(n.arch))/d.Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkMinibatchLoss scores 3 candidates (one attentive draw of
// BestUp-3) on a batch of 128, one candidate at a time with the kernels
// parallel (g1) or two candidates at once (g2). GFLOP/s counts the
// candidates' MACs.
func BenchmarkMinibatchLoss(b *testing.B) {
	const B = 128
	sp := reference(b)
	sn := supernet.New(sp, 1)
	r := rand.New(rand.NewPCG(9, 9))
	archs := []space.Arch{sp.Random(r), sp.Random(r), sp.Random(r)}
	var macs int64
	for _, a := range archs {
		macs += sp.FLOPs(a)
	}
	x, y := randImages(sp, B, 1), randLabels(B, sp.Classes, 2)
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprintf("g%d", g), func(b *testing.B) {
			est := NewMinibatchLoss(sn)
			est.Goroutines = g
			est.SetBatch(x, y, B)
			if _, err := est.Estimate(archs); err != nil {
				b.Fatal(err)
			}
			resetTimer(b)
			for b.Loop() {
				if _, err := est.Estimate(archs); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(s*1e3, "ms/draw")
			b.ReportMetric(2*float64(macs)*B/s/1e9, "GFLOP/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
