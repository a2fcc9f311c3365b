package onnxexport

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/schemas"
)

// Versions of the ONNX files Build writes. Opset 13 is the oldest that
// every op used here has in its current form (Resize with sizes, Slice
// with inputs), so the models load in any runtime of the last years.
const (
	Opset     = 13
	IRVersion = 7 // the IR version of ONNX 1.8, which introduced opset 13
)

// OutputName is the name of the ONNX model's output, the logits.
const OutputName = "logits"

// Errors of Build, wrapped in a *LayoutError saying which op, tensor or
// field is at fault.
var (
	ErrBadLayout     = errors.New("invalid layout")
	ErrMissingTensor = errors.New("missing tensor")
	ErrUnusedTensor  = errors.New("tensor not used by the layout")
	ErrTensorShape   = errors.New("wrong tensor shape")
)

// LayoutError reports a Layout, or tensors, that Build cannot turn into a
// graph: Where names the op (by index and output) or the tensor.
type LayoutError struct {
	Where string
	Msg   string
	Err   error
}

func (e *LayoutError) Error() string {
	s := "onnxexport: " + e.Where + ": "
	if e.Msg != "" {
		s += e.Msg + ": "
	}
	return s + e.Err.Error()
}

func (e *LayoutError) Unwrap() error { return e.Err }

// Export returns the ONNX model of m, serialised: Build over Describe(m)
// and m.Tensors(), with ModelProps(m) and then props (which win on equal
// keys) as metadata_props.
//
// See also: Describe, Build, ModelProps.
func Export(m *infer.Model, props map[string]string) ([]byte, error) {
	l, err := Describe(m)
	if err != nil {
		return nil, err
	}
	all := ModelProps(m)
	for k, v := range props {
		all[k] = v
	}
	mp, err := Build(l, m.Tensors(), all)
	if err != nil {
		return nil, err
	}
	return Marshal(mp)
}

// ModelProps returns the metadata_props Export stores for m: arch (the
// Arch vector as JSON) and arch_key, flops (MACs per image), params
// (learnable scalars before BN folding), resolution, input_size,
// input_channels, classes, mean and std (JSON), activation, space (the
// search space's canonical JSON) and space_fingerprint, and input and
// output (what the graph takes and returns, in words).
func ModelProps(m *infer.Model) map[string]string {
	md := m.Meta()
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic("onnxexport: " + err.Error()) // plain values cannot fail
		}
		return string(b)
	}
	return map[string]string{
		"arch":              js(md.Arch),
		"arch_key":          m.Arch.Key(),
		"flops":             strconv.FormatInt(md.FLOPs, 10),
		"params":            strconv.FormatInt(md.Params, 10),
		"resolution":        strconv.Itoa(m.Arch.Resolution),
		"input_size":        strconv.Itoa(md.InputSize),
		"input_channels":    strconv.Itoa(md.InputChannels),
		"classes":           strconv.Itoa(md.Classes),
		"mean":              js(md.Mean),
		"std":               js(md.Std),
		"activation":        md.Activation,
		"space":             string(md.Space),
		"space_fingerprint": md.SpaceFingerprint,
		"input":             inputDoc(md.InputChannels, md.InputSize),
		"output":            outputDoc(md.Classes),
	}
}

func inputDoc(c, s int) string {
	return fmt.Sprintf("%s: float32 [N, %d, %d, %d] (NCHW), pixel values scaled to [0, 1] (byte/255); "+
		"the graph normalises them with the training mean/std and resizes them to the subnet's resolution itself", InputName, c, s, s)
}

func outputDoc(classes int) string {
	return fmt.Sprintf("%s: float32 [N, %d]; the predicted class is the argmax (the first on ties), softmax gives probabilities", OutputName, classes)
}

// Marshal serialises an ONNX model deterministically (the same model gives
// the same bytes).
func Marshal(m *onnx.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: marshal: %w", err)
	}
	return b, nil
}

// Build returns the ONNX model (opset Opset) that computes l over tensors:
// input InputName float32 [N, C, S, S], output OutputName float32
// [N, classes], N free. Each op maps to standard ONNX operators:
//
//	normalize        Sub, Div (mean and std as [1, C, 1, 1] initializers)
//	resize           Resize (mode linear, coordinate_transformation_mode
//	                 half_pixel), its sizes built by Shape, Slice, Concat
//	conv             Conv, its weight transposed to [cout, cin/groups, kh, kw]
//	avg_pool         AveragePool (count_include_pad per the op)
//	global_avg_pool  GlobalAveragePool
//	mul, add         Mul, Add
//	flatten          Flatten
//	linear           Gemm (the weight [in, out] as B, untransposed)
//	act              relu: Relu; swish: Sigmoid, Mul;
//	                 hswish: HardSigmoid (alpha 1/6, beta 1/2), Mul;
//	                 hard_sigmoid: HardSigmoid (alpha 1/6, beta 1/2)
//
// Initializers keep the tensors' names. props become metadata_props (in
// key order). Build checks l first: every op's kind, inputs, attributes and
// stated output shape, every weight's axes and shape against its stored row
// (the stored shape may merge leading axes), every tensor present once and
// used once. Errors are *LayoutError values wrapping ErrBadLayout,
// ErrMissingTensor, ErrUnusedTensor or ErrTensorShape.
func Build(l *Layout, tensors []schemas.Tensor, props map[string]string) (*onnx.ModelProto, error) {
	if l.Format != LayoutFormat {
		return nil, &LayoutError{Where: "format", Msg: fmt.Sprintf("%q, expected %q", l.Format, LayoutFormat), Err: ErrBadLayout}
	}
	in := l.Input
	if in.Name == "" || in.Channels < 1 || in.Size < 1 || l.Classes < 1 {
		return nil, &LayoutError{Where: "input", Msg: fmt.Sprintf("name %q, %d channels, size %d, %d classes: expected a name and positive sizes",
			in.Name, in.Channels, in.Size, l.Classes), Err: ErrBadLayout}
	}
	b := &builder{
		l: l, tensors: map[string]*schemas.Tensor{}, used: map[string]bool{},
		shapes: map[string][]int{in.Name: {in.Channels, in.Size, in.Size}},
	}
	for i := range tensors {
		t := &tensors[i]
		if _, dup := b.tensors[t.Name]; dup {
			return nil, &LayoutError{Where: fmt.Sprintf("tensor %q", t.Name), Msg: "present twice", Err: ErrBadLayout}
		}
		b.tensors[t.Name] = t
	}
	for i, op := range l.Ops {
		if err := b.op(op); err != nil {
			var le *LayoutError
			if errors.As(err, &le) {
				le.Where = fmt.Sprintf("op %d (%s %q): %s", i, op.Op, op.Output, le.Where)
				return nil, le
			}
			return nil, err
		}
	}
	if sh, ok := b.shapes[l.Output]; !ok || !slices.Equal(sh, []int{l.Classes}) {
		return nil, &LayoutError{Where: "output", Msg: fmt.Sprintf("value %q has shape %v, expected [%d] (the logits)", l.Output, sh, l.Classes), Err: ErrBadLayout}
	}
	for _, t := range tensors {
		if !b.used[t.Name] {
			return nil, &LayoutError{Where: fmt.Sprintf("tensor %q", t.Name), Err: ErrUnusedTensor}
		}
	}

	g := &onnx.GraphProto{
		Name:        "attentivenas_subnet",
		Node:        b.nodes,
		Initializer: b.inits,
		Input:       []*onnx.ValueInfoProto{valueInfo(in.Name, inputDoc(in.Channels, in.Size), dimParam("N"), dimValue(in.Channels), dimValue(in.Size), dimValue(in.Size))},
		Output:      []*onnx.ValueInfoProto{valueInfo(OutputName, outputDoc(l.Classes), dimParam("N"), dimValue(l.Classes))},
		DocString:   "An AttentiveNAS subnet with BatchNorm folded into its convolutions. " + inputDoc(in.Channels, in.Size) + ". " + outputDoc(l.Classes) + ".",
	}
	m := &onnx.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*onnx.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    "attentivenas",
		ProducerVersion: LayoutFormat,
		Graph:           g,
		DocString:       g.DocString,
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: props[k]})
	}
	return m, nil
}

// builder accumulates the nodes and initializers of Build.
type builder struct {
	l       *Layout
	tensors map[string]*schemas.Tensor
	used    map[string]bool
	shapes  map[string][]int // per-image shape of every defined value
	nodes   []*onnx.NodeProto
	inits   []*onnx.TensorProto
}

func bad(where, format string, args ...any) error {
	return &LayoutError{Where: where, Msg: fmt.Sprintf(format, args...), Err: ErrBadLayout}
}

// name is the ONNX name of a layout value: the layout's output is the
// graph's output.
func (b *builder) name(v string) string {
	if v == b.l.Output {
		return OutputName
	}
	return v
}

func (b *builder) node(opType, name string, inputs, outputs []string, attrs ...*onnx.AttributeProto) {
	b.nodes = append(b.nodes, &onnx.NodeProto{OpType: opType, Name: name, Input: inputs, Output: outputs, Attribute: attrs})
}

func (b *builder) initFloat(name string, dims []int, v []float32) {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: int64s(dims), DataType: int32(onnx.TensorProto_FLOAT), RawData: raw})
}

func (b *builder) initInt64(name string, v ...int64) {
	b.inits = append(b.inits, &onnx.TensorProto{Name: name, Dims: []int64{int64(len(v))}, DataType: int32(onnx.TensorProto_INT64), Int64Data: v})
}

// op checks one layout op against the values defined so far and emits its
// nodes.
func (b *builder) op(op Op) error {
	if op.Output == "" || op.Output == b.l.Input.Name {
		return bad("output", "%q: expected a new value name", op.Output)
	}
	if _, dup := b.shapes[op.Output]; dup {
		return bad("output", "%q is defined twice", op.Output)
	}
	want := map[string]int{OpNormalize: 1, OpResize: 1, OpConv: 1, OpAvgPool: 1, OpGlobalAvgPool: 1, OpFlatten: 1, OpLinear: 1, OpMul: 2, OpAdd: 2}
	n, ok := want[op.Op]
	if !ok {
		return bad("op", "unknown op kind %q", op.Op)
	}
	if len(op.Inputs) != n {
		return bad("inputs", "%d inputs %v, %s takes %d", len(op.Inputs), op.Inputs, op.Op, n)
	}
	var in [][]int
	for _, v := range op.Inputs {
		sh, ok := b.shapes[v]
		if !ok {
			return bad("inputs", "value %q is not defined before this op", v)
		}
		in = append(in, sh)
	}
	x := b.name(op.Inputs[0])
	out := b.name(op.Output)
	var shape []int
	var err error
	switch op.Op {
	case OpNormalize:
		shape, err = b.normalize(op, in[0], x, out)
	case OpResize:
		shape, err = b.resize(op, in[0], x, out)
	case OpConv:
		shape, err = b.conv(op, in[0], x, out)
	case OpAvgPool:
		shape, err = b.avgPool(op, in[0], x, out)
	case OpGlobalAvgPool:
		if len(in[0]) != 3 {
			return bad("inputs", "input shape %v, expected [C, H, W]", in[0])
		}
		shape = []int{in[0][0], 1, 1}
		b.node("GlobalAveragePool", out, []string{x}, []string{out})
	case OpMul:
		if len(in[0]) != 3 || !slices.Equal(in[1], []int{in[0][0], 1, 1}) {
			return bad("inputs", "shapes %v and %v, expected [C, H, W] and [C, 1, 1]", in[0], in[1])
		}
		shape = in[0]
		b.node("Mul", out, []string{x, b.name(op.Inputs[1])}, []string{out})
	case OpAdd:
		if !slices.Equal(in[0], in[1]) {
			return bad("inputs", "shapes %v and %v differ", in[0], in[1])
		}
		shape = in[0]
		b.node("Add", out, []string{x, b.name(op.Inputs[1])}, []string{out})
	case OpFlatten:
		if len(in[0]) != 3 || in[0][1] != 1 || in[0][2] != 1 {
			return bad("inputs", "input shape %v, expected [C, 1, 1]", in[0])
		}
		shape = in[0][:1]
		b.node("Flatten", out, []string{x}, []string{out}, attrInt("axis", 1))
	case OpLinear:
		shape, err = b.linear(op, in[0], x, out)
	}
	if err != nil {
		return err
	}
	if !slices.Equal(shape, op.Shape) {
		return bad("shape", "the layout says %v, the op computes %v", op.Shape, shape)
	}
	b.shapes[op.Output] = shape
	return nil
}

func (b *builder) normalize(op Op, in []int, x, out string) ([]int, error) {
	C := b.l.Input.Channels
	if len(in) != 3 || in[0] != C || len(op.Mean) != C || len(op.Std) != C {
		return nil, bad("mean/std", "%d means and %d stds for input %v, expected %d each", len(op.Mean), len(op.Std), in, C)
	}
	for _, s := range op.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, bad("std", "%v: expected positive finite values", op.Std)
		}
	}
	for _, m := range op.Mean {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return nil, bad("mean", "%v: expected finite values", op.Mean)
		}
	}
	mean, std := out+".mean", out+".std"
	b.initFloat(mean, []int{1, C, 1, 1}, op.Mean)
	b.initFloat(std, []int{1, C, 1, 1}, op.Std)
	b.node("Sub", out+".centered", []string{x, mean}, []string{out + ".centered"})
	b.node("Div", out, []string{out + ".centered", std}, []string{out})
	return in, nil
}

func (b *builder) resize(op Op, in []int, x, out string) ([]int, error) {
	if op.Mode != "bilinear" || op.AlignCorners == nil || *op.AlignCorners {
		return nil, bad("mode", "%q (align_corners %v): only bilinear with align_corners=false is supported", op.Mode, op.AlignCorners)
	}
	if len(in) != 3 || op.Size < 1 {
		return nil, bad("size", "%d from input %v: expected a positive size and a [C, H, W] input", op.Size, in)
	}
	// Resize-13 takes the full output shape; N is only known at run time,
	// so sizes = concat(shape(x)[0:2], [size, size]).
	b.initInt64(out+".starts", 0)
	b.initInt64(out+".ends", 2)
	b.initInt64(out+".hw", int64(op.Size), int64(op.Size))
	b.node("Shape", out+".shape", []string{x}, []string{out + ".shape"})
	b.node("Slice", out+".nc", []string{out + ".shape", out + ".starts", out + ".ends"}, []string{out + ".nc"})
	b.node("Concat", out+".sizes", []string{out + ".nc", out + ".hw"}, []string{out + ".sizes"}, attrInt("axis", 0))
	// half_pixel: source coordinate (d+0.5)*in/out-0.5, the blend clamped
	// at the borders as PyTorch's align_corners=False (and the kernels).
	b.node("Resize", out, []string{x, "", "", out + ".sizes"}, []string{out},
		attrString("mode", "linear"), attrString("coordinate_transformation_mode", "half_pixel"))
	return []int{in[0], op.Size, op.Size}, nil
}

// weight returns the stored tensor of op's weight (or bias, when
// name is op.Bias), marks it used and checks it holds product(shape) values
// in a shape that is shape with some leading axes merged.
func (b *builder) weight(name string, shape []int) ([]float32, error) {
	where := fmt.Sprintf("tensor %q", name)
	t, ok := b.tensors[name]
	if !ok {
		return nil, &LayoutError{Where: where, Msg: fmt.Sprintf("expected shape %v", shape), Err: ErrMissingTensor}
	}
	if b.used[name] {
		return nil, &LayoutError{Where: where, Msg: "used twice", Err: ErrBadLayout}
	}
	b.used[name] = true
	if t.Role != schemas.RoleWeight {
		return nil, &LayoutError{Where: where, Msg: fmt.Sprintf("role %q, expected %q", t.Role, schemas.RoleWeight), Err: ErrTensorShape}
	}
	n := product(shape)
	merged := false
	for k := 1; k <= len(shape); k++ {
		m := append([]int{product(shape[:k])}, shape[k:]...)
		if len(t.Shape) == len(m) && slices.Equal(ints(t.Shape), m) {
			merged = true
			break
		}
	}
	if !merged || len(t.Values) != n {
		return nil, &LayoutError{Where: where, Msg: fmt.Sprintf("stored shape %v with %d values, the layout needs %v", t.Shape, len(t.Values), shape), Err: ErrTensorShape}
	}
	return t.Values, nil
}

func (b *builder) conv(op Op, in []int, x, out string) ([]int, error) {
	if len(in) != 3 {
		return nil, bad("inputs", "input shape %v, expected [C, H, W]", in)
	}
	cin, H, W := in[0], in[1], in[2]
	k, s, p, g := op.Kernel, op.Stride, op.Pad, op.Groups
	if k < 1 || s < 1 || p < 0 || g < 1 || H+2*p < k || W+2*p < k {
		return nil, bad("attributes", "kernel %d, stride %d, pad %d, groups %d on a %dx%d input", k, s, p, g, H, W)
	}
	if len(op.WeightAxes) != len(op.WeightShape) {
		return nil, bad("weight_axes", "%v for weight_shape %v", op.WeightAxes, op.WeightShape)
	}
	size := map[string]int{}
	for i, a := range op.WeightAxes {
		size[a] = op.WeightShape[i]
	}
	var cout int
	var target []string // the ONNX order [cout, cin/groups, kh, kw]
	switch axes := fmt.Sprint(op.WeightAxes); axes {
	case "[kh kw cin cout]", "[cin cout]":
		if axes == "[cin cout]" {
			size["kh"], size["kw"] = 1, 1
		}
		if g != 1 || size["cin"] != cin || size["kh"] != k || size["kw"] != k {
			return nil, bad("weight_shape", "%v for a %dx%d conv of %d channels, groups %d", op.WeightShape, k, k, cin, g)
		}
		cout, target = size["cout"], []string{"cout", "cin", "kh", "kw"}
	case "[kh kw c]":
		if g != cin || size["c"] != cin || size["kh"] != k || size["kw"] != k {
			return nil, bad("weight_shape", "%v for a %dx%d depthwise conv of %d channels, groups %d", op.WeightShape, k, k, cin, g)
		}
		cout, target = cin, []string{"c", "cin", "kh", "kw"} // cin: the group's one channel
	default:
		return nil, bad("weight_axes", "%v: expected [kh kw cin cout], [cin cout] or [kh kw c]", op.WeightAxes)
	}
	w, err := b.weight(op.Weight, op.WeightShape)
	if err != nil {
		return nil, err
	}
	wt, dims := permute(w, op.WeightAxes, op.WeightShape, target)
	b.initFloat(op.Weight, dims, wt)
	inputs := []string{x, op.Weight}
	if op.Bias != "" {
		bias, err := b.weight(op.Bias, []int{cout})
		if err != nil {
			return nil, err
		}
		b.initFloat(op.Bias, []int{cout}, bias)
		inputs = append(inputs, op.Bias)
	}
	y := out
	if op.Act != "" {
		y = out + ".preact"
	}
	b.node("Conv", y, inputs, []string{y},
		attrInts("kernel_shape", k, k), attrInts("strides", s, s), attrInts("pads", p, p, p, p), attrInts("dilations", 1, 1), attrInt("group", g))
	if err := b.act(op.Act, y, out); err != nil {
		return nil, err
	}
	return []int{cout, (H+2*p-k)/s + 1, (W+2*p-k)/s + 1}, nil
}

func (b *builder) avgPool(op Op, in []int, x, out string) ([]int, error) {
	k, s, p := op.Kernel, op.Stride, op.Pad
	if len(in) != 3 || k < 1 || s < 1 || p < 0 || p >= k || in[1]+2*p < k || in[2]+2*p < k {
		return nil, bad("attributes", "kernel %d, stride %d, pad %d on input %v", k, s, p, in)
	}
	include := 0
	if op.CountIncludePad {
		include = 1
	}
	b.node("AveragePool", out, []string{x}, []string{out},
		attrInts("kernel_shape", k, k), attrInts("strides", s, s), attrInts("pads", p, p, p, p), attrInt("count_include_pad", include))
	return []int{in[0], (in[1]+2*p-k)/s + 1, (in[2]+2*p-k)/s + 1}, nil
}

func (b *builder) linear(op Op, in []int, x, out string) ([]int, error) {
	if len(in) != 1 || !slices.Equal(op.WeightAxes, []string{"in", "out"}) || len(op.WeightShape) != 2 || op.WeightShape[0] != in[0] {
		return nil, bad("weight", "axes %v, shape %v for input %v: expected [in out] with in = %v", op.WeightAxes, op.WeightShape, in, in)
	}
	nout := op.WeightShape[1]
	w, err := b.weight(op.Weight, op.WeightShape)
	if err != nil {
		return nil, err
	}
	b.initFloat(op.Weight, op.WeightShape, w)
	inputs := []string{x, op.Weight}
	if op.Bias != "" {
		bias, err := b.weight(op.Bias, []int{nout})
		if err != nil {
			return nil, err
		}
		b.initFloat(op.Bias, []int{nout}, bias)
		inputs = append(inputs, op.Bias)
	}
	y := out
	if op.Act != "" {
		y = out + ".preact"
	}
	b.node("Gemm", y, inputs, []string{y}) // alpha = beta = 1, no transposes
	if err := b.act(op.Act, y, out); err != nil {
		return nil, err
	}
	return []int{nout}, nil
}

// act emits activation a from value y to value out ("": none, y is out).
func (b *builder) act(a, y, out string) error {
	hardSigmoid := func(name, output string) {
		// HardSigmoid(x) = max(0, min(1, x/6 + 1/2)) = min(max(x+3, 0), 6)/6.
		b.node("HardSigmoid", name, []string{y}, []string{output}, attrFloat("alpha", 1.0/6), attrFloat("beta", 0.5))
	}
	switch a {
	case "":
	case ActReLU:
		b.node("Relu", out, []string{y}, []string{out})
	case ActSwish:
		b.node("Sigmoid", out+".sigmoid", []string{y}, []string{out + ".sigmoid"})
		b.node("Mul", out, []string{y, out + ".sigmoid"}, []string{out})
	case ActHSwish:
		hardSigmoid(out+".gate", out+".gate")
		b.node("Mul", out, []string{y, out + ".gate"}, []string{out})
	case ActHardSigmoid:
		hardSigmoid(out, out)
	default:
		return bad("act", "unknown activation %q", a)
	}
	return nil
}

// permute reorders v, stored row-major over axes (sizes), into the order
// target; a target axis absent from axes has size 1. It returns the values
// and the target sizes.
func permute(v []float32, axes []string, sizes []int, target []string) ([]float32, []int) {
	stride := map[string]int{}
	size := map[string]int{}
	s := 1
	for i := len(axes) - 1; i >= 0; i-- {
		stride[axes[i]], size[axes[i]] = s, sizes[i]
		s *= sizes[i]
	}
	dims := make([]int, len(target))
	for i, a := range target {
		dims[i] = 1
		if n, ok := size[a]; ok {
			dims[i] = n
		}
	}
	out := make([]float32, 0, len(v))
	idx := make([]int, len(target))
	for range len(v) {
		off := 0
		for i, a := range target {
			off += idx[i] * stride[a] // absent axes: stride 0, index 0
		}
		out = append(out, v[off])
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, dims
}

func product(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func ints(s []int32) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

func int64s(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

func attrInt(name string, v int) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: int64(v)}
}

func attrInts(name string, v ...int) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: int64s(v)}
}

func attrFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

func attrString(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

func dimValue(n int) *onnx.TensorShapeProto_Dimension {
	return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}
}

func dimParam(name string) *onnx.TensorShapeProto_Dimension {
	return &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: name}}
}

func valueInfo(name, doc string, dims ...*onnx.TensorShapeProto_Dimension) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{
		Name:      name,
		DocString: doc,
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: int32(onnx.TensorProto_FLOAT),
			Shape:    &onnx.TensorShapeProto{Dim: dims},
		}}},
	}
}
