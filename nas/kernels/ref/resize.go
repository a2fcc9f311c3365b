package ref

// bilinearTap returns, for output coordinate d of an axis resized from in
// to out samples, the two source indices and their weights (PyTorch's
// align_corners=False rule: source (d+0.5)*in/out - 0.5, clamped at 0).
func bilinearTap(d, in, out int) (i0, i1 int, w0, w1 float64) {
	s := max((float64(d)+0.5)*float64(in)/float64(out)-0.5, 0)
	i0 = int(s)
	l := s - float64(i0)
	i1 = min(i0+1, in-1)
	return i0, i1, 1 - l, l
}

// ResizeBilinear is the float64 twin of kernels.ResizeBilinear: it resamples
// src[B, H, W, C] to dst[B, Ho, Wo, C] (overwritten) as PyTorch's
// F.interpolate(mode="bilinear", align_corners=False) without antialiasing.
// Forward only; taps of weight 0 are not read (so an unchanged size is an
// exact copy).
func ResizeBilinear(dst, src []float64, B, H, W, C, Ho, Wo int) {
	nonneg("ResizeBilinear", B, H, W, C, Ho, Wo)
	need("ResizeBilinear", "src", src, B*H*W*C)
	need("ResizeBilinear", "dst", dst, B*Ho*Wo*C)
	for b := 0; b < B; b++ {
		for oh := 0; oh < Ho; oh++ {
			h0, h1, a0, a1 := bilinearTap(oh, H, Ho)
			for ow := 0; ow < Wo; ow++ {
				w0, w1, b0, b1 := bilinearTap(ow, W, Wo)
				taps := [4]struct {
					h, w int
					f    float64
				}{{h0, w0, a0 * b0}, {h0, w1, a0 * b1}, {h1, w0, a1 * b0}, {h1, w1, a1 * b1}}
				for c := 0; c < C; c++ {
					var s float64
					for _, t := range taps {
						if t.f != 0 { // like the twin: a zero-weight tap is not read
							s += t.f * src[((b*H+t.h)*W+t.w)*C+c]
						}
					}
					dst[((b*Ho+oh)*Wo+ow)*C+c] = s
				}
			}
		}
	}
}
