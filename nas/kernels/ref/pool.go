package ref

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// GlobalAvgPool is the float64 twin of kernels.GlobalAvgPool:
// y[b, c] = mean over p of x[b, p, c] for x[B, P, C] (0 when P is 0).
func GlobalAvgPool(y, x []float64, B, P, C int) {
	nonneg("GlobalAvgPool", B, P, C)
	need("GlobalAvgPool", "x", x, B*P*C)
	need("GlobalAvgPool", "y", y, B*C)
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			var s float64
			for p := 0; p < P; p++ {
				s += x[(b*P+p)*C+c]
			}
			if P > 0 {
				s /= float64(P)
			}
			y[b*C+c] = s
		}
	}
}

// GlobalAvgPoolBackward is the float64 twin of
// kernels.GlobalAvgPoolBackward: dx[b, p, c] = dy[b, c]/P (overwritten).
func GlobalAvgPoolBackward(dx, dy []float64, B, P, C int) {
	nonneg("GlobalAvgPoolBackward", B, P, C)
	need("GlobalAvgPoolBackward", "dx", dx, B*P*C)
	need("GlobalAvgPoolBackward", "dy", dy, B*C)
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			for c := 0; c < C; c++ {
				dx[(b*P+p)*C+c] = dy[b*C+c] / float64(P)
			}
		}
	}
}

// AvgPool2x2 is the float64 twin of kernels.AvgPool2x2: a 2x2 average pool
// with stride 2 over x[B, H, W, C] -> y[B, Ho, Wo, C] (overwritten), with
// the padding of kernels.AvgPool2x2Size and divisor always 4 (padded zeros
// count).
func AvgPool2x2(y, x []float64, B, H, W, C int) {
	nonneg("AvgPool2x2", B, H, W, C)
	ho, wo, pad := kernels.AvgPool2x2Size(H, W)
	need("AvgPool2x2", "x", x, B*H*W*C)
	need("AvgPool2x2", "y", y, B*ho*wo*C)
	for b := 0; b < B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for c := 0; c < C; c++ {
					var s float64
					for i := 0; i < 2; i++ {
						for j := 0; j < 2; j++ {
							ih, iw := 2*oh+i-pad, 2*ow+j-pad
							if ih >= 0 && ih < H && iw >= 0 && iw < W {
								s += x[((b*H+ih)*W+iw)*C+c]
							}
						}
					}
					y[((b*ho+oh)*wo+ow)*C+c] = s / 4
				}
			}
		}
	}
}

// AvgPool2x2Backward is the float64 twin of kernels.AvgPool2x2Backward:
// dx[B, H, W, C] (overwritten; 0 where no window reads x) from
// dy[B, Ho, Wo, C].
func AvgPool2x2Backward(dx, dy []float64, B, H, W, C int) {
	nonneg("AvgPool2x2Backward", B, H, W, C)
	ho, wo, pad := kernels.AvgPool2x2Size(H, W)
	need("AvgPool2x2Backward", "dx", dx, B*H*W*C)
	need("AvgPool2x2Backward", "dy", dy, B*ho*wo*C)
	clear(dx[:B*H*W*C])
	for b := 0; b < B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				for c := 0; c < C; c++ {
					g := dy[((b*ho+oh)*wo+ow)*C+c] / 4
					for i := 0; i < 2; i++ {
						for j := 0; j < 2; j++ {
							ih, iw := 2*oh+i-pad, 2*ow+j-pad
							if ih >= 0 && ih < H && iw >= 0 && iw < W {
								dx[((b*H+ih)*W+iw)*C+c] += g
							}
						}
					}
				}
			}
		}
	}
}

// ChannelScale is the float64 twin of kernels.ChannelScale:
// y[b, p, c] = x[b, p, c]*s[b, c] for x[B, P, C] (y may alias x).
func ChannelScale(y, x, s []float64, B, P, C int) {
	nonneg("ChannelScale", B, P, C)
	need("ChannelScale", "x", x, B*P*C)
	need("ChannelScale", "y", y, B*P*C)
	need("ChannelScale", "s", s, B*C)
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			for c := 0; c < C; c++ {
				y[(b*P+p)*C+c] = x[(b*P+p)*C+c] * s[b*C+c]
			}
		}
	}
}

// ChannelScaleBackward is the float64 twin of kernels.ChannelScaleBackward:
// dx = dy*s and ds[b, c] = sum over p of dy*x, both overwritten; either may
// be nil, and dx may alias dy.
func ChannelScaleBackward(dx, ds, dy, x, s []float64, B, P, C int) {
	const fn = "ChannelScaleBackward"
	nonneg(fn, B, P, C)
	need(fn, "dy", dy, B*P*C)
	need(fn, "x", x, B*P*C)
	need(fn, "s", s, B*C)
	if ds != nil {
		need(fn, "ds", ds, B*C)
	}
	if dx != nil {
		need(fn, "dx", dx, B*P*C)
	}
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			var acc float64
			for p := 0; p < P; p++ {
				i := (b*P+p)*C + c
				g := dy[i] // read before dx[i] is written (dx may alias dy)
				acc += g * x[i]
				if dx != nil {
					dx[i] = g * s[b*C+c]
				}
			}
			if ds != nil {
				ds[b*C+c] = acc
			}
		}
	}
}

// im2colCheck validates g and the lengths of col and x.
func im2colCheck(fn string, g kernels.Im2Col, col, x []float64) {
	if g.B < 0 || g.H < 1 || g.W < 1 || g.Cin < 1 || g.K < 1 || g.Stride < 1 {
		panic(fmt.Sprintf("ref: %s: bad shape %+v", fn, g))
	}
	ho, wo := g.OutSize()
	need(fn, "col", col, g.B*ho*wo*g.K*g.K*g.Cin)
	need(fn, "x", x, g.B*g.H*g.W*g.Cin)
}

// Im2ColForward is the float64 twin of kernels.Im2Col.Forward: it fills
// col[B*Ho*Wo, K*K*Cin] (columns ordered kh, kw, cin; zeros where the
// window, padded by K/2, leaves x[B, H, W, Cin]).
func Im2ColForward(g kernels.Im2Col, col, x []float64) {
	im2colCheck("Im2ColForward", g, col, x)
	ho, wo := g.OutSize()
	p, kc := g.K/2, g.K*g.K*g.Cin
	for b := 0; b < g.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				row := ((b*ho+oh)*wo + ow) * kc
				for i := 0; i < g.K; i++ {
					for j := 0; j < g.K; j++ {
						ih, iw := oh*g.Stride+i-p, ow*g.Stride+j-p
						inside := ih >= 0 && ih < g.H && iw >= 0 && iw < g.W
						for c := 0; c < g.Cin; c++ {
							v := 0.0
							if inside {
								v = x[((b*g.H+ih)*g.W+iw)*g.Cin+c]
							}
							col[row+(i*g.K+j)*g.Cin+c] = v
						}
					}
				}
			}
		}
	}
}

// Im2ColBackward is the float64 twin of kernels.Im2Col.Backward (col2im):
// dx[B, H, W, Cin] (overwritten) = the sum of the dcol entries that read
// each input element.
func Im2ColBackward(g kernels.Im2Col, dx, dcol []float64) {
	im2colCheck("Im2ColBackward", g, dcol, dx)
	ho, wo := g.OutSize()
	p, kc := g.K/2, g.K*g.K*g.Cin
	clear(dx[:g.B*g.H*g.W*g.Cin])
	for b := 0; b < g.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				row := ((b*ho+oh)*wo + ow) * kc
				for i := 0; i < g.K; i++ {
					for j := 0; j < g.K; j++ {
						ih, iw := oh*g.Stride+i-p, ow*g.Stride+j-p
						if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
							continue
						}
						for c := 0; c < g.Cin; c++ {
							dx[((b*g.H+ih)*g.W+iw)*g.Cin+c] += dcol[row+(i*g.K+j)*g.Cin+c]
						}
					}
				}
			}
		}
	}
}
