package kernels

import "fmt"

// Depthwise describes a depthwise (one filter per channel) convolution over
// an NHWC batch x[B, H, W, C] with "same" padding K/2 and the given stride:
// y[B, Ho, Wo, C], Ho = (H + 2*(K/2) - K)/Stride + 1 (likewise Wo).
//
// The weight is stored at its maximum shape w[KMax, KMax, CMax] (channel
// fastest); a K x K kernel is its centre crop (offset o = (KMax-K)/2) and the
// first C channels: element (i, j, c) is w[((o+i)*KMax+(o+j))*CMax+c]
// (elastic kernel size and width, ALGORITHM.md section 4).
//
// See also Gemm for the 1x1 convolutions of the same block.
type Depthwise struct {
	B, H, W, C int     // input batch, height, width, channels
	K, Stride  int     // kernel size (odd) and stride (1 or 2)
	KMax, CMax int     // weight storage shape
	Threads    Threads // goroutine budget; 0: MaxThreads()
}

// OutSize returns the output height and width.
func (d Depthwise) OutSize() (ho, wo int) {
	p := d.K / 2
	return (d.H+2*p-d.K)/d.Stride + 1, (d.W+2*p-d.K)/d.Stride + 1
}

func (d Depthwise) check(name string, out, in, w []float32) {
	if d.B < 0 || d.H < 1 || d.W < 1 || d.C < 0 || d.K < 1 || d.K%2 == 0 || d.Stride < 1 ||
		d.K > d.KMax || d.C > d.CMax || (d.KMax-d.K)%2 != 0 || d.K > 15 {
		panic(fmt.Sprintf("kernels: Depthwise.%s: bad shape %+v", name, d))
	}
	ho, wo := d.OutSize()
	need("output", out, d.B*ho*wo*d.C)
	need("input", in, d.B*d.H*d.W*d.C)
	need("weight", w, d.KMax*d.KMax*d.CMax)
}

// woff returns the element offset of weight vector (i, j) in the crop.
func (d Depthwise) woff(i, j int) int {
	o := (d.KMax - d.K) / 2
	return ((o+i)*d.KMax + (o + j)) * d.CMax
}

// dwTap is one kernel tap of a row plan: the source row's element offset,
// the source column offset in pixels and the weight vector's offset.
type dwTap struct {
	src, d, w int
}

// dwRow is the gather plan of one output row: out pixel t (t < nt) at
// element out + t*ostep*C accumulates src[tap.src + (t*sstep+tap.d)*C] *
// w[tap.w] over taps whose source column lies in [0, sw). In [tlo, thi)
// every tap is valid.
type dwRow struct {
	taps        [225]dwTap
	ntap        int
	out         int // element offset of pixel t = 0
	ostep       int // output pixel step (1, or Stride for the input gradient)
	sstep       int // source pixel step (Stride, or 1 for the input gradient)
	nt, sw      int
	tlo, thi, C int
}

// interior sets tlo, thi from the taps' column offsets.
func (r *dwRow) interior() {
	lo, hi := 0, r.nt
	for _, tp := range r.taps[:r.ntap] {
		// need 0 <= t*sstep + d < sw
		if v := ceilDiv(-tp.d, r.sstep); v > lo {
			lo = v
		}
		if v := floorDiv(r.sw-1-tp.d, r.sstep) + 1; v < hi {
			hi = v
		}
	}
	if hi < lo {
		hi = lo
	}
	r.tlo, r.thi = lo, hi
}

func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Forward computes y = depthwise(x, w), overwriting y[B, Ho, Wo, C].
func (d Depthwise) Forward(y, x, w []float32) {
	d.check("Forward", y, x, w)
	ho, wo := d.OutSize()
	if d.B == 0 || d.C == 0 {
		return
	}
	p := d.K / 2
	rows := d.B * ho
	nt := d.Threads.limit(2*d.B*ho*wo*d.C*d.K*d.K, 1<<20)
	if dwPadOK(d) {
		pl := forwardPlan(d, w)
		defer pl.release()
		pl.run(d.B, nt, y, x, w)
		return
	}
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		var r dwRow
		for row := lo; row < hi; row++ {
			b, oh := row/ho, row%ho
			r.ntap = 0
			for i := 0; i < d.K; i++ {
				ih := oh*d.Stride + i - p
				if ih < 0 || ih >= d.H {
					continue
				}
				for j := 0; j < d.K; j++ {
					r.taps[r.ntap] = dwTap{src: (b*d.H + ih) * d.W * d.C, d: j - p, w: d.woff(i, j)}
					r.ntap++
				}
			}
			r.out, r.ostep, r.sstep, r.nt, r.sw, r.C = row*wo*d.C, 1, d.Stride, wo, d.W, d.C
			r.interior()
			dwGather(&r, y, x, w)
		}
	})
}

// BackwardInput computes the input gradient dx[B, H, W, C] (overwritten)
// from dy[B, Ho, Wo, C].
func (d Depthwise) BackwardInput(dx, dy, w []float32) {
	d.check("BackwardInput", dy, dx, w)
	ho, wo := d.OutSize()
	if d.B == 0 || d.C == 0 {
		return
	}
	p, s := d.K/2, d.Stride
	rows := d.B * d.H
	nt := d.Threads.limit(2*d.B*ho*wo*d.C*d.K*d.K, 1<<20)
	if dwPadOK(d) {
		pl := backwardInputPlan(d, w)
		defer pl.release()
		pl.run(d.B, nt, dx, dy, w)
		return
	}
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		var r dwRow
		for row := lo; row < hi; row++ {
			b, ih := row/d.H, row%d.H
			// Input column iw = s*t + ph receives dy[oh, ow] * w[i, j]
			// for ih + p - i = s*oh and ph + p - j = s*(ow - t).
			for ph := 0; ph < s && ph < d.W; ph++ {
				r.ntap = 0
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
						r.taps[r.ntap] = dwTap{src: (b*ho + oh) * wo * d.C, d: floorDiv(ph+p-j, s), w: d.woff(i, j)}
						r.ntap++
					}
				}
				r.out = (row*d.W + ph) * d.C
				r.ostep, r.sstep, r.sw, r.C = s, 1, wo, d.C
				r.nt = (d.W - ph + s - 1) / s
				r.interior()
				dwGather(&r, dx, dy, w)
			}
		}
	})
}

// BackwardWeight accumulates the weight gradient into the centre crop of the
// max-shape buffer dw[KMax, KMax, CMax] (dw += dL/dw): x is the forward
// input [B, H, W, C], dy the output gradient [B, Ho, Wo, C].
func (d Depthwise) BackwardWeight(dw, x, dy []float32) {
	d.check("BackwardWeight", dy, x, dw)
	ho, wo := d.OutSize()
	if d.B == 0 || d.C == 0 {
		return
	}
	K, C := d.K, d.C
	rows := d.B * ho
	nt := d.Threads.limit(2*d.B*ho*wo*C*K*K, 1<<20)
	if useDWAsm() {
		d.backwardWeightPadded(dw, x, dy, nt)
		return
	}
	partBuf := getF32(nt * K * K * C)
	defer putF32(partBuf)
	part := (*partBuf)[:nt*K*K*C]
	clear(part)
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		acc := part[wk*K*K*C : (wk+1)*K*K*C] // [K, K, C]
		for row := lo; row < hi; row++ {
			b, oh := row/ho, row%ho
			dyRow := dy[row*wo*C : (row+1)*wo*C]
			for i := 0; i < K; i++ {
				ih := oh*d.Stride + i - K/2
				if ih < 0 || ih >= d.H {
					continue
				}
				xRow := x[(b*d.H+ih)*d.W*C : (b*d.H+ih+1)*d.W*C]
				dwRowGrad(acc[i*K*C:(i+1)*K*C], xRow, dyRow, K, C, d.Stride, d.W, wo)
			}
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

// useDWAsm reports whether the assembly depthwise blocks are active.
func useDWAsm() bool { return haveDWAsm && gemmAVX512 && !forceGeneric.Load() }

// dwGather runs a row plan (the paths without assembly; see
// depthwise_pad.go for those with).
func dwGather(r *dwRow, out, src, w []float32) {
	if useSIMD() {
		dwGatherSIMD(r, out, src, w)
		return
	}
	dwGatherGo(r, out, src, w)
}

func dwGatherGo(r *dwRow, out, src, w []float32) {
	C := r.C
	for t := 0; t < r.nt; t++ {
		clear(out[r.out+t*r.ostep*C:][:C])
	}
	for _, tp := range r.taps[:r.ntap] {
		wv := w[tp.w : tp.w+C]
		t0 := max(0, ceilDiv(-tp.d, r.sstep))
		t1 := min(r.nt, floorDiv(r.sw-1-tp.d, r.sstep)+1)
		for t := t0; t < t1; t++ {
			o := out[r.out+t*r.ostep*C:][:C]
			s := src[tp.src+(t*r.sstep+tp.d)*C:][:C]
			mulAddGo(o, s, wv)
		}
	}
}

// mulAddGo computes o += s*w elementwise (equal lengths).
func mulAddGo(o, s, w []float32) {
	s = s[:len(o)]
	w = w[:len(o)]
	i := 0
	for ; i+4 <= len(o); i += 4 {
		o0 := o[i : i+4 : i+4]
		s0 := s[i : i+4 : i+4]
		w0 := w[i : i+4 : i+4]
		o0[0] += s0[0] * w0[0]
		o0[1] += s0[1] * w0[1]
		o0[2] += s0[2] * w0[2]
		o0[3] += s0[3] * w0[3]
	}
	for ; i < len(o); i++ {
		o[i] += s[i] * w[i]
	}
}

// dwRowGrad accumulates acc[j, c] += sum_ow dy[ow, c] * x[ow*s + j - K/2, c]
// for one kernel row (acc is [K, C], xRow one input row, dyRow one output row).
func dwRowGrad(acc, xRow, dyRow []float32, K, C, s, W, wo int) {
	if useSIMD() {
		dwRowGradSIMD(acc, xRow, dyRow, K, C, s, W, wo)
		return
	}
	p := K / 2
	for j := 0; j < K; j++ {
		a := acc[j*C : (j+1)*C]
		t0 := max(0, ceilDiv(p-j, s))
		t1 := min(wo, floorDiv(W-1+p-j, s)+1)
		for ow := t0; ow < t1; ow++ {
			iw := ow*s + j - p
			mulAddGo(a, dyRow[ow*C:(ow+1)*C], xRow[iw*C:(iw+1)*C])
		}
	}
}
