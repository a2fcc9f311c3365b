package trainer

import (
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// A layer is one node of a subnet's training graph: the stem, an MBConv
// block or the head, each a fused forward and a hand-written backward over
// the layer's parameter group (supernet.Group) at its maximum shape, of
// which the subnet uses leading slices and the centre of the depthwise
// kernel (ALGORITHM.md section 4). Activations are NHWC rows [B*H*W, C].
// Forward saves, in the engine's arena, what the backward needs:
// pre-BatchNorm outputs, not the normalised ones, which the backward
// recomputes (memory for a little arithmetic).
type layer[T float] interface {
	// forward computes y from x with the group's weights w.
	forward(e *engine[T], x, w, y []T)
	// backward computes dx (nil for the stem, whose input needs none) from
	// dy and adds each shard's weight gradients to dws[shard] (cleared
	// first), then sums the shards into dws[0].
	backward(e *engine[T], x, w, dy, dx []T, dws [][]T)
	// in and out are the shapes [rows, channels] of x and y.
	in() (rows, cols int)
	out() (rows, cols int)
	// needs is what a forward and backward take from the engine's arenas:
	// from the run's arena (y included), and from each shard's scratch
	// arena for n images at most. It mirrors the allocations of forward
	// and backward (TestArenasSizedByPlan checks that it covers them).
	needs(n int) (acts, scratch int)
}

// tensorAt locates a tensor of a group: its offset and its row stride (the
// last dimension at the maximum shape).
type tensorAt struct{ off, ld int }

func at(p *supernet.Param) tensorAt {
	if p == nil {
		return tensorAt{}
	}
	return tensorAt{off: p.Offset, ld: p.Shape[len(p.Shape)-1]}
}

// convBNAt locates a convolution and its BatchNorm.
type convBNAt struct{ w, gamma, beta tensorAt }

func convBNOf(c supernet.ConvBN) convBNAt {
	return convBNAt{w: at(c.W), gamma: at(c.Gamma), beta: at(c.Beta)}
}

func activation(a space.Activation) kernels.Act {
	switch a {
	case space.Swish:
		return kernels.ActSwish
	case space.HSwish:
		return kernels.ActHSwish
	case space.ReLU:
		return kernels.ActReLU
	}
	panic("trainer: unknown activation " + string(a))
}

// spread adds v[b, c]*scale to every one of the P rows of image b of
// d[B*P, C]: the backward of a global average pool (scale 1/P).
func spread[T float](e *engine[T], d, v, tmp []T, B, P, C int, scale T) {
	for b := 0; b < B; b++ {
		vs := tmp[:C]
		for c := range vs {
			vs[c] = v[b*C+c] * scale
		}
		img := d[b*P*C : (b+1)*P*C]
		e.scaleShiftAct(img, img, P, C, nil, vs, kernels.ActNone)
	}
}

// stem is the dense k x k convolution + BN + activation over the images.
type stem[T float] struct {
	p   space.ConvPlan
	B   int
	act kernels.Act
	at  convBNAt
	z   []T // saved: the conv output before BN [B*Ho*Wo, c0]
	col []T // saved: the patches [B*Ho*Wo, k*k*Cin] (nine values a pixel for the reference space)
	bn  bnState[T]
}

func newStem[T float](net *supernet.Supernet, p space.Plan, B int) *stem[T] {
	return &stem[T]{p: p.Stem, B: B, act: activation(p.Act), at: convBNOf(net.Stem)}
}

func (l *stem[T]) in() (int, int)  { return l.B * l.p.InSize * l.p.InSize, l.p.Cin }
func (l *stem[T]) out() (int, int) { return l.B * l.p.OutSize * l.p.OutSize, l.p.Cout }

func (l *stem[T]) needs(n int) (acts, scratch int) {
	p := l.p
	Po, kc, c0 := p.OutSize*p.OutSize, p.K*p.K*p.Cin, p.Cout
	acts = 2*l.B*Po*c0 + l.B*Po*kc + 3*c0 + 2*c0
	return acts, n * Po * c0
}

func (l *stem[T]) im2col(n int) kernels.Im2Col {
	return kernels.Im2Col{B: n, H: l.p.InSize, W: l.p.InSize, Cin: l.p.Cin, K: l.p.K, Stride: l.p.Stride}
}

func (l *stem[T]) forward(e *engine[T], x, w, y []T) {
	p, a := l.p, l.at
	Pin, Po, kc, c0 := p.InSize*p.InSize, p.OutSize*p.OutSize, p.K*p.K*p.Cin, p.Cout
	l.z, l.col = e.acts.alloc(l.B*Po*c0), e.acts.alloc(l.B*Po*kc)
	e.beginLayer()
	e.each(l.B, func(s, i0, i1 int) {
		n := i1 - i0
		cols := l.col[i0*Po*kc : i1*Po*kc]
		e.im2col(l.im2col(n), cols, x[i0*Pin*p.Cin:i1*Pin*p.Cin])
		z := l.z[i0*Po*c0 : i1*Po*c0]
		e.gemm(false, false, n*Po, c0, kc, 1, cols, kc, w[a.w.off:], a.w.ld, 0, z, c0)
		e.bnSumsPart(s, z, n*Po, c0)
	})
	l.bn = e.bnStats(l.z, l.B, Po, c0, w[a.gamma.off:])
	beta := w[a.beta.off:]
	e.each(l.B, func(s, i0, i1 int) {
		r0, r1 := i0*Po*c0, i1*Po*c0
		e.bnApply(y[r0:r1], l.z[r0:r1], (i1-i0)*Po, c0, l.bn.mean, l.bn.a, beta, l.act)
	})
}

func (l *stem[T]) backward(e *engine[T], _, w, dy, _ []T, dws [][]T) {
	p, a := l.p, l.at
	Po, kc, c0 := p.OutSize*p.OutSize, p.K*p.K*p.Cin, p.Cout
	beta := w[a.beta.off:]
	e.beginLayer()
	dz := make([][]T, e.shards)
	stored := make([]bool, e.shards)
	e.each(l.B, func(s, i0, i1 int) {
		clear(dws[s])
		r0, r1 := i0*Po*c0, i1*Po*c0
		dz[s] = e.scratch[s].alloc(r1 - r0)
		stored[s] = e.bnBackwardSumsPart(s, dz[s], dy[r0:r1], l.z[r0:r1], (i1-i0)*Po, c0, l.bn, beta, l.act)
	})
	k := e.bnBackwardFinish(l.bn, l.B*Po, c0, dws[0][a.gamma.off:], dws[0][a.beta.off:])
	e.each(l.B, func(s, i0, i1 int) {
		n := i1 - i0
		r0, r1 := i0*Po*c0, i1*Po*c0
		src, act := dy[r0:r1], l.act
		if stored[s] {
			src, act = dz[s], kernels.ActNone
		}
		e.bnBackwardApply(dz[s], src, l.z[r0:r1], n*Po, c0, l.bn.mean, l.bn.a, beta, k.k1, k.k2, act)
		e.gemm(true, false, kc, c0, n*Po, 1, l.col[i0*Po*kc:i1*Po*kc], kc, dz[s], c0, 0, dws[s][a.w.off:], a.w.ld)
	})
	e.reduceGrads(dws)
}

// head is the MobileNetV3 head and the classifier: 1x1 conv + BN + act,
// global average pool, linear + bias + act, dropout, linear + bias.
type head[T float] struct {
	p       space.HeadPlan
	B       int
	act     kernels.Act
	conv    convBNAt
	mixW    tensorAt
	mixB    tensorAt
	clsW    tensorAt
	clsB    tensorAt
	dropout float64
	seed    uint64 // dropout's, set before each run
	// saved by forward
	z, pooled, m, ad []T // conv output [B*S*S, E]; pool [B, E]; mix pre-act [B, W]; post-act (after dropout) [B, W]
	mask             []T // dropout's keep mask scaled by 1/(1-p) [B, W]
	bn               bnState[T]
}

func newHead[T float](net *supernet.Supernet, p space.Plan, B int, dropout float64) *head[T] {
	h := net.Head
	return &head[T]{p: p.Head, B: B, act: activation(p.Act), conv: convBNOf(h.Expand),
		mixW: at(h.MixW), mixB: at(h.MixB), clsW: at(h.ClassifierW), clsB: at(h.ClassifierB), dropout: dropout}
}

func (l *head[T]) in() (int, int)  { return l.B * l.p.Size * l.p.Size, l.p.Cin }
func (l *head[T]) out() (int, int) { return l.B, l.p.Classes }

func (l *head[T]) needs(n int) (acts, scratch int) {
	p := l.p
	P, E, W, K := p.Size*p.Size, p.Expanded, p.Width, p.Classes
	acts = l.B*P*E + l.B*E + 2*l.B*W + 3*E + l.B*K + 2*E
	return acts, max(n*P*E, n*W+n*E+n*P*E+E)
}

// fillMask draws the dropout mask of a run from seed alone: each element is
// dropped with probability p, survivors scaled by 1/(1-p) (inverted
// dropout, as torch.nn.functional.dropout).
func (l *head[T]) fillMask() {
	n := l.B * l.p.Width
	if len(l.mask) != n {
		l.mask = make([]T, n)
	}
	rng := rand.New(rand.NewPCG(l.seed, 0xd40))
	keep := T(1 / (1 - l.dropout))
	for i := range l.mask {
		if rng.Float64() < l.dropout {
			l.mask[i] = 0
		} else {
			l.mask[i] = keep
		}
	}
}

func (l *head[T]) forward(e *engine[T], x, w, y []T) {
	p := l.p
	P, cin, E, W, K := p.Size*p.Size, p.Cin, p.Expanded, p.Width, p.Classes
	l.z = e.acts.alloc(l.B * P * E)
	l.pooled, l.m, l.ad = e.acts.alloc(l.B*E), e.acts.alloc(l.B*W), e.acts.alloc(l.B*W)
	e.beginLayer()
	e.each(l.B, func(s, i0, i1 int) {
		z := l.z[i0*P*E : i1*P*E]
		e.gemm(false, false, (i1-i0)*P, E, cin, 1, x[i0*P*cin:], cin, w[l.conv.w.off:], l.conv.w.ld, 0, z, E)
		e.bnSumsPart(s, z, (i1-i0)*P, E)
	})
	l.bn = e.bnStats(l.z, l.B, P, E, w[l.conv.gamma.off:])
	if l.dropout > 0 {
		l.fillMask()
	}
	beta := w[l.conv.beta.off:]
	e.each(l.B, func(s, i0, i1 int) {
		n := i1 - i0
		ys := e.scratch[s].alloc(n * P * E)
		e.bnApply(ys, l.z[i0*P*E:i1*P*E], n*P, E, l.bn.mean, l.bn.a, beta, l.act)
		pooled := l.pooled[i0*E : i1*E]
		e.gap(pooled, ys, n, P, E)
		m, ad := l.m[i0*W:i1*W], l.ad[i0*W:i1*W]
		e.gemm(false, false, n, W, E, 1, pooled, E, w[l.mixW.off:], l.mixW.ld, 0, m, W)
		e.addBias(m, n, W, W, w[l.mixB.off:])
		e.act(ad, m, l.act)
		if l.dropout > 0 {
			for i, k := range l.mask[i0*W : i1*W] {
				ad[i] *= k
			}
		}
		ys2 := y[i0*K : i1*K]
		e.gemm(false, false, n, K, W, 1, ad, W, w[l.clsW.off:], l.clsW.ld, 0, ys2, K)
		e.addBias(ys2, n, K, K, w[l.clsB.off:])
	})
}

func (l *head[T]) backward(e *engine[T], x, w, dy, dx []T, dws [][]T) {
	p := l.p
	P, cin, E, W, K := p.Size*p.Size, p.Cin, p.Expanded, p.Width, p.Classes
	beta := w[l.conv.beta.off:]
	e.beginLayer()
	dz := make([][]T, e.shards)
	stored := make([]bool, e.shards)
	e.each(l.B, func(s, i0, i1 int) {
		n := i1 - i0
		dw, sc := dws[s], &e.scratch[s]
		clear(dw)
		dys := dy[i0*K : i1*K]
		ad, m, pooled := l.ad[i0*W:i1*W], l.m[i0*W:i1*W], l.pooled[i0*E:i1*E]
		e.gemm(true, false, W, K, n, 1, ad, W, dys, K, 0, dw[l.clsW.off:], l.clsW.ld)
		e.sumRows(dw[l.clsB.off:], dys, n, K, K)
		dm := sc.alloc(n * W)
		e.gemm(false, true, n, W, K, 1, dys, K, w[l.clsW.off:], l.clsW.ld, 0, dm, W)
		if l.dropout > 0 {
			for i, k := range l.mask[i0*W : i1*W] {
				dm[i] *= k
			}
		}
		e.dact(dm, dm, m, l.act)
		e.gemm(true, false, E, W, n, 1, pooled, E, dm, W, 0, dw[l.mixW.off:], l.mixW.ld)
		e.sumRows(dw[l.mixB.off:], dm, n, W, W)
		dp := sc.alloc(n * E)
		e.gemm(false, true, n, E, W, 1, dm, W, w[l.mixW.off:], l.mixW.ld, 0, dp, E)
		d := sc.alloc(n * P * E)
		clear(d)
		spread(e, d, dp, sc.alloc(E), n, P, E, 1/T(P))
		dz[s] = d
		stored[s] = e.bnBackwardSumsPart(s, d, d, l.z[i0*P*E:i1*P*E], n*P, E, l.bn, beta, l.act)
	})
	k := e.bnBackwardFinish(l.bn, l.B*P, E, dws[0][l.conv.gamma.off:], dws[0][l.conv.beta.off:])
	e.each(l.B, func(s, i0, i1 int) {
		n := i1 - i0
		act := l.act
		if stored[s] {
			act = kernels.ActNone
		}
		e.bnBackwardApply(dz[s], dz[s], l.z[i0*P*E:i1*P*E], n*P, E, l.bn.mean, l.bn.a, beta, k.k1, k.k2, act)
		xs := x[i0*P*cin : i1*P*cin]
		e.gemm(true, false, cin, E, n*P, 1, xs, cin, dz[s], E, 0, dws[s][l.conv.w.off:], l.conv.w.ld)
		e.gemm(false, true, n*P, cin, E, 1, dz[s], E, w[l.conv.w.off:], l.conv.w.ld, 0, dx[i0*P*cin:i1*P*cin], cin)
	})
	e.reduceGrads(dws)
}
