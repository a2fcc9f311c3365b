package kernels

import "sync"

// Padded depthwise convolution on the assembly blocks (depthwise_amd64.go).
//
// Each goroutine takes whole images: it copies the source image (x for the
// forward pass and the weight gradient, dy for the input gradient) into a
// scratch buffer with zero columns on both sides, so that every output
// pixel sees all its taps in one row. Rows then run as blocks of 8 or 4
// pixels with no per-pixel tap filtering (a last block may overlap its
// predecessor: it recomputes the same values), channel chunk by channel
// chunk so a chunk's rows stay in L1. Rows of taps outside the image are
// left out of each output row's tap list.
//
// With fewer than 16 channels and stride 1, k = 16/gcd(C, 16) neighbouring
// pixels form one "super-pixel" of P = k*C floats (a multiple of 16), with
// the weights tiled to match, so the 16-lane blocks apply unchanged.

type dwPadPlan struct {
	C, P       int // channels; floats per (super-)pixel chunked by the blocks
	Hs, Ws     int // source image height and width
	PL, Wp     int // left padding and padded width, in pixels
	srcImg     int // elements of one source image
	outImg     int // elements of one output image
	rows       []dwPadRow
	offs       [][2]int  // tap (source offset in the padded image, weight offset)
	wt         []float32 // tiled weights (super-pixels), or nil: the caller's w
	wtBuf      *[]float32
	ostep      int // output step per (super-)pixel, elements
	sstep      int // source step per (super-)pixel, elements
	chunks     [][2]int
	chunkStore [64][2]int
}

type dwPadRow struct {
	tap, ntap int // offs[tap : tap+ntap]
	out       int // output element offset of pixel 0 in the image
	n         int // (super-)pixels
}

// dwPadOK reports whether the padded assembly path handles d.
func dwPadOK(d Depthwise) bool {
	if !useDWAsm() || d.B == 0 || d.C == 0 || d.C > 48*60 {
		return false
	}
	if d.C >= 16 {
		return true
	}
	return d.Stride == 1 && d.W%dwSuper(d.C) == 0
}

// dwSuper returns the pixels per super-pixel for C < 16 channels.
func dwSuper(C int) int {
	g := C
	for b := 16; b != 0; {
		g, b = b, g%b
	}
	return 16 / g
}

var dwPlanPool = sync.Pool{New: func() any { return new(dwPadPlan) }}

// newPlan returns an empty plan from the pool (its slices keep their
// capacity, so steady-state calls do not allocate).
func newPlan() *dwPadPlan {
	pl := dwPlanPool.Get().(*dwPadPlan)
	rows, offs := pl.rows[:0], pl.offs[:0]
	*pl = dwPadPlan{rows: rows, offs: offs}
	return pl
}

func (pl *dwPadPlan) release() {
	if pl.wtBuf != nil {
		putF32(pl.wtBuf)
	}
	pl.wtBuf, pl.wt = nil, nil
	dwPlanPool.Put(pl)
}

// init sets the channel chunks and, for super-pixels, the tiled weights
// (w: the weight of tap i*K+j is at woff(i, j)).
func (pl *dwPadPlan) init(d Depthwise, w []float32, k int) {
	C := d.C
	pl.chunks = pl.chunkStore[:0]
	if k > 1 {
		P := k * C
		pl.P = P
		pl.wtBuf = getF32(d.K * d.K * P)
		pl.wt = (*pl.wtBuf)[:d.K*d.K*P]
		for i := 0; i < d.K; i++ {
			for j := 0; j < d.K; j++ {
				src := w[d.woff(i, j) : d.woff(i, j)+C]
				dst := pl.wt[(i*d.K+j)*P : (i*d.K+j+1)*P]
				for q := 0; q < k; q++ {
					copy(dst[q*C:], src)
				}
			}
		}
		for c0 := 0; c0 < P; c0 += 48 {
			pl.chunks = append(pl.chunks, [2]int{c0, min(3, (P-c0)/16)})
		}
		return
	}
	pl.P = C
	c0 := 0
	for ; C-c0 >= 48; c0 += 48 {
		pl.chunks = append(pl.chunks, [2]int{c0, 3})
	}
	if C-c0 >= 32 {
		pl.chunks = append(pl.chunks, [2]int{c0, 2})
		c0 += 32
	}
	if C-c0 >= 16 {
		pl.chunks = append(pl.chunks, [2]int{c0, 1})
		c0 += 16
	}
	if c0 < C {
		pl.chunks = append(pl.chunks, [2]int{C - 16, 1})
	}
}

// wOff returns the weight offset of tap (i, j).
func (pl *dwPadPlan) wOff(d Depthwise, i, j int) int {
	if pl.wt != nil {
		return (i*d.K + j) * pl.P
	}
	return d.woff(i, j)
}

// forwardPlan: output row oh, pixel t reads padded column t*s + j - p + PL.
func forwardPlan(d Depthwise, w []float32) *dwPadPlan {
	ho, wo := d.OutSize()
	p, s, C := d.K/2, d.Stride, d.C
	k := 1
	if C < 16 {
		k = dwSuper(C)
	}
	pl := newPlan()
	pl.C, pl.Hs, pl.Ws, pl.PL, pl.srcImg, pl.outImg = C, d.H, d.W, p, d.H*d.W*C, ho*wo*C
	pl.Wp = p + max(d.W, (wo-1)*s+d.K-p)
	pl.init(d, w, k)
	pl.ostep, pl.sstep = k*C, k*s*C
	for oh := 0; oh < ho; oh++ {
		row := dwPadRow{tap: len(pl.offs), out: oh * wo * C, n: wo / k}
		for i := 0; i < d.K; i++ {
			ih := oh*s + i - p
			if ih < 0 || ih >= d.H {
				continue
			}
			for j := 0; j < d.K; j++ {
				pl.offs = append(pl.offs, [2]int{(ih*pl.Wp + pl.PL + j - p) * C, pl.wOff(d, i, j)})
			}
		}
		row.ntap = len(pl.offs) - row.tap
		pl.rows = append(pl.rows, row)
	}
	return pl
}

// backwardInputPlan: input pixel iw = s*t + ph of row ih gathers
// dy[oh, t + d] * w[i, j] with oh = (ih+p-i)/s and d = (ph+p-j)/s where
// those divide exactly.
func backwardInputPlan(d Depthwise, w []float32) *dwPadPlan {
	ho, wo := d.OutSize()
	p, s, C := d.K/2, d.Stride, d.C
	k := 1
	if C < 16 {
		k = dwSuper(C)
	}
	pl := newPlan()
	pl.C, pl.Hs, pl.Ws, pl.srcImg, pl.outImg = C, ho, wo, ho*wo*C, d.H*d.W*C
	pl.init(d, w, k)
	pl.ostep, pl.sstep = k*s*C, k*C
	// Padding: the smallest and largest source columns any pixel reads.
	lo, hi := 0, wo-1
	for ph := 0; ph < s && ph < d.W; ph++ {
		n := (d.W - ph + s - 1) / s
		for j := 0; j < d.K; j++ {
			if (ph+p-j)%s == 0 {
				dd := floorDiv(ph+p-j, s)
				lo, hi = min(lo, dd), max(hi, n-1+dd)
			}
		}
	}
	pl.PL, pl.Wp = -lo, hi-lo+1
	for ih := 0; ih < d.H; ih++ {
		for ph := 0; ph < s && ph < d.W; ph++ {
			row := dwPadRow{tap: len(pl.offs), out: (ih*d.W + ph) * C, n: (d.W - ph + s - 1) / s / k}
			for i := 0; i < d.K; i++ {
				if (ih+p-i)%s != 0 {
					continue
				}
				oh := (ih + p - i) / s
				if ih+p-i < 0 || oh >= ho {
					continue
				}
				for j := 0; j < d.K; j++ {
					if (ph+p-j)%s != 0 {
						continue
					}
					pl.offs = append(pl.offs, [2]int{(oh*pl.Wp + pl.PL + floorDiv(ph+p-j, s)) * C, pl.wOff(d, i, j)})
				}
			}
			row.ntap = len(pl.offs) - row.tap
			pl.rows = append(pl.rows, row)
		}
	}
	return pl
}

// padImage copies source image src[Hs, Ws, C] into pad[Hs, Wp, C] at column
// PL (the other columns must already be zero).
func (pl *dwPadPlan) padImage(pad, src []float32) {
	C := pl.C
	for r := 0; r < pl.Hs; r++ {
		copy(pad[(r*pl.Wp+pl.PL)*C:(r*pl.Wp+pl.PL+pl.Ws)*C], src[r*pl.Ws*C:(r+1)*pl.Ws*C])
	}
}

// newPad returns a scratch padded image with zero borders.
func (pl *dwPadPlan) newPad() *[]float32 {
	buf := getF32(pl.Hs * pl.Wp * pl.C)
	clear((*buf)[:pl.Hs*pl.Wp*pl.C])
	return buf
}

// run computes B output images from B source images on nt goroutines,
// which split the (image, output row) pairs; a goroutine pads each image it
// works on.
func (pl *dwPadPlan) run(B, nt int, out, src, w []float32) {
	if pl.wt != nil {
		w = pl.wt
	}
	if len(pl.offs) == 0 {
		pl.offs = append(pl.offs, [2]int{}) // the blocks need a valid pointer
	}
	nr := len(pl.rows)
	parallel(nt, func(wk int) {
		lo, hi := span(B*nr, nt, wk, 1)
		if lo >= hi {
			return
		}
		buf := pl.newPad()
		defer putF32(buf)
		pad := *buf
		for u := lo; u < hi; {
			b, r0 := u/nr, u%nr
			r1 := min(nr, r0+hi-u)
			pl.padImage(pad, src[b*pl.srcImg:(b+1)*pl.srcImg])
			o := out[b*pl.outImg : (b+1)*pl.outImg]
			for _, ch := range pl.chunks {
				c0, nv := ch[0], ch[1]
				for ri := r0; ri < r1; ri++ {
					row := &pl.rows[ri]
					offs := &pl.offs[min(row.tap, len(pl.offs)-1)]
					dwBlocks(row.n, func(P, t int) {
						dwBlockRaw(P, nv, row.ntap, offs, &pad[t*pl.sstep+c0], &w[c0], pl.sstep, &o[row.out+t*pl.ostep+c0], pl.ostep)
					})
				}
			}
			u += r1 - r0
		}
	})
}

// dwBlocks covers pixels [0, n) with blocks of 8, then 4 (a last block
// overlapping its predecessor), single pixels only when n < 4.
func dwBlocks(n int, f func(P, t int)) {
	t := 0
	for ; t+8 <= n; t += 8 {
		f(8, t)
	}
	if t+4 <= n {
		f(4, t)
		t += 4
	}
	switch {
	case t == n:
	case n >= 4:
		f(4, n-4)
	default:
		for ; t < n; t++ {
			f(1, t)
		}
	}
}

// backwardWeightPadded is BackwardWeight on padded x rows: each output row
// and kernel row takes one gradient block call per channel chunk and group
// of up to 7 taps, over all pixels. Goroutines split the (image, output
// row) pairs into private partial sums, added in order.
func (d Depthwise) backwardWeightPadded(dw, x, dy []float32, nt int) {
	ho, wo := d.OutSize()
	p, s, K, C := d.K/2, d.Stride, d.K, d.C
	pl := newPlan()
	defer pl.release()
	pl.C, pl.Hs, pl.Ws, pl.PL, pl.srcImg = C, d.H, d.W, p, d.H*d.W*C
	pl.Wp = p + max(d.W, (wo-1)*s+K-p)
	partBuf := getF32(nt * K * K * C)
	defer putF32(partBuf)
	part := (*partBuf)[:nt*K*K*C]
	clear(part)
	parallel(nt, func(wk int) {
		lo, hi := span(d.B*ho, nt, wk, 1)
		if lo >= hi {
			return
		}
		buf := pl.newPad()
		defer putF32(buf)
		pad := *buf
		acc := part[wk*K*K*C : (wk+1)*K*K*C] // [K, K, C]
		for u := lo; u < hi; {
			b, r0 := u/ho, u%ho
			r1 := min(ho, r0+hi-u)
			pl.padImage(pad, x[b*pl.srcImg:(b+1)*pl.srcImg])
			for c0 := 0; c0 < C; {
				nv := min(3, (C-c0+15)/16)
				rem := C - c0 - 16*(nv-1) // lanes of the last vector
				mask := uint32(0xffff)
				if rem < 16 {
					mask = uint32(1)<<uint(rem) - 1
				}
				for oh := r0; oh < r1; oh++ {
					dyRow := dy[((b*ho+oh)*wo)*C+c0:]
					for i := 0; i < K; i++ {
						ih := oh*s + i - p
						if ih < 0 || ih >= d.H {
							continue
						}
						xo := (ih*pl.Wp+pl.PL-p)*C + c0
						for j0 := 0; j0 < K; {
							G := min(7, K-j0) // 7, 5, 3 or 1 taps (K is odd)
							if G%2 == 0 {
								G--
							}
							dwGradAsm(G, nv, wo, pad[xo+j0*C:], s*C, dyRow, C, acc[(i*K+j0)*C+c0:], mask)
							j0 += G
						}
					}
				}
				c0 += 16 * nv
			}
			u += r1 - r0
		}
	})
	for wk := 0; wk < nt; wk++ {
		acc := part[wk*K*K*C:]
		for i := 0; i < K; i++ {
			for j := 0; j < K; j++ {
				o := d.woff(i, j)
				axpyGo(1, acc[(i*K+j)*C:(i*K+j+1)*C], dw[o:o+C])
			}
		}
	}
}
