package trainer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/nastest"
)

// dotConstOp is the test loss sum(y * r) for a fixed random r: its gradient
// is r, so every op's backward is exercised with a non-trivial dy.
type dotConstOp struct {
	opBase
	r []float64
}

func dotConst(y *G.Node, r []float64) *G.Node {
	return apply(&dotConstOp{opBase: newBase("DotConst", nil, y.Dims()), r: r}, y)
}

func (o *dotConstOp) Do(in ...G.Value) (G.Value, error) {
	var s float64
	if isF64(in[0]) {
		for i, v := range f64(in[0]) {
			s += v * o.r[i]
		}
		return G.NewF64(s), nil
	}
	for i, v := range f32(in[0]) {
		s += float64(v) * o.r[i]
	}
	return G.NewF32(float32(s)), nil
}

func (o *dotConstOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dotConstOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	s := in[0].Shape()
	return G.Nodes{apply(&dotConstGrad{opBase: newBase("DotConstGrad", s.Clone(), 0), f: o}, grad)}, nil
}

type dotConstGrad struct {
	opBase
	notDiff
	f *dotConstOp
}

func (o *dotConstGrad) Do(in ...G.Value) (G.Value, error) {
	s := scalarOf(in[0])
	if _, ok := in[0].(*G.F64); ok {
		d := o.output(tensor.Float64)
		for i := range f64(d) {
			f64(d)[i] = s * o.f.r[i]
		}
		return d, nil
	}
	d := o.output(tensor.Float32)
	for i := range f32(d) {
		f32(d)[i] = float32(s * o.f.r[i])
	}
	return d, nil
}

// opCase is one op under test: leaf input shapes, their value ranges, and
// how to build the op from the leaves (slicing a leaf tests the gradient
// through a slice of a larger shared tensor).
type opCase struct {
	name   string
	shapes [][]int
	lo, hi float64 // value range of the leaves (keep activations off their kinks)
	build  func(in []*G.Node) *G.Node
}

// runCase builds c in dtype dt with the given leaf values, runs forward and
// backward, and returns the loss, the op's output and every leaf gradient.
func runCase(t *testing.T, c opCase, dt tensor.Dtype, vals [][]float64, r []float64) (func() float64, []float64, [][]float64) {
	t.Helper()
	g := G.NewGraph()
	leaves := make([]*G.Node, len(c.shapes))
	backing := make([]any, len(c.shapes))
	for i, s := range c.shapes {
		var v *tensor.Dense
		if dt == tensor.Float64 {
			b := append([]float64(nil), vals[i]...)
			backing[i] = b
			v = tensor.New(tensor.WithShape(s...), tensor.WithBacking(b))
		} else {
			b := make([]float32, len(vals[i]))
			for j, x := range vals[i] {
				b[j] = float32(x)
			}
			backing[i] = b
			v = tensor.New(tensor.WithShape(s...), tensor.WithBacking(b))
		}
		leaves[i] = G.NewTensor(g, dt, len(s), G.WithShape(s...), G.WithName(fmt.Sprint("in", i)), G.WithValue(v))
	}
	cost := c.build(leaves)
	if !cost.IsScalar() {
		cost = dotConst(cost, r)
	}
	if _, err := G.Grad(cost, leaves...); err != nil {
		t.Fatalf("%s: Grad: %v", c.name, err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(leaves...))
	t.Cleanup(func() { vm.Close() })
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatalf("%s: RunAll: %v", c.name, err)
		}
		return scalarOf(cost.Value())
	}
	run()
	grads := make([][]float64, len(leaves))
	for i, l := range leaves {
		gv, err := l.Grad()
		if err != nil {
			t.Fatalf("%s: grad of input %d: %v", c.name, i, err)
		}
		switch d := gv.Data().(type) {
		case []float64:
			grads[i] = append([]float64(nil), d...)
		case []float32:
			grads[i] = nastest.To64(d)
		}
	}
	return run, vals[0], grads
}

func opCases() []opCase {
	const B, H, W, C = 2, 5, 5, 8
	dw := kernels.Depthwise{B: B, H: H, W: W, C: C, K: 3, Stride: 2}
	return []opCase{
		{name: "MatMul through slice", shapes: [][]int{{6, 5}, {7, 9}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return MatMul(in[0], sliceTo(in[1], []int{7, 9}, []int{5, 4}, nil)) }},
		{name: "AddBias", shapes: [][]int{{6, 4}, {4}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return AddBias(in[0], in[1]) }},
		{name: "Add", shapes: [][]int{{6, 4}, {6, 4}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return Add(in[0], in[1]) }},
		{name: "BNAct hswish through slice", shapes: [][]int{{10, 6}, {8}, {8}}, lo: 0.5, hi: 1.5,
			build: func(in []*G.Node) *G.Node {
				return BNAct(in[0], sliceTo(in[1], []int{8}, []int{6}, nil), sliceTo(in[2], []int{8}, []int{6}, nil), kernels.ActHSwish)
			}},
		{name: "BNAct swish", shapes: [][]int{{12, 5}, {5}, {5}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return BNAct(in[0], in[1], in[2], kernels.ActSwish) }},
		{name: "BNAct none", shapes: [][]int{{12, 5}, {5}, {5}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return BNAct(in[0], in[1], in[2], kernels.ActNone) }},
		{name: "Act swish", shapes: [][]int{{4, 5}}, lo: -2, hi: 2,
			build: func(in []*G.Node) *G.Node { return Activate(in[0], kernels.ActSwish) }},
		{name: "Act hsigmoid", shapes: [][]int{{4, 5}}, lo: -2.5, hi: 2.5,
			build: func(in []*G.Node) *G.Node { return Activate(in[0], kernels.ActHSigmoid) }},
		{name: "Act relu", shapes: [][]int{{4, 5}}, lo: 0.1, hi: 2,
			build: func(in []*G.Node) *G.Node { return Activate(in[0], kernels.ActReLU) }},
		{name: "Depthwise k3 s2 odd size, centre crop of 5x5x12", shapes: [][]int{{B * H * W, C}, {5, 5, 12}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node {
				return DepthwiseConv(in[0], sliceTo(in[1], []int{5, 5, 12}, []int{3, 3, C}, []int{1, 1, 0}), dw)
			}},
		{name: "Depthwise k5 s1", shapes: [][]int{{B * 4 * 4, 3}, {5, 5, 3}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node {
				return DepthwiseConv(in[0], in[1], kernels.Depthwise{B: B, H: 4, W: 4, C: 3, K: 5, Stride: 1})
			}},
		{name: "AvgPool2x2 odd", shapes: [][]int{{B * 7 * 7, 3}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return AvgPool2x2(in[0], B, 7, 7, 3) }},
		{name: "AvgPool2x2 even", shapes: [][]int{{B * 4 * 4, 3}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return AvgPool2x2(in[0], B, 4, 4, 3) }},
		{name: "GlobalAvgPool", shapes: [][]int{{B * 9, 4}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return GlobalAvgPool(in[0], B, 9, 4) }},
		{name: "ChannelScale", shapes: [][]int{{B * 9, 4}, {B, 4}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node { return ChannelScale(in[0], in[1], B, 9, 4) }},
		{name: "SoftmaxCE smoothed", shapes: [][]int{{3, 4}}, lo: -2, hi: 2,
			build: func(in []*G.Node) *G.Node {
				l, op := SoftmaxLoss(in[0])
				op.Labels, op.Smoothing = []int{1, 3, 0}, 0.1
				return l
			}},
		{name: "SoftmaxCE soft targets", shapes: [][]int{{2, 3}}, lo: -2, hi: 2,
			build: func(in []*G.Node) *G.Node {
				l, op := SoftmaxLoss(in[0])
				op.Soft64 = []float64{0.2, 0.3, 0.5, 0.6, 0.3, 0.1}
				op.Soft32 = []float32{0.2, 0.3, 0.5, 0.6, 0.3, 0.1}
				return l
			}},
		{name: "Dropout", shapes: [][]int{{5, 6}}, lo: -1, hi: 1,
			build: func(in []*G.Node) *G.Node {
				y, op := Dropout(in[0], 0.3)
				op.Seed = 42
				return y
			}},
	}
}

func caseValues(c opCase, rng *rand.Rand) ([][]float64, []float64) {
	vals := make([][]float64, len(c.shapes))
	for i, s := range c.shapes {
		vals[i] = nastest.Rand(rng, tensor.Shape(s).TotalSize(), c.lo, c.hi)
	}
	return vals, nil
}

// TestOpGradients checks every custom op's backward against float64
// central finite differences, for every input, including inputs reached
// through gorgonia's Slice of a larger tensor (gradient outside the slice
// must be exactly zero, which the finite differences confirm).
func TestOpGradients(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := nastest.NewRand(1)
			vals, _ := caseValues(c, rng)
			outN := outputSize(t, c, vals)
			r := nastest.Rand(rng, outN, -1, 1)
			run, _, grads := runCase(t, c, tensor.Float64, vals, r)
			_ = run
			// Re-run with the leaf backing perturbed: runCase copies the
			// values, so rebuild a case whose leaves we can reach.
			for i := range c.shapes {
				x := vals[i]
				num := nastest.NumGrad(x, func() float64 {
					l, _, _ := runCase(t, c, tensor.Float64, vals, r)
					return l()
				})
				if err := nastest.Diff(grads[i], num, 1e-5); err != nil {
					t.Errorf("input %d %v: %v", i, c.shapes[i], err)
				}
			}
		})
	}
}

// outputSize builds the case once to learn its output's size.
func outputSize(t *testing.T, c opCase, vals [][]float64) int {
	t.Helper()
	g := G.NewGraph()
	leaves := make([]*G.Node, len(c.shapes))
	for i, s := range c.shapes {
		v := tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), vals[i]...)))
		leaves[i] = G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...), G.WithValue(v))
	}
	y := c.build(leaves)
	if y.IsScalar() {
		return 1
	}
	return y.Shape().TotalSize()
}

// TestOpFloat32MatchesFloat64 runs every op in float32 (the nas/kernels
// path the trainer uses) and float64 (nas/kernels/ref) on the same inputs:
// losses and gradients agree, so the float32 glue is covered by the
// float64 finite-difference test.
func TestOpFloat32MatchesFloat64(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := nastest.NewRand(2)
			vals, _ := caseValues(c, rng)
			r := nastest.Rand(rng, outputSize(t, c, vals), -1, 1)
			run64, _, g64 := runCase(t, c, tensor.Float64, vals, r)
			run32, _, g32 := runCase(t, c, tensor.Float32, vals, r)
			nastest.Close(t, "loss", []float64{run32()}, []float64{run64()}, nastest.Tol32)
			for i := range g64 {
				nastest.Close(t, fmt.Sprint("grad ", i), g32[i], g64[i], nastest.Tol32)
			}
		})
	}
}
