package trainer

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
)

// bnEps is BatchNorm's epsilon, the reference's bn_param (0, 1e-5).
const bnEps = 1e-5

// BNAct: training-mode BatchNorm over the rows of x[M,C] (batch statistics,
// biased variance, no running statistics: ALGORITHM.md section 4) fused with
// an activation. Gorgonia's BatchNorm keeps EMA state, starts one goroutine
// per row and is wrong under LispMachine (gorgonia note §1).
//
// The backward computes dx, dgamma and dbeta in one pass; gorgonia wants one
// node per input gradient, so the gamma and beta nodes fetch what the dx op
// stored (they take the dx node as input, which orders them after it).
type bnActOp struct {
	opBase
	M, C int
	Act  kernels.Act
	// batch statistics of the last forward, for the backward
	mean32, invstd32 []float32
	mean64, invstd64 []float64
}

// BNAct normalises x [M,C] with its batch statistics, scales by gamma [C],
// shifts by beta [C] and applies act.
func BNAct(x, gamma, beta *G.Node, act kernels.Act) *G.Node {
	M, C := x.Shape()[0], x.Shape()[1]
	op := &bnActOp{opBase: newBase("BNAct:"+act.String(), tensor.Shape{M, C}, 2, 1, 1), M: M, C: C, Act: act}
	return apply(op, x, gamma, beta)
}

func (o *bnActOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		if o.mean64 == nil {
			o.mean64, o.invstd64 = make([]float64, o.C), make([]float64, o.C)
		}
		ref.BNTrainForward(f64(y), f64(in[0]), o.M, o.C, f64(in[1]), f64(in[2]), bnEps, o.Act, o.mean64, o.invstd64)
	} else {
		if o.mean32 == nil {
			o.mean32, o.invstd32 = make([]float32, o.C), make([]float32, o.C)
		}
		kernels.BNTrainForward(f32(y), f32(in[0]), o.M, o.C, f32(in[1]), f32(in[2]), bnEps, o.Act, o.mean32, o.invstd32)
	}
	return y, nil
}

func (o *bnActOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *bnActOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	gx := &bnGradX{opBase: newBase("BNGradX", tensor.Shape{o.M, o.C}, 2, 1, 1, 2), f: o}
	dx := apply(gx, in[0], in[1], in[2], grad)
	dgamma := apply(&bnGradParam{opBase: newBase("BNGradGamma", tensor.Shape{o.C}, 2), g: gx, beta: false}, dx)
	dbeta := apply(&bnGradParam{opBase: newBase("BNGradBeta", tensor.Shape{o.C}, 2), g: gx, beta: true}, dx)
	return G.Nodes{dx, dgamma, dbeta}, nil
}

// bnGradX computes dx and stores dgamma, dbeta. Inputs (x, gamma, beta, dy).
type bnGradX struct {
	opBase
	notDiff
	f             *bnActOp
	dgamma, dbeta *tensor.Dense
}

func (o *bnGradX) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dt := in[0].Dtype()
	dx := o.output(dt)
	if o.dgamma == nil || o.dgamma.Dtype() != dt {
		o.dgamma = tensor.New(tensor.Of(dt), tensor.WithShape(f.C))
		o.dbeta = tensor.New(tensor.Of(dt), tensor.WithShape(f.C))
	}
	if isF64(dx) {
		clear(f64(o.dgamma))
		clear(f64(o.dbeta))
		ref.BNTrainBackward(f64(dx), f64(o.dgamma), f64(o.dbeta), f64(in[3]), f64(in[0]), f.M, f.C,
			f64(in[1]), f64(in[2]), f.mean64, f.invstd64, f.Act)
	} else {
		clear(f32(o.dgamma))
		clear(f32(o.dbeta))
		kernels.BNTrainBackward(f32(dx), f32(o.dgamma), f32(o.dbeta), f32(in[3]), f32(in[0]), f.M, f.C,
			f32(in[1]), f32(in[2]), f.mean32, f.invstd32, f.Act)
	}
	return dx, nil
}

// bnGradParam returns the dgamma or dbeta its bnGradX stored. Input (dx).
type bnGradParam struct {
	opBase
	notDiff
	g    *bnGradX
	beta bool
}

func (o *bnGradParam) Do(...G.Value) (G.Value, error) {
	if o.beta {
		return o.g.dbeta, nil
	}
	return o.g.dgamma, nil
}

// Act: an activation on its own (the head's mix layer, squeeze-excite's
// ReLU and hard sigmoid).
type actOp struct {
	opBase
	Act kernels.Act
}

// Activate applies act elementwise.
func Activate(x *G.Node, act kernels.Act) *G.Node {
	s := x.Shape()
	return apply(&actOp{opBase: newBase("Act:"+act.String(), s.Clone(), len(s)), Act: act}, x)
}

func (o *actOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.ActForward(f64(y), f64(in[0]), o.Act)
	} else {
		kernels.ActForward(f32(y), f32(in[0]), o.Act)
	}
	return y, nil
}

func (o *actOp) DiffWRT(int) []bool { return []bool{true} }

func (o *actOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	s := o.out
	return G.Nodes{apply(&actGrad{opBase: newBase("ActGrad", s.Clone(), len(s), len(s)), Act: o.Act}, in[0], grad)}, nil
}

// actGrad: dx = dy * act'(x). Inputs (x, dy).
type actGrad struct {
	opBase
	notDiff
	Act kernels.Act
}

func (o *actGrad) Do(in ...G.Value) (G.Value, error) {
	dx := o.output(in[0].Dtype())
	if isF64(dx) {
		ref.ActBackward(f64(dx), f64(in[1]), f64(in[0]), o.Act)
	} else {
		kernels.ActBackward(f32(dx), f32(in[1]), f32(in[0]), o.Act)
	}
	return dx, nil
}
