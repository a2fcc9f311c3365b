package trainer

import (
	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
)

// float is the element type of a graph: float32 for training, float64 for
// the finite-difference checks of the very same layer code.
type float interface{ float32 | float64 }

// prims are the kernels the layers call from one shard's goroutine:
// nas/kernels on the calling goroutine only (kernels.Threads(1)) for
// float32, their float64 twins in nas/kernels/ref for float64. The shards
// are the engine's parallelism; no kernel starts goroutines of its own.
type prims[T float] struct {
	gemm             func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)
	bnSums           func(s1, s2 []float64, x []T, M, C int, shift []T)
	bnApply          func(y, x []T, M, C int, mean, a, b []T, act kernels.Act)
	bnBackwardSums   func(sdz, sdzx []float64, dz, dy, x []T, M, C int, mean, a, b []T, act kernels.Act) bool
	bnBackwardCoeffs func(k1, k2, dgamma, dbeta []T, sdz, sdzx []float64, a, invstd []T, N int)
	bnBackwardApply  func(dx, dy, x []T, M, C int, mean, a, b, k1, k2 []T, act kernels.Act)
	dwForward        func(d kernels.Depthwise, y, x, w []T)
	dwBackwardInput  func(d kernels.Depthwise, dx, dy, w []T)
	dwBackwardWeight func(d kernels.Depthwise, dw, x, dy []T)
	im2col           func(g kernels.Im2Col, col, x []T)
	act              func(y, x []T, a kernels.Act)
	dact             func(dx, dy, x []T, a kernels.Act)
	gap              func(y, x []T, B, P, C int)
	avgPool          func(y, x []T, B, H, W, C int)
	avgPoolBackward  func(dx, dy []T, B, H, W, C int)
	chanScale        func(y, x, s []T, B, P, C int)
	chanScaleBwd     func(dx, ds, dy, x, s []T, B, P, C int)
	add              func(dst, a, b []T)
	scaleShiftAct    func(y, x []T, M, C int, scale, shift []T, a kernels.Act)
	addBias          func(y []T, M, N, ld int, bias []T)
	sumRows          func(dst, x []T, M, N, ld int)
	softmaxCE        func(dlogits, logits []T, labels []int, B, K int, smoothing T) float64
	softTargetCE     func(dlogits, logits, target []T, B, K int) float64
	softmax          func(dst, logits []T, B, K int)
}

var serial = kernels.Threads(1)

var prims32 = prims[float32]{
	gemm:             serial.Gemm,
	bnSums:           kernels.BNSums,
	bnApply:          kernels.BNApply,
	bnBackwardSums:   kernels.BNBackwardSums,
	bnBackwardCoeffs: kernels.BNBackwardCoeffs,
	bnBackwardApply:  kernels.BNBackwardApply,
	dwForward:        func(d kernels.Depthwise, y, x, w []float32) { d.Threads = 1; d.Forward(y, x, w) },
	dwBackwardInput:  func(d kernels.Depthwise, dx, dy, w []float32) { d.Threads = 1; d.BackwardInput(dx, dy, w) },
	dwBackwardWeight: func(d kernels.Depthwise, dw, x, dy []float32) { d.Threads = 1; d.BackwardWeight(dw, x, dy) },
	im2col:           func(g kernels.Im2Col, col, x []float32) { g.Threads = 1; g.Forward(col, x) },
	act:              serial.ActForward,
	dact:             serial.ActBackward,
	gap:              serial.GlobalAvgPool,
	avgPool:          serial.AvgPool2x2,
	avgPoolBackward:  serial.AvgPool2x2Backward,
	chanScale:        serial.ChannelScale,
	chanScaleBwd:     serial.ChannelScaleBackward,
	add:              serial.Add,
	scaleShiftAct:    serial.ScaleShiftAct,
	addBias:          kernels.AddBias,
	sumRows:          kernels.SumRows,
	softmaxCE:        kernels.SoftmaxCrossEntropy,
	softTargetCE:     kernels.SoftTargetCrossEntropy,
	softmax:          kernels.Softmax,
}

var prims64 = prims[float64]{
	gemm:             ref.Gemm,
	bnSums:           ref.BNSums,
	bnApply:          ref.BNApply,
	bnBackwardSums:   ref.BNBackwardSums,
	bnBackwardCoeffs: ref.BNBackwardCoeffs,
	bnBackwardApply:  ref.BNBackwardApply,
	dwForward:        ref.DepthwiseForward,
	dwBackwardInput:  ref.DepthwiseBackwardInput,
	dwBackwardWeight: ref.DepthwiseBackwardWeight,
	im2col:           ref.Im2ColForward,
	act:              ref.ActForward,
	dact:             ref.ActBackward,
	gap:              ref.GlobalAvgPool,
	avgPool:          ref.AvgPool2x2,
	avgPoolBackward:  ref.AvgPool2x2Backward,
	chanScale:        ref.ChannelScale,
	chanScaleBwd:     ref.ChannelScaleBackward,
	add:              ref.Add,
	scaleShiftAct:    ref.ScaleShiftAct,
	addBias:          ref.AddBias,
	sumRows:          ref.SumRows,
	softmaxCE:        ref.SoftmaxCrossEntropy,
	softTargetCE:     ref.SoftTargetCrossEntropy,
	softmax:          ref.Softmax,
}
