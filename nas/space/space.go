// Package space holds an AttentiveNAS search space: the choices of a
// MobileNetV3-style supernet (resolution, widths, depths, kernel sizes and
// expand ratios per stage), the fixed-length Arch vector that names one
// subnet, and the cost model (MACs and parameters) used for FLOPs bins.
//
// A space is data: it is parsed from a JSON or YAML file with the fields of
// the reference space (configs/fmnist.json), validated with errors that name
// the field, the value and what was expected.
//
//	sp, err := space.Parse(data, "configs/fmnist.json")
//	a := sp.Max()
//	fmt.Println(a.Vector(), sp.FLOPs(a), sp.Params(a))
//	// [32 16 12 24 32 48 192 2 3 3 3 5 5 5 5 1 6 6 6] 14480512 395662
//
// See ALGORITHM.md sections 2 and 3; the reference implementation is
// facebookresearch/AttentiveNAS (models/attentive_nas_dynamic_model.py).
package space

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Space is a parsed and validated search space.
type Space struct {
	Name        string     `json:"name"`
	Input       Input      `json:"input"`
	Classes     int        `json:"classes"`
	Resolutions []int      `json:"resolutions"`
	FirstConv   FirstConv  `json:"first_conv"`
	Stages      []Stage    `json:"stages"`
	LastConv    LastConv   `json:"last_conv"`
	Activation  Activation `json:"activation"`
}

// Input is the shape of the images the data pipeline produces.
type Input struct {
	Channels int `json:"channels"`
	Height   int `json:"height"`
	Width    int `json:"width"`
}

// FirstConv is the stem: a dense k x k convolution + BN + activation.
type FirstConv struct {
	C []int `json:"c"` // width choices
	K int   `json:"k"` // kernel size (fixed)
	S int   `json:"s"` // stride (fixed)
}

// Stage is a run of MBConv blocks sharing width, kernel and expand ratio.
type Stage struct {
	Name string `json:"name"`
	C    []int  `json:"c"`  // output width choices
	D    []int  `json:"d"`  // depth (number of blocks) choices
	K    []int  `json:"k"`  // depthwise kernel size choices (odd)
	T    []int  `json:"t"`  // expand ratio choices
	S    int    `json:"s"`  // stride of the first block
	SE   bool   `json:"se"` // squeeze-excite in every block
}

// LastConv is the MobileNetV3 head: a 1x1 conv to Expand*c_last, global
// average pool, and a linear layer to one of C.
type LastConv struct {
	C      []int `json:"c"`      // head width choices
	Expand int   `json:"expand"` // 6 in the reference
}

// Activation names the nonlinearity used everywhere except squeeze-excite.
type Activation string

// Supported activations. Swish is the reference's choice; h-swish is a much
// cheaper substitute on CPU (ALGORITHM.md section 2).
const (
	Swish  Activation = "swish"
	HSwish Activation = "hswish"
	ReLU   Activation = "relu"
)

// MaxKernel bounds kernel sizes so a corrupt file cannot ask for huge weights.
const MaxKernel = 11

// Error reports what is wrong with a space file or an Arch.
type Error struct {
	File  string // file the space came from, if any
	Field string // e.g. "stages[1].k[0]"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("space: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Parse decodes a space from JSON or YAML (YAML is a superset of JSON) and
// validates it. name is used in error messages. Unknown fields are errors, so
// a typo in a key does not silently fall back to a default, and so are
// duplicate keys, so a key given twice does not silently take its last value.
func Parse(data []byte, name string) (*Space, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		if strings.Contains(msg, "already set in map") || strings.Contains(msg, "already defined") {
			return nil, &Error{File: name, Msg: "duplicate key: " + strings.Join(strings.Fields(msg), " ") + " (each key may appear once)"}
		}
		return nil, &Error{File: name, Msg: "not valid JSON or YAML: " + msg}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var s Space
	if err := dec.Decode(&s); err != nil {
		return nil, &Error{File: name, Msg: jsonMessage(err)}
	}
	if err := s.validate(); err != nil {
		var se *Error
		if errors.As(err, &se) {
			se.File = name
		}
		return nil, err
	}
	return &s, nil
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: got a JSON %s, expected %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func (s *Space) validate() error {
	bad := func(field, format string, args ...any) error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if s.Name == "" {
		return bad("name", "missing: a space needs a name")
	}
	if c := s.Input.Channels; c != 1 && c != 3 {
		return bad("input.channels", "%d: expected 1 (grayscale) or 3 (RGB)", c)
	}
	if s.Input.Height <= 0 || s.Input.Width <= 0 {
		return bad("input", "height %d, width %d: expected positive sizes", s.Input.Height, s.Input.Width)
	}
	if s.Input.Height != s.Input.Width {
		return &Error{Field: "input", Msg: fmt.Sprintf("height %d != width %d: only square inputs are supported", s.Input.Height, s.Input.Width)}
	}
	if s.Classes < 2 {
		return bad("classes", "%d: expected at least 2", s.Classes)
	}
	if err := choices("resolutions", s.Resolutions, 8, 1024, false); err != nil {
		return err
	}
	if err := choices("first_conv.c", s.FirstConv.C, 1, 4096, false); err != nil {
		return err
	}
	if k := s.FirstConv.K; k < 1 || k%2 == 0 || k > MaxKernel {
		return bad("first_conv.k", "%d: expected an odd kernel size in [1,%d]", k, MaxKernel)
	}
	if st := s.FirstConv.S; st != 1 && st != 2 {
		return bad("first_conv.s", "%d: expected stride 1 or 2", st)
	}
	if len(s.Stages) == 0 {
		return bad("stages", "empty: expected at least one stage")
	}
	for i, st := range s.Stages {
		f := fmt.Sprintf("stages[%d]", i)
		if st.Name == "" {
			return bad(f+".name", "missing: every stage needs a name")
		}
		for _, prev := range s.Stages[:i] {
			if prev.Name == st.Name {
				return bad(f+".name", "%q: duplicate stage name", st.Name)
			}
		}
		if err := choices(f+".c", st.C, 1, 4096, false); err != nil {
			return err
		}
		if err := choices(f+".d", st.D, 1, 64, false); err != nil {
			return err
		}
		if err := choices(f+".k", st.K, 1, MaxKernel, true); err != nil {
			return err
		}
		if err := choices(f+".t", st.T, 1, 64, false); err != nil {
			return err
		}
		if st.S != 1 && st.S != 2 {
			return bad(f+".s", "%d: expected stride 1 or 2", st.S)
		}
	}
	if err := choices("last_conv.c", s.LastConv.C, 1, 1<<16, false); err != nil {
		return err
	}
	if e := s.LastConv.Expand; e < 1 || e > 64 {
		return bad("last_conv.expand", "%d: expected an integer in [1,64]", e)
	}
	switch s.Activation {
	case Swish, HSwish, ReLU:
	default:
		return bad("activation", "%q: expected one of %q, %q, %q", s.Activation, Swish, HSwish, ReLU)
	}
	return nil
}

// choices checks a list of choices: non-empty, within [lo,hi], no
// duplicates, odd if required.
func choices(field string, vs []int, lo, hi int, odd bool) error {
	if len(vs) == 0 {
		return &Error{Field: field, Msg: "empty: expected at least one choice"}
	}
	for i, v := range vs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if v < lo || v > hi {
			return &Error{Field: f, Msg: fmt.Sprintf("%d: expected a value in [%d,%d]", v, lo, hi)}
		}
		if odd && v%2 == 0 {
			return &Error{Field: f, Msg: fmt.Sprintf("%d: kernel sizes must be odd", v)}
		}
		if slices.Contains(vs[:i], v) {
			return &Error{Field: f, Msg: fmt.Sprintf("%d: duplicate choice", v)}
		}
	}
	return nil
}

// JSON returns the canonical JSON encoding of the space (stable field order,
// no whitespace), the form stored in checkpoints and models.
func (s *Space) JSON() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic("space: marshal: " + err.Error()) // plain structs of ints and strings cannot fail
	}
	return b
}

// Fingerprint is a short hash of the canonical JSON: two files that describe
// the same space (whatever their formatting) have the same fingerprint.
func (s *Space) Fingerprint() string {
	sum := sha256.Sum256(s.JSON())
	return hex.EncodeToString(sum[:8])
}

// Equal reports whether two spaces describe the same choices.
func (s *Space) Equal(o *Space) bool { return bytes.Equal(s.JSON(), o.JSON()) }

// NumStages is N, the number of MBConv stages.
func (s *Space) NumStages() int { return len(s.Stages) }

// VectorLen is the length of an Arch vector: 3 + 4N.
func (s *Space) VectorLen() int { return 3 + 4*len(s.Stages) }

// Size is the number of distinct architectures in the space.
func (s *Space) Size() *big.Int {
	n := big.NewInt(int64(len(s.Resolutions) * len(s.FirstConv.C) * len(s.LastConv.C)))
	for _, st := range s.Stages {
		n.Mul(n, big.NewInt(int64(len(st.C)*len(st.D)*len(st.K)*len(st.T))))
	}
	return n
}

// Dimension describes one gene of the Arch vector: its name and choices.
type Dimension struct {
	Name    string `json:"name"`    // e.g. "resolution", "width.mb2", "depth.mb2"
	Choices []int  `json:"choices"` // sorted ascending
}

// Dimensions lists the genes of the Arch vector in vector order, for
// samplers, mutation and feature encoders.
func (s *Space) Dimensions() []Dimension {
	dims := make([]Dimension, 0, s.VectorLen())
	add := func(name string, vs []int) {
		c := slices.Clone(vs)
		slices.Sort(c)
		dims = append(dims, Dimension{Name: name, Choices: c})
	}
	add("resolution", s.Resolutions)
	add("width.first_conv", s.FirstConv.C)
	for _, st := range s.Stages {
		add("width."+st.Name, st.C)
	}
	add("width.last_conv", s.LastConv.C)
	for _, st := range s.Stages {
		add("depth."+st.Name, st.D)
	}
	for _, st := range s.Stages {
		add("kernel."+st.Name, st.K)
	}
	for _, st := range s.Stages {
		add("expand."+st.Name, st.T)
	}
	return dims
}
