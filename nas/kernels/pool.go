package kernels

import "fmt"

// GlobalAvgPool computes y[b, c] = mean over p of x[b, p, c] for x[B, P, C]
// (P = H*W): the squeeze of squeeze-excite and the head's pooling.
func GlobalAvgPool(y, x []float32, B, P, C int) { Threads(0).GlobalAvgPool(y, x, B, P, C) }

// GlobalAvgPool is the package-level GlobalAvgPool under the goroutine budget t.
func (t Threads) GlobalAvgPool(y, x []float32, B, P, C int) {
	nonneg(B, P, C)
	need("x", x, B*P*C)
	need("y", y, B*C)
	if P == 0 {
		clear(y[:B*C])
		return
	}
	inv := 1 / float32(P)
	nt := t.limit(B*P*C, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(B, nt, w, 1)
		for b := lo; b < hi; b++ {
			yb := y[b*C : b*C+C]
			clear(yb)
			for p := 0; p < P; p++ {
				addTo(yb, x[(b*P+p)*C:(b*P+p+1)*C])
			}
			for c := range yb {
				yb[c] *= inv
			}
		}
	})
}

// GlobalAvgPoolBackward writes dx[b, p, c] = dy[b, c]/P.
func GlobalAvgPoolBackward(dx, dy []float32, B, P, C int) {
	Threads(0).GlobalAvgPoolBackward(dx, dy, B, P, C)
}

// GlobalAvgPoolBackward is the package-level GlobalAvgPoolBackward under the goroutine budget t.
func (t Threads) GlobalAvgPoolBackward(dx, dy []float32, B, P, C int) {
	nonneg(B, P, C)
	need("dx", dx, B*P*C)
	need("dy", dy, B*C)
	if P == 0 {
		return
	}
	inv := 1 / float32(P)
	nt := t.limit(B*P*C, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(B, nt, w, 1)
		for b := lo; b < hi; b++ {
			g := dy[b*C : b*C+C]
			// The first pixel's row, then copies of it.
			d0 := dx[b*P*C : b*P*C+C]
			for c, v := range g {
				d0[c] = v * inv
			}
			for p := 1; p < P; p++ {
				copy(dx[(b*P+p)*C:(b*P+p+1)*C], d0)
			}
		}
	})
}

// AvgPool2x2Size returns the output size of AvgPool2x2: the reference's
// F.avg_pool2d(x, 2, padding=0 if W%2 == 0 else 1), so padding p applies to
// both dimensions and Ho = (H+2p-2)/2+1 (ceil(H/2) for square inputs).
func AvgPool2x2Size(h, w int) (ho, wo, pad int) {
	pad = w % 2
	return (h+2*pad-2)/2 + 1, (w+2*pad-2)/2 + 1, pad
}

// AvgPool2x2 is the residual shortcut's 2x2 average pool with stride 2 over
// x[B, H, W, C] -> y[B, Ho, Wo, C] (see AvgPool2x2Size), divisor always 4
// (PyTorch count_include_pad=True: padded zeros count).
func AvgPool2x2(y, x []float32, B, H, W, C int) { Threads(0).AvgPool2x2(y, x, B, H, W, C) }

// AvgPool2x2 is the package-level AvgPool2x2 under the goroutine budget t.
func (t Threads) AvgPool2x2(y, x []float32, B, H, W, C int) {
	ho, wo, pad := AvgPool2x2Size(H, W)
	nonneg(B, C)
	need("x", x, B*H*W*C)
	need("y", y, B*ho*wo*C)
	rows := B * ho
	nt := t.limit(B*H*W*C, 1<<16)
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		for row := lo; row < hi; row++ {
			b, oh := row/ho, row%ho
			for ow := 0; ow < wo; ow++ {
				d := y[(row*wo+ow)*C : (row*wo+ow+1)*C]
				clear(d)
				for i := 0; i < 2; i++ {
					ih := 2*oh + i - pad
					if ih < 0 || ih >= H {
						continue
					}
					for j := 0; j < 2; j++ {
						iw := 2*ow + j - pad
						if iw < 0 || iw >= W {
							continue
						}
						axpyGo(0.25, x[((b*H+ih)*W+iw)*C:((b*H+ih)*W+iw+1)*C], d)
					}
				}
			}
		}
	})
}

// AvgPool2x2Backward writes dx[B, H, W, C] from dy[B, Ho, Wo, C]: every
// input pixel lies in exactly one window, so dx = dy(window)/4.
func AvgPool2x2Backward(dx, dy []float32, B, H, W, C int) {
	Threads(0).AvgPool2x2Backward(dx, dy, B, H, W, C)
}

// AvgPool2x2Backward is the package-level AvgPool2x2Backward under the goroutine budget t.
func (t Threads) AvgPool2x2Backward(dx, dy []float32, B, H, W, C int) {
	ho, wo, pad := AvgPool2x2Size(H, W)
	nonneg(B, C)
	need("dx", dx, B*H*W*C)
	need("dy", dy, B*ho*wo*C)
	rows := B * H
	nt := t.limit(B*H*W*C, 1<<16)
	parallel(nt, func(wk int) {
		lo, hi := span(rows, nt, wk, 1)
		for row := lo; row < hi; row++ {
			b, ih := row/H, row%H
			oh := (ih + pad) / 2
			for iw := 0; iw < W; iw++ {
				d := dx[(row*W+iw)*C : (row*W+iw+1)*C]
				ow := (iw + pad) / 2
				if oh >= ho || ow >= wo { // not covered by any window
					clear(d)
					continue
				}
				g := dy[((b*ho+oh)*wo+ow)*C : ((b*ho+oh)*wo+ow+1)*C]
				for c, v := range g {
					d[c] = 0.25 * v
				}
			}
		}
	})
}

// ChannelScale is squeeze-excite's excitation: y[b, p, c] = x[b, p, c]*s[b, c]
// for x[B, P, C] and gates s[B, C] (y may alias x).
func ChannelScale(y, x, s []float32, B, P, C int) { Threads(0).ChannelScale(y, x, s, B, P, C) }

// ChannelScale is the package-level ChannelScale under the goroutine budget t.
func (t Threads) ChannelScale(y, x, s []float32, B, P, C int) {
	nonneg(B, P, C)
	need("x", x, B*P*C)
	need("y", y, B*P*C)
	need("s", s, B*C)
	nt := t.limit(B*P*C, 1<<16)
	if useBNAsm() && P > 1 {
		// Per image, a per-channel scale: BatchNorm's apply kernel with
		// mean 0, scale s[b] and shift 0 computes exactly x*s.
		l := newBNLayout(C)
		parallel(nt, func(w int) {
			lo, hi := span(B, nt, w, 1)
			pb := getF32(l.pv * bnSlots * 16)
			defer putF32(pb)
			prm := (*pb)[:l.pv*bnSlots*16]
			l.setSlot(prm, 0, nil, 0)
			l.setSlot(prm, 2, nil, 0)
			for b := lo; b < hi; b++ {
				l.setSlot(prm, 1, s[b*C:b*C+C], 0)
				bnApplyAsm(y[b*P*C:(b+1)*P*C], x[b*P*C:(b+1)*P*C], P, l, prm, ActNone, 1)
			}
		})
		return
	}
	parallel(nt, func(w int) {
		lo, hi := span(B*P, nt, w, 1)
		for r := lo; r < hi; r++ {
			g := s[(r/P)*C : (r/P)*C+C]
			yr, xr := y[r*C:r*C+C], x[r*C:r*C+C]
			for c, v := range xr {
				yr[c] = v * g[c]
			}
		}
	})
}

// ChannelScaleBackward is the backward pass of ChannelScale: dx = dy*s
// (overwritten; dx may alias dy) and ds[b, c] = sum over p of dy*x
// (overwritten). Either output may be nil.
func ChannelScaleBackward(dx, ds, dy, x, s []float32, B, P, C int) {
	Threads(0).ChannelScaleBackward(dx, ds, dy, x, s, B, P, C)
}

// ChannelScaleBackward is the package-level ChannelScaleBackward under the goroutine budget t.
func (t Threads) ChannelScaleBackward(dx, ds, dy, x, s []float32, B, P, C int) {
	nonneg(B, P, C)
	need("dy", dy, B*P*C)
	need("x", x, B*P*C)
	need("s", s, B*C)
	if ds != nil {
		need("ds", ds, B*C)
	}
	if dx != nil {
		need("dx", dx, B*P*C)
	}
	nt := t.limit(B*P*C, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(B, nt, w, 1)
		for b := lo; b < hi; b++ {
			g := s[b*C : b*C+C]
			var acc []float32
			if ds != nil {
				acc = ds[b*C : b*C+C]
				clear(acc)
			}
			for p := 0; p < P; p++ {
				o := (b*P + p) * C
				gr, xr := dy[o:o+C], x[o:o+C]
				if acc != nil {
					mulAddGo(acc, gr, xr)
				}
				if dx != nil {
					d := dx[o : o+C]
					for c, v := range gr {
						d[c] = v * g[c]
					}
				}
			}
		}
	})
}

// Im2Col is the stem convolution's patch extraction: a dense K x K
// convolution with "same" padding K/2 and the given stride over x[B, H, W,
// Cin] becomes Gemm(col[B*Ho*Wo, K*K*Cin], W[K*K*Cin, CoutMax]), with col
// columns ordered (kh, kw, cin).
type Im2Col struct {
	B, H, W, Cin int
	K, Stride    int
	Threads      Threads // goroutine budget; 0: MaxThreads()
}

// OutSize returns the output height and width.
func (g Im2Col) OutSize() (ho, wo int) {
	p := g.K / 2
	return (g.H+2*p-g.K)/g.Stride + 1, (g.W+2*p-g.K)/g.Stride + 1
}

func (g Im2Col) check(col, x []float32) {
	if g.B < 0 || g.H < 1 || g.W < 1 || g.Cin < 1 || g.K < 1 || g.Stride < 1 {
		panic(fmt.Sprintf("kernels: Im2Col: bad shape %+v", g))
	}
	ho, wo := g.OutSize()
	need("col", col, g.B*ho*wo*g.K*g.K*g.Cin)
	need("x", x, g.B*g.H*g.W*g.Cin)
}

// Forward fills col[B*Ho*Wo, K*K*Cin] (zeros where the window leaves x).
func (g Im2Col) Forward(col, x []float32) {
	g.check(col, x)
	ho, wo := g.OutSize()
	p, kc := g.K/2, g.K*g.K*g.Cin
	rows := g.B * ho
	nt := g.Threads.limit(rows*wo*kc, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(rows, nt, w, 1)
		for row := lo; row < hi; row++ {
			b, oh := row/ho, row%ho
			for ow := 0; ow < wo; ow++ {
				d := col[(row*wo+ow)*kc : (row*wo+ow+1)*kc]
				// Kernel columns j0..j1 fall inside the image; their
				// patches are contiguous in x and in col.
				iw0 := ow*g.Stride - p
				j0, j1 := max(0, -iw0), min(g.K, g.W-iw0)
				for i := 0; i < g.K; i++ {
					seg := d[i*g.K*g.Cin : (i+1)*g.K*g.Cin]
					ih := oh*g.Stride + i - p
					if ih < 0 || ih >= g.H || j1 <= j0 {
						clear(seg)
						continue
					}
					clear(seg[:j0*g.Cin])
					clear(seg[j1*g.Cin:])
					copy(seg[j0*g.Cin:j1*g.Cin], x[((b*g.H+ih)*g.W+iw0+j0)*g.Cin:])
				}
			}
		}
	})
}

// Backward is col2im: dx[B, H, W, Cin] (overwritten) = sum of the col
// gradient entries that read each input element.
func (g Im2Col) Backward(dx, dcol []float32) {
	g.check(dcol, dx)
	ho, wo := g.OutSize()
	p, kc := g.K/2, g.K*g.K*g.Cin
	nt := g.Threads.limit(g.B*ho*wo*kc, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(g.B, nt, w, 1) // images are independent
		clear(dx[lo*g.H*g.W*g.Cin : hi*g.H*g.W*g.Cin])
		for b := lo; b < hi; b++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					s := dcol[((b*ho+oh)*wo+ow)*kc:]
					for i := 0; i < g.K; i++ {
						ih := oh*g.Stride + i - p
						if ih < 0 || ih >= g.H {
							continue
						}
						for j := 0; j < g.K; j++ {
							iw := ow*g.Stride + j - p
							if iw < 0 || iw >= g.W {
								continue
							}
							axpyGo(1, s[(i*g.K+j)*g.Cin:(i*g.K+j+1)*g.Cin], dx[((b*g.H+ih)*g.W+iw)*g.Cin:])
						}
					}
				}
			}
		}
	})
}
