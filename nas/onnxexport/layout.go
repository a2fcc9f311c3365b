package onnxexport

import (
	"errors"
	"fmt"

	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
)

// LayoutFormat names the version of Layout; Build refuses other values.
const LayoutFormat = "attentivenas.Layout/v1"

// Op kinds of a Layout; OpDefinitions says what each computes.
const (
	OpNormalize     = "normalize"
	OpResize        = "resize"
	OpConv          = "conv"
	OpAvgPool       = "avg_pool"
	OpGlobalAvgPool = "global_avg_pool"
	OpMul           = "mul"
	OpAdd           = "add"
	OpFlatten       = "flatten"
	OpLinear        = "linear"
)

// Activation names of Op.Act; ActivationDefinitions gives their formulas.
const (
	ActReLU        = "relu"
	ActSwish       = "swish"
	ActHSwish      = "hswish"
	ActHardSigmoid = "hard_sigmoid"
)

// OpDefinitions says what each op kind computes, in the words a reader of
// the Parquet file needs (it is copied into every Layout). Shapes are per
// image, channels first.
var OpDefinitions = map[string]string{
	OpNormalize: "y[c,h,w] = (x[c,h,w] - mean[c]) / std[c], in float32 arithmetic (a subtraction then a division, each rounded to float32), " +
		"where x = float32(byte)/255 (a float32 division) and mean/std are the float32 values listed",
	OpResize: "bilinear resampling of each channel to size x size, PyTorch F.interpolate(mode='bilinear', align_corners=False, antialias=False): " +
		"output pixel d reads source coordinate max((d+0.5)*in/out - 0.5, 0) and blends its two neighbours (the upper one clamped to in-1)",
	OpConv: "convolution with zero padding `pad` on all four sides and stride `stride` (absent pad = 0): out = (in + 2 pad - kernel)/stride + 1; " +
		"y[o] = bias[o] + sum over taps of weight * x; groups = channels makes it depthwise (each channel its own kernel); " +
		"the weight is stored row-major in the order of weight_axes (kh, kw: kernel row and column; cin, cout: input and output channel; c: the channel of a depthwise conv); " +
		"act, when present, applies after the bias",
	OpAvgPool: "average pooling with a kernel x kernel window and stride `stride`, zero padding `pad` on all four sides; " +
		"count_include_pad: the divisor is always kernel*kernel (padded zeros count), as PyTorch's F.avg_pool2d default",
	OpGlobalAvgPool: "mean over all pixels of each channel: [C, H, W] -> [C, 1, 1]",
	OpMul:           "elementwise product, the second input ([C, 1, 1]) broadcast over the pixels of the first: squeeze-excite's channel gate",
	OpAdd:           "elementwise sum: the residual connection",
	OpFlatten:       "[C, 1, 1] -> [C]",
	OpLinear:        "y[o] = bias[o] + sum_i x[i] * weight[i, o], the weight stored [in, out] row-major (weight_axes in, out); act, when present, applies after the bias",
}

// ActivationDefinitions gives the formula of each activation name. The
// project's kernels compute them in float32 exactly so.
var ActivationDefinitions = map[string]string{
	ActReLU:        "max(x, 0)",
	ActSwish:       "x * sigmoid(x) = x / (1 + exp(-x))",
	ActHSwish:      "x * min(max(x + 3, 0), 6) / 6",
	ActHardSigmoid: "min(max(x + 3, 0), 6) / 6",
}

// Layout is the network of an exported model as a list of operations over
// named values, each weight named as its row in the model's Parquet file
// with its axes spelled out: what a reader needs, besides the tensors, to
// run the model with another framework. Describe makes it from a Model (by
// walking the model's space.Plan, as the inference engine does) and Build
// turns it and the tensors into an ONNX graph, so the ONNX Runtime check of
// the ONNX model is also a check of this description.
//
// The network takes Input (pixel values scaled to [0, 1]) and returns
// Output, the logits [classes]; the ops run in order, each reading values
// defined before it.
type Layout struct {
	Format  string `json:"format"` // LayoutFormat
	Input   Input  `json:"input"`
	Output  string `json:"output"` // the value holding the logits
	Classes int    `json:"classes"`
	Ops     []Op   `json:"ops"`
	// Definitions of the op kinds and activations used (OpDefinitions and
	// ActivationDefinitions), so the file documents itself.
	OpDefinitions         map[string]string `json:"op_definitions"`
	ActivationDefinitions map[string]string `json:"activation_definitions"`
}

// Input is the image a Layout takes.
type Input struct {
	Name     string `json:"name"`     // the value name of the input
	Channels int    `json:"channels"` // C
	Size     int    `json:"size"`     // S: images are S x S, the dataset's own size
	Scale    string `json:"scale"`    // how pixels map to the input's values
}

// Op is one operation of a Layout (see OpDefinitions for each kind). Only
// the fields its kind uses are set.
type Op struct {
	Op     string   `json:"op"`
	Inputs []string `json:"inputs"`
	Output string   `json:"output"`
	Shape  []int    `json:"shape"` // of the output, per image: [C, H, W], or [C] after flatten

	Weight      string   `json:"weight,omitempty"`       // tensor name in the Parquet file
	WeightAxes  []string `json:"weight_axes,omitempty"`  // the stored order of the weight's axes (row-major)
	WeightShape []int    `json:"weight_shape,omitempty"` // the sizes of WeightAxes (the file may store leading axes merged)
	Bias        string   `json:"bias,omitempty"`         // tensor name; absent: no bias
	Kernel      int      `json:"kernel,omitempty"`
	Stride      int      `json:"stride,omitempty"`
	Pad         int      `json:"pad,omitempty"`
	Groups      int      `json:"groups,omitempty"` // conv: 1, or the channel count of a depthwise conv
	Act         string   `json:"act,omitempty"`    // activation applied to the output; absent: none

	CountIncludePad bool `json:"count_include_pad,omitempty"` // avg_pool: padded zeros count (divisor kernel*kernel)

	Mode         string `json:"mode,omitempty"`          // resize: "bilinear"
	AlignCorners *bool  `json:"align_corners,omitempty"` // resize: false
	Size         int    `json:"size,omitempty"`          // resize: output size

	Mean []float32 `json:"mean,omitempty"` // normalize: per channel
	Std  []float32 `json:"std,omitempty"`
}

// InputName is the name of a Layout's (and the ONNX model's) input.
const InputName = "pixels"

// ErrNoNormalisation reports a model without its input normalisation
// (infer.Model.Mean and Std), which an exported graph must contain.
var ErrNoNormalisation = errors.New("onnxexport: the model stores no input normalisation (mean/std)")

// Describe returns the Layout of m: the ops of its forward pass
// (infer.Model.Forward, the space's MobileNetV3-style network), in order,
// over the tensors of m.Tensors(). It walks m.Plan() as the inference
// engine does:
//
//	pixels [C, S, S] -> normalize -> resize to r (when r != S)
//	stem: conv k x k, stride s, + bias + act
//	block j: conv 1x1 (expand, when the stage has one) + act
//	         depthwise conv k x k, stride s + act
//	         squeeze-excite (SE stages): global_avg_pool, conv 1x1 + relu,
//	         conv 1x1 + hard_sigmoid, mul
//	         conv 1x1 (project), no act
//	         shortcut: identity, or avg_pool 2x2 stride 2 (stride-2 blocks;
//	         pad = input size % 2, divisor 4) then conv 1x1 without bias
//	         (cin != cout); add
//	head: conv 1x1 + act, global_avg_pool, flatten, linear + act, linear
//
// Errors: m has no Mean/Std (ErrNoNormalisation), or an activation this
// package does not know.
//
// See also: Build, Export, infer.LoadModel (the tensors' names and shapes).
func Describe(m *infer.Model) (*Layout, error) {
	md := m.Meta()
	p := m.Plan()
	C, S := md.InputChannels, md.InputSize
	if len(md.Mean) != C || len(md.Std) != C {
		return nil, fmt.Errorf("%w: %d means and %d stds for %d channels", ErrNoNormalisation, len(md.Mean), len(md.Std), C)
	}
	act, err := actName(p.Act)
	if err != nil {
		return nil, err
	}
	l := &Layout{
		Format: LayoutFormat, Classes: p.Head.Classes,
		Input: Input{Name: InputName, Channels: C, Size: S,
			Scale: "float32(byte)/255: pixel values in [0, 1], channels first (a grayscale image is [1, S, S])"},
		OpDefinitions: map[string]string{}, ActivationDefinitions: map[string]string{},
	}
	b := &describer{l: l}
	mean, std := make([]float32, C), make([]float32, C)
	for c := range C {
		mean[c], std[c] = float32(md.Mean[c]), float32(md.Std[c])
	}
	x := b.add(Op{Op: OpNormalize, Inputs: []string{InputName}, Output: "x", Shape: []int{C, S, S}, Mean: mean, Std: std})
	if r := p.Resolution; r != S {
		no := false
		x = b.add(Op{Op: OpResize, Inputs: []string{x}, Output: "x.resized", Shape: []int{C, r, r}, Mode: "bilinear", AlignCorners: &no, Size: r})
	}

	st := p.Stem
	x = b.add(Op{Op: OpConv, Inputs: []string{x}, Output: "stem", Shape: []int{st.Cout, st.OutSize, st.OutSize},
		Weight: "stem.w", WeightAxes: []string{"kh", "kw", "cin", "cout"}, WeightShape: []int{st.K, st.K, st.Cin, st.Cout},
		Bias: "stem.b", Kernel: st.K, Stride: st.Stride, Pad: st.K / 2, Groups: 1, Act: act})

	for j, bp := range p.Blocks {
		pre := fmt.Sprintf("blocks.%d.", j)
		in, h := x, x
		if bp.Expand {
			h = b.add(conv1x1(pre+"expand", h, bp.Cin, bp.Mid, bp.InSize, act))
		}
		d := b.add(Op{Op: OpConv, Inputs: []string{h}, Output: pre + "dw", Shape: []int{bp.Mid, bp.OutSize, bp.OutSize},
			Weight: pre + "dw.w", WeightAxes: []string{"kh", "kw", "c"}, WeightShape: []int{bp.K, bp.K, bp.Mid},
			Bias: pre + "dw.b", Kernel: bp.K, Stride: bp.Stride, Pad: bp.K / 2, Groups: bp.Mid, Act: act})
		if bp.SE {
			s := b.add(Op{Op: OpGlobalAvgPool, Inputs: []string{d}, Output: pre + "se.pool", Shape: []int{bp.Mid, 1, 1}})
			s = b.add(conv1x1(pre+"se.reduce", s, bp.Mid, bp.SEMid, 1, ActReLU))
			s = b.add(conv1x1(pre+"se.expand", s, bp.SEMid, bp.Mid, 1, ActHardSigmoid))
			d = b.add(Op{Op: OpMul, Inputs: []string{d, s}, Output: pre + "se", Shape: []int{bp.Mid, bp.OutSize, bp.OutSize}})
		}
		proj := b.add(conv1x1(pre+"project", d, bp.Mid, bp.Cout, bp.OutSize, ""))
		r := in
		if bp.ShortcutPool {
			_, _, pad := kernels.AvgPool2x2Size(bp.InSize, bp.InSize)
			r = b.add(Op{Op: OpAvgPool, Inputs: []string{r}, Output: pre + "shortcut.pool", Shape: []int{bp.Cin, bp.OutSize, bp.OutSize},
				Kernel: 2, Stride: 2, Pad: pad, CountIncludePad: true})
		}
		if bp.ShortcutConv {
			sc := conv1x1(pre+"shortcut", r, bp.Cin, bp.Cout, bp.OutSize, "")
			sc.Bias = ""
			r = b.add(sc)
		}
		x = b.add(Op{Op: OpAdd, Inputs: []string{proj, r}, Output: pre + "out", Shape: []int{bp.Cout, bp.OutSize, bp.OutSize}})
	}

	h := p.Head
	x = b.add(conv1x1("head.expand", x, h.Cin, h.Expanded, h.Size, act))
	x = b.add(Op{Op: OpGlobalAvgPool, Inputs: []string{x}, Output: "head.pool", Shape: []int{h.Expanded, 1, 1}})
	x = b.add(Op{Op: OpFlatten, Inputs: []string{x}, Output: "head.flat", Shape: []int{h.Expanded}})
	x = b.add(linear("head.mix", x, h.Expanded, h.Width, act))
	l.Output = b.add(linear("classifier", x, h.Width, h.Classes, ""))
	return l, nil
}

// describer appends ops to a Layout and collects the definitions they use.
type describer struct{ l *Layout }

func (b *describer) add(op Op) string {
	b.l.Ops = append(b.l.Ops, op)
	b.l.OpDefinitions[op.Op] = OpDefinitions[op.Op]
	if op.Act != "" {
		b.l.ActivationDefinitions[op.Act] = ActivationDefinitions[op.Act]
	}
	return op.Output
}

// conv1x1 is a pointwise conv named name (tensors name.w [cin, cout] and
// name.b [cout]) over a size x size map.
func conv1x1(name, in string, cin, cout, size int, act string) Op {
	return Op{Op: OpConv, Inputs: []string{in}, Output: name, Shape: []int{cout, size, size},
		Weight: name + ".w", WeightAxes: []string{"cin", "cout"}, WeightShape: []int{cin, cout},
		Bias: name + ".b", Kernel: 1, Stride: 1, Groups: 1, Act: act}
}

// linear is a fully connected layer named name (name.w [in, out], name.b).
func linear(name, in string, nin, nout int, act string) Op {
	return Op{Op: OpLinear, Inputs: []string{in}, Output: name, Shape: []int{nout},
		Weight: name + ".w", WeightAxes: []string{"in", "out"}, WeightShape: []int{nin, nout}, Bias: name + ".b", Act: act}
}

// actName maps the space's activation to a Layout activation name.
func actName(a space.Activation) (string, error) {
	switch a {
	case space.ReLU:
		return ActReLU, nil
	case space.Swish:
		return ActSwish, nil
	case space.HSwish:
		return ActHSwish, nil
	}
	return "", fmt.Errorf("onnxexport: unsupported activation %q", a)
}
