package trainer

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The gorgonia Ops of a training graph: one forward op per layer (stem,
// block, head) taking the layer's input and its parameter group; its
// backward op computing the input gradient and the group's gradient in one
// pass; a fetch op handing the group's gradient to gorgonia, which adds it
// into the bound gradient buffer; and the fused softmax cross-entropy.
// gorgonia does the graph, the chain rule and the gradient accumulation;
// the layers do the arithmetic (layers.go, block.go).
//
// Gorgonia merges nodes whose op hash and children agree, so every op
// instance hashes a unique id.

var opIDs atomic.Uint64

// opBase carries the boilerplate every op shares.
type opBase struct {
	name   string
	id     uint64
	inDims []int        // dimensionality of each input
	out    tensor.Shape // static output shape (nil for a scalar)
	view   *tensor.Dense
}

func newBase(name string, out tensor.Shape, inDims ...int) opBase {
	return opBase{name: name, id: opIDs.Add(1), inDims: inDims, out: out}
}

func (o *opBase) Arity() int { return len(o.inDims) }

func (o *opBase) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(o.inDims)+1)
	for _, d := range o.inDims {
		ts = append(ts, tensorType(d, a))
	}
	ts = append(ts, tensorType(len(o.out), a))
	return hm.NewFnType(ts...)
}

func tensorType(dims int, a hm.TypeVariable) hm.Type {
	if dims == 0 {
		return a
	}
	return &G.TensorType{Dims: dims, Of: a}
}

func (o *opBase) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if len(o.out) == 0 {
		return tensor.ScalarShape(), nil
	}
	return o.out.Clone(), nil
}

func (o *opBase) ReturnsPtr() bool      { return false }
func (o *opBase) CallsExtern() bool     { return false }
func (o *opBase) OverwritesInput() int  { return -1 }
func (o *opBase) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d%v", o.name, o.id, o.out) }
func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *opBase) String() string { return fmt.Sprintf("%s%v", o.name, o.out) }

// wrap returns s as a tensor of the op's output shape, reusing the header
// of the last call when s is the same window (the arenas hand out the same
// windows run after run).
func wrap[T float](o *opBase, s []T) *tensor.Dense {
	if o.view != nil {
		if d, ok := o.view.Data().([]T); ok && len(d) == len(s) && &d[0] == &s[0] {
			return o.view
		}
	}
	o.view = tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(s))
	return o.view
}

// valueOf returns a value's backing slice.
func valueOf[T float](v G.Value) []T { return v.Data().([]T) }

// scalarOf reads a scalar value (the gradient seed of the loss).
func scalarOf(v G.Value) float64 {
	switch x := v.(type) {
	case *G.F32:
		return float64(*x)
	case *G.F64:
		return float64(*x)
	}
	switch d := v.Data().(type) {
	case float32:
		return float64(d)
	case float64:
		return d
	case []float32:
		return float64(d[0])
	case []float64:
		return d[0]
	}
	panic(fmt.Sprintf("trainer: scalar value of type %T", v))
}

// apply adds an op to the graph, panicking with the op and shapes on error:
// graph construction errors are programming errors; BuildGraph recovers
// them into an error.
func apply(op G.Op, in ...*G.Node) *G.Node {
	n, err := G.ApplyOp(op, in...)
	if err != nil {
		shapes := make([]tensor.Shape, len(in))
		for i, x := range in {
			shapes[i] = x.Shape()
		}
		panic(fmt.Sprintf("trainer: %v on %v: %v", op, shapes, err))
	}
	return n
}

// notDiff is embedded by backward ops: they have no gradient.
type notDiff struct{}

func (notDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (notDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("trainer: op is not differentiable")
}

// layerOp is a layer's forward: inputs (x [rows, cols], w [group length]).
type layerOp[T float] struct {
	opBase
	l      layer[T]
	e      *engine[T]
	first  bool  // x is the graph's input: no gradient flows to it
	groupN int   // length of the parameter group
	dws    [][]T // per-shard gradient buffers of the group
}

func newLayerOp[T float](name string, l layer[T], e *engine[T], groupN int, first bool) *layerOp[T] {
	r, c := l.out()
	return &layerOp[T]{opBase: newBase(name, tensor.Shape{r, c}, 2, 1), l: l, e: e, first: first, groupN: groupN}
}

func (o *layerOp[T]) Do(in ...G.Value) (G.Value, error) {
	r, c := o.l.out()
	y := o.e.acts.alloc(r * c)
	o.l.forward(o.e, valueOf[T](in[0]), valueOf[T](in[1]), y)
	return wrap(&o.opBase, y), nil
}

func (o *layerOp[T]) DiffWRT(int) []bool { return []bool{!o.first, true} }

func (o *layerOp[T]) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	shape := tensor.Shape{1}
	if !o.first {
		r, c := o.l.in()
		shape = tensor.Shape{r, c}
	}
	b := &layerGrad[T]{opBase: newBase(o.name+"Grad", shape, 2, 1, 2), f: o}
	dx := apply(b, in[0], in[1], grad)
	dw := apply(&groupGrad[T]{opBase: newBase(o.name+"GroupGrad", tensor.Shape{o.groupN}, len(shape)), f: o}, dx)
	if o.first {
		return G.Nodes{nil, dw}, nil
	}
	return G.Nodes{dx, dw}, nil
}

// release returns the op's gradient buffers to the engine.
func (o *layerOp[T]) release() {
	o.e.putGrads(o.dws)
	o.dws = nil
}

// layerGrad is a layer's backward: inputs (x, w, dy); output dx (a
// placeholder of one element for the first layer). It leaves the group's
// gradient in its forward op's dws[0].
type layerGrad[T float] struct {
	opBase
	notDiff
	f     *layerOp[T]
	dummy []T
}

func (o *layerGrad[T]) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	if f.dws == nil {
		f.dws = f.e.takeGrads(f.groupN)
	}
	dy := valueOf[T](in[2])
	var dx []T
	if f.first {
		if o.dummy == nil {
			o.dummy = make([]T, 1)
		}
		dx = o.dummy
	} else {
		r, c := f.l.in()
		dx = f.e.ringFor(dy, r*c)
	}
	if f.first {
		f.l.backward(f.e, valueOf[T](in[0]), valueOf[T](in[1]), dy, nil, f.dws)
	} else {
		f.l.backward(f.e, valueOf[T](in[0]), valueOf[T](in[1]), dy, dx, f.dws)
	}
	return wrap(&o.opBase, dx), nil
}

// groupGrad hands the group's gradient (computed by the layerGrad that is
// its input) to gorgonia, which adds it into the group's gradient buffer.
type groupGrad[T float] struct {
	opBase
	notDiff
	f *layerOp[T]
}

func (o *groupGrad[T]) Do(...G.Value) (G.Value, error) { return wrap(&o.opBase, o.f.dws[0]), nil }

// lossOp is the fused softmax cross-entropy of logits [B,K], mean over the
// batch, against either hard labels with label smoothing (the largest
// subnet) or soft target probabilities (in-place distillation from the
// largest subnet's detached output): ALGORITHM.md section 5. The targets
// change every step and are set on the op before the tape runs.
type lossOp[T float] struct {
	opBase
	e    *engine[T]
	B, K int
	// Exactly one of Labels and Soft is used: Soft when non-nil.
	Labels    []int
	Smoothing T
	Soft      []T
	d         []T // gradient of the last forward, scaled by the seed in lossGrad
}

// softmaxLoss returns the scalar loss node of logits [B,K].
func softmaxLoss[T float](e *engine[T], logits *G.Node) (*G.Node, *lossOp[T]) {
	B, K := logits.Shape()[0], logits.Shape()[1]
	op := &lossOp[T]{opBase: newBase("SoftmaxCE", nil, 2), e: e, B: B, K: K}
	return apply(op, logits), op
}

func (o *lossOp[T]) Do(in ...G.Value) (G.Value, error) {
	if o.d == nil {
		o.d = make([]T, o.B*o.K)
	}
	z := valueOf[T](in[0])
	var l float64
	if o.Soft != nil {
		l = o.e.softTargetCE(o.d, z, o.Soft, o.B, o.K)
	} else {
		l = o.e.softmaxCE(o.d, z, o.Labels, o.B, o.K, o.Smoothing)
	}
	if _, ok := any(o.d).([]float64); ok {
		return G.NewF64(l), nil
	}
	return G.NewF32(float32(l)), nil
}

func (o *lossOp[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *lossOp[T]) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	g := &lossGrad[T]{opBase: newBase("SoftmaxCEGrad", tensor.Shape{o.B, o.K}, 0, 0), f: o}
	return G.Nodes{apply(g, output, grad)}, nil
}

// lossGrad: dlogits = seed * the gradient the forward stored. Inputs (loss,
// seed); the loss input only orders it after the forward.
type lossGrad[T float] struct {
	opBase
	notDiff
	f   *lossOp[T]
	buf []T
}

func (o *lossGrad[T]) Do(in ...G.Value) (G.Value, error) {
	s := T(scalarOf(in[1]))
	if o.buf == nil {
		o.buf = make([]T, len(o.f.d))
	}
	for i, v := range o.f.d {
		o.buf[i] = s * v
	}
	return wrap(&o.opBase, o.buf), nil
}
