package ref

import (
	"testing"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// TestAliasing checks that every output documented as allowed to alias an
// input gives the same result in place as into a separate buffer.
func TestAliasing(t *testing.T) {
	r := newRand(31)
	M, C := 7, 3
	n := M * C
	x, dy := rand64(r, n, -4, 4), rand64(r, n, -1, 1)
	gamma, beta := rand64(r, C, 0.5, 1.5), rand64(r, C, -1, 1)
	// inPlace runs f(out, in) into a fresh buffer and on a copy of in.
	inPlace := func(name string, in []float64, f func(out, in []float64)) {
		t.Helper()
		want := make([]float64, len(in))
		f(want, in)
		got := clone64(in)
		f(got, got)
		same(t, name, got, want)
	}
	for _, a := range allActs {
		inPlace("ActForward "+a.String(), x, func(y, x []float64) { ActForward(y, x, a) })
		inPlace("ActBackward "+a.String(), dy, func(dx, dy []float64) { ActBackward(dx, dy, x, a) })
		mean, invstd := make([]float64, C), make([]float64, C)
		inPlace("BNTrainForward "+a.String(), x, func(y, x []float64) {
			BNTrainForward(y, x, M, C, gamma, beta, 1e-5, a, mean, invstd)
		})
		inPlace("BNTrainBackward "+a.String(), dy, func(dx, dy []float64) {
			BNTrainBackward(dx, make([]float64, C), make([]float64, C), dy, x, M, C, gamma, beta, mean, invstd, a)
		})
		inPlace("ScaleShiftAct "+a.String(), x, func(y, x []float64) { ScaleShiftAct(y, x, M, C, gamma, beta, a) })
	}
	inPlace("Add", x, func(d, a []float64) { Add(d, a, dy) })
	inPlace("Scale", x, func(d, a []float64) { Scale(d, a, 1.5) })
	B, P := 1, M
	s := rand64(r, B*C, 0, 1)
	inPlace("ChannelScale", x, func(y, x []float64) { ChannelScale(y, x, s, B, P, C) })
	dx1, ds1 := make([]float64, n), make([]float64, C)
	ChannelScaleBackward(dx1, ds1, dy, x, s, B, P, C)
	dx2, ds2 := clone64(dy), make([]float64, C)
	ChannelScaleBackward(dx2, ds2, dx2, x, s, B, P, C)
	same(t, "ChannelScaleBackward dx in place", dx2, dx1)
	same(t, "ChannelScaleBackward ds with dx in place", ds2, ds1)
	inPlace("Softmax", x, func(d, z []float64) { Softmax(d, z, M, C) })
}

// TestPanics checks a few bad calls for the "ref:" panic.
func TestPanics(t *testing.T) {
	s := make([]float64, 4)
	expectPanic(t, "Gemm short C", func() { Gemm(false, false, 2, 2, 2, 1, s, 2, s, 2, 0, s[:3], 2) })
	expectPanic(t, "Gemm ld", func() { Gemm(false, false, 2, 2, 2, 1, s, 1, s, 2, 0, s, 2) })
	expectPanic(t, "Depthwise even K", func() {
		DepthwiseForward(kernels.Depthwise{B: 1, H: 2, W: 2, C: 1, K: 2, Stride: 1, KMax: 2, CMax: 1}, s, s, s)
	})
	expectPanic(t, "Depthwise crop", func() {
		DepthwiseForward(kernels.Depthwise{B: 1, H: 2, W: 2, C: 1, K: 3, Stride: 1, KMax: 4, CMax: 1}, s, s, make([]float64, 16))
	})
	expectPanic(t, "BN short x", func() {
		BNTrainForward(s, s[:3], 2, 2, s, s, 1e-5, kernels.ActNone, s, s)
	})
	expectPanic(t, "bad act", func() { ActForward(s, s, kernels.Act(9)) })
	expectPanic(t, "label", func() { SoftmaxCrossEntropy(nil, s, []int{4}, 1, 4, 0) })
	expectPanic(t, "Im2Col", func() { Im2ColForward(kernels.Im2Col{B: 1, H: 2, W: 2, Cin: 1, K: 3, Stride: 0}, s, s) })
}
