// Package trainer trains an AttentiveNAS supernet: one gorgonia graph per
// subnet, a chain of layer ops (the stem, each MBConv block, the head) over
// the shared max-shape tensors of nas/supernet, one parameter node per
// layer bound to the layer's group of tensors (gradients accumulate into
// the shared gradient buffers, only in the slices the subnet used); and the
// sandwich step (ALGORITHM.md section 5) that sums the gradients of the
// largest, two middle and the smallest subnets before one SGD update.
//
//	tr, _ := trainer.New(net, trainer.Config{Batch: 128})
//	stats, err := tr.Step(images, labels, mids, lr, seed)
//
// The layers are fused forward/backward passes over nas/kernels, run by a
// sharded engine (engine.go) that splits every phase over image groups on
// the cores. The same layer code runs in float64 over nas/kernels/ref for
// the finite-difference checks.
//
// See also nas/infer, the plain-Go forward used for evaluation, which
// computes the same function (TestGraphMatchesInfer).
package trainer

import (
	"fmt"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// graph is the training graph of one subnet at a fixed batch size: forward,
// loss and backward, compiled once and run every time the subnet trains.
type graph[T float] struct {
	Arch   space.Arch
	Plan   space.Plan
	B      int
	e      *engine[T]
	g      *G.ExprGraph
	vm     G.VM
	input  *tensor.Dense // [B*r*r, Cin], bound to the input node; run copies images in
	logits *G.Node
	loss   *G.Node
	lossOp *lossOp[T]
	head   *head[T]
	ops    []*layerOp[T]
	nodes  int
	// ownEngine: the graph's engine is its own (BuildGraph), not a
	// trainer's, and closes with it.
	ownEngine bool
}

// Graph is the float32 training graph of one subnet.
type Graph struct{ *graph[float32] }

// GraphOptions configures a graph.
type GraphOptions struct {
	// Dropout before the classifier; the reference uses 0.2 for the largest
	// subnet and none for the others.
	Dropout float64
	// Shards is the number of image groups every layer splits the batch
	// into (DefaultShards when 0); it changes the summation order of
	// BatchNorm statistics and gradients, not the arithmetic.
	Shards int
}

// buildMu serialises graph construction: building gorgonia graphs
// concurrently races on package-level constant nodes.
var buildMu sync.Mutex

// BuildGraph builds and compiles the float32 training graph of arch a at
// batch size B over the tensors of net, with its own engine. Trainers share
// one engine between their graphs.
func BuildGraph(net *supernet.Supernet, a space.Arch, B int, opt GraphOptions) (*Graph, error) {
	e := newEngine(prims32, opt.Shards)
	g, err := buildGraph(e, net, groupsOf(net), a, B, opt.Dropout)
	if err != nil {
		e.close()
		return nil, err
	}
	g.ownEngine = true
	return &Graph{g}, nil
}

// groups is where a graph's parameter nodes bind: each layer group's values
// and gradient accumulator.
type groups[T float] struct{ w, g [][]T }

func groupsOf(net *supernet.Supernet) groups[float32] {
	var gs groups[float32]
	for _, g := range net.Groups {
		gs.w = append(gs.w, g.W)
		gs.g = append(gs.g, g.G)
	}
	return gs
}

func buildGraph[T float](e *engine[T], net *supernet.Supernet, gs groups[T], a space.Arch, B int, dropout float64) (gr *graph[T], err error) {
	if err := net.Space.Validate(a); err != nil {
		return nil, err
	}
	if B < 1 {
		return nil, fmt.Errorf("trainer: batch size %d: expected at least 1", B)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			gr, err = nil, fmt.Errorf("trainer: building the graph of %v: %v", a, r)
		}
	}()
	p := net.Space.Plan(a)
	g := G.NewGraph()
	gr = &graph[T]{Arch: a, Plan: p, B: B, e: e, g: g}
	var zero T
	dt := tensor.Float32
	if any(zero) == any(float64(0)) {
		dt = tensor.Float64
	}
	r := p.Resolution
	gr.input = tensor.New(tensor.WithShape(B*r*r, p.InChannels), tensor.Of(dt))
	h := G.NewMatrix(g, dt, G.WithShape(B*r*r, p.InChannels), G.WithName("images"), G.WithValue(gr.input))
	var params G.Nodes
	// layer chains op over group gi after h.
	layer := func(name string, gi int, l layer[T]) {
		w := gs.w[gi]
		wn := G.NewVector(g, dt, G.WithShape(len(w)), G.WithName(net.Groups[gi].Name),
			G.WithValue(tensor.New(tensor.WithShape(len(w)), tensor.WithBacking(w))),
			G.WithGrad(tensor.New(tensor.WithShape(len(w)), tensor.WithBacking(gs.g[gi]))))
		params = append(params, wn)
		op := newLayerOp(name, l, e, len(w), len(gr.ops) == 0)
		gr.ops = append(gr.ops, op)
		h = apply(op, h, wn)
	}
	layer("Stem", 0, newStem[T](net, p, B))
	for i, bp := range p.Blocks {
		layer(fmt.Sprintf("Block%d.%d", bp.Stage, bp.Index), 1+net.Space.SlotIndex(bp.Stage, bp.Index), newBlock[T](net, p, i, B))
	}
	gr.head = newHead[T](net, p, B, dropout)
	layer("Head", len(net.Groups)-1, gr.head)
	gr.logits = h
	gr.loss, gr.lossOp = softmaxLoss(e, h)
	if _, err := G.Grad(gr.loss, params...); err != nil {
		return nil, fmt.Errorf("trainer: gradient of %v: %w", a, err)
	}
	gr.vm = G.NewTapeMachine(g, G.BindDualValues(params...))
	gr.nodes = g.AllNodes().Len()
	gr.reserve()
	return gr, nil
}

// reserve grows the engine's arenas to what running gr takes, before it
// runs: growing them by overflow during a run would hold the run's
// tensors twice at the next reset.
func (gr *graph[T]) reserve() {
	e := gr.e
	_, n := e.images(0, gr.B)
	for s := 1; s < e.shards; s++ {
		i0, i1 := e.images(s, gr.B)
		n = max(n, i1-i0)
	}
	acts, scratch := 0, 0
	for _, op := range gr.ops {
		a, sc := op.l.needs(n)
		acts += a
		scratch = max(scratch, sc)
	}
	e.acts.reserve(acts)
	for s := range e.scratch {
		e.scratch[s].reserve(scratch)
	}
}

// Nodes is the number of nodes of the compiled graph (forward and backward).
func (gr *graph[T]) Nodes() int { return gr.nodes }

// Close releases the tape machine and the layers' gradient buffers.
func (gr *graph[T]) Close() {
	if gr.vm == nil {
		return
	}
	gr.vm.Close()
	gr.vm = nil
	for _, op := range gr.ops {
		op.release()
	}
	if gr.ownEngine {
		gr.e.close()
	}
}

// Run does one forward and backward pass of images x (normalised, NHWC,
// already at the subnet's resolution, B*r*r*Cin values) against either hard
// labels with label smoothing or soft targets (B*K probabilities; nil for
// hard labels). Gradients are added to the bound gradient buffers. It
// returns the loss; Logits reads the logits until the engine's next run.
func (gr *graph[T]) Run(x []T, labels []int, smoothing T, soft []T, dropoutSeed uint64) (loss float64, err error) {
	copy(gr.input.Data().([]T), x)
	gr.lossOp.Labels, gr.lossOp.Smoothing, gr.lossOp.Soft = labels, smoothing, soft
	gr.head.seed = dropoutSeed
	gr.e.acts.reset()
	defer func() {
		if r := recover(); r != nil {
			loss, err = 0, fmt.Errorf("trainer: running %v: %v", gr.Arch, r)
		}
	}()
	gr.vm.Reset() // without Reset, RunAll silently does nothing
	if err := gr.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("trainer: running %v: %w", gr.Arch, err)
	}
	return scalarOf(gr.loss.Value()), nil
}

// Logits returns the logits [B, classes] of the last Run (owned by the
// engine; copy them to keep them).
func (gr *graph[T]) Logits() []T { return gr.logits.Value().Data().([]T) }
