package infer

import (
	"math"
	"sync"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// The forward pass of a MobileNetV3-style subnet (ALGORITHM.md section 2),
// shared by the supernet engine (weights are views, BN in batch-statistics
// or given-statistics mode) and the folded Model (BN folded into weights and
// biases). Activations are NHWC, flat [B*H*W, C].
//
//	x [B, S, S, Cin] -> resize -> [B, r, r, Cin]
//	stem: im2col, GEMM, BN, act                 [B*H*W, c0]
//	blocks: expand 1x1 + BN + act (t > 1)       [B*H*W, mid]
//	        depthwise kxk, stride s + BN + act  [B*H'*W', mid]
//	        squeeze-excite (optional)           [B*H'*W', mid]
//	        project 1x1 + BN, + shortcut        [B*H'*W', cout]
//	head: 1x1 + BN + act, global pool           [B, e]
//	      linear + act, linear classifier       [B, classes]

// bnMode selects how the unfolded net normalises: with given statistics
// (stats != nil, mode b) or with the current batch's statistics (mode a).
// In mode a, a non-nil acc receives each BN layer's exact float64 channel
// sums of the batch at acc[accOff[i]:]: sum [C], then sum of squares [C].
type bnMode struct {
	stats  *Stats
	acc    []float64
	accOff []int
}

// statChunk is the number of elements per kernels.ChannelSums call when
// computing batch statistics. It is below the kernels' threading threshold
// (2^16 elements per goroutine), so every call runs on one goroutine and the
// float64 partial sums, combined here in chunk order, do not depend on
// kernels.MaxThreads or on how chunks are spread over goroutines.
const statChunk = 1 << 16

// workspace holds the activation buffers of one forward pass at a time. They
// grow to the largest (net, batch) seen and are reused: a forward pass
// allocates nothing once warm. A workspace is not safe for concurrent use.
type workspace struct {
	in, col      []float32 // resized input [B, r, r, Cin]; stem patches [B*Ho*Wo, k*k*Cin]
	io           [2][]float32
	t, h, d      []float32 // pooled shortcut; expand (and head) output; depthwise output
	s, s1, s2    []float32 // squeeze-excite [B, mid], [B, se], [B, mid]
	g, m         []float32 // head pool [B, e], mix [B, w]
	scale, shift []float32 // per-channel BN affine map [Cmax]
	sum, part    []float64 // batch statistics [2*Cmax]; chunk partial sums
}

func grow(b *[]float32, n int) {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:cap(*b)]
}

func grow64(b *[]float64, n int) []float64 {
	if cap(*b) < n {
		*b = make([]float64, n)
	}
	return (*b)[:n]
}

// reserve makes every buffer large enough for n at batch B.
func (ws *workspace) reserve(n *net, B int) {
	p := n.plan
	sq := func(s int) int { return B * s * s }
	var in, io, t, h, d, mid, se, cmax int
	if p.Resolution != n.inSize {
		in = sq(p.Resolution) * p.InChannels
	}
	st := p.Stem
	col := sq(st.OutSize) * st.K * st.K * st.Cin
	io, cmax = sq(st.OutSize)*st.Cout, st.Cout
	for i := range n.blocks {
		b := &n.blocks[i].p
		io = max(io, sq(b.OutSize)*b.Cout)
		if b.ShortcutPool {
			t = max(t, sq(b.OutSize)*b.Cin)
		}
		if b.Expand {
			h = max(h, sq(b.InSize)*b.Mid)
		}
		d = max(d, sq(b.OutSize)*b.Mid)
		mid, se = max(mid, b.Mid), max(se, b.SEMid)
		cmax = max(cmax, b.Mid, b.Cout)
	}
	hd := p.Head
	h = max(h, sq(hd.Size)*hd.Expanded)
	cmax = max(cmax, hd.Expanded)
	grow(&ws.in, in)
	grow(&ws.col, col)
	grow(&ws.io[0], io)
	grow(&ws.io[1], io)
	grow(&ws.t, t)
	grow(&ws.h, h)
	grow(&ws.d, d)
	grow(&ws.s, B*mid)
	grow(&ws.s1, B*se)
	grow(&ws.s2, B*mid)
	grow(&ws.g, B*hd.Expanded)
	grow(&ws.m, B*hd.Width)
	grow(&ws.scale, cmax)
	grow(&ws.shift, cmax)
	grow64(&ws.sum, 2*cmax)
}

// forward runs n on x[B, S, S, Cin] (normalised images at the native size)
// and writes logits[B, classes]. mode is ignored by a folded net.
func (ws *workspace) forward(n *net, mode *bnMode, logits, x []float32, B int) {
	if B == 0 {
		return
	}
	ws.reserve(n, B)
	p := n.plan
	S, cin, r := n.inSize, p.InChannels, p.Resolution
	img := x[:B*S*S*cin] // [B, S, S, Cin]
	if r != S {
		img = ws.in[:B*r*r*cin]
		kernels.ResizeBilinear(img, x, B, S, S, cin, r, r) // [B, r, r, Cin]
	}

	// Stem: a dense k x k convolution as im2col + GEMM.
	st := p.Stem
	kkc := st.K * st.K * st.Cin
	M := B * st.OutSize * st.OutSize
	col := ws.col[:M*kkc]
	kernels.Im2Col{B: B, H: r, W: r, Cin: cin, K: st.K, Stride: st.Stride}.Forward(col, img) // [B*H*W, k*k*Cin]
	cur := 0
	X := ws.io[cur][:M*st.Cout]
	kernels.Gemm(false, false, M, st.Cout, kkc, 1, col, kkc, n.stem.w, n.stem.ld, 0, X, st.Cout) // [B*H*W, c0]
	ws.norm(n, mode, 0, X, M, st.Cout, n.act)

	for i := range n.blocks {
		b := &n.blocks[i]
		out := ws.io[1-cur][:B*b.p.OutSize*b.p.OutSize*b.p.Cout]
		ws.block(n, mode, b, out, X, B) // [B*H'*W', cout]
		cur, X = 1-cur, out
	}
	ws.head(n, mode, logits, X, B)
}

// block runs one MBConv block: out[B*Ho*Wo, cout] from x[B*H*W, cin].
func (ws *workspace) block(n *net, mode *bnMode, b *block, out, x []float32, B int) {
	bp := &b.p
	Mi, Mo := B*bp.InSize*bp.InSize, B*bp.OutSize*bp.OutSize
	cin, mid, cout := bp.Cin, bp.Mid, bp.Cout

	h := x // without expand conv, mid == cin
	if bp.Expand {
		h = ws.h[:Mi*mid]
		kernels.Gemm(false, false, Mi, mid, cin, 1, x, cin, b.expand.w, b.expand.ld, 0, h, mid) // [B*H*W, mid]
		ws.norm(n, mode, b.bnExpand, h, Mi, mid, n.act)
	}

	d := ws.d[:Mo*mid]
	dw := kernels.Depthwise{B: B, H: bp.InSize, W: bp.InSize, C: mid, K: bp.K, Stride: bp.Stride, KMax: b.dwKMax, CMax: b.dwCMax}
	dw.Forward(d, h, b.dw) // [B*Ho*Wo, mid]
	ws.norm(n, mode, b.bnDW, d, Mo, mid, n.act)

	if bp.SE {
		se, P := bp.SEMid, bp.OutSize*bp.OutSize
		s, s1, s2 := ws.s[:B*mid], ws.s1[:B*se], ws.s2[:B*mid]
		kernels.GlobalAvgPool(s, d, B, P, mid)                                                     // [B, mid]
		kernels.Gemm(false, false, B, se, mid, 1, s, mid, b.seReduce.w, b.seReduce.ld, 0, s1, se)  // [B, se]
		kernels.ScaleShiftAct(s1, s1, B, se, nil, b.seReduceB, kernels.ActReLU)                    // relu(. + bias)
		kernels.Gemm(false, false, B, mid, se, 1, s1, se, b.seExpand.w, b.seExpand.ld, 0, s2, mid) // [B, mid]
		kernels.ScaleShiftAct(s2, s2, B, mid, nil, b.seExpandB, kernels.ActHSigmoid)               // hsigmoid(. + bias)
		kernels.ChannelScale(d, d, s2, B, P, mid)                                                  // [B*Ho*Wo, mid]
	}

	if n.folded {
		// out = shortcut(x) + bias, then out += d*W'_project (GEMM with
		// beta = 1), so the project BN costs no pass of its own.
		bias := n.bn[b.bnProject].bias
		switch {
		case !bp.ShortcutPool && !bp.ShortcutConv:
			kernels.ScaleShiftAct(out, x, Mo, cout, nil, bias, kernels.ActNone) // x + bias
		case !bp.ShortcutConv:
			kernels.AvgPool2x2(out, x, B, bp.InSize, bp.InSize, cin) // [B*Ho*Wo, cout]
			kernels.ScaleShiftAct(out, out, Mo, cout, nil, bias, kernels.ActNone)
		default:
			r := x
			if bp.ShortcutPool {
				r = ws.t[:Mo*cin]
				kernels.AvgPool2x2(r, x, B, bp.InSize, bp.InSize, cin) // [B*Ho*Wo, cin]
			}
			kernels.Gemm(false, false, Mo, cout, cin, 1, r, cin, b.scut.w, b.scut.ld, 0, out, cout) // [B*Ho*Wo, cout]
			kernels.ScaleShiftAct(out, out, Mo, cout, nil, bias, kernels.ActNone)
		}
		kernels.Gemm(false, false, Mo, cout, mid, 1, d, mid, b.project.w, b.project.ld, 1, out, cout) // [B*Ho*Wo, cout]
		return
	}

	kernels.Gemm(false, false, Mo, cout, mid, 1, d, mid, b.project.w, b.project.ld, 0, out, cout) // [B*Ho*Wo, cout]
	ws.norm(n, mode, b.bnProject, out, Mo, cout, kernels.ActNone)
	r := x // [B*H*W, cin]
	if bp.ShortcutPool {
		r = ws.t[:Mo*cin]
		kernels.AvgPool2x2(r, x, B, bp.InSize, bp.InSize, cin) // [B*Ho*Wo, cin]
	}
	if bp.ShortcutConv {
		kernels.Gemm(false, false, Mo, cout, cin, 1, r, cin, b.scut.w, b.scut.ld, 1, out, cout) // out += r*W_shortcut
		return
	}
	kernels.Add(out, out, r[:Mo*cout])
}

// head runs the MobileNetV3 head and the classifier: logits[B, classes]
// from x[B*H*W, c]. Dropout is a training-only op and absent here.
func (ws *workspace) head(n *net, mode *bnMode, logits, x []float32, B int) {
	h := n.plan.Head
	P := h.Size * h.Size
	M := B * P
	e := ws.h[:M*h.Expanded]
	kernels.Gemm(false, false, M, h.Expanded, h.Cin, 1, x, h.Cin, n.headExpand.w, n.headExpand.ld, 0, e, h.Expanded) // [B*H*W, e]
	ws.norm(n, mode, len(n.bn)-1, e, M, h.Expanded, n.act)
	g := ws.g[:B*h.Expanded]
	kernels.GlobalAvgPool(g, e, B, P, h.Expanded) // [B, e]
	m := ws.m[:B*h.Width]
	kernels.Gemm(false, false, B, h.Width, h.Expanded, 1, g, h.Expanded, n.mix.w, n.mix.ld, 0, m, h.Width) // [B, w]
	kernels.ScaleShiftAct(m, m, B, h.Width, nil, n.mixB, n.act)
	kernels.Gemm(false, false, B, h.Classes, h.Width, 1, m, h.Width, n.cls.w, n.cls.ld, 0, logits, h.Classes) // [B, classes]
	kernels.AddBias(logits, B, h.Classes, h.Classes, n.clsB)
}

// norm applies BN layer i and the activation to y[M, C] in place.
func (ws *workspace) norm(n *net, mode *bnMode, i int, y []float32, M, C int, act kernels.Act) {
	bn := &n.bn[i]
	if n.folded {
		kernels.ScaleShiftAct(y, y, M, C, nil, bn.bias, act)
		return
	}
	scale, shift := ws.scale[:C], ws.shift[:C]
	if mode.stats != nil {
		ls := &mode.stats.Layers[i]
		kernels.BNFold(scale, shift, bn.gamma, bn.beta, ls.Mean, ls.Var, BNEps)
		kernels.ScaleShiftAct(y, y, M, C, scale, shift, act)
		return
	}
	// Batch statistics (training mode): exact float64 sums over the batch,
	// biased variance E[x^2] - mean^2.
	sum, sumsq := ws.sum[:C], ws.sum[C:2*C]
	ws.channelSums(sum, sumsq, y, M, C)
	if mode.acc != nil {
		a := mode.acc[mode.accOff[i]:]
		copy(a[:C], sum)
		copy(a[C:2*C], sumsq)
	}
	inv := 1 / float64(M)
	for c := 0; c < C; c++ {
		mean := sum[c] * inv
		v := max(sumsq[c]*inv-mean*mean, 0)
		sc := float64(bn.gamma[c]) / math.Sqrt(v+BNEps)
		scale[c] = float32(sc)
		shift[c] = float32(float64(bn.beta[c]) - mean*sc)
	}
	kernels.ScaleShiftAct(y, y, M, C, scale, shift, act)
}

// channelSums sets sum[c] and sumsq[c] to the float64 sums of x[:, c] and
// x[:, c]^2 over x[M, C]. The rows are cut into fixed chunks of at most
// statChunk elements, each summed by one kernels.ChannelSums call (run
// concurrently, up to kernels.MaxThreads at a time), and the chunk sums are
// added in chunk order: the result does not depend on the thread count.
func (ws *workspace) channelSums(sum, sumsq []float64, x []float32, M, C int) {
	rows := max(1, statChunk/C)
	nc := (M + rows - 1) / rows
	part := grow64(&ws.part, 2*C*nc)
	clear(part)
	if g := min(kernels.MaxThreads(), nc); g > 1 {
		parallelFor(nc, g, func(i int) { chunkSums(part, x, M, C, rows, i) })
	} else {
		for i := 0; i < nc; i++ { // no closure: nothing escapes
			chunkSums(part, x, M, C, rows, i)
		}
	}
	clear(sum)
	clear(sumsq)
	for i := 0; i < nc; i++ {
		p := part[2*C*i:]
		for c := 0; c < C; c++ {
			sum[c] += p[c]
			sumsq[c] += p[C+c]
		}
	}
}

// chunkSums sums chunk i (rows i*rows up to M) of x[M, C] into part.
func chunkSums(part []float64, x []float32, M, C, rows, i int) {
	lo, hi := i*rows, min((i+1)*rows, M)
	kernels.ChannelSums(part[2*C*i:2*C*i+C], part[2*C*i+C:2*C*(i+1)], x[lo*C:hi*C], hi-lo, C)
}

// parallelFor calls fn(i) for i in [0, n) on g goroutines (the caller's
// included), each taking a contiguous range of indices, and waits.
func parallelFor(n, g int, fn func(i int)) {
	if g <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	g = min(g, n)
	var wg sync.WaitGroup
	wg.Add(g - 1)
	for w := 1; w < g; w++ {
		go func() {
			defer wg.Done()
			for i := w * n / g; i < (w+1)*n/g; i++ {
				fn(i)
			}
		}()
	}
	for i := 0; i < n/g; i++ {
		fn(i)
	}
	wg.Wait()
}
