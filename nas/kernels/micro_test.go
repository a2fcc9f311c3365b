package kernels

import "testing"

// BenchmarkMicroDW is a single-goroutine, cache-resident depthwise benchmark
// for tuning (4 images of 16x16x144, k=5).
func BenchmarkMicroDW(b *testing.B) {
	defer SetMaxThreads(SetMaxThreads(1))
	r := newRand(5)
	d := Depthwise{B: 4, H: 16, W: 16, C: 144, K: 5, Stride: 1, KMax: 5, CMax: 144}
	ho, wo := d.OutSize()
	x := randVec(r, d.B*d.H*d.W*d.C, -1, 1)
	w := randVec(r, d.KMax*d.KMax*d.CMax, -1, 1)
	y := randVec(r, d.B*ho*wo*d.C, -1, 1)
	dw := make([]float32, len(w))
	flops := 2 * float64(d.B*ho*wo*d.C*d.K*d.K)
	b.Run("fwd", func(b *testing.B) { bench(b, flops, func() { d.Forward(y, x, w) }) })
	b.Run("bwdInput", func(b *testing.B) { bench(b, flops, func() { d.BackwardInput(x, y, w) }) })
	b.Run("bwdWeight", func(b *testing.B) { bench(b, flops, func() { d.BackwardWeight(dw, x, y) }) })
}
