package data

import (
	"fmt"
	"math/rand/v2"
)

// AugmentConfig chooses the training-time augmentations of [Augment]. The
// zero value does nothing.
type AugmentConfig struct {
	Flip     bool // mirror left-right with probability 0.5
	MaxShift int  // shift by dx, dy drawn uniformly from [-MaxShift, MaxShift], zero fill; 0 (or less) disables
}

// Augment writes to dst a randomly flipped and shifted copy of the h x w
// image src, c values per pixel in HWC order; len(dst) and len(src) must be
// h*w*c and they must not overlap (it panics otherwise).
//
// It draws from rng, in this order: the flip (rng.IntN(2) == 1, only if
// cfg.Flip), then dx and dy (only if cfg.MaxShift > 0), so the result is
// determined by rng's state. The shift equals zero-padding by MaxShift and a
// random crop; pixels shifted in are 0, which is the mean colour when src is
// normalised (see [Normalize]) and black when it is not.
func Augment(dst, src []float32, h, w, c int, rng *rand.Rand, cfg AugmentConfig) {
	if n := h * w * c; len(dst) != n || len(src) != n {
		panic(fmt.Sprintf("data: Augment: len(dst) %d, len(src) %d, want %dx%dx%d = %d", len(dst), len(src), h, w, c, n))
	}
	flip := cfg.Flip && rng.IntN(2) == 1
	var dx, dy int
	if cfg.MaxShift > 0 {
		dx = rng.IntN(2*cfg.MaxShift+1) - cfg.MaxShift
		dy = rng.IntN(2*cfg.MaxShift+1) - cfg.MaxShift
	}
	flipShift(dst, src, h, w, c, flip, dx, dy)
}

// flipShift sets dst(y, x) = f(y+dy, x+dx), with f = src mirrored left-right
// if flip, else src, and 0 outside the image.
func flipShift(dst, src []float32, h, w, c int, flip bool, dx, dy int) {
	for y := range h {
		sy := y + dy
		for x := range w {
			out := dst[(y*w+x)*c : (y*w+x+1)*c]
			sx := x + dx
			if sy < 0 || sy >= h || sx < 0 || sx >= w {
				clear(out)
				continue
			}
			if flip {
				sx = w - 1 - sx
			}
			copy(out, src[(sy*w+sx)*c:])
		}
	}
}
