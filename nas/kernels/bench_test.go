package kernels

import (
	"fmt"
	"testing"
)

// bench runs op b.N times and reports GFLOP/s of wall time and, because the
// target machines are shared, GFLOP per CPU-second (cpu-GFLOP/s: the rate one
// core sustains while it runs this code, less sensitive to other load).
func bench(b *testing.B, flopsPerOp float64, op func()) { benchUnit(b, flopsPerOp, "GFLOP/s", op) }

// benchUnit is bench with another unit of work (e.g. "Gelem/s").
func benchUnit(b *testing.B, workPerOp float64, unit string, op func()) {
	op() // warm up pools and caches
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		op()
	}
	cpu := (cpuTime() - c0).Seconds()
	b.ReportMetric(workPerOp*float64(b.N)/b.Elapsed().Seconds()/1e9, unit)
	if cpu > 0 {
		b.ReportMetric(workPerOp*float64(b.N)/cpu/1e9, "cpu-"+unit)
	}
}

// BenchmarkGemm covers the 1x1-convolution shapes of the reference space at
// batch 128: forward (NN), input gradient (NT) and weight gradient (TN).
func BenchmarkGemm(b *testing.B) {
	cases := []struct {
		tA, tB  bool
		m, n, k int
	}{
		{false, false, 131072, 144, 24}, // expand 24->144 at 32x32
		{false, false, 32768, 24, 144},  // project 144->24 at 16x16
		{false, false, 8192, 32, 192},   // project 192->32 at 8x8
		{false, false, 2048, 288, 48},   // head 48->288 at 4x4
		{false, true, 131072, 24, 144},  // expand input grad
		{false, true, 32768, 144, 24},   // project input grad
		{false, true, 8192, 192, 32},
		{true, false, 24, 144, 131072}, // expand weight grad
		{true, false, 144, 24, 32768},  // project weight grad
		{true, false, 192, 32, 8192},
	}
	r := newRand(3)
	for _, cs := range cases {
		name := fmt.Sprintf("%s/M%d_N%d_K%d", map[[2]bool]string{{false, false}: "NN", {false, true}: "NT", {true, false}: "TN"}[[2]bool{cs.tA, cs.tB}], cs.m, cs.n, cs.k)
		lda, ldb := cs.k, cs.n
		if cs.tA {
			lda = cs.m
		}
		if cs.tB {
			ldb = cs.k
		}
		a := randVec(r, cs.m*cs.k, -1, 1)
		bb := randVec(r, cs.k*cs.n, -1, 1)
		c := make([]float32, cs.m*cs.n)
		b.Run(name, func(b *testing.B) {
			bench(b, 2*float64(cs.m*cs.n*cs.k), func() { Gemm(cs.tA, cs.tB, cs.m, cs.n, cs.k, 1, a, lda, bb, ldb, 0, c, cs.n) })
		})
	}
}

// BenchmarkDepthwise: B=128, 16x16, C=144, k=5 (Kmax 5), stride 1 and 2.
func BenchmarkDepthwise(b *testing.B) {
	r := newRand(5)
	for _, s := range []int{1, 2} {
		d := Depthwise{B: 128, H: 16, W: 16, C: 144, K: 5, Stride: s, KMax: 5, CMax: 144}
		ho, wo := d.OutSize()
		x := randVec(r, d.B*d.H*d.W*d.C, -1, 1)
		w := randVec(r, d.KMax*d.KMax*d.CMax, -1, 1)
		y := randVec(r, d.B*ho*wo*d.C, -1, 1)
		dx := make([]float32, len(x))
		dw := make([]float32, len(w))
		flops := 2 * float64(d.B*ho*wo*d.C*d.K*d.K)
		b.Run(fmt.Sprintf("fwd/s%d", s), func(b *testing.B) {
			bench(b, flops, func() { d.Forward(y, x, w) })
		})
		b.Run(fmt.Sprintf("bwdInput/s%d", s), func(b *testing.B) {
			bench(b, flops, func() { d.BackwardInput(dx, y, w) })
		})
		b.Run(fmt.Sprintf("bwdWeight/s%d", s), func(b *testing.B) {
			bench(b, flops, func() { d.BackwardWeight(dw, x, y) })
		})
	}
	// The first stage's shape: 32x32, 12 channels (less than a vector).
	d := Depthwise{B: 128, H: 32, W: 32, C: 12, K: 5, Stride: 1, KMax: 5, CMax: 12}
	x := randVec(r, d.B*d.H*d.W*d.C, -1, 1)
	w := randVec(r, d.KMax*d.KMax*d.CMax, -1, 1)
	y := randVec(r, len(x), -1, 1)
	dx, dw := make([]float32, len(x)), make([]float32, len(w))
	flops := 2 * float64(len(x)*d.K*d.K)
	b.Run("fwd/C12", func(b *testing.B) { bench(b, flops, func() { d.Forward(y, x, w) }) })
	b.Run("bwdInput/C12", func(b *testing.B) { bench(b, flops, func() { d.BackwardInput(dx, y, w) }) })
	b.Run("bwdWeight/C12", func(b *testing.B) { bench(b, flops, func() { d.BackwardWeight(dw, x, y) }) })
}

// BenchmarkChannelScale: squeeze-excite's scaling at 8x8, 288 channels.
func BenchmarkChannelScale(b *testing.B) {
	r := newRand(8)
	B, P, C := 128, 64, 288
	x, dy, s := randVec(r, B*P*C, -1, 1), randVec(r, B*P*C, -1, 1), randVec(r, B*C, 0, 1)
	y, ds := make([]float32, B*P*C), make([]float32, B*C)
	n := float64(B * P * C)
	b.Run("fwd", func(b *testing.B) { benchUnit(b, n, "Gelem/s", func() { ChannelScale(y, x, s, B, P, C) }) })
	b.Run("bwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { ChannelScaleBackward(y, ds, dy, x, s, B, P, C) })
	})
	b.Run("add", func(b *testing.B) { benchUnit(b, n, "Gelem/s", func() { Add(y, x, dy) }) })
}

// BenchmarkBNHSwish: BatchNorm (batch statistics) + h-swish on
// M = 128*16*16 rows, C = 144 channels, forward and backward; the unit is
// 10^9 elements per second (the passes are memory bound).
func BenchmarkBNHSwish(b *testing.B) {
	r := newRand(6)
	M, C := 128*16*16, 144
	x := randVec(r, M*C, -2, 2)
	y := make([]float32, M*C)
	dy := randVec(r, M*C, -1, 1)
	dx := make([]float32, M*C)
	gamma, beta := randVec(r, C, 0.5, 1.5), randVec(r, C, -1, 1)
	mean, invstd := make([]float32, C), make([]float32, C)
	dg, db := make([]float32, C), make([]float32, C)
	n := float64(M * C)
	b.Run("fwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainForward(y, x, M, C, gamma, beta, 1e-5, ActHSwish, mean, invstd) })
	})
	b.Run("bwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainBackward(dx, dg, db, dy, x, M, C, gamma, beta, mean, invstd, ActHSwish) })
	})
	b.Run("swish-fwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainForward(y, x, M, C, gamma, beta, 1e-5, ActSwish, mean, invstd) })
	})
	b.Run("swish-bwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainBackward(dx, dg, db, dy, x, M, C, gamma, beta, mean, invstd, ActSwish) })
	})
	// The stem's shape: 32x32 pixels, 12 channels (less than a vector).
	M, C = 128*32*32, 12
	n = float64(M * C)
	x, y, dy, dx = randVec(r, M*C, -2, 2), make([]float32, M*C), randVec(r, M*C, -1, 1), make([]float32, M*C)
	b.Run("C12-swish-fwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainForward(y, x, M, C, gamma, beta, 1e-5, ActSwish, mean, invstd) })
	})
	b.Run("C12-swish-bwd", func(b *testing.B) {
		benchUnit(b, n, "Gelem/s", func() { BNTrainBackward(dx, dg, db, dy, x, M, C, gamma, beta, mean, invstd, ActSwish) })
	})
}

// BenchmarkAct: a standalone activation and its derivative over 1M elements.
func BenchmarkAct(b *testing.B) {
	r := newRand(7)
	n := 1 << 20
	x, dy, y := randVec(r, n, -4, 4), randVec(r, n, -1, 1), make([]float32, n)
	for _, a := range []Act{ActReLU, ActHSigmoid, ActSwish} {
		b.Run(a.String()+"-fwd", func(b *testing.B) {
			benchUnit(b, float64(n), "Gelem/s", func() { ActForward(y, x, a) })
		})
		b.Run(a.String()+"-bwd", func(b *testing.B) {
			benchUnit(b, float64(n), "Gelem/s", func() { ActBackward(y, dy, x, a) })
		})
	}
}

// BenchmarkGemmGeneric is BenchmarkGemm's first shapes on the portable
// pure-Go micro-kernel (SetGeneric), for comparison in the same run.
func BenchmarkGemmGeneric(b *testing.B) {
	SetGeneric(true)
	defer SetGeneric(false)
	r := newRand(3)
	for _, cs := range [][3]int{{32768, 24, 144}, {8192, 32, 192}, {2048, 288, 48}} {
		m, n, k := cs[0], cs[1], cs[2]
		a, bb, c := randVec(r, m*k, -1, 1), randVec(r, k*n, -1, 1), make([]float32, m*n)
		b.Run(fmt.Sprintf("NN/M%d_N%d_K%d", m, n, k), func(b *testing.B) {
			bench(b, 2*float64(m*n*k), func() { Gemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n) })
		})
	}
}
