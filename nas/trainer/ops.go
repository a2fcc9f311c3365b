package trainer

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The custom gorgonia Ops of the training graph. Each one wraps a kernel of
// nas/kernels (float32) or its float64 twin in nas/kernels/ref (used by the
// finite-difference tests), keeps its forward and its gradient next to each
// other, and owns its output buffer: the tape runs the same graph step after
// step, so an Op reuses the tensor it returned last time instead of
// allocating a new one (PERFORMANCE.md: per-step allocation was the GC's
// main load in stock gorgonia).
//
// Gorgonia merges nodes whose op hash and children agree, so every op
// instance hashes a unique id: two dropout nodes on the same input, or two
// gradient fetches of one BatchNorm, must stay distinct.

var opIDs atomic.Uint64

// opBase carries the boilerplate every op shares.
type opBase struct {
	name   string
	id     uint64
	inDims []int        // dimensionality of each input
	out    tensor.Shape // static output shape (nil for a scalar)
	buf    *tensor.Dense
	pool   *bufPool  // where buf comes from and returns to; nil: plain allocation
	pooled []float32 // buf's backing as the pool gave it (full capacity)
}

// building is the graph under construction: gorgonia graphs must be built
// one at a time anyway (gorgonia note §3), so BuildGraph holds buildMu and
// every op made meanwhile (SymDiff's backward ops included) joins its
// graph's pool.
var (
	buildMu  sync.Mutex
	building *Graph
)

func newBase(name string, out tensor.Shape, inDims ...int) opBase {
	b := opBase{name: name, id: opIDs.Add(1), inDims: inDims, out: out}
	if building != nil {
		b.pool = building.pool
	}
	return b
}

// bufPool recycles the float32 output buffers of closed graphs. Every step
// builds two fresh middle-subnet graphs; without recycling, their hundreds
// of megabytes of new buffers are page-faulted in again every step, which
// cost as much as the arithmetic (measured with perf: ~45% of the CPU in
// the kernel's page zeroing).
//
// Buffers come in power-of-two size classes, so the pool stays bounded
// however many differently shaped subnets train: it holds at most what the
// largest two graphs alive at once needed, per class.
type bufPool struct {
	mu   sync.Mutex
	free [64][][]float32
}

func newBufPool() *bufPool { return &bufPool{} }

func (p *bufPool) get(n int) []float32 {
	c := bits.Len(uint(n - 1))
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[c] = l[:len(l)-1]
		return b[:n]
	}
	return make([]float32, n, 1<<c)
}

func (p *bufPool) put(b []float32) {
	c := bits.Len(uint(cap(b) - 1))
	p.mu.Lock()
	p.free[c] = append(p.free[c], b[:cap(b)])
	p.mu.Unlock()
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

// output returns the op's reusable output tensor, of the inputs' dtype.
func (o *opBase) output(dt tensor.Dtype) *tensor.Dense {
	if o.buf == nil || o.buf.Dtype() != dt {
		if o.pool != nil && dt == tensor.Float32 {
			o.pooled = o.pool.get(o.out.TotalSize())
			o.buf = tensor.New(tensor.WithShape(o.out.Clone()...), tensor.WithBacking(o.pooled))
		} else {
			o.buf = tensor.New(tensor.Of(dt), tensor.WithShape(o.out.Clone()...))
		}
	}
	return o.buf
}

// release returns the op's buffer to its pool.
func (o *opBase) release() {
	if o.pooled != nil {
		o.pool.put(o.pooled)
	}
	o.buf, o.pooled = nil, nil
}

// f32 and f64 return a value's backing slice.
func f32(v G.Value) []float32 { return v.Data().([]float32) }
func f64(v G.Value) []float64 { return v.Data().([]float64) }

func isF64(v G.Value) bool { return v.Dtype() == tensor.Float64 }

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
// graph construction errors are programming errors (style rule 4); Build
// recovers them into an error at the package boundary.
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

// notDiff is embedded by ops that are only ever applied to data (or are
// backward ops): they have no gradient.
type notDiff struct{}

func (notDiff) DiffWRT(n int) []bool { return make([]bool, n) }
func (notDiff) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("trainer: op is not differentiable")
}
