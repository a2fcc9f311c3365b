package trainer

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
)

// Depthwise: a k x k depthwise convolution, NHWC, "same" padding, stride 1
// or 2, over x[B*H*W, C] with a compact weight w[k, k, C] (the centre crop
// of the shared [KMax, KMax, CMax] tensor, cut by gorgonia's Slice).
// gorgonia has no grouped convolution; composing one from Im2Col was 8x
// slower (gorgonia note §1).
type dwOp struct {
	opBase
	d kernels.Depthwise
}

// DepthwiseConv applies the depthwise conv d.K x d.K with stride d.Stride to
// x [B*H*W, C] (B, H, W, C given by d) with weights w [K, K, C].
func DepthwiseConv(x, w *G.Node, d kernels.Depthwise) *G.Node {
	d.KMax, d.CMax = d.K, d.C
	ho, wo := d.OutSize()
	return apply(&dwOp{opBase: newBase("Depthwise", tensor.Shape{d.B * ho * wo, d.C}, 2, 3), d: d}, x, w)
}

func (o *dwOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.DepthwiseForward(o.d, f64(y), f64(in[0]), f64(in[1]))
	} else {
		o.d.Forward(f32(y), f32(in[0]), f32(in[1]))
	}
	return y, nil
}

func (o *dwOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *dwOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	d := o.d
	dx := apply(&dwGradX{opBase: newBase("DepthwiseGradX", tensor.Shape{d.B * d.H * d.W, d.C}, 3, 2), d: d}, in[1], grad)
	dw := apply(&dwGradW{opBase: newBase("DepthwiseGradW", tensor.Shape{d.K, d.K, d.C}, 2, 2), d: d}, in[0], grad)
	return G.Nodes{dx, dw}, nil
}

// dwGradX: input gradient. Inputs (w, dy).
type dwGradX struct {
	opBase
	notDiff
	d kernels.Depthwise
}

func (o *dwGradX) Do(in ...G.Value) (G.Value, error) {
	dx := o.output(in[0].Dtype())
	if isF64(dx) {
		ref.DepthwiseBackwardInput(o.d, f64(dx), f64(in[1]), f64(in[0]))
	} else {
		o.d.BackwardInput(f32(dx), f32(in[1]), f32(in[0]))
	}
	return dx, nil
}

// dwGradW: weight gradient. Inputs (x, dy).
type dwGradW struct {
	opBase
	notDiff
	d kernels.Depthwise
}

func (o *dwGradW) Do(in ...G.Value) (G.Value, error) {
	dw := o.output(in[0].Dtype())
	if isF64(dw) {
		clear(f64(dw))
		ref.DepthwiseBackwardWeight(o.d, f64(dw), f64(in[0]), f64(in[1]))
	} else {
		clear(f32(dw))
		o.d.BackwardWeight(f32(dw), f32(in[0]), f32(in[1]))
	}
	return dw, nil
}

// Im2Col lays out the stem convolution's patches: x[B*H*W, Cin] ->
// [B*Ho*Wo, K*K*Cin]. It only ever sees the input images, so it has no
// gradient.
type im2colOp struct {
	opBase
	notDiff
	g kernels.Im2Col
}

// Im2Col applies g to the images x.
func Im2Col(x *G.Node, g kernels.Im2Col) *G.Node {
	ho, wo := g.OutSize()
	return apply(&im2colOp{opBase: newBase("Im2Col", tensor.Shape{g.B * ho * wo, g.K * g.K * g.Cin}, 2), g: g}, x)
}

func (o *im2colOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.Im2ColForward(o.g, f64(y), f64(in[0]))
	} else {
		o.g.Forward(f32(y), f32(in[0]))
	}
	return y, nil
}

// AvgPool2x2: the residual shortcut's stride-2 average pool, exactly the
// reference's F.avg_pool2d(x, 2, padding=W%2) (gorgonia's AveragePool2D
// gradient is wrong, gorgonia note §1).
type avgPoolOp struct {
	opBase
	B, H, W, C int
}

// AvgPool2x2 pools x [B*H*W, C] to [B*Ho*Wo, C].
func AvgPool2x2(x *G.Node, B, H, W, C int) *G.Node {
	ho, wo, _ := kernels.AvgPool2x2Size(H, W)
	return apply(&avgPoolOp{opBase: newBase("AvgPool2x2", tensor.Shape{B * ho * wo, C}, 2), B: B, H: H, W: W, C: C}, x)
}

func (o *avgPoolOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.AvgPool2x2(f64(y), f64(in[0]), o.B, o.H, o.W, o.C)
	} else {
		kernels.AvgPool2x2(f32(y), f32(in[0]), o.B, o.H, o.W, o.C)
	}
	return y, nil
}

func (o *avgPoolOp) DiffWRT(int) []bool { return []bool{true} }

func (o *avgPoolOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g := &avgPoolGrad{opBase: newBase("AvgPool2x2Grad", tensor.Shape{o.B * o.H * o.W, o.C}, 2), f: o}
	return G.Nodes{apply(g, grad)}, nil
}

type avgPoolGrad struct {
	opBase
	notDiff
	f *avgPoolOp
}

func (o *avgPoolGrad) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dx := o.output(in[0].Dtype())
	if isF64(dx) {
		ref.AvgPool2x2Backward(f64(dx), f64(in[0]), f.B, f.H, f.W, f.C)
	} else {
		kernels.AvgPool2x2Backward(f32(dx), f32(in[0]), f.B, f.H, f.W, f.C)
	}
	return dx, nil
}

// GlobalAvgPool: [B*P, C] -> [B, C] (gorgonia's GlobalAveragePool2D has no
// gradient and two-axis Mean is wrong on 4-D tensors, gorgonia note §1).
type gapOp struct {
	opBase
	B, P, C int
}

// GlobalAvgPool averages each image's P pixels: x [B*P, C] -> [B, C].
func GlobalAvgPool(x *G.Node, B, P, C int) *G.Node {
	return apply(&gapOp{opBase: newBase("GlobalAvgPool", tensor.Shape{B, C}, 2), B: B, P: P, C: C}, x)
}

func (o *gapOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.GlobalAvgPool(f64(y), f64(in[0]), o.B, o.P, o.C)
	} else {
		kernels.GlobalAvgPool(f32(y), f32(in[0]), o.B, o.P, o.C)
	}
	return y, nil
}

func (o *gapOp) DiffWRT(int) []bool { return []bool{true} }

func (o *gapOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g := &gapGrad{opBase: newBase("GlobalAvgPoolGrad", tensor.Shape{o.B * o.P, o.C}, 2), f: o}
	return G.Nodes{apply(g, grad)}, nil
}

type gapGrad struct {
	opBase
	notDiff
	f *gapOp
}

func (o *gapGrad) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dx := o.output(in[0].Dtype())
	if isF64(dx) {
		ref.GlobalAvgPoolBackward(f64(dx), f64(in[0]), f.B, f.P, f.C)
	} else {
		kernels.GlobalAvgPoolBackward(f32(dx), f32(in[0]), f.B, f.P, f.C)
	}
	return dx, nil
}

// ChannelScale: squeeze-excite's gate, y[b,p,c] = x[b,p,c] * s[b,c].
type chanScaleOp struct {
	opBase
	B, P, C int
}

// ChannelScale multiplies every pixel of image b by the gate s [B, C].
func ChannelScale(x, s *G.Node, B, P, C int) *G.Node {
	return apply(&chanScaleOp{opBase: newBase("ChannelScale", tensor.Shape{B * P, C}, 2, 2), B: B, P: P, C: C}, x, s)
}

func (o *chanScaleOp) Do(in ...G.Value) (G.Value, error) {
	y := o.output(in[0].Dtype())
	if isF64(y) {
		ref.ChannelScale(f64(y), f64(in[0]), f64(in[1]), o.B, o.P, o.C)
	} else {
		kernels.ChannelScale(f32(y), f32(in[0]), f32(in[1]), o.B, o.P, o.C)
	}
	return y, nil
}

func (o *chanScaleOp) DiffWRT(int) []bool { return []bool{true, true} }

func (o *chanScaleOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	gx := &chanScaleGradX{opBase: newBase("ChannelScaleGradX", tensor.Shape{o.B * o.P, o.C}, 2, 2, 2), f: o}
	dx := apply(gx, in[0], in[1], grad)
	ds := apply(&chanScaleGradS{opBase: newBase("ChannelScaleGradS", tensor.Shape{o.B, o.C}, 2), g: gx}, dx)
	return G.Nodes{dx, ds}, nil
}

// chanScaleGradX computes dx and stores ds. Inputs (x, s, dy).
type chanScaleGradX struct {
	opBase
	notDiff
	f  *chanScaleOp
	ds *tensor.Dense
}

func (o *chanScaleGradX) Do(in ...G.Value) (G.Value, error) {
	f := o.f
	dt := in[0].Dtype()
	dx := o.output(dt)
	if o.ds == nil || o.ds.Dtype() != dt {
		o.ds = tensor.New(tensor.Of(dt), tensor.WithShape(f.B, f.C))
	}
	if isF64(dx) {
		ref.ChannelScaleBackward(f64(dx), f64(o.ds), f64(in[2]), f64(in[0]), f64(in[1]), f.B, f.P, f.C)
	} else {
		kernels.ChannelScaleBackward(f32(dx), f32(o.ds), f32(in[2]), f32(in[0]), f32(in[1]), f.B, f.P, f.C)
	}
	return dx, nil
}

// chanScaleGradS returns the ds its chanScaleGradX stored. Input (dx).
type chanScaleGradS struct {
	opBase
	notDiff
	g *chanScaleGradX
}

func (o *chanScaleGradS) Do(...G.Value) (G.Value, error) { return o.g.ds, nil }
