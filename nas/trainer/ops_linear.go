package trainer

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
)

// MatMul: y[M,N] = x[M,K] * w[K,N]; a 1x1 convolution in the NHWC-flat
// layout, or a linear layer. Gorgonia's Mul goes through gonum's GEMM,
// several times slower than kernels.Gemm on these skinny shapes.
type matMulOp struct {
	opBase
	M, K, N int
}

// MatMul applies y = x*w to x [M,K] and w [K,N].
func MatMul(x, w *G.Node) *G.Node {
	M, K, N := x.Shape()[0], w.Shape()[0], w.Shape()[1]
	return apply(&matMulOp{opBase: newBase("MatMul", tensor.Shape{M, N}, 2, 2), M: M, K: K, N: N}, x, w)
}

func (o *matMulOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.Gemm(false, false, o.M, o.N, o.K, 1, f64(in[0]), o.K, f64(in[1]), o.N, 0, f64(y), o.N)
	} else {
		kernels.Gemm(false, false, o.M, o.N, o.K, 1, f32(in[0]), o.K, f32(in[1]), o.N, 0, f32(y), o.N)
	}
	return y, nil
}

func (o *matMulOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *matMulOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx := apply(&matMulGradX{opBase: newBase("MatMulGradX", tensor.Shape{o.M, o.K}, 2, 2), f: o}, in[1], grad)
	dw := apply(&matMulGradW{opBase: newBase("MatMulGradW", tensor.Shape{o.K, o.N}, 2, 2), f: o}, in[0], grad)
	return G.Nodes{dx, dw}, nil
}

// matMulGradX: dx[M,K] = dy[M,N] * w^T. Inputs (w, dy).
type matMulGradX struct {
	opBase
	notDiff
	f *matMulOp
}

func (o *matMulGradX) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dx := o.output(in[0].Dtype())
	if isF64(dx) {
		ref.Gemm(false, true, f.M, f.K, f.N, 1, f64(in[1]), f.N, f64(in[0]), f.N, 0, f64(dx), f.K)
	} else {
		kernels.Gemm(false, true, f.M, f.K, f.N, 1, f32(in[1]), f.N, f32(in[0]), f.N, 0, f32(dx), f.K)
	}
	return dx, nil
}

// matMulGradW: dw[K,N] = x^T * dy. Inputs (x, dy).
type matMulGradW struct {
	opBase
	notDiff
	f *matMulOp
}

func (o *matMulGradW) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dw := o.output(in[0].Dtype())
	if isF64(dw) {
		ref.Gemm(true, false, f.K, f.N, f.M, 1, f64(in[0]), f.K, f64(in[1]), f.N, 0, f64(dw), f.N)
	} else {
		kernels.Gemm(true, false, f.K, f.N, f.M, 1, f32(in[0]), f.K, f32(in[1]), f.N, 0, f32(dw), f.N)
	}
	return dw, nil
}

// AddBias: y[M,N] = x + b[N] on every row.
type addBiasOp struct {
	opBase
	M, N int
}

// AddBias adds the bias vector b [N] to every row of x [M,N].
func AddBias(x, b *G.Node) *G.Node {
	M, N := x.Shape()[0], x.Shape()[1]
	return apply(&addBiasOp{opBase: newBase("AddBias", tensor.Shape{M, N}, 2, 1), M: M, N: N}, x, b)
}

func (o *addBiasOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		copy(f64(y), f64(in[0]))
		ref.AddBias(f64(y), o.M, o.N, o.N, f64(in[1]))
	} else {
		copy(f32(y), f32(in[0]))
		kernels.AddBias(f32(y), o.M, o.N, o.N, f32(in[1]))
	}
	return y, nil
}

func (o *addBiasOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *addBiasOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	db := apply(&sumRowsOp{opBase: newBase("SumRows", tensor.Shape{o.N}, 2), M: o.M, N: o.N}, grad)
	return G.Nodes{grad, db}, nil
}

// sumRowsOp: db[N] = sum over rows of dy[M,N].
type sumRowsOp struct {
	opBase
	notDiff
	M, N int
}

func (o *sumRowsOp) Do(in ...G.Value) (G.Value, error) {
	db := o.output(in[0].Dtype())
	if isF64(db) {
		clear(f64(db))
		ref.SumRows(f64(db), f64(in[0]), o.M, o.N, o.N)
	} else {
		clear(f32(db))
		kernels.SumRows(f32(db), f32(in[0]), o.M, o.N, o.N)
	}
	return db, nil
}

// Add: y = a + b, the residual connection.
type addOp struct{ opBase }

// Add sums two tensors of the same shape.
func Add(a, b *G.Node) *G.Node {
	s := a.Shape()
	return apply(&addOp{newBase("Add", s.Clone(), len(s), len(s))}, a, b)
}

func (o *addOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.Add(f64(y), f64(in[0]), f64(in[1]))
	} else {
		kernels.Add(f32(y), f32(in[0]), f32(in[1]))
	}
	return y, nil
}

func (o *addOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *addOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, grad}, nil
}
