package kernels

import "math"

// ResizeBilinear resamples src[B, H, W, C] to dst[B, Ho, Wo, C] with
// PyTorch's F.interpolate(mode="bilinear", align_corners=False) (no
// antialiasing): source coordinate (d+0.5)*in/out-0.5, clamped at 0
// (elastic resolution, ALGORITHM.md section 4). Forward only.
func ResizeBilinear(dst, src []float32, B, H, W, C, Ho, Wo int) {
	Threads(0).ResizeBilinear(dst, src, B, H, W, C, Ho, Wo)
}

// ResizeBilinear is the package-level ResizeBilinear under the goroutine
// budget t.
func (t Threads) ResizeBilinear(dst, src []float32, B, H, W, C, Ho, Wo int) {
	t.resize(dst, src, B, H, W, C, Ho, Wo, false)
}

// ResizeBicubic is ResizeBilinear with mode="bicubic" (A = -0.75, taps
// clamped to the border, as PyTorch).
func ResizeBicubic(dst, src []float32, B, H, W, C, Ho, Wo int) {
	Threads(0).resize(dst, src, B, H, W, C, Ho, Wo, true)
}

// resTaps holds, for one output coordinate, up to 4 source indices and
// weights.
type resTaps struct {
	idx [4]int
	w   [4]float32
	n   int
}

func resizeTaps(in, out int, cubic bool) []resTaps {
	t := make([]resTaps, out)
	scale := float64(in) / float64(out)
	for d := range t {
		s := (float64(d)+0.5)*scale - 0.5
		if !cubic {
			s = max(s, 0)
			i0 := int(s)
			l := float32(s - float64(i0))
			i1 := min(i0+1, in-1)
			t[d] = resTaps{idx: [4]int{i0, i1}, w: [4]float32{1 - l, l}, n: 2}
			continue
		}
		f := math.Floor(s)
		x := s - f
		const A = -0.75
		cc1 := func(x float64) float64 { return ((A+2)*x-(A+3))*x*x + 1 }
		cc2 := func(x float64) float64 { return ((A*x-5*A)*x+8*A)*x - 4*A }
		ws := [4]float64{cc2(x + 1), cc1(x), cc1(1 - x), cc2(2 - x)}
		var rt resTaps
		for k := 0; k < 4; k++ {
			rt.idx[k] = min(max(int(f)-1+k, 0), in-1)
			rt.w[k] = float32(ws[k])
		}
		rt.n = 4
		t[d] = rt
	}
	return t
}

func (t Threads) resize(dst, src []float32, B, H, W, C, Ho, Wo int, cubic bool) {
	nonneg(B, H, W, C, Ho, Wo)
	need("src", src, B*H*W*C)
	need("dst", dst, B*Ho*Wo*C)
	if B*Ho*Wo*C == 0 {
		return
	}
	if H == Ho && W == Wo {
		copy(dst[:B*H*W*C], src)
		return
	}
	th, tw := resizeTaps(H, Ho, cubic), resizeTaps(W, Wo, cubic)
	rows := B * Ho
	nt := t.limit(rows*Wo*C*16, 1<<18)
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		for row := lo; row < hi; row++ {
			b, oh := row/Ho, row%Ho
			ty := th[oh]
			for ow := 0; ow < Wo; ow++ {
				tx := tw[ow]
				d := dst[(row*Wo+ow)*C : (row*Wo+ow+1)*C]
				clear(d)
				for i := 0; i < ty.n; i++ {
					for j := 0; j < tx.n; j++ {
						wgt := ty.w[i] * tx.w[j]
						if wgt == 0 {
							continue
						}
						o := ((b*H+ty.idx[i])*W + tx.idx[j]) * C
						axpyGo(wgt, src[o:o+C], d)
					}
				}
			}
		}
	})
}
