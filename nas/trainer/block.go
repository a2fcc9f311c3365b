package trainer

import (
	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// block is one MBConv block (ALGORITHM.md section 2) as one layer:
//
//	z1 = x*We                  [B*H*W, mid]   (absent when the stage has t = 1: y1 = x)
//	y1 = act(BN1(z1))
//	z2 = depthwise_k,s(y1)     [B*Ho*Wo, mid]
//	y2 = act(BN2(z2))
//	y2 = y2 * hsigmoid(relu(pool(y2)*Wr + br)*Wx + bx)   (squeeze-excite, optional)
//	z3 = y2*Wp                 [B*Ho*Wo, cout]
//	y  = BN3(z3) + shortcut(x) (identity; 2x2 average pool when s = 2; 1x1 conv Wsc when cin != cout)
//
// Saved for the backward: z1, z2, z3 and squeeze-excite's small vectors;
// y1 and y2 are recomputed from z1 and z2.
type block[T float] struct {
	p                space.BlockPlan
	B                int
	act              kernels.Act
	expand, dw, proj convBNAt
	seRW, seRB       tensorAt
	seXW, seXB       tensorAt
	shortcut         tensorAt
	kmax             int
	z1, z2, z3       []T
	pooled, h1, g    []T // squeeze-excite: pool [B, mid], hidden pre-ReLU [B, se], gate pre-hsigmoid [B, mid]
	bn1, bn2, bn3    bnState[T]
	ta, tb, tc, td   [][]T // per shard temporaries that live across phases
	stored2, stored1 []bool
}

func newBlock[T float](net *supernet.Supernet, p space.Plan, i, B int) *block[T] {
	bp := p.Blocks[i]
	w := net.Block(bp.Stage, bp.Index)
	l := &block[T]{p: bp, B: B, act: activation(p.Act), proj: convBNOf(w.Project),
		dw: convBNAt{w: at(w.DW.W), gamma: at(w.DW.Gamma), beta: at(w.DW.Beta)}, kmax: w.DW.W.Shape[0]}
	if w.Expand != nil {
		l.expand = convBNOf(*w.Expand)
	}
	if w.SE != nil {
		l.seRW, l.seRB, l.seXW, l.seXB = at(w.SE.ReduceW), at(w.SE.ReduceB), at(w.SE.ExpandW), at(w.SE.ExpandB)
	}
	l.shortcut = at(w.Shortcut)
	return l
}

func (l *block[T]) in() (int, int)  { return l.B * l.p.InSize * l.p.InSize, l.p.Cin }
func (l *block[T]) out() (int, int) { return l.B * l.p.OutSize * l.p.OutSize, l.p.Cout }

func (l *block[T]) needs(n int) (acts, scratch int) {
	p := l.p
	B, Pin, Po := l.B, p.InSize*p.InSize, p.OutSize*p.OutSize
	cin, mid, cout, se := p.Cin, p.Mid, p.Cout, p.SEMid
	acts = B*Po*mid + 3*mid + B*Po*cout + 3*cout + B*Po*cout // z2, bn2, z3, bn3, y
	fwd := n * Po * mid                                      // y2
	if p.Expand {
		acts += B*Pin*mid + 3*mid
		fwd += n * Pin * mid // y1
	}
	if p.SE {
		acts += 2*B*mid + B*se
		fwd += n*se + n*mid
	}
	if p.ShortcutPool {
		fwd += n * Po * cin
	}
	acts += 2*cout + 4*mid // backward coefficients
	bwd := 0
	if p.ShortcutConv && p.ShortcutPool {
		bwd += 2 * n * Po * cin
	}
	bwd += n*Po*cout + 2*n*Po*mid // dz3, y2, d
	if p.SE {
		bwd += 2*n*mid + n*Po*mid + 2*n*se + n*mid + mid
	}
	bwd += n * Pin * mid // y1, then dy1 in its place (a new buffer when y1 is x)
	return acts, max(fwd, bwd)
}

// depthwise is the depthwise convolution over n images.
func (l *block[T]) depthwise(n int) kernels.Depthwise {
	p := l.p
	return kernels.Depthwise{B: n, H: p.InSize, W: p.InSize, C: p.Mid, K: p.K, Stride: p.Stride, KMax: l.kmax, CMax: l.dw.w.ld}
}

func (l *block[T]) temps(S int) {
	if len(l.ta) != S {
		l.ta, l.tb, l.tc, l.td = make([][]T, S), make([][]T, S), make([][]T, S), make([][]T, S)
		l.stored1, l.stored2 = make([]bool, S), make([]bool, S)
	}
}

func (l *block[T]) forward(e *engine[T], x, w, y []T) {
	p := l.p
	B, Pin, Po := l.B, p.InSize*p.InSize, p.OutSize*p.OutSize
	cin, mid, cout, se := p.Cin, p.Mid, p.Cout, p.SEMid
	e.beginLayer()
	l.temps(e.shards)
	if p.Expand {
		l.z1 = e.acts.alloc(B * Pin * mid)
		e.each(B, func(s, i0, i1 int) {
			z := l.z1[i0*Pin*mid : i1*Pin*mid]
			e.gemm(false, false, (i1-i0)*Pin, mid, cin, 1, x[i0*Pin*cin:], cin, w[l.expand.w.off:], l.expand.w.ld, 0, z, mid)
			e.bnSumsPart(s, z, (i1-i0)*Pin, mid)
		})
		l.bn1 = e.bnStats(l.z1, B, Pin, mid, w[l.expand.gamma.off:])
	}
	l.z2 = e.acts.alloc(B * Po * mid)
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		y1 := x[i0*Pin*cin : i1*Pin*cin]
		if p.Expand {
			y1 = e.scratch[s].alloc(n * Pin * mid)
			e.bnApply(y1, l.z1[i0*Pin*mid:i1*Pin*mid], n*Pin, mid, l.bn1.mean, l.bn1.a, w[l.expand.beta.off:], l.act)
		}
		z := l.z2[i0*Po*mid : i1*Po*mid]
		e.dwForward(l.depthwise(n), z, y1, w[l.dw.w.off:])
		e.bnSumsPart(s, z, n*Po, mid)
	})
	l.bn2 = e.bnStats(l.z2, B, Po, mid, w[l.dw.gamma.off:])
	if p.SE {
		l.pooled, l.h1, l.g = e.acts.alloc(B*mid), e.acts.alloc(B*se), e.acts.alloc(B*mid)
	}
	l.z3 = e.acts.alloc(B * Po * cout)
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		sc := &e.scratch[s]
		y2 := sc.alloc(n * Po * mid)
		e.bnApply(y2, l.z2[i0*Po*mid:i1*Po*mid], n*Po, mid, l.bn2.mean, l.bn2.a, w[l.dw.beta.off:], l.act)
		if p.SE {
			pooled, h1, g := l.pooled[i0*mid:i1*mid], l.h1[i0*se:i1*se], l.g[i0*mid:i1*mid]
			e.gap(pooled, y2, n, Po, mid)
			e.gemm(false, false, n, se, mid, 1, pooled, mid, w[l.seRW.off:], l.seRW.ld, 0, h1, se)
			e.addBias(h1, n, se, se, w[l.seRB.off:])
			a := sc.alloc(n * se)
			e.act(a, h1, kernels.ActReLU)
			e.gemm(false, false, n, mid, se, 1, a, se, w[l.seXW.off:], l.seXW.ld, 0, g, mid)
			e.addBias(g, n, mid, mid, w[l.seXB.off:])
			gate := sc.alloc(n * mid)
			e.act(gate, g, kernels.ActHSigmoid)
			e.chanScale(y2, y2, gate, n, Po, mid)
		}
		z := l.z3[i0*Po*cout : i1*Po*cout]
		e.gemm(false, false, n*Po, cout, mid, 1, y2, mid, w[l.proj.w.off:], l.proj.w.ld, 0, z, cout)
		e.bnSumsPart(s, z, n*Po, cout)
	})
	l.bn3 = e.bnStats(l.z3, B, Po, cout, w[l.proj.gamma.off:])
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		ys := y[i0*Po*cout : i1*Po*cout]
		e.bnApply(ys, l.z3[i0*Po*cout:i1*Po*cout], n*Po, cout, l.bn3.mean, l.bn3.a, w[l.proj.beta.off:], kernels.ActNone)
		src := x[i0*Pin*cin : i1*Pin*cin]
		if p.ShortcutPool {
			t := e.scratch[s].alloc(n * Po * cin)
			e.avgPool(t, src, n, p.InSize, p.InSize, cin)
			src = t
		}
		if p.ShortcutConv {
			e.gemm(false, false, n*Po, cout, cin, 1, src, cin, w[l.shortcut.off:], l.shortcut.ld, 1, ys, cout)
		} else {
			e.add(ys, ys, src)
		}
	})
}

func (l *block[T]) backward(e *engine[T], x, w, dy, dx []T, dws [][]T) {
	p := l.p
	B, Pin, Po := l.B, p.InSize*p.InSize, p.OutSize*p.OutSize
	cin, mid, cout, se := p.Cin, p.Mid, p.Cout, p.SEMid
	e.beginLayer()
	l.temps(e.shards)
	// 1. The shortcut's gradient into dx; BN3's sums.
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		dw, sc := dws[s], &e.scratch[s]
		clear(dw)
		dys := dy[i0*Po*cout : i1*Po*cout]
		xs, dxs := x[i0*Pin*cin:i1*Pin*cin], dx[i0*Pin*cin:i1*Pin*cin]
		e.bnBackwardSumsPart(s, nil, dys, l.z3[i0*Po*cout:i1*Po*cout], n*Po, cout, l.bn3, w[l.proj.beta.off:], kernels.ActNone)
		switch {
		case p.ShortcutConv:
			src, dsrc := xs, dxs
			if p.ShortcutPool {
				src, dsrc = sc.alloc(n*Po*cin), sc.alloc(n*Po*cin)
				e.avgPool(src, xs, n, p.InSize, p.InSize, cin)
			}
			e.gemm(true, false, cin, cout, n*Po, 1, src, cin, dys, cout, 0, dw[l.shortcut.off:], l.shortcut.ld)
			e.gemm(false, true, n*Po, cin, cout, 1, dys, cout, w[l.shortcut.off:], l.shortcut.ld, 0, dsrc, cin)
			if p.ShortcutPool {
				e.avgPoolBackward(dxs, dsrc, n, p.InSize, p.InSize, cin)
			}
		case p.ShortcutPool:
			e.avgPoolBackward(dxs, dys, n, p.InSize, p.InSize, cin)
		default:
			copy(dxs, dys)
		}
	})
	k3 := e.bnBackwardFinish(l.bn3, B*Po, cout, dws[0][l.proj.gamma.off:], dws[0][l.proj.beta.off:])
	// 2. Through BN3, the projection and squeeze-excite; BN2's sums.
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		dw, sc := dws[s], &e.scratch[s]
		dz3 := sc.alloc(n * Po * cout)
		e.bnBackwardApply(dz3, dy[i0*Po*cout:i1*Po*cout], l.z3[i0*Po*cout:i1*Po*cout], n*Po, cout,
			l.bn3.mean, l.bn3.a, w[l.proj.beta.off:], k3.k1, k3.k2, kernels.ActNone)
		z2 := l.z2[i0*Po*mid : i1*Po*mid]
		y2 := sc.alloc(n * Po * mid)
		e.bnApply(y2, z2, n*Po, mid, l.bn2.mean, l.bn2.a, w[l.dw.beta.off:], l.act)
		y2g, gate := y2, []T(nil)
		if p.SE {
			gate, y2g = sc.alloc(n*mid), sc.alloc(n*Po*mid)
			e.act(gate, l.g[i0*mid:i1*mid], kernels.ActHSigmoid)
			e.chanScale(y2g, y2, gate, n, Po, mid)
		}
		e.gemm(true, false, mid, cout, n*Po, 1, y2g, mid, dz3, cout, 0, dw[l.proj.w.off:], l.proj.w.ld)
		d := sc.alloc(n * Po * mid)
		e.gemm(false, true, n*Po, mid, cout, 1, dz3, cout, w[l.proj.w.off:], l.proj.w.ld, 0, d, mid)
		if p.SE {
			pooled, h1, g := l.pooled[i0*mid:i1*mid], l.h1[i0*se:i1*se], l.g[i0*mid:i1*mid]
			dg := sc.alloc(n * mid)
			e.chanScaleBwd(d, dg, d, y2, gate, n, Po, mid)
			e.dact(dg, dg, g, kernels.ActHSigmoid)
			a := sc.alloc(n * se)
			e.act(a, h1, kernels.ActReLU)
			e.gemm(true, false, se, mid, n, 1, a, se, dg, mid, 0, dw[l.seXW.off:], l.seXW.ld)
			e.sumRows(dw[l.seXB.off:], dg, n, mid, mid)
			dh := sc.alloc(n * se)
			e.gemm(false, true, n, se, mid, 1, dg, mid, w[l.seXW.off:], l.seXW.ld, 0, dh, se)
			e.dact(dh, dh, h1, kernels.ActReLU)
			e.gemm(true, false, mid, se, n, 1, pooled, mid, dh, se, 0, dw[l.seRW.off:], l.seRW.ld)
			e.sumRows(dw[l.seRB.off:], dh, n, se, se)
			dp := sc.alloc(n * mid)
			e.gemm(false, true, n, mid, se, 1, dh, se, w[l.seRW.off:], l.seRW.ld, 0, dp, mid)
			spread(e, d, dp, sc.alloc(mid), n, Po, mid, 1/T(Po))
		}
		l.tc[s] = d
		l.stored2[s] = e.bnBackwardSumsPart(s, d, d, z2, n*Po, mid, l.bn2, w[l.dw.beta.off:], l.act)
	})
	k2 := e.bnBackwardFinish(l.bn2, B*Po, mid, dws[0][l.dw.gamma.off:], dws[0][l.dw.beta.off:])
	// 3. Through BN2 and the depthwise conv; BN1's sums.
	e.each(B, func(s, i0, i1 int) {
		n := i1 - i0
		dw, sc := dws[s], &e.scratch[s]
		d := l.tc[s]
		act := l.act
		if l.stored2[s] {
			act = kernels.ActNone
		}
		e.bnBackwardApply(d, d, l.z2[i0*Po*mid:i1*Po*mid], n*Po, mid, l.bn2.mean, l.bn2.a, w[l.dw.beta.off:], k2.k1, k2.k2, act)
		dwc := l.depthwise(n)
		y1 := x[i0*Pin*cin : i1*Pin*cin]
		if p.Expand {
			y1 = sc.alloc(n * Pin * mid)
			e.bnApply(y1, l.z1[i0*Pin*mid:i1*Pin*mid], n*Pin, mid, l.bn1.mean, l.bn1.a, w[l.expand.beta.off:], l.act)
		}
		e.dwBackwardWeight(dwc, dw[l.dw.w.off:], y1, d)
		dy1 := y1 // y1 is dead once the weight gradient has it
		if !p.Expand {
			dy1 = sc.alloc(n * Pin * mid)
		}
		e.dwBackwardInput(dwc, dy1, d, w[l.dw.w.off:])
		if !p.Expand {
			dxs := dx[i0*Pin*cin : i1*Pin*cin]
			e.add(dxs, dxs, dy1)
			return
		}
		l.td[s] = dy1
		l.stored1[s] = e.bnBackwardSumsPart(s, dy1, dy1, l.z1[i0*Pin*mid:i1*Pin*mid], n*Pin, mid, l.bn1, w[l.expand.beta.off:], l.act)
	})
	if p.Expand {
		k1 := e.bnBackwardFinish(l.bn1, B*Pin, mid, dws[0][l.expand.gamma.off:], dws[0][l.expand.beta.off:])
		// 4. Through BN1 and the expand conv.
		e.each(B, func(s, i0, i1 int) {
			n := i1 - i0
			dz1 := l.td[s]
			act := l.act
			if l.stored1[s] {
				act = kernels.ActNone
			}
			e.bnBackwardApply(dz1, dz1, l.z1[i0*Pin*mid:i1*Pin*mid], n*Pin, mid, l.bn1.mean, l.bn1.a, w[l.expand.beta.off:], k1.k1, k1.k2, act)
			xs, dxs := x[i0*Pin*cin:i1*Pin*cin], dx[i0*Pin*cin:i1*Pin*cin]
			e.gemm(true, false, cin, mid, n*Pin, 1, xs, cin, dz1, mid, 0, dws[s][l.expand.w.off:], l.expand.w.ld)
			e.gemm(false, true, n*Pin, cin, mid, 1, dz1, mid, w[l.expand.w.off:], l.expand.w.ld, 1, dxs, cin)
		})
	}
	e.reduceGrads(dws)
}
