package ref

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// dwCheck validates d and the lengths of the output-shaped, input-shaped
// and weight buffers.
func dwCheck(fn string, d kernels.Depthwise, out, in, w []float64) {
	if d.B < 0 || d.H < 1 || d.W < 1 || d.C < 0 || d.K < 1 || d.K%2 == 0 || d.Stride < 1 ||
		d.K > d.KMax || d.C > d.CMax || (d.KMax-d.K)%2 != 0 {
		panic(fmt.Sprintf("ref: %s: bad shape %+v", fn, d))
	}
	ho, wo := d.OutSize()
	need(fn, "output", out, d.B*ho*wo*d.C)
	need(fn, "input", in, d.B*d.H*d.W*d.C)
	need(fn, "weight", w, d.KMax*d.KMax*d.CMax)
}

// dwWeight returns the offset of weight element (i, j, c) of the K x K
// centre crop in the [KMax, KMax, CMax] buffer.
func dwWeight(d kernels.Depthwise, i, j, c int) int {
	o := (d.KMax - d.K) / 2
	return ((o+i)*d.KMax+(o+j))*d.CMax + c
}

// DepthwiseForward is the float64 twin of kernels.Depthwise.Forward:
// y[B, Ho, Wo, C] (overwritten) = depthwise(x[B, H, W, C], w) with padding
// K/2 and stride d.Stride.
func DepthwiseForward(d kernels.Depthwise, y, x, w []float64) {
	dwCheck("DepthwiseForward", d, y, x, w)
	ho, wo := d.OutSize()
	p := d.K / 2
	for b := 0; b < d.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for c := 0; c < d.C; c++ {
					var s float64
					for i := 0; i < d.K; i++ {
						ih := oh*d.Stride + i - p
						if ih < 0 || ih >= d.H {
							continue
						}
						for j := 0; j < d.K; j++ {
							iw := ow*d.Stride + j - p
							if iw < 0 || iw >= d.W {
								continue
							}
							s += x[((b*d.H+ih)*d.W+iw)*d.C+c] * w[dwWeight(d, i, j, c)]
						}
					}
					y[((b*ho+oh)*wo+ow)*d.C+c] = s
				}
			}
		}
	}
}

// DepthwiseBackwardInput is the float64 twin of
// kernels.Depthwise.BackwardInput: dx[B, H, W, C] (overwritten) from
// dy[B, Ho, Wo, C].
func DepthwiseBackwardInput(d kernels.Depthwise, dx, dy, w []float64) {
	dwCheck("DepthwiseBackwardInput", d, dy, dx, w)
	ho, wo := d.OutSize()
	p := d.K / 2
	clear(dx[:d.B*d.H*d.W*d.C])
	for b := 0; b < d.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for c := 0; c < d.C; c++ {
					g := dy[((b*ho+oh)*wo+ow)*d.C+c]
					for i := 0; i < d.K; i++ {
						ih := oh*d.Stride + i - p
						if ih < 0 || ih >= d.H {
							continue
						}
						for j := 0; j < d.K; j++ {
							iw := ow*d.Stride + j - p
							if iw < 0 || iw >= d.W {
								continue
							}
							dx[((b*d.H+ih)*d.W+iw)*d.C+c] += g * w[dwWeight(d, i, j, c)]
						}
					}
				}
			}
		}
	}
}

// DepthwiseBackwardWeight is the float64 twin of
// kernels.Depthwise.BackwardWeight: it accumulates the weight gradient into
// the centre crop of dw[KMax, KMax, CMax] (dw += dL/dw) from the forward
// input x and the output gradient dy.
func DepthwiseBackwardWeight(d kernels.Depthwise, dw, x, dy []float64) {
	dwCheck("DepthwiseBackwardWeight", d, dy, x, dw)
	ho, wo := d.OutSize()
	p := d.K / 2
	for i := 0; i < d.K; i++ {
		for j := 0; j < d.K; j++ {
			for c := 0; c < d.C; c++ {
				var s float64
				for b := 0; b < d.B; b++ {
					for oh := 0; oh < ho; oh++ {
						ih := oh*d.Stride + i - p
						if ih < 0 || ih >= d.H {
							continue
						}
						for ow := 0; ow < wo; ow++ {
							iw := ow*d.Stride + j - p
							if iw < 0 || iw >= d.W {
								continue
							}
							s += x[((b*d.H+ih)*d.W+iw)*d.C+c] * dy[((b*ho+oh)*wo+ow)*d.C+c]
						}
					}
				}
				dw[dwWeight(d, i, j, c)] += s
			}
		}
	}
}
