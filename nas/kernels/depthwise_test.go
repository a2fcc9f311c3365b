package kernels

import (
	"fmt"
	"math"
	"testing"
)

// dwRef is the float64 reference forward pass (naive loops, zero padding).
func dwRef(d Depthwise, x, w []float64) []float64 {
	ho, wo := d.OutSize()
	p := d.K / 2
	y := make([]float64, d.B*ho*wo*d.C)
	for b := 0; b < d.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for c := 0; c < d.C; c++ {
					var s float64
					for i := 0; i < d.K; i++ {
						for j := 0; j < d.K; j++ {
							ih, iw := oh*d.Stride+i-p, ow*d.Stride+j-p
							if ih < 0 || ih >= d.H || iw < 0 || iw >= d.W {
								continue
							}
							s += x[((b*d.H+ih)*d.W+iw)*d.C+c] * w[d.woff(i, j)+c]
						}
					}
					y[((b*ho+oh)*wo+ow)*d.C+c] = s
				}
			}
		}
	}
	return y
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdCheck compares grad with central finite differences of f at up to 40
// coordinates of x spread over the whole vector, with tolerance tol64
// relative to the gradient's scale.
func fdCheck(t *testing.T, name string, f func([]float64) float64, x, grad []float64, h float64) {
	t.Helper()
	ref := rms(grad)
	if ref == 0 {
		ref = 1
	}
	step := max(1, len(x)/40)
	for i := step / 2; i < len(x); i += step {
		v := x[i]
		x[i] = v + h
		fp := f(x)
		x[i] = v - h
		fm := f(x)
		x[i] = v
		fd := (fp - fm) / (2 * h)
		if math.Abs(fd-grad[i]) > tol64*math.Max(ref, math.Abs(fd))+1e-9 {
			t.Fatalf("%s: coordinate %d: finite difference %g, gradient %g", name, i, fd, grad[i])
		}
	}
}

// dwRefBackward is the float64 reference backward pass: it scatters
// dy[b,oh,ow,c]*w into dx and dy*x into dw (crop offsets applied).
func dwRefBackward(d Depthwise, x, w, dy []float64) (dx, dw []float64) {
	ho, wo := d.OutSize()
	p := d.K / 2
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	for b := 0; b < d.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for i := 0; i < d.K; i++ {
					for j := 0; j < d.K; j++ {
						ih, iw := oh*d.Stride+i-p, ow*d.Stride+j-p
						if ih < 0 || ih >= d.H || iw < 0 || iw >= d.W {
							continue
						}
						for c := 0; c < d.C; c++ {
							g := dy[((b*ho+oh)*wo+ow)*d.C+c]
							xi := ((b*d.H+ih)*d.W+iw)*d.C + c
							dx[xi] += g * w[d.woff(i, j)+c]
							dw[d.woff(i, j)+c] += g * x[xi]
						}
					}
				}
			}
		}
	}
	return dx, dw
}

// TestDepthwiseReference checks the reference backward pass against finite
// differences of the reference forward pass, L = sum(dy * forward(x, w)).
func TestDepthwiseReference(t *testing.T) {
	r := newRand(5)
	for _, d := range dwShapes {
		ho, wo := d.OutSize()
		x := to64(randVec(r, d.B*d.H*d.W*d.C, -1, 1))
		w := to64(randVec(r, d.KMax*d.KMax*d.CMax, -1, 1))
		dy := to64(randVec(r, d.B*ho*wo*d.C, -1, 1))
		gx, gw := dwRefBackward(d, x, w, dy)
		fdCheck(t, fmt.Sprintf("%+v dx", d), func(x []float64) float64 { return dot64(dy, dwRef(d, x, w)) }, x, gx, 1e-3)
		fdCheck(t, fmt.Sprintf("%+v dw", d), func(w []float64) float64 { return dot64(dy, dwRef(d, x, w)) }, w, gw, 1e-3)
	}
}

var dwShapes = []Depthwise{
	{B: 2, H: 7, W: 7, C: 24, K: 3, Stride: 1, KMax: 5, CMax: 32},
	{B: 2, H: 8, W: 8, C: 40, K: 5, Stride: 2, KMax: 7, CMax: 48},
	{B: 1, H: 9, W: 6, C: 16, K: 5, Stride: 1, KMax: 5, CMax: 16},
	{B: 3, H: 4, W: 4, C: 8, K: 3, Stride: 2, KMax: 3, CMax: 8},
	{B: 2, H: 5, W: 5, C: 20, K: 7, Stride: 2, KMax: 7, CMax: 24},
	{B: 1, H: 1, W: 1, C: 8, K: 3, Stride: 1, KMax: 5, CMax: 8},
	{B: 1, H: 3, W: 5, C: 33, K: 3, Stride: 1, KMax: 3, CMax: 40},
	{B: 1, H: 12, W: 19, C: 16, K: 5, Stride: 1, KMax: 7, CMax: 16},
	{B: 2, H: 13, W: 20, C: 24, K: 7, Stride: 2, KMax: 7, CMax: 24},
	{B: 1, H: 7, W: 7, C: 8, K: 1, Stride: 2, KMax: 3, CMax: 8},
	{B: 1, H: 10, W: 21, C: 72, K: 5, Stride: 1, KMax: 7, CMax: 80},
	{B: 1, H: 9, W: 34, C: 144, K: 3, Stride: 2, KMax: 5, CMax: 144},
	{B: 1, H: 4, W: 26, C: 104, K: 7, Stride: 1, KMax: 7, CMax: 104},
	// The padded assembly path (depthwise_pad.go): super-pixels for C < 16
	// at stride 1 (k = 2, 4, 16 pixels; W not a multiple of k falls back),
	// rows of 1-3, 5, 12, 14 and 15 pixels, strides 1 and 2, K = 1..7.
	{B: 3, H: 6, W: 8, C: 8, K: 5, Stride: 1, KMax: 5, CMax: 8},
	{B: 3, H: 5, W: 8, C: 12, K: 3, Stride: 1, KMax: 5, CMax: 16},
	{B: 3, H: 4, W: 16, C: 1, K: 3, Stride: 1, KMax: 3, CMax: 1},
	{B: 2, H: 4, W: 16, C: 5, K: 3, Stride: 1, KMax: 5, CMax: 7},
	{B: 2, H: 5, W: 8, C: 6, K: 5, Stride: 1, KMax: 5, CMax: 6},
	{B: 3, H: 4, W: 6, C: 12, K: 3, Stride: 1, KMax: 3, CMax: 12},
	{B: 3, H: 3, W: 3, C: 16, K: 3, Stride: 1, KMax: 3, CMax: 16},
	{B: 3, H: 5, W: 5, C: 48, K: 5, Stride: 1, KMax: 7, CMax: 64},
	{B: 4, H: 12, W: 12, C: 40, K: 7, Stride: 1, KMax: 7, CMax: 40},
	{B: 3, H: 14, W: 14, C: 96, K: 3, Stride: 1, KMax: 5, CMax: 96},
	{B: 3, H: 15, W: 29, C: 72, K: 5, Stride: 2, KMax: 5, CMax: 72},
	{B: 3, H: 16, W: 16, C: 144, K: 5, Stride: 2, KMax: 5, CMax: 144},
	{B: 3, H: 6, W: 7, C: 24, K: 1, Stride: 1, KMax: 3, CMax: 24},
	{B: 2, H: 6, W: 10, C: 16, K: 9, Stride: 1, KMax: 9, CMax: 16},
	{B: 2, H: 11, W: 11, C: 32, K: 11, Stride: 2, KMax: 11, CMax: 32},
}

func TestDepthwise(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		forThreads(t, func(t *testing.T) {
			r := newRand(4)
			for _, d := range dwShapes {
				t.Run(fmt.Sprintf("%dx%dx%dx%d_k%d_s%d_kmax%d", d.B, d.H, d.W, d.C, d.K, d.Stride, d.KMax), func(t *testing.T) {
					ho, wo := d.OutSize()
					x := randVec(r, d.B*d.H*d.W*d.C, -1, 1)
					w := randVec(r, d.KMax*d.KMax*d.CMax, -1, 1)
					dy := randVec(r, d.B*ho*wo*d.C, -1, 1)
					x64, w64, dy64 := to64(x), to64(w), to64(dy)

					y := randVec(r, len(dy), -1, 1)
					d.Forward(y, x, w)
					check(t, "forward", y, dwRef(d, x64, w64), tol32)

					gx, gw := dwRefBackward(d, x64, w64, dy64)
					dx := randVec(r, len(x), -1, 1)
					d.BackwardInput(dx, dy, w)
					check(t, "input grad", dx, gx, tol32)

					// Weight gradient accumulates into the crop only.
					dw0 := randVec(r, len(w), -1, 1)
					dw := append([]float32(nil), dw0...)
					d.BackwardWeight(dw, x, dy)
					for i := range gw {
						gw[i] += float64(dw0[i])
					}
					check(t, "weight grad", dw, gw, tol32)
				})
			}
		})
	})
}
