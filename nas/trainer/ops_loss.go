package trainer

import (
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
)

// lossOp is the fused softmax cross-entropy of logits [B,K], mean over the
// batch, against either hard labels with label smoothing (the largest
// subnet) or soft target probabilities (in-place distillation from the
// largest subnet's detached output): ALGORITHM.md section 5. The targets
// change every step and are set on the op before the tape runs.
type lossOp struct {
	opBase
	B, K int
	// Exactly one of Labels and Soft is used: Soft when non-nil.
	Labels    []int
	Smoothing float32
	Soft32    []float32
	Soft64    []float64
	// gradient of the last forward, scaled by the upstream seed in lossGrad
	d32 []float32
	d64 []float64
}

// SoftmaxLoss returns the scalar loss node of logits [B,K]; set its targets
// with the returned op before each run.
func SoftmaxLoss(logits *G.Node) (*G.Node, *lossOp) {
	B, K := logits.Shape()[0], logits.Shape()[1]
	op := &lossOp{opBase: newBase("SoftmaxCE", nil, 2), B: B, K: K}
	return apply(op, logits), op
}

func (o *lossOp) Do(in ...G.Value) (G.Value, error) {
	if isF64(in[0]) {
		if o.d64 == nil {
			o.d64 = make([]float64, o.B*o.K)
		}
		var l float64
		if o.Soft64 != nil {
			l = ref.SoftTargetCrossEntropy(o.d64, f64(in[0]), o.Soft64, o.B, o.K)
		} else {
			l = ref.SoftmaxCrossEntropy(o.d64, f64(in[0]), o.Labels, o.B, o.K, float64(o.Smoothing))
		}
		return G.NewF64(l), nil
	}
	if o.d32 == nil {
		o.d32 = make([]float32, o.B*o.K)
	}
	var l float64
	if o.Soft32 != nil {
		l = kernels.SoftTargetCrossEntropy(o.d32, f32(in[0]), o.Soft32, o.B, o.K)
	} else {
		l = kernels.SoftmaxCrossEntropy(o.d32, f32(in[0]), o.Labels, o.B, o.K, o.Smoothing)
	}
	return G.NewF32(float32(l)), nil
}

func (o *lossOp) DiffWRT(int) []bool { return []bool{true} }

func (o *lossOp) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	g := &lossGrad{opBase: newBase("SoftmaxCEGrad", tensor.Shape{o.B, o.K}, 0, 0), f: o}
	return G.Nodes{apply(g, output, grad)}, nil
}

// lossGrad: dlogits = seed * the gradient the forward stored. Inputs (loss,
// seed); the loss input only orders it after the forward.
type lossGrad struct {
	opBase
	notDiff
	f *lossOp
}

func (o *lossGrad) Do(in ...G.Value) (G.Value, error) {
	s := scalarOf(in[1])
	dt := tensor.Float32
	if _, ok := in[1].(*G.F64); ok {
		dt = tensor.Float64
	}
	d := o.output(dt)
	if dt == tensor.Float64 {
		ref.Scale(f64(d), o.f.d64, s)
	} else {
		kernels.Scale(f32(d), o.f.d32, float32(s))
	}
	return d, nil
}

// Dropout zeroes each element with probability P and scales survivors by
// 1/(1-P) (inverted dropout, as torch.nn.functional.dropout). Gorgonia's
// Dropout has a zero gradient at p=0 and divides by p instead of 1-p
// (gorgonia note §1); this one draws its mask from a seeded PCG, reseeded
// by the trainer every step, so training is reproducible.
type dropoutOp struct {
	opBase
	P    float64
	Seed uint64 // set before each run
	mask []float32
}

// Dropout applies dropout with probability p to x [M,N].
func Dropout(x *G.Node, p float64) (*G.Node, *dropoutOp) {
	s := x.Shape()
	op := &dropoutOp{opBase: newBase("Dropout", s.Clone(), len(s)), P: p}
	return apply(op, x), op
}

func (o *dropoutOp) fillMask(n int) {
	if len(o.mask) != n {
		o.mask = make([]float32, n)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xd40))
	keep := float32(1 / (1 - o.P))
	for i := range o.mask {
		if rng.Float64() < o.P {
			o.mask[i] = 0
		} else {
			o.mask[i] = keep
		}
	}
}

func (o *dropoutOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	n := o.out.TotalSize()
	o.fillMask(n)
	if isF64(y) {
		x, yy := f64(in[0]), f64(y)
		for i := range yy {
			yy[i] = x[i] * float64(o.mask[i])
		}
	} else {
		x, yy := f32(in[0]), f32(y)
		for i := range yy {
			yy[i] = x[i] * o.mask[i]
		}
	}
	return y, nil
}

func (o *dropoutOp) DiffWRT(int) []bool { return []bool{true} }

func (o *dropoutOp) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	s := o.out
	return G.Nodes{apply(&dropoutGrad{opBase: newBase("DropoutGrad", s.Clone(), len(s), len(s)), f: o}, output, grad)}, nil
}

// dropoutGrad: dx = dy * mask. Inputs (y, dy); y only orders it.
type dropoutGrad struct {
	opBase
	notDiff
	f *dropoutOp
}

func (o *dropoutGrad) Do(in ...G.Value) (G.Value, error) {
	dx := o.output(in[1].Dtype())
	m := o.f.mask
	if isF64(dx) {
		d, dy := f64(dx), f64(in[1])
		for i := range d {
			d[i] = dy[i] * float64(m[i])
		}
	} else {
		d, dy := f32(dx), f32(in[1])
		for i := range d {
			d[i] = dy[i] * m[i]
		}
	}
	return dx, nil
}
