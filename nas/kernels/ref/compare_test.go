package ref

import (
	"fmt"
	"math"
	"testing"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// The tests in this file run every float64 twin and its float32 kernel on
// the same random inputs (float32 values, exact in float64) and compare the
// outputs. Overwritten outputs start as NaN, accumulated ones as the same
// random values in both.

func TestGemmMatchesKernels(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := newRand(1)
		shapes := [][3]int{{1, 1, 1}, {7, 5, 3}, {13, 33, 17}, {37, 70, 129}, {5, 9, 600}, {3, 4, 0}}
		scalars := [][2]float64{{1, 0}, {0.5, 1}, {-1.5, -0.5}, {0, 0.5}, {0, 0}}
		for _, sh := range shapes {
			m, n, k := sh[0], sh[1], sh[2]
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, ab := range scalars {
						alpha, beta := ab[0], ab[1]
						name := fmt.Sprintf("m%d n%d k%d tA=%v tB=%v alpha %g beta %g", m, n, k, tA, tB, alpha, beta)
						ar, ac := m, k
						if tA {
							ar, ac = k, m
						}
						br, bc := k, n
						if tB {
							br, bc = n, k
						}
						lda, ldb, ldc := ac+3, bc+1, n+2 // leading dimensions beyond the block
						a32, a64 := randPair(r, ar*lda, -1, 1)
						b32, b64 := randPair(r, br*ldb, -1, 1)
						c32, c64 := randPair(r, m*ldc, -1, 1) // padding columns must survive
						if beta == 0 {
							for i := 0; i < m; i++ {
								for j := 0; j < n; j++ {
									c32[i*ldc+j], c64[i*ldc+j] = float32(math.NaN()), math.NaN()
								}
							}
						}
						kernels.Gemm(tA, tB, m, n, k, float32(alpha), a32, lda, b32, ldb, float32(beta), c32, ldc)
						Gemm(tA, tB, m, n, k, alpha, a64, lda, b64, ldb, beta, c64, ldc)
						match(t, name, c32, c64)
					}
				}
			}
		}
	})
}

// dwShapes covers strides 1 and 2, odd sizes, k 3/5/7 cropped from KMax
// 5/7, C below CMax, and channel counts on both sides of 16 (the assembly
// paths work on 16-channel vectors).
var dwShapes = []kernels.Depthwise{
	{B: 2, H: 7, W: 9, C: 5, K: 3, Stride: 1, KMax: 5, CMax: 8},
	{B: 1, H: 8, W: 8, C: 20, K: 5, Stride: 2, KMax: 7, CMax: 24},
	{B: 2, H: 9, W: 6, C: 33, K: 3, Stride: 2, KMax: 7, CMax: 33},
	{B: 1, H: 11, W: 13, C: 48, K: 5, Stride: 1, KMax: 5, CMax: 64},
	{B: 2, H: 5, W: 5, C: 17, K: 7, Stride: 2, KMax: 7, CMax: 32},
	{B: 3, H: 12, W: 10, C: 16, K: 3, Stride: 1, KMax: 3, CMax: 16},
	{B: 1, H: 1, W: 1, C: 3, K: 5, Stride: 2, KMax: 7, CMax: 3},
	{B: 2, H: 2, W: 3, C: 50, K: 3, Stride: 1, KMax: 5, CMax: 50},
}

func TestDepthwiseMatchesKernels(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := newRand(2)
		for _, d := range dwShapes {
			name := fmt.Sprintf("%+v", d)
			ho, wo := d.OutSize()
			nx, ny, nw := d.B*d.H*d.W*d.C, d.B*ho*wo*d.C, d.KMax*d.KMax*d.CMax
			x32, x64 := randPair(r, nx, -1, 1)
			w32, w64 := randPair(r, nw, -1, 1)
			dy32, dy64 := randPair(r, ny, -1, 1)

			y32, y64 := nanPair(ny)
			d.Forward(y32, x32, w32)
			DepthwiseForward(d, y64, x64, w64)
			match(t, name+" forward", y32, y64)

			dx32, dx64 := nanPair(nx)
			d.BackwardInput(dx32, dy32, w32)
			DepthwiseBackwardInput(d, dx64, dy64, w64)
			match(t, name+" input grad", dx32, dx64)

			dw32, dw64 := randPair(r, nw, -1, 1) // accumulated into
			d.BackwardWeight(dw32, x32, dy32)
			DepthwiseBackwardWeight(d, dw64, x64, dy64)
			match(t, name+" weight grad", dw32, dw64)
		}
	})
}

func TestBNMatchesKernels(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := newRand(3)
		for _, sh := range [][2]int{{1, 3}, {7, 5}, {130, 37}, {64, 16}} {
			M, C := sh[0], sh[1]
			for _, a := range allActs {
				name := fmt.Sprintf("M%d C%d %v", M, C, a)
				CMax := C + 3 // gamma and beta are leading slices
				x32, x64 := randPair(r, M*C, -1.5, 2.5)
				g32, g64 := randPair(r, CMax, 0.5, 1.5)
				b32, b64 := randPair(r, CMax, -1, 1)
				y32, y64 := nanPair(M * C)
				m32, m64 := nanPair(C)
				s32, s64 := nanPair(C)
				kernels.BNTrainForward(y32, x32, M, C, g32, b32, 1e-5, a, m32, s32)
				BNTrainForward(y64, x64, M, C, g64, b64, 1e-5, a, m64, s64)
				match(t, name+" mean", m32, m64)
				match(t, name+" invstd", s32, s64)
				match(t, name+" y", y32, y64)

				dy32, dy64 := randPair(r, M*C, -1, 1)
				dx32, dx64 := nanPair(M * C)
				dg32, dg64 := randPair(r, CMax, -1, 1) // accumulated into
				db32, db64 := randPair(r, CMax, -1, 1)
				kernels.BNTrainBackward(dx32, dg32, db32, dy32, x32, M, C, g32, b32, m32, s32, a)
				BNTrainBackward(dx64, dg64, db64, dy64, x64, M, C, g64, b64, m64, s64, a)
				match(t, name+" dx", dx32, dx64)
				match(t, name+" dgamma", dg32, dg64)
				match(t, name+" dbeta", db32, db64)

				for _, nils := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					sc32, sc64 := randPair(r, CMax, -2, 2)
					sh32, sh64 := randPair(r, CMax, -2, 2)
					if nils[0] {
						sc32, sc64 = nil, nil
					}
					if nils[1] {
						sh32, sh64 = nil, nil
					}
					y32, y64 := nanPair(M * C)
					kernels.ScaleShiftAct(y32, x32, M, C, sc32, sh32, a)
					ScaleShiftAct(y64, x64, M, C, sc64, sh64, a)
					match(t, fmt.Sprintf("%s ScaleShiftAct nil scale %v, nil shift %v", name, nils[0], nils[1]), y32, y64)
				}
			}
		}
	})
}

func TestActMatchesKernels(t *testing.T) {
	forPaths(t, func(t *testing.T) {
		r := newRand(4)
		for _, n := range []int{1, 17, 1000} {
			x32, x64 := randPair(r, n, -6, 6)
			// The kinks (derivative conventions) and saturated values.
			for i, v := range []float32{0, -3, 3, -6, 6, -50, 50, -100} {
				if i < n {
					x32[i], x64[i] = v, float64(v)
				}
			}
			dy32, dy64 := randPair(r, n, -1, 1)
			for _, a := range allActs {
				name := fmt.Sprintf("%v n=%d", a, n)
				y32, y64 := nanPair(n)
				kernels.ActForward(y32, x32, a)
				ActForward(y64, x64, a)
				match(t, name, y32, y64)
				dx32, dx64 := nanPair(n)
				kernels.ActBackward(dx32, dy32, x32, a)
				ActBackward(dx64, dy64, x64, a)
				match(t, "d"+name, dx32, dx64)
			}
		}
	})
}

func TestElemMatchesKernels(t *testing.T) {
	r := newRand(5)
	n := 1001
	a32, a64 := randPair(r, n, -1, 1)
	b32, b64 := randPair(r, n, -1, 1)
	d32, d64 := nanPair(n)
	kernels.Add(d32, a32, b32)
	Add(d64, a64, b64)
	match(t, "Add", d32, d64)
	d32, d64 = nanPair(n)
	kernels.Scale(d32, a32, -2.5)
	Scale(d64, a64, -2.5)
	match(t, "Scale", d32, d64)
	kernels.Axpy(0.75, a32, b32)
	Axpy(0.75, a64, b64)
	match(t, "Axpy", b32, b64)

	for _, sh := range [][3]int{{1, 1, 1}, {5, 3, 4}, {33, 20, 27}} {
		M, N, ld := sh[0], sh[1], sh[2]
		y32, y64 := randPair(r, M*ld, -1, 1)
		bias32, bias64 := randPair(r, N, -1, 1)
		kernels.AddBias(y32, M, N, ld, bias32)
		AddBias(y64, M, N, ld, bias64)
		match(t, fmt.Sprintf("AddBias %v", sh), y32, y64)
		s32, s64 := randPair(r, N, -1, 1) // accumulated into
		kernels.SumRows(s32, y32, M, N, ld)
		SumRows(s64, y64, M, N, ld)
		match(t, fmt.Sprintf("SumRows %v", sh), s32, s64)
	}
}

func TestPoolMatchesKernels(t *testing.T) {
	r := newRand(6)
	for _, sh := range [][3]int{{1, 1, 1}, {2, 7, 5}, {3, 49, 20}} {
		B, P, C := sh[0], sh[1], sh[2]
		name := fmt.Sprintf("B%d P%d C%d", B, P, C)
		x32, x64 := randPair(r, B*P*C, -1, 1)
		y32, y64 := nanPair(B * C)
		kernels.GlobalAvgPool(y32, x32, B, P, C)
		GlobalAvgPool(y64, x64, B, P, C)
		match(t, name+" GlobalAvgPool", y32, y64)
		dy32, dy64 := randPair(r, B*C, -1, 1)
		dx32, dx64 := nanPair(B * P * C)
		kernels.GlobalAvgPoolBackward(dx32, dy32, B, P, C)
		GlobalAvgPoolBackward(dx64, dy64, B, P, C)
		match(t, name+" GlobalAvgPoolBackward", dx32, dx64)

		s32, s64 := randPair(r, B*C, 0, 1)
		cs32, cs64 := nanPair(B * P * C)
		kernels.ChannelScale(cs32, x32, s32, B, P, C)
		ChannelScale(cs64, x64, s64, B, P, C)
		match(t, name+" ChannelScale", cs32, cs64)
		g32, g64 := randPair(r, B*P*C, -1, 1)
		dx32, dx64 = nanPair(B * P * C)
		ds32, ds64 := nanPair(B * C)
		kernels.ChannelScaleBackward(dx32, ds32, g32, x32, s32, B, P, C)
		ChannelScaleBackward(dx64, ds64, g64, x64, s64, B, P, C)
		match(t, name+" ChannelScaleBackward dx", dx32, dx64)
		match(t, name+" ChannelScaleBackward ds", ds32, ds64)
		ds32, ds64 = nanPair(B * C)
		kernels.ChannelScaleBackward(nil, ds32, g32, x32, s32, B, P, C)
		ChannelScaleBackward(nil, ds64, g64, x64, s64, B, P, C)
		match(t, name+" ChannelScaleBackward ds only", ds32, ds64)
		dx32, dx64 = nanPair(B * P * C)
		kernels.ChannelScaleBackward(dx32, nil, g32, x32, s32, B, P, C)
		ChannelScaleBackward(dx64, nil, g64, x64, s64, B, P, C)
		match(t, name+" ChannelScaleBackward dx only", dx32, dx64)
	}

	// AvgPool2x2: even and odd sizes (W odd pads both dimensions by 1).
	for _, sh := range [][4]int{{1, 1, 1, 2}, {2, 8, 8, 3}, {1, 7, 7, 5}, {2, 6, 7, 4}, {1, 7, 6, 3}, {2, 3, 5, 17}, {1, 2, 1, 1}} {
		B, H, W, C := sh[0], sh[1], sh[2], sh[3]
		name := fmt.Sprintf("AvgPool2x2 B%d H%d W%d C%d", B, H, W, C)
		ho, wo, _ := kernels.AvgPool2x2Size(H, W)
		x32, x64 := randPair(r, B*H*W*C, -1, 1)
		y32, y64 := nanPair(B * ho * wo * C)
		kernels.AvgPool2x2(y32, x32, B, H, W, C)
		AvgPool2x2(y64, x64, B, H, W, C)
		match(t, name, y32, y64)
		dy32, dy64 := randPair(r, B*ho*wo*C, -1, 1)
		dx32, dx64 := nanPair(B * H * W * C)
		kernels.AvgPool2x2Backward(dx32, dy32, B, H, W, C)
		AvgPool2x2Backward(dx64, dy64, B, H, W, C)
		match(t, name+" backward", dx32, dx64)
	}
}

var im2colShapes = []kernels.Im2Col{
	{B: 2, H: 7, W: 9, Cin: 3, K: 3, Stride: 2},
	{B: 1, H: 8, W: 8, Cin: 1, K: 5, Stride: 1},
	{B: 2, H: 5, W: 6, Cin: 4, K: 3, Stride: 1},
	{B: 1, H: 4, W: 5, Cin: 2, K: 1, Stride: 2},
	{B: 1, H: 2, W: 2, Cin: 3, K: 7, Stride: 2},
}

func TestIm2ColMatchesKernels(t *testing.T) {
	r := newRand(7)
	for _, g := range im2colShapes {
		name := fmt.Sprintf("%+v", g)
		ho, wo := g.OutSize()
		nx, nc := g.B*g.H*g.W*g.Cin, g.B*ho*wo*g.K*g.K*g.Cin
		x32, x64 := randPair(r, nx, -1, 1)
		c32, c64 := nanPair(nc)
		g.Forward(c32, x32)
		Im2ColForward(g, c64, x64)
		match(t, name+" forward", c32, c64)
		dc32, dc64 := randPair(r, nc, -1, 1)
		dx32, dx64 := nanPair(nx)
		g.Backward(dx32, dc32)
		Im2ColBackward(g, dx64, dc64)
		match(t, name+" backward", dx32, dx64)
	}
}

func TestResizeMatchesKernels(t *testing.T) {
	r := newRand(8)
	for _, sh := range [][7]int{
		{2, 8, 8, 3, 5, 5}, {1, 5, 7, 2, 11, 9}, {1, 6, 6, 4, 6, 6}, {1, 1, 1, 3, 4, 4},
		{2, 9, 4, 1, 4, 9}, {1, 3, 3, 17, 1, 1}, {1, 32, 32, 3, 24, 24},
	} {
		B, H, W, C, Ho, Wo := sh[0], sh[1], sh[2], sh[3], sh[4], sh[5]
		src32, src64 := randPair(r, B*H*W*C, -1, 1)
		d32, d64 := nanPair(B * Ho * Wo * C)
		kernels.ResizeBilinear(d32, src32, B, H, W, C, Ho, Wo)
		ResizeBilinear(d64, src64, B, H, W, C, Ho, Wo)
		match(t, fmt.Sprintf("ResizeBilinear %v", sh[:6]), d32, d64)
	}
}

func TestLossesMatchKernels(t *testing.T) {
	r := newRand(9)
	for _, sh := range [][2]int{{1, 1}, {1, 3}, {4, 10}, {16, 7}} {
		B, K := sh[0], sh[1]
		z32, z64 := randPair(r, B*K, -4, 4)
		z32[0], z64[0] = 60, 60 // a large logit: max subtraction
		labels := make([]int, B)
		for b := range labels {
			labels[b] = r.IntN(K)
		}
		for _, eps := range []float32{0, 0.1} {
			name := fmt.Sprintf("B%d K%d smoothing %g", B, K, eps)
			d32, d64 := nanPair(B * K)
			l32 := kernels.SoftmaxCrossEntropy(d32, z32, labels, B, K, eps)
			l64 := SoftmaxCrossEntropy(d64, z64, labels, B, K, float64(eps))
			matchScalar(t, name+" loss", l32, l64)
			match(t, name+" dlogits", d32, d64)
			if l := SoftmaxCrossEntropy(nil, z64, labels, B, K, float64(eps)); l != l64 {
				t.Fatalf("%s: loss without dlogits %g, with %g", name, l, l64)
			}
		}
		// Soft targets that do not sum to 1 exercise the sum(target) factor.
		t32, t64 := randPair(r, B*K, 0, 1)
		d32, d64 := nanPair(B * K)
		l32 := kernels.SoftTargetCrossEntropy(d32, z32, t32, B, K)
		l64 := SoftTargetCrossEntropy(d64, z64, t64, B, K)
		name := fmt.Sprintf("B%d K%d soft target", B, K)
		matchScalar(t, name+" loss", l32, l64)
		match(t, name+" dlogits", d32, d64)
		if l := SoftTargetCrossEntropy(nil, z64, t64, B, K); l != l64 {
			t.Fatalf("%s: loss without dlogits %g, with %g", name, l, l64)
		}
		p32, p64 := nanPair(B * K)
		kernels.Softmax(p32, z32, B, K)
		Softmax(p64, z64, B, K)
		match(t, fmt.Sprintf("B%d K%d softmax", B, K), p32, p64)
	}
	if l := SoftmaxCrossEntropy(nil, nil, nil, 0, 4, 0.1); l != 0 {
		t.Fatalf("empty batch: loss %g", l)
	}
}
