package ref

import (
	"fmt"
	"math"
	"testing"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// The tests in this file check every backward function against central
// finite differences of its forward function, through the loss
// L = sum(r*forward(x)) for a fixed random r. Accumulated gradients start
// from random values, which are subtracted before the comparison.

func TestGemmGrad(t *testing.T) {
	r := newRand(21)
	m, n, k := 4, 5, 3
	alpha := 0.75
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			name := fmt.Sprintf("tA=%v tB=%v", tA, tB)
			ar, ac := m, k
			if tA {
				ar, ac = k, m
			}
			br, bc := k, n
			if tB {
				br, bc = n, k
			}
			lda, ldb, ldc := ac+2, bc+1, n+3
			a, b := rand64(r, ar*lda, -1, 1), rand64(r, br*ldb, -1, 1)
			rc := rand64(r, m*ldc, -1, 1) // dL/dC; the padding is never read
			c := make([]float64, m*ldc)
			loss := func() float64 {
				Gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc)
				var s float64
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						s += rc[i*ldc+j] * c[i*ldc+j]
					}
				}
				return s
			}
			// dA = alpha*dC*op(B)^T, stored transposed when tA; likewise dB.
			da0 := rand64(r, len(a), -1, 1)
			da := clone64(da0)
			if !tA {
				Gemm(false, !tB, m, k, n, alpha, rc, ldc, b, ldb, 1, da, lda)
			} else {
				Gemm(tB, true, k, m, n, alpha, b, ldb, rc, ldc, 1, da, lda)
			}
			checkGrad(t, name+" dA", loss, a, sub(da, da0))
			db0 := rand64(r, len(b), -1, 1)
			db := clone64(db0)
			if !tB {
				Gemm(!tA, false, k, n, m, alpha, a, lda, rc, ldc, 1, db, ldb)
			} else {
				Gemm(true, tA, n, k, m, alpha, rc, ldc, a, lda, 1, db, ldb)
			}
			checkGrad(t, name+" dB", loss, b, sub(db, db0))
		}
	}
}

var dwGradShapes = []kernels.Depthwise{
	{B: 2, H: 5, W: 6, C: 3, K: 3, Stride: 1, KMax: 5, CMax: 4},
	{B: 1, H: 6, W: 5, C: 2, K: 5, Stride: 2, KMax: 7, CMax: 3},
	{B: 1, H: 7, W: 7, C: 2, K: 3, Stride: 2, KMax: 3, CMax: 2},
	{B: 1, H: 4, W: 3, C: 1, K: 7, Stride: 1, KMax: 7, CMax: 2},
}

func TestDepthwiseGrad(t *testing.T) {
	r := newRand(22)
	for _, d := range dwGradShapes {
		name := fmt.Sprintf("%+v", d)
		ho, wo := d.OutSize()
		x := rand64(r, d.B*d.H*d.W*d.C, -1, 1)
		w := rand64(r, d.KMax*d.KMax*d.CMax, -1, 1)
		ry := rand64(r, d.B*ho*wo*d.C, -1, 1)
		y := make([]float64, len(ry))
		loss := func() float64 {
			DepthwiseForward(d, y, x, w)
			return dot(ry, y)
		}
		dx := make([]float64, len(x))
		DepthwiseBackwardInput(d, dx, ry, w)
		checkGrad(t, name+" dx", loss, x, dx)
		dw0 := rand64(r, len(w), -1, 1)
		dw := clone64(dw0)
		DepthwiseBackwardWeight(d, dw, x, ry)
		checkGrad(t, name+" dw", loss, w, sub(dw, dw0)) // 0 outside the crop
	}
}

// nearKink reports whether z lies within 1e-3 of a point where act is not
// differentiable (finite differences across it are meaningless).
func nearKink(a kernels.Act, z float64) bool {
	var kinks []float64
	switch a {
	case kernels.ActReLU:
		kinks = []float64{0}
	case kernels.ActHSwish, kernels.ActHSigmoid:
		kinks = []float64{-3, 3}
	}
	for _, k := range kinks {
		if math.Abs(z-k) < 1e-3 {
			return true
		}
	}
	return false
}

func TestBNGrad(t *testing.T) {
	r := newRand(23)
	for _, sh := range [][2]int{{1, 2}, {2, 3}, {9, 3}, {16, 2}} {
		M, C := sh[0], sh[1]
		CMax := C + 2
		for _, a := range allActs {
			name := fmt.Sprintf("M%d C%d %v", M, C, a)
			var x, gamma, beta, mean, invstd []float64
			y := make([]float64, M*C)
			for try := 0; ; try++ { // draw until no z lies at a kink
				x = rand64(r, M*C, -2, 2)
				gamma, beta = rand64(r, CMax, 0.5, 2), rand64(r, CMax, -1, 1)
				mean, invstd = make([]float64, C), make([]float64, C)
				BNTrainForward(y, x, M, C, gamma, beta, 1e-5, kernels.ActNone, mean, invstd)
				ok := true
				for _, z := range y {
					ok = ok && !nearKink(a, z)
				}
				if ok {
					break
				}
				if try == 100 {
					t.Fatalf("%s: no input away from the kinks", name)
				}
			}
			ry := rand64(r, M*C, -1, 1)
			m2, s2 := make([]float64, C), make([]float64, C)
			loss := func() float64 {
				BNTrainForward(y, x, M, C, gamma, beta, 1e-5, a, m2, s2)
				return dot(ry, y)
			}
			dx := make([]float64, M*C)
			dg0, db0 := rand64(r, CMax, -1, 1), rand64(r, CMax, -1, 1)
			dg, db := clone64(dg0), clone64(db0)
			BNTrainBackward(dx, dg, db, ry, x, M, C, gamma, beta, mean, invstd, a)
			checkGrad(t, name+" dx", loss, x, dx)
			checkGrad(t, name+" dgamma", loss, gamma, sub(dg, dg0))
			checkGrad(t, name+" dbeta", loss, beta, sub(db, db0))
		}
	}
}

func TestActGrad(t *testing.T) {
	r := newRand(24)
	for _, a := range allActs {
		x := rand64(r, 200, -7, 7)
		for i, v := range x {
			if nearKink(a, v) {
				x[i] += 0.01
			}
		}
		ry := rand64(r, len(x), -1, 1)
		y := make([]float64, len(x))
		loss := func() float64 {
			ActForward(y, x, a)
			return dot(ry, y)
		}
		dx := make([]float64, len(x))
		ActBackward(dx, ry, x, a)
		checkGrad(t, a.String(), loss, x, dx)
	}
}

func TestAddBiasGrad(t *testing.T) {
	r := newRand(25)
	M, N, ld := 6, 4, 7
	y0 := rand64(r, M*ld, -1, 1)
	bias := rand64(r, N, -1, 1)
	ry := rand64(r, M*ld, -1, 1)
	y := make([]float64, len(y0))
	loss := func() float64 {
		copy(y, y0)
		AddBias(y, M, N, ld, bias)
		return dot(ry, y)
	}
	s0 := rand64(r, N, -1, 1)
	s := clone64(s0)
	SumRows(s, ry, M, N, ld)
	checkGrad(t, "SumRows", loss, bias, sub(s, s0))
}

func TestPoolGrad(t *testing.T) {
	r := newRand(26)
	B, P, C := 2, 5, 3
	x := rand64(r, B*P*C, -1, 1)
	ry := rand64(r, B*C, -1, 1)
	y := make([]float64, B*C)
	dx := make([]float64, B*P*C)
	GlobalAvgPoolBackward(dx, ry, B, P, C)
	checkGrad(t, "GlobalAvgPool", func() float64 {
		GlobalAvgPool(y, x, B, P, C)
		return dot(ry, y)
	}, x, dx)

	for _, sh := range [][4]int{{1, 4, 4, 2}, {2, 5, 5, 1}, {1, 4, 5, 2}, {1, 5, 4, 2}, {1, 1, 1, 1}} {
		B, H, W, C := sh[0], sh[1], sh[2], sh[3]
		ho, wo, _ := kernels.AvgPool2x2Size(H, W)
		x := rand64(r, B*H*W*C, -1, 1)
		ry := rand64(r, B*ho*wo*C, -1, 1)
		y := make([]float64, len(ry))
		dx := make([]float64, len(x))
		AvgPool2x2Backward(dx, ry, B, H, W, C)
		checkGrad(t, fmt.Sprintf("AvgPool2x2 %v", sh), func() float64 {
			AvgPool2x2(y, x, B, H, W, C)
			return dot(ry, y)
		}, x, dx)
	}
}

func TestChannelScaleGrad(t *testing.T) {
	r := newRand(27)
	B, P, C := 2, 4, 3
	x, s := rand64(r, B*P*C, -1, 1), rand64(r, B*C, 0, 1)
	ry := rand64(r, B*P*C, -1, 1)
	y := make([]float64, B*P*C)
	loss := func() float64 {
		ChannelScale(y, x, s, B, P, C)
		return dot(ry, y)
	}
	dx, ds := make([]float64, len(x)), make([]float64, len(s))
	ChannelScaleBackward(dx, ds, ry, x, s, B, P, C)
	checkGrad(t, "ChannelScale dx", loss, x, dx)
	checkGrad(t, "ChannelScale ds", loss, s, ds)
}

func TestIm2ColGrad(t *testing.T) {
	r := newRand(28)
	for _, g := range im2colShapes {
		ho, wo := g.OutSize()
		x := rand64(r, g.B*g.H*g.W*g.Cin, -1, 1)
		rc := rand64(r, g.B*ho*wo*g.K*g.K*g.Cin, -1, 1)
		col := make([]float64, len(rc))
		dx := make([]float64, len(x))
		Im2ColBackward(g, dx, rc)
		checkGrad(t, fmt.Sprintf("%+v", g), func() float64 {
			Im2ColForward(g, col, x)
			return dot(rc, col)
		}, x, dx)
	}
}

func TestLossGrad(t *testing.T) {
	r := newRand(29)
	B, K := 4, 6
	z := rand64(r, B*K, -3, 3)
	z[1] = 25 // a dominant logit
	labels := []int{1, 0, 5, 2}
	for _, eps := range []float64{0, 0.1} {
		d := make([]float64, B*K)
		SoftmaxCrossEntropy(d, z, labels, B, K, eps)
		checkGrad(t, fmt.Sprintf("SoftmaxCrossEntropy smoothing %g", eps), func() float64 {
			return SoftmaxCrossEntropy(nil, z, labels, B, K, eps)
		}, z, d)
	}
	target := rand64(r, B*K, 0, 1) // rows do not sum to 1
	d := make([]float64, B*K)
	SoftTargetCrossEntropy(d, z, target, B, K)
	checkGrad(t, "SoftTargetCrossEntropy", func() float64 {
		return SoftTargetCrossEntropy(nil, z, target, B, K)
	}, z, d)
}
