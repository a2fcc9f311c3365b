package onnxexport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/attentivenas/attentivenas/nas/nastest"
	"github.com/attentivenas/attentivenas/nas/onnxexport/ortcheck"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
)

// TestPermute checks the weight reorderings against hand-worked values.
func TestPermute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      []float32
		axes   []string
		sizes  []int
		target []string
		want   []float32
		dims   []int
	}{
		// [cin=2, cout=3] -> [cout, cin, 1, 1]: the transpose.
		{"pointwise", []float32{0, 1, 2, 10, 11, 12}, []string{"cin", "cout"}, []int{2, 3},
			[]string{"cout", "cin", "kh", "kw"}, []float32{0, 10, 1, 11, 2, 12}, []int{3, 2, 1, 1}},
		// [kh=2, kw=1, c=2] -> [c, 1, kh, kw]: value = 10*kh + c.
		{"depthwise", []float32{0, 1, 10, 11}, []string{"kh", "kw", "c"}, []int{2, 1, 2},
			[]string{"c", "cin", "kh", "kw"}, []float32{0, 10, 1, 11}, []int{2, 1, 2, 1}},
		// [kh=1, kw=2, cin=2, cout=2] -> [cout, cin, kh, kw]: value =
		// 100*kw + 10*cin + cout.
		{"stem", []float32{0, 1, 10, 11, 100, 101, 110, 111}, []string{"kh", "kw", "cin", "cout"}, []int{1, 2, 2, 2},
			[]string{"cout", "cin", "kh", "kw"}, []float32{0, 100, 10, 110, 1, 101, 11, 111}, []int{2, 2, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dims := permute(tc.v, tc.axes, tc.sizes, tc.target)
			if !slices.Equal(got, tc.want) || !slices.Equal(dims, tc.dims) {
				t.Fatalf("got %v %v, want %v %v", got, dims, tc.want, tc.dims)
			}
		})
	}
}

// decode parses a serialised model back with the protobuf library.
func decode(t *testing.T, b []byte) *onnx.ModelProto {
	t.Helper()
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestExportStructure exports subnets of the tiny and reference spaces and
// checks the decoded model: opset, input and output, one initializer per
// tensor (plus the normalisation and resize constants), metadata, the ops
// each layout kind maps to, and identical bytes from a second export.
func TestExportStructure(t *testing.T) {
	ref := reference(t)
	tn := tiny(t, space.HSwish)
	for _, tc := range []struct {
		name   string
		sp     *space.Space
		arch   space.Arch
		resize bool
	}{
		{"fmnist max (28 -> 32)", ref, ref.Max(), true},
		{"fmnist min (28 -> 24)", ref, ref.Min(), true},
		{"tiny native", tn, mustArch(t, tn, tinyArchs[1].vec), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := foldedModel(t, tc.sp, tc.arch, 3)
			b, err := Export(m, map[string]string{"val_top1": "0.5", "flops": "overridden"})
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Export(m, map[string]string{"val_top1": "0.5", "flops": "overridden"})
			if !bytes.Equal(b, again) {
				t.Fatal("two exports of one model differ")
			}
			mp := decode(t, b)
			if mp.IrVersion != IRVersion || len(mp.OpsetImport) != 1 || mp.OpsetImport[0].Version != Opset || mp.OpsetImport[0].Domain != "" {
				t.Fatalf("ir_version %d, opsets %v", mp.IrVersion, mp.OpsetImport)
			}
			g := mp.Graph
			S, C := tc.sp.Input.Height, tc.sp.Input.Channels
			if len(g.Input) != 1 || g.Input[0].Name != InputName || fmt.Sprint(dims(g.Input[0])) != fmt.Sprint([]any{"N", C, S, S}) {
				t.Fatalf("inputs %v", g.Input)
			}
			if len(g.Output) != 1 || g.Output[0].Name != OutputName || fmt.Sprint(dims(g.Output[0])) != fmt.Sprint([]any{"N", tc.sp.Classes}) {
				t.Fatalf("outputs %v", g.Output)
			}
			tensors := m.Tensors()
			extra := 2 // normalisation mean, std
			if tc.resize {
				extra += 3 // starts, ends, hw
			}
			if len(g.Initializer) != len(tensors)+extra {
				t.Fatalf("%d initializers for %d tensors (+%d constants)", len(g.Initializer), len(tensors), extra)
			}
			counts := map[string]int{}
			for _, n := range g.Node {
				counts[n.OpType]++
			}
			p := m.Plan()
			convs := 1 + 2*len(p.Blocks) + 1 // stem, dw + project per block, head
			for _, bp := range p.Blocks {
				if bp.Expand {
					convs++
				}
				if bp.SE {
					convs += 2
				}
				if bp.ShortcutConv {
					convs++
				}
			}
			if counts["Conv"] != convs || counts["Gemm"] != 2 || counts["Add"] != len(p.Blocks) || (counts["Resize"] == 1) != tc.resize {
				t.Fatalf("ops %v for plan %+v", counts, p)
			}
			props := map[string]string{}
			for _, kv := range mp.MetadataProps {
				props[kv.Key] = kv.Value
			}
			var arch []int
			if err := json.Unmarshal([]byte(props["arch"]), &arch); err != nil || !slices.Equal(arch, tc.arch.Vector()) {
				t.Fatalf("arch %q: %v", props["arch"], err)
			}
			sp, err := space.Parse([]byte(props["space"]), "metadata")
			if err != nil || !sp.Equal(tc.sp) {
				t.Fatalf("space %q: %v", props["space"], err)
			}
			if props["val_top1"] != "0.5" || props["flops"] != "overridden" || props["params"] != fmt.Sprint(tc.sp.Params(tc.arch)) || props["arch_key"] != tc.arch.Key() {
				t.Fatalf("metadata %v", props)
			}
		})
	}
}

// dims lists a value's dimensions: names for symbolic ones.
func dims(v *onnx.ValueInfoProto) []any {
	var out []any
	for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
		if p := d.GetDimParam(); p != "" {
			out = append(out, p)
		} else {
			out = append(out, int(d.GetDimValue()))
		}
	}
	return out
}

// TestBuildErrors feeds broken layouts and tensors to Build: each must fail
// with the documented sentinel, name the place, and return no model.
func TestBuildErrors(t *testing.T) {
	tn := tiny(t, space.Swish)
	m := foldedModel(t, tn, mustArch(t, tn, tinyArchs[0].vec), 4)
	base, err := Describe(m)
	if err != nil {
		t.Fatal(err)
	}
	rows := m.Tensors()
	opIndex := func(l *Layout, output string) int {
		return slices.IndexFunc(l.Ops, func(o Op) bool { return o.Output == output })
	}
	for _, tc := range []struct {
		name   string
		layout func(l *Layout)
		rows   func(rs []schemas.Tensor) []schemas.Tensor
		err    error
		where  string
	}{
		{name: "format", layout: func(l *Layout) { l.Format = "v0" }, err: ErrBadLayout, where: "format"},
		{name: "unknown op", layout: func(l *Layout) { l.Ops[3].Op = "gelu" }, err: ErrBadLayout, where: "unknown op kind"},
		{name: "undefined input", layout: func(l *Layout) { l.Ops[2].Inputs = []string{"nowhere"} }, err: ErrBadLayout, where: `"nowhere" is not defined`},
		{name: "wrong stated shape", layout: func(l *Layout) { l.Ops[2].Shape = []int{8, 15, 15} }, err: ErrBadLayout, where: "the layout says [8 15 15]"},
		{name: "transposed pointwise axes", layout: func(l *Layout) {
			o := &l.Ops[opIndex(l, "blocks.0.project")]
			o.WeightAxes = []string{"cout", "cin"}
		}, err: ErrBadLayout, where: "weight_axes"},
		{name: "depthwise as dense", layout: func(l *Layout) { l.Ops[opIndex(l, "blocks.0.dw")].Groups = 1 }, err: ErrBadLayout, where: "depthwise"},
		{name: "resize align_corners", layout: func(l *Layout) { yes := true; l.Ops[1].AlignCorners = &yes }, err: ErrBadLayout, where: "align_corners"},
		{name: "negative std", layout: func(l *Layout) { l.Ops[0].Std = []float32{1, -1, 1} }, err: ErrBadLayout, where: "std"},
		{name: "output not logits", layout: func(l *Layout) { l.Output = "head.flat" }, err: ErrBadLayout, where: "output"},
		{name: "unknown activation", layout: func(l *Layout) { l.Ops[2].Act = "gelu" }, err: ErrBadLayout, where: "unknown activation"},
		{name: "missing tensor", rows: func(rs []schemas.Tensor) []schemas.Tensor {
			return slices.DeleteFunc(rs, func(r schemas.Tensor) bool { return r.Name == "blocks.1.dw.b" })
		}, err: ErrMissingTensor, where: `"blocks.1.dw.b"`},
		{name: "extra tensor", rows: func(rs []schemas.Tensor) []schemas.Tensor {
			return append(rs, schemas.Tensor{Name: "blocks.9.dw.w", Role: schemas.RoleWeight, Shape: []int32{1}, Values: []float32{1}})
		}, err: ErrUnusedTensor, where: `"blocks.9.dw.w"`},
		{name: "transposed stem", rows: func(rs []schemas.Tensor) []schemas.Tensor {
			r := &rs[0] // stem.w [k*k*cin, cout] stored as [cout, k*k*cin]
			r.Shape = []int32{r.Shape[1], r.Shape[0]}
			return rs
		}, err: ErrTensorShape, where: `"stem.w"`},
		{name: "short values", rows: func(rs []schemas.Tensor) []schemas.Tensor {
			rs[1].Values = rs[1].Values[:1]
			return rs
		}, err: ErrTensorShape, where: `"stem.b"`},
		{name: "momentum row", rows: func(rs []schemas.Tensor) []schemas.Tensor {
			rs[1].Role = schemas.RoleMomentum
			return rs
		}, err: ErrTensorShape, where: "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l Layout
			raw, _ := json.Marshal(base)
			if err := json.Unmarshal(raw, &l); err != nil {
				t.Fatal(err)
			}
			rs := make([]schemas.Tensor, len(rows))
			for i, r := range rows {
				rs[i] = r
				rs[i].Shape, rs[i].Values = slices.Clone(r.Shape), slices.Clone(r.Values)
			}
			if tc.layout != nil {
				tc.layout(&l)
			}
			if tc.rows != nil {
				rs = tc.rows(rs)
			}
			mp, err := Build(&l, rs, nil)
			var le *LayoutError
			if mp != nil || !errors.Is(err, tc.err) || !errors.As(err, &le) || !bytes.Contains([]byte(err.Error()), []byte(tc.where)) {
				t.Fatalf("model %v, error %v: want %v naming %q", mp != nil, err, tc.err, tc.where)
			}
		})
	}
	// The untouched layout and tensors build.
	if _, err := Build(base, rows, nil); err != nil {
		t.Fatal(err)
	}
	// A model without normalisation cannot be described.
	m.Mean, m.Std = nil, nil
	if _, err := Describe(m); !errors.Is(err, ErrNoNormalisation) {
		t.Fatalf("Describe without mean/std: %v", err)
	}
}

// TestDescribeJSON checks the Layout survives JSON (the form the Parquet
// metadata stores) and still builds the same model.
func TestDescribeJSON(t *testing.T) {
	tn := tiny(t, space.ReLU)
	m := foldedModel(t, tn, mustArch(t, tn, tinyArchs[2].vec), 5)
	l, err := Describe(m)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back Layout
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	a, err := Build(l, m.Tensors(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(&back, m.Tensors(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, b) {
		t.Fatal("the layout read back from JSON builds another model")
	}
	for _, kind := range []string{OpNormalize, OpResize, OpConv, OpAvgPool, OpGlobalAvgPool, OpMul, OpAdd, OpFlatten, OpLinear} {
		if back.OpDefinitions[kind] == "" {
			t.Errorf("no definition of %s in the layout", kind)
		}
	}
	for _, act := range []string{ActReLU, ActHardSigmoid} {
		if back.ActivationDefinitions[act] == "" {
			t.Errorf("no definition of activation %s", act)
		}
	}
}

// TestONNXRuntime runs exported models in ONNX Runtime and compares them
// with the project's engine on the same byte images: the engine gets them
// normalised NHWC as predict feeds them, ONNX Runtime gets byte/255 NCHW.
// Every subnet of tinyArchs (up- and downsampling, odd and even pooled
// shortcuts, SE, expand or not) under each activation, and the reference
// space's smallest and largest subnets. Skips without node and
// onnxruntime-node (see ortcheck.Find; `make ort` installs it).
func TestONNXRuntime(t *testing.T) {
	rt, err := ortcheck.Find()
	if errors.Is(err, ortcheck.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	type model struct {
		name string
		sp   *space.Space
		arch space.Arch
	}
	var models []model
	for _, act := range []space.Activation{space.HSwish, space.Swish, space.ReLU} {
		sp := tiny(t, act)
		for i, a := range tinyArchs {
			if act != space.HSwish && i > 1 {
				continue
			}
			models = append(models, model{fmt.Sprintf("%s %s", act, a.name), sp, mustArch(t, sp, a.vec)})
		}
	}
	ref := reference(t)
	models = append(models, model{"fmnist min", ref, ref.Min()}, model{"fmnist max", ref, ref.Max()})

	const N = 37 // batches of 16, 16 and 5
	for i, tc := range models {
		t.Run(tc.name, func(t *testing.T) {
			m := foldedModel(t, tc.sp, tc.arch, uint64(10+i))
			b, err := Export(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			px, x := randomPixels(tc.sp, N, uint64(i))
			S, C, K := tc.sp.Input.Height, tc.sp.Input.Channels, tc.sp.Classes
			got, k, err := rt.Run(context.Background(), b, x, []int{N, C, S, S}, 16)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, N*K)
			m.Forward(want, engineInput(tc.sp, m, px), N)
			if k != K {
				t.Fatalf("%d outputs per image, want %d", k, K)
			}
			if err := nastest.Diff(nastest.To64(got), nastest.To64(want), nastest.Tol32); err != nil {
				t.Fatalf("ONNX Runtime vs engine logits: %v", err)
			}
			c := ortcheck.Compare(got, want, K)
			if c.Agree != N {
				t.Errorf("argmax agrees on %d of %d images", c.Agree, N)
			}
			t.Logf("%d/%d argmax agree, max |logit diff| %.3g (logit rms %.3g)", c.Agree, N, c.MaxAbsDiff, rms(want))
		})
	}
}

func rms(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s / float64(max(1, len(v))))
}
