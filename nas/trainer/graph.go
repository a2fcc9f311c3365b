// Package trainer trains an AttentiveNAS supernet: one gorgonia graph per
// subnet, built from the shared max-shape tensors of nas/supernet (gorgonia
// Slice of the shared values, gradients accumulated into the shared
// gradient buffers, so only the slices a subnet used receive gradient), with
// custom Ops over nas/kernels for every layer; and the sandwich step
// (ALGORITHM.md section 5) that sums the gradients of the largest, two
// middle and the smallest subnets before one SGD update.
//
//	tr, _ := trainer.New(net, trainer.Config{Batch: 128})
//	stats, err := tr.Step(images, labels, mids, lr, seed)
//
// See also nas/infer, the plain-Go forward used for evaluation, which
// computes the same function (TestGraphMatchesInfer).
package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Graph is the training graph of one subnet at a fixed batch size: forward,
// loss and backward, compiled once and run every time the subnet trains.
type Graph struct {
	Arch  space.Arch
	Plan  space.Plan
	B     int
	g     *G.ExprGraph
	vm    G.VM
	input *tensor.Dense // [B*r*r, Cin], bound to the input node; Run copies images in
	// nodes read after a run
	logits *G.Node
	loss   *G.Node
	lossOp *lossOp
	drop   *dropoutOp // nil unless the graph has dropout
	nodes  int
	pool   *bufPool // recycles the ops' output buffers; nil: none
}

// GraphOptions configures a graph.
type GraphOptions struct {
	// Dropout before the classifier; the reference uses 0.2 for the largest
	// subnet and none for the others.
	Dropout float64
	// pool, when set, supplies the ops' output buffers and takes them back
	// when the graph is closed (the Trainer shares one among its graphs).
	pool *bufPool
}

// BuildGraph builds and compiles the training graph of arch a at batch size
// B over the tensors of net. Building is not safe for concurrent use
// (gorgonia's package-level constant nodes, gorgonia note §3).
func BuildGraph(net *supernet.Supernet, a space.Arch, B int, opt GraphOptions) (g *Graph, err error) {
	if err := net.Space.Validate(a); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("trainer: building the graph of %v: %v", a, r)
		}
	}()
	b := &builder{net: net, g: G.NewGraph(), params: map[*supernet.Param]*G.Node{}, B: B}
	gr := &Graph{Arch: a, Plan: net.Space.Plan(a), B: B, g: b.g, pool: opt.pool}
	buildMu.Lock()
	building = gr
	defer func() {
		building = nil
		buildMu.Unlock()
	}()
	p := gr.Plan
	r := p.Resolution
	gr.input = tensor.New(tensor.WithShape(B*r*r, p.InChannels), tensor.Of(tensor.Float32))
	x := G.NewMatrix(b.g, tensor.Float32, G.WithShape(B*r*r, p.InChannels), G.WithName("images"), G.WithValue(gr.input))
	logits, drop := b.forward(x, p, opt)
	gr.logits, gr.drop = logits, drop
	gr.loss, gr.lossOp = SoftmaxLoss(logits)
	wrt := b.order
	if _, err := G.Grad(gr.loss, wrt...); err != nil {
		return nil, fmt.Errorf("trainer: gradient of %v: %w", a, err)
	}
	gr.vm = G.NewTapeMachine(b.g, G.BindDualValues(wrt...))
	gr.nodes = b.g.AllNodes().Len()
	return gr, nil
}

// Nodes is the number of nodes of the compiled graph (forward and backward).
func (gr *Graph) Nodes() int { return gr.nodes }

// Close releases the tape machine and returns the ops' buffers to the pool.
func (gr *Graph) Close() {
	if gr.vm == nil {
		return
	}
	gr.vm.Close()
	gr.vm = nil
	if gr.pool == nil {
		return
	}
	for _, n := range gr.g.AllNodes() {
		if r, ok := n.Op().(interface{ release() }); ok {
			r.release()
		}
	}
}

// Run does one forward and backward pass of images x (normalised, NHWC,
// already at the subnet's resolution, B*r*r*Cin values) against either hard
// labels with label smoothing or soft targets (B*K probabilities; nil for
// hard labels). Gradients are added to the supernet's gradient buffers. It
// returns the loss; Logits reads the logits.
func (gr *Graph) Run(x []float32, labels []int, smoothing float32, soft []float32, dropoutSeed uint64) (float64, error) {
	copy(gr.input.Data().([]float32), x)
	gr.lossOp.Labels, gr.lossOp.Smoothing, gr.lossOp.Soft32 = labels, smoothing, soft
	if gr.drop != nil {
		gr.drop.Seed = dropoutSeed
	}
	gr.vm.Reset() // without Reset, RunAll silently does nothing (gorgonia note §2)
	if err := gr.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("trainer: running %v: %w", gr.Arch, err)
	}
	return scalarOf(gr.loss.Value()), nil
}

// Logits returns the logits [B, classes] of the last Run (owned by the
// graph; copy them to keep them).
func (gr *Graph) Logits() []float32 { return gr.logits.Value().Data().([]float32) }

type builder struct {
	net    *supernet.Supernet
	g      *G.ExprGraph
	params map[*supernet.Param]*G.Node
	order  G.Nodes // parameter nodes in first-use order
	B      int
}

// param returns the node of a shared tensor: its value is the supernet's
// weights and its gradient buffer the supernet's gradient, both shared
// without copying (gorgonia note §2: WithValue binds, WithGrad accumulates).
func (b *builder) param(p *supernet.Param) *G.Node {
	if n, ok := b.params[p]; ok {
		return n
	}
	w := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.W))
	gr := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.G))
	n := G.NewTensor(b.g, tensor.Float32, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name),
		G.WithValue(w), G.WithGrad(gr))
	b.params[p] = n
	b.order = append(b.order, n)
	return n
}

// lead slices the leading block [:d0, :d1, ...] of a shared tensor (the
// first channels), or returns it whole.
func (b *builder) lead(p *supernet.Param, dims ...int) *G.Node {
	n := b.param(p)
	return sliceTo(n, p.Shape, dims, nil)
}

// crop slices the centre k x k of a [KMax, KMax, CMax] depthwise weight and
// its first c channels.
func (b *builder) crop(p *supernet.Param, k, c int) *G.Node {
	o := (p.Shape[0] - k) / 2
	return sliceTo(b.param(p), p.Shape, []int{k, k, c}, []int{o, o, 0})
}

// sliceTo cuts n (of shape full) to dims starting at offsets (zero when
// nil). gorgonia's Slice drops an axis of extent 1 (gorgonia note §1), so
// the result is reshaped back when that happens.
func sliceTo(n *G.Node, full, dims, offsets []int) *G.Node {
	same := true
	ss := make([]tensor.Slice, len(dims))
	for i, d := range dims {
		o := 0
		if offsets != nil {
			o = offsets[i]
		}
		if o != 0 || d != full[i] {
			same = false
			ss[i] = G.S(o, o+d)
		}
	}
	if same {
		return n
	}
	s, err := G.Slice(n, ss...)
	if err != nil {
		panic(fmt.Sprintf("trainer: slice %v of %v: %v", dims, full, err))
	}
	if !s.Shape().Eq(tensor.Shape(dims)) {
		if s, err = G.Reshape(s, tensor.Shape(dims)); err != nil {
			panic(fmt.Sprintf("trainer: reshape %v: %v", dims, err))
		}
	}
	return s
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
	panic(fmt.Sprintf("trainer: unknown activation %q", a))
}

// conv1x1BN is a 1x1 conv of x [M, cin] with W[:cin,:cout] then BN(+act).
func (b *builder) conv1x1BN(x *G.Node, c supernet.ConvBN, cin, cout int, act kernels.Act) *G.Node {
	y := MatMul(x, b.lead(c.W, cin, cout))
	return BNAct(y, b.lead(c.Gamma, cout), b.lead(c.Beta, cout), act)
}

// forward lays the subnet p out as a graph and returns its logits and its
// dropout op (nil without dropout). It follows nas/infer's forward exactly.
func (b *builder) forward(x *G.Node, p space.Plan, opt GraphOptions) (*G.Node, *dropoutOp) {
	B, net, act := b.B, b.net, activation(p.Act)
	// Stem: dense k x k conv as im2col + GEMM.
	st := p.Stem
	cols := Im2Col(x, kernels.Im2Col{B: B, H: st.InSize, W: st.InSize, Cin: st.Cin, K: st.K, Stride: st.Stride})
	h := MatMul(cols, b.lead(net.Stem.W, st.K*st.K*st.Cin, st.Cout)) // [B*H*W, c0]
	h = BNAct(h, b.lead(net.Stem.Gamma, st.Cout), b.lead(net.Stem.Beta, st.Cout), act)
	for _, bp := range p.Blocks {
		h = b.block(h, bp, act)
	}
	hd := p.Head
	w := net.Head
	e := b.conv1x1BN(h, w.Expand, hd.Cin, hd.Expanded, act)                                                 // [B*S*S, E]
	g := GlobalAvgPool(e, B, hd.Size*hd.Size, hd.Expanded)                                                  // [B, E]
	m := Activate(AddBias(MatMul(g, b.lead(w.MixW, hd.Expanded, hd.Width)), b.lead(w.MixB, hd.Width)), act) // [B, W]
	var drop *dropoutOp
	if opt.Dropout > 0 {
		m, drop = Dropout(m, opt.Dropout)
	}
	logits := AddBias(MatMul(m, b.lead(w.ClassifierW, hd.Width, hd.Classes)), b.param(w.ClassifierB)) // [B, K]
	return logits, drop
}

// block is one MBConv block over x [B*H*W, cin].
func (b *builder) block(x *G.Node, bp space.BlockPlan, act kernels.Act) *G.Node {
	B := b.B
	w := b.net.Block(bp.Stage, bp.Index)
	h := x
	if bp.Expand {
		h = b.conv1x1BN(x, *w.Expand, bp.Cin, bp.Mid, act) // [B*H*W, mid]
	}
	d := kernels.Depthwise{B: B, H: bp.InSize, W: bp.InSize, C: bp.Mid, K: bp.K, Stride: bp.Stride}
	h = DepthwiseConv(h, b.crop(w.DW.W, bp.K, bp.Mid), d) // [B*Ho*Wo, mid]
	h = BNAct(h, b.lead(w.DW.Gamma, bp.Mid), b.lead(w.DW.Beta, bp.Mid), act)
	P := bp.OutSize * bp.OutSize
	if bp.SE {
		se := w.SE
		s := GlobalAvgPool(h, B, P, bp.Mid)                                                                                     // [B, mid]
		s = Activate(AddBias(MatMul(s, b.lead(se.ReduceW, bp.Mid, bp.SEMid)), b.lead(se.ReduceB, bp.SEMid)), kernels.ActReLU)   // [B, se]
		s = Activate(AddBias(MatMul(s, b.lead(se.ExpandW, bp.SEMid, bp.Mid)), b.lead(se.ExpandB, bp.Mid)), kernels.ActHSigmoid) // [B, mid]
		h = ChannelScale(h, s, B, P, bp.Mid)
	}
	h = b.conv1x1BN(h, w.Project, bp.Mid, bp.Cout, kernels.ActNone) // [B*Ho*Wo, cout]
	r := x
	if bp.ShortcutPool {
		r = AvgPool2x2(r, B, bp.InSize, bp.InSize, bp.Cin)
	}
	if bp.ShortcutConv {
		r = MatMul(r, b.lead(w.Shortcut, bp.Cin, bp.Cout))
	}
	return Add(h, r)
}
