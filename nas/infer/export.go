package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
)

// ModelMetaKey is the Parquet key-value metadata key under which an exported
// model file keeps Model.MetaJSON (the tensors are the file's rows).
const ModelMetaKey = "attentivenas.model"

// ModelFormat names the layout of Model.Tensors and ModelMeta; LoadModel
// refuses other values.
const ModelFormat = "attentivenas.Model/v1"

// ModelMeta is the JSON metadata of an exported model (Model.MetaJSON): what
// a reader needs besides the tensors to run it.
type ModelMeta struct {
	Format           string          `json:"format"`            // ModelFormat
	Space            json.RawMessage `json:"space"`             // canonical JSON of the search space
	SpaceFingerprint string          `json:"space_fingerprint"` // space.Space.Fingerprint
	Arch             []int           `json:"arch"`              // Arch vector [r, w_stem, w_1..w_N, w_head, d_1..d_N, k_1..k_N, t_1..t_N]
	InputSize        int             `json:"input_size"`        // S: images are S x S x InputChannels, resized inside to arch[0]
	InputChannels    int             `json:"input_channels"`
	Classes          int             `json:"classes"`
	Mean             []float64       `json:"mean,omitempty"` // per-channel input normalisation, x = (pixel/255 - mean)/std
	Std              []float64       `json:"std,omitempty"`
	BNEps            float64         `json:"bn_eps"`    // epsilon folded into the weights
	BNFolded         bool            `json:"bn_folded"` // always true: BN lives in the weights and biases
	Resize           string          `json:"resize"`    // "bilinear" (align_corners=False)
	Activation       string          `json:"activation"`
	FLOPs            int64           `json:"flops"`  // MACs per image
	Params           int64           `json:"params"` // learnable scalars before folding
}

// Errors of LoadModel, wrapped in a *FormatError naming the tensor or field.
var (
	ErrBadMeta         = errors.New("invalid model metadata")
	ErrMissingTensor   = errors.New("missing tensor")
	ErrUnknownTensor   = errors.New("tensor not part of this model")
	ErrDuplicateTensor = errors.New("duplicate tensor")
	ErrTensorShape     = errors.New("wrong tensor shape")
)

// FormatError reports an exported model that LoadModel cannot use: Field is
// the tensor name or metadata field, Err one of the Err... sentinels.
type FormatError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FormatError) Error() string {
	s := "infer: model " + e.Field + ": "
	if e.Msg != "" {
		s += e.Msg + ": "
	}
	return s + e.Err.Error()
}

func (e *FormatError) Unwrap() error { return e.Err }

// param is one tensor of a folded net, aliasing the net's storage.
type param struct {
	name  string
	shape []int
	w     []float32
}

// params lists the tensors of the folded net n, in a fixed order:
//
//	stem.w [k*k*Cin, c0], stem.b [c0]
//	blocks.j.expand.w [cin, mid], .expand.b [mid]          (j: active block 0, 1, ...)
//	blocks.j.dw.w [k, k, mid], .dw.b [mid]
//	blocks.j.se.reduce.w [mid, se], .se.reduce.b [se], .se.expand.w [se, mid], .se.expand.b [mid]
//	blocks.j.project.w [mid, cout], .project.b [cout], blocks.j.shortcut.w [cin, cout]
//	head.expand.w [c, e], head.expand.b [e], head.mix.w [e, w], head.mix.b [w]
//	classifier.w [w, classes], classifier.b [classes]
func (n *net) params() []param {
	var ps []param
	add := func(name string, w []float32, shape ...int) {
		ps = append(ps, param{name: name, shape: shape, w: w})
	}
	p := n.plan
	st := p.Stem
	add("stem.w", n.stem.w, st.K*st.K*st.Cin, st.Cout)
	add("stem.b", n.bn[0].bias, st.Cout)
	for j := range n.blocks {
		b := &n.blocks[j]
		bp := &b.p
		pre := fmt.Sprintf("blocks.%d.", j)
		if bp.Expand {
			add(pre+"expand.w", b.expand.w, bp.Cin, bp.Mid)
			add(pre+"expand.b", n.bn[b.bnExpand].bias, bp.Mid)
		}
		add(pre+"dw.w", b.dw, bp.K, bp.K, bp.Mid)
		add(pre+"dw.b", n.bn[b.bnDW].bias, bp.Mid)
		if bp.SE {
			add(pre+"se.reduce.w", b.seReduce.w, bp.Mid, bp.SEMid)
			add(pre+"se.reduce.b", b.seReduceB, bp.SEMid)
			add(pre+"se.expand.w", b.seExpand.w, bp.SEMid, bp.Mid)
			add(pre+"se.expand.b", b.seExpandB, bp.Mid)
		}
		add(pre+"project.w", b.project.w, bp.Mid, bp.Cout)
		add(pre+"project.b", n.bn[b.bnProject].bias, bp.Cout)
		if bp.ShortcutConv {
			add(pre+"shortcut.w", b.scut.w, bp.Cin, bp.Cout)
		}
	}
	h := p.Head
	add("head.expand.w", n.headExpand.w, h.Cin, h.Expanded)
	add("head.expand.b", n.bn[len(n.bn)-1].bias, h.Expanded)
	add("head.mix.w", n.mix.w, h.Expanded, h.Width)
	add("head.mix.b", n.mixB, h.Width)
	add("classifier.w", n.cls.w, h.Width, h.Classes)
	add("classifier.b", n.clsB, h.Classes)
	return ps
}

// foldedParams is the number of values of a folded model of plan p: the
// subnet's parameters less one vector per BN layer (gamma and beta fold into
// the weights and one bias).
func foldedParams(p space.Plan) int64 {
	bn := p.Stem.Cout + p.Head.Expanded
	for _, b := range p.Blocks {
		if b.Expand {
			bn += b.Mid
		}
		bn += b.Mid + b.Cout
	}
	return p.Params() - int64(bn)
}

// emptyFolded lays out a folded net for plan p, with zero weights to be
// filled by LoadModel through params, or (alloc false) with nil weights:
// the layout alone, for params' names and shapes.
func emptyFolded(p space.Plan, inSize int, alloc bool) (*net, error) {
	act, err := actOf(p.Act)
	if err != nil {
		return nil, err
	}
	n := &net{plan: p, inSize: inSize, act: act, folded: true}
	vec := func(c int) []float32 {
		if !alloc {
			return nil
		}
		return make([]float32, c)
	}
	z := func(rows, cols int) mat { return mat{w: vec(rows * cols), ld: cols} }
	addBN := func(name string, c, size int) int {
		n.bn = append(n.bn, bnParams{name: name, bias: vec(c), c: c, pix: size * size})
		return len(n.bn) - 1
	}
	st := p.Stem
	n.stem = z(st.K*st.K*st.Cin, st.Cout)
	addBN("stem.bn", st.Cout, st.OutSize)
	for j, bp := range p.Blocks {
		pre := fmt.Sprintf("blocks.%d", j)
		b := block{p: bp, bnExpand: -1}
		if bp.Expand {
			b.expand = z(bp.Cin, bp.Mid)
			b.bnExpand = addBN(pre+".expand.bn", bp.Mid, bp.InSize)
		}
		b.dw, b.dwKMax, b.dwCMax = vec(bp.K*bp.K*bp.Mid), bp.K, bp.Mid
		b.bnDW = addBN(pre+".dw.bn", bp.Mid, bp.OutSize)
		if bp.SE {
			b.seReduce, b.seExpand = z(bp.Mid, bp.SEMid), z(bp.SEMid, bp.Mid)
			b.seReduceB, b.seExpandB = vec(bp.SEMid), vec(bp.Mid)
		}
		b.project = z(bp.Mid, bp.Cout)
		b.bnProject = addBN(pre+".project.bn", bp.Cout, bp.OutSize)
		if bp.ShortcutConv {
			b.scut = z(bp.Cin, bp.Cout)
		}
		n.blocks = append(n.blocks, b)
	}
	h := p.Head
	n.headExpand = z(h.Cin, h.Expanded)
	addBN("head.expand.bn", h.Expanded, h.Size)
	n.mix, n.mixB = z(h.Expanded, h.Width), vec(h.Width)
	n.cls, n.clsB = z(h.Width, h.Classes), vec(h.Classes)
	return n, nil
}

// Tensors returns the model's weights as rows (role "weight"), one per
// tensor in the order and with the names and shapes documented on
// LoadModel. The rows share no memory with m. Write them with MetaJSON
// under ModelMetaKey.
func (m *Model) Tensors() []schemas.Tensor {
	ps := m.net.params()
	rows := make([]schemas.Tensor, len(ps))
	for i, p := range ps {
		sh := make([]int32, len(p.shape))
		for j, d := range p.shape {
			sh[j] = int32(d)
		}
		rows[i] = schemas.Tensor{Name: p.name, Role: schemas.RoleWeight, Shape: sh, Values: slices.Clone(p.w)}
	}
	return rows
}

// Meta returns the model's metadata (see ModelMeta).
func (m *Model) Meta() ModelMeta {
	p := m.net.plan
	return ModelMeta{
		Format: ModelFormat, Space: m.Space.JSON(), SpaceFingerprint: m.Space.Fingerprint(),
		Arch: m.Arch.Vector(), InputSize: m.net.inSize, InputChannels: p.InChannels, Classes: p.Head.Classes,
		Mean: slices.Clone(m.Mean), Std: slices.Clone(m.Std), BNEps: BNEps, BNFolded: true,
		Resize: "bilinear", Activation: string(p.Act), FLOPs: p.FLOPs(), Params: p.Params(),
	}
}

// MetaJSON is Meta encoded as JSON, the blob stored under ModelMetaKey.
func (m *Model) MetaJSON() []byte {
	b, err := json.Marshal(m.Meta())
	if err != nil {
		panic("infer: marshal model metadata: " + err.Error()) // plain structs cannot fail
	}
	return b
}

// LoadModel rebuilds a Model from the rows of Model.Tensors and the blob of
// Model.MetaJSON. Its logits are bit-identical to the original's.
//
// The metadata must have format ModelFormat and a space and arch that
// parse; every tensor the arch needs must be present exactly once with role
// "weight", its exact shape and product(shape) values, and no other tensor
// may be present. Tensors, in order (j counts the subnet's active blocks):
//
//	stem.w [k*k*Cin, c0]  (rows in kh, kw, cin order)     stem.b [c0]
//	blocks.j.expand.w [cin, mid]    blocks.j.expand.b [mid]     (t > 1 stages)
//	blocks.j.dw.w [k, k, mid]       blocks.j.dw.b [mid]
//	blocks.j.se.reduce.w [mid, se]  blocks.j.se.reduce.b [se]  (SE stages)
//	blocks.j.se.expand.w [se, mid]  blocks.j.se.expand.b [mid]
//	blocks.j.project.w [mid, cout]  blocks.j.project.b [cout]
//	blocks.j.shortcut.w [cin, cout]                             (cin != cout)
//	head.expand.w [c, e]  head.expand.b [e]  head.mix.w [e, w]  head.mix.b [w]
//	classifier.w [w, classes]  classifier.b [classes]
//
// Convolution weights are [in, out] row-major with BN folded in; the
// forward pass is that of Model.Forward. Errors are *FormatError values
// wrapping ErrBadMeta, ErrMissingTensor, ErrUnknownTensor,
// ErrDuplicateTensor or ErrTensorShape; a space or arch that does not parse
// is reported as ErrBadMeta wrapping the space package's error text.
func LoadModel(rows []schemas.Tensor, meta []byte) (*Model, error) {
	bad := func(field, format string, args ...any) error {
		return &FormatError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrBadMeta}
	}
	var md ModelMeta
	dec := json.NewDecoder(bytes.NewReader(meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&md); err != nil {
		return nil, bad("metadata", "not a ModelMeta JSON object (%v)", err)
	}
	if md.Format != ModelFormat {
		return nil, bad("format", "%q, expected %q", md.Format, ModelFormat)
	}
	if len(md.Space) == 0 {
		return nil, bad("space", "missing")
	}
	sp, err := space.Parse(md.Space, "model metadata")
	if err != nil {
		return nil, bad("space", "%v", err)
	}
	if md.SpaceFingerprint != "" && md.SpaceFingerprint != sp.Fingerprint() {
		return nil, bad("space_fingerprint", "%q does not match the space (%q)", md.SpaceFingerprint, sp.Fingerprint())
	}
	arch, err := sp.ArchFromVector(md.Arch)
	if err != nil {
		return nil, bad("arch", "%v", err)
	}
	switch {
	case md.InputSize != sp.Input.Height:
		return nil, bad("input_size", "%d, the space's input is %d", md.InputSize, sp.Input.Height)
	case md.InputChannels != sp.Input.Channels:
		return nil, bad("input_channels", "%d, the space's input has %d", md.InputChannels, sp.Input.Channels)
	case md.Classes != sp.Classes:
		return nil, bad("classes", "%d, the space has %d", md.Classes, sp.Classes)
	case !md.BNFolded:
		return nil, bad("bn_folded", "false: only BN-folded models are supported")
	case md.Resize != "" && md.Resize != "bilinear":
		return nil, bad("resize", "%q: only bilinear is supported", md.Resize)
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"mean", md.Mean}, {"std", md.Std}} {
		if len(f.v) != 0 && len(f.v) != sp.Input.Channels {
			return nil, bad(f.name, "%d values for %d input channels", len(f.v), sp.Input.Channels)
		}
	}
	for _, s := range md.Std {
		if !(s > 0) {
			return nil, bad("std", "%v: expected positive values", md.Std)
		}
	}

	plan := sp.Plan(arch)
	// Match the rows against the layout first and allocate only then, so a
	// forged space cannot make LoadModel allocate more than the rows hold.
	skel, err := emptyFolded(plan, sp.Input.Height, false)
	if err != nil {
		return nil, bad("space", "%v", err)
	}
	ps := skel.params()
	byName := make(map[string]int, len(ps))
	for i, p := range ps {
		byName[p.name] = i
	}
	src := make([]int, len(ps)) // row index of each tensor
	for i := range src {
		src[i] = -1
	}
	for j, r := range rows {
		i, ok := byName[r.Name]
		if !ok {
			return nil, &FormatError{Field: fmt.Sprintf("tensor %q", r.Name), Msg: fmt.Sprintf("subnet %v has no such tensor", arch), Err: ErrUnknownTensor}
		}
		p := ps[i]
		field := fmt.Sprintf("tensor %q", p.name)
		if src[i] >= 0 {
			return nil, &FormatError{Field: field, Err: ErrDuplicateTensor}
		}
		src[i] = j
		if r.Role != schemas.RoleWeight {
			return nil, &FormatError{Field: field, Msg: fmt.Sprintf("role %q, expected %q", r.Role, schemas.RoleWeight), Err: ErrUnknownTensor}
		}
		if !shapeEqual(r.Shape, p.shape) {
			return nil, &FormatError{Field: field, Msg: fmt.Sprintf("shape %v, expected %v", r.Shape, p.shape), Err: ErrTensorShape}
		}
		if n := product(p.shape); len(r.Values) != n {
			return nil, &FormatError{Field: field, Msg: fmt.Sprintf("%d values, shape %v needs %d", len(r.Values), p.shape, n), Err: ErrTensorShape}
		}
	}
	for i, j := range src {
		if j < 0 {
			return nil, &FormatError{Field: fmt.Sprintf("tensor %q", ps[i].name), Msg: fmt.Sprintf("shape %v", ps[i].shape), Err: ErrMissingTensor}
		}
	}
	n, _ := emptyFolded(plan, sp.Input.Height, true)
	for i, p := range n.params() {
		copy(p.w, rows[src[i]].Values)
	}
	return &Model{Space: sp, Arch: arch, Mean: md.Mean, Std: md.Std, net: n, microBatch: defaultMicroBatch}, nil
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func shapeEqual(a []int32, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if int(a[i]) != b[i] {
			return false
		}
	}
	return true
}
