//go:build goexperiment.simd && amd64

package kernels

import (
	"math/bits"
	"simd/archsimd"
	"unsafe"
)

// at returns a pointer to s[i:i+16] without a bounds check; callers
// guarantee i+16 <= len(s) (ldm and stm check it).
func at(s []float32, i int) *[16]float32 {
	return (*[16]float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4))
}

// ldm loads the lanes of s[i:] selected by the prefix mask m (zeros
// elsewhere). Near the end of s it uses a bounds-checked partial load, so no
// pointer ever reaches past the slice.
func ldm(s []float32, i int, m archsimd.Mask32x16) archsimd.Float32x16 {
	if i+16 <= len(s) {
		if m.ToBits() == 0xffff {
			// Full vector: plain loads are much cheaper than masked ones on
			// AMD Zen 4.
			return archsimd.LoadFloat32x16(at(s, i))
		}
		return archsimd.LoadMaskedFloat32x16(at(s, i), m)
	}
	// Tail of the slice: go through a local buffer (archsimd's SlicePart
	// helpers trip -race's checkptr).
	var t [16]float32
	copy(t[:], s[i:i+bits.Len16(m.ToBits())])
	return archsimd.LoadFloat32x16(&t)
}

// stm stores the lanes of v selected by the prefix mask m to s[i:].
func stm(v archsimd.Float32x16, s []float32, i int, m archsimd.Mask32x16) {
	if i+16 <= len(s) {
		if m.ToBits() == 0xffff {
			v.Store(at(s, i))
			return
		}
		v.StoreMasked(at(s, i), m)
		return
	}
	var t [16]float32
	v.Store(&t)
	copy(s[i:i+bits.Len16(m.ToBits())], t[:])
}

// laneMask returns the mask of the first n (<= 16) lanes.
func laneMask(n int) archsimd.Mask32x16 {
	if n >= 16 {
		return archsimd.Mask32x16FromBits(0xffff)
	}
	return archsimd.Mask32x16FromBits(uint16(1)<<uint(n) - 1)
}

func ld(s []float32, i int) archsimd.Float32x16 {
	return archsimd.LoadFloat32x16(at(s, i))
}

func st(v archsimd.Float32x16, s []float32, i int) {
	v.Store(at(s, i))
}

// chunkStarts returns the next channel chunk start after c0 for C >= 16
// channels: chunks of 16, the last one shifted back to end at C (it
// overlaps its predecessor, so outputs it overwrites are recomputed
// identically).
func nextChunk(c0, C int) int {
	if c0+16 < C && c0+32 > C {
		return C - 16
	}
	return c0 + 16
}

func dwGatherSIMD(r *dwRow, out, src, w []float32) {
	C := r.C
	if C < 16 {
		dwGatherMasked(r, out, src, w)
		return
	}
	taps := r.taps[:r.ntap]
	ostride, sstride := r.ostep*C, r.sstep*C
	full := laneMask(16)
	// Fold each tap's column offset into its source offset.
	var offs [len(r.taps)][2]int
	for i, tp := range taps {
		offs[i] = [2]int{tp.src + tp.d*C, tp.w}
	}
	tofs := offs[:len(taps)]
	for c0 := 0; c0 < C; c0 = nextChunk(c0, C) {
		t := 0
		for ; t < r.tlo && t < r.nt; t++ {
			dwPixelSIMD(r, taps, out, src, w, t, c0, full)
		}
		for ; t+8 <= r.thi; t += 8 {
			var a0, a1, a2, a3, a4, a5, a6, a7 archsimd.Float32x16
			base := (t*r.sstep)*C + c0
			for _, tp := range tofs {
				wv := ld(w, tp[1]+c0)
				o := tp[0] + base
				a0 = ld(src, o).MulAdd(wv, a0)
				a1 = ld(src, o+sstride).MulAdd(wv, a1)
				a2 = ld(src, o+2*sstride).MulAdd(wv, a2)
				a3 = ld(src, o+3*sstride).MulAdd(wv, a3)
				a4 = ld(src, o+4*sstride).MulAdd(wv, a4)
				a5 = ld(src, o+5*sstride).MulAdd(wv, a5)
				a6 = ld(src, o+6*sstride).MulAdd(wv, a6)
				a7 = ld(src, o+7*sstride).MulAdd(wv, a7)
			}
			o := r.out + t*ostride + c0
			st(a0, out, o)
			st(a1, out, o+ostride)
			st(a2, out, o+2*ostride)
			st(a3, out, o+3*ostride)
			st(a4, out, o+4*ostride)
			st(a5, out, o+5*ostride)
			st(a6, out, o+6*ostride)
			st(a7, out, o+7*ostride)
		}
		for ; t+4 <= r.thi; t += 4 {
			var a0, a1, a2, a3 archsimd.Float32x16
			base := (t*r.sstep)*C + c0
			for _, tp := range tofs {
				wv := ld(w, tp[1]+c0)
				o := tp[0] + base
				a0 = ld(src, o).MulAdd(wv, a0)
				a1 = ld(src, o+sstride).MulAdd(wv, a1)
				a2 = ld(src, o+2*sstride).MulAdd(wv, a2)
				a3 = ld(src, o+3*sstride).MulAdd(wv, a3)
			}
			o := r.out + t*ostride + c0
			st(a0, out, o)
			st(a1, out, o+ostride)
			st(a2, out, o+2*ostride)
			st(a3, out, o+3*ostride)
		}
		for ; t < r.nt; t++ {
			dwPixelSIMD(r, taps, out, src, w, t, c0, full)
		}
	}
}

// dwGatherMasked is dwGatherSIMD for fewer than 16 channels.
func dwGatherMasked(r *dwRow, out, src, w []float32) {
	taps := r.taps[:r.ntap]
	m := laneMask(r.C)
	for t := 0; t < r.nt; t++ {
		dwPixelSIMD(r, taps, out, src, w, t, 0, m)
	}
}

// dwPixelSIMD computes one output pixel's channel chunk, skipping taps that
// fall outside the source row.
func dwPixelSIMD(r *dwRow, taps []dwTap, out, src, w []float32, t, c0 int, m archsimd.Mask32x16) {
	var a archsimd.Float32x16
	for _, tp := range taps {
		col := t*r.sstep + tp.d
		if col < 0 || col >= r.sw {
			continue
		}
		a = ldm(src, tp.src+col*r.C+c0, m).MulAdd(ldm(w, tp.w+c0, m), a)
	}
	stm(a, out, r.out+t*r.ostep*r.C+c0, m)
}

// dwRowGradSIMD: see dwRowGrad. Taps are handled in groups of up to four
// that share one dy load per output pixel.
func dwRowGradSIMD(acc, xRow, dyRow []float32, K, C, s, W, wo int) {
	p := K / 2
	lo := func(j int) int { return max(0, ceilDiv(p-j, s)) }
	hi := func(j int) int { return min(wo, floorDiv(W-1+p-j, s)+1) }
	for c0 := 0; c0 < C; c0 += 16 {
		m := laneMask(C - c0)
		for j0 := 0; j0 < K; {
			n := min(4, K-j0)
			if n == 2 {
				n = 1
			}
			t0, t1 := 0, wo
			for j := j0; j < j0+n; j++ {
				t0, t1 = max(t0, lo(j)), min(t1, hi(j))
			}
			if t1 < t0 {
				t1 = t0
			}
			xo := (t0*s+j0-p)*C + c0 // x offset of tap j0 at pixel t0
			switch n {
			case 4:
				var g0, g1, g2, g3 archsimd.Float32x16
				for t := t0; t < t1; t++ {
					dv := ldm(dyRow, t*C+c0, m)
					g0 = ldm(xRow, xo, m).MulAdd(dv, g0)
					g1 = ldm(xRow, xo+C, m).MulAdd(dv, g1)
					g2 = ldm(xRow, xo+2*C, m).MulAdd(dv, g2)
					g3 = ldm(xRow, xo+3*C, m).MulAdd(dv, g3)
					xo += s * C
				}
				a := (j0)*C + c0
				stm(ldm(acc, a, m).Add(g0), acc, a, m)
				stm(ldm(acc, a+C, m).Add(g1), acc, a+C, m)
				stm(ldm(acc, a+2*C, m).Add(g2), acc, a+2*C, m)
				stm(ldm(acc, a+3*C, m).Add(g3), acc, a+3*C, m)
			case 3:
				var g0, g1, g2 archsimd.Float32x16
				for t := t0; t < t1; t++ {
					dv := ldm(dyRow, t*C+c0, m)
					g0 = ldm(xRow, xo, m).MulAdd(dv, g0)
					g1 = ldm(xRow, xo+C, m).MulAdd(dv, g1)
					g2 = ldm(xRow, xo+2*C, m).MulAdd(dv, g2)
					xo += s * C
				}
				a := (j0)*C + c0
				stm(ldm(acc, a, m).Add(g0), acc, a, m)
				stm(ldm(acc, a+C, m).Add(g1), acc, a+C, m)
				stm(ldm(acc, a+2*C, m).Add(g2), acc, a+2*C, m)
			default:
				t0, t1 = lo(j0), hi(j0)
			}
			// Border pixels of the group (all pixels for a single tap).
			for j := j0; j < j0+n; j++ {
				tl, th := lo(j), hi(j)
				ranges := [2][2]int{{tl, min(t0, th)}, {max(t1, tl), th}}
				if n == 1 {
					ranges = [2][2]int{{tl, th}, {0, 0}}
				}
				var g0, g1 archsimd.Float32x16
				for _, rg := range ranges {
					t := rg[0]
					for ; t+2 <= rg[1]; t += 2 {
						g0 = ldm(xRow, (t*s+j-p)*C+c0, m).MulAdd(ldm(dyRow, t*C+c0, m), g0)
						g1 = ldm(xRow, ((t+1)*s+j-p)*C+c0, m).MulAdd(ldm(dyRow, (t+1)*C+c0, m), g1)
					}
					if t < rg[1] {
						g0 = ldm(xRow, (t*s+j-p)*C+c0, m).MulAdd(ldm(dyRow, t*C+c0, m), g0)
					}
				}
				a := j*C + c0
				stm(ldm(acc, a, m).Add(g0.Add(g1)), acc, a, m)
			}
			j0 += n
		}
	}
}
