package predictor

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
)

// EncoderOptions chooses the derived features an Encoder appends after the
// raw genes. The zero value is raw genes only.
//
// Whether they help was measured (TestDerivedFeatures, on the synthetic
// benchmark of the tests: 1,000 uniform pairs of the reference space, 2,000
// test pairs, three seeds). MFLOPs raises the forest's held-out Kendall tau
// from 0.615 to 0.679, gradient boosting's from 0.693 to 0.704 and
// ridge's from 0.662 to 0.679: trees need many splits to rebuild a smooth
// function of compute from 19 genes, and one split on MFLOPs does it. MParams
// adds about 0.01 for ridge (a second, non-linear size summary) and nothing
// for trees. Both are kept by default (DefaultEncoderOptions). Caveat: the
// synthetic accuracy is built from log FLOPs, which flatters the MFLOPs
// feature; real supernets are also dominated by compute, which is why
// AttentiveNAS bins architectures by FLOPs in the first place.
type EncoderOptions struct {
	// FLOPs appends Space.FLOPs(a)/1e6 (MMACs per image, the "MFLOPs" of
	// ALGORITHM.md section 3) as a feature named "mflops".
	FLOPs bool `json:"flops"`
	// Params appends Space.Params(a)/1e6 as a feature named "mparams".
	Params bool `json:"params"`
}

// DefaultEncoderOptions returns the options the predictor stage uses: the
// raw genes plus MFLOPs and MParams (see EncoderOptions for the measurements).
func DefaultEncoderOptions() EncoderOptions { return EncoderOptions{FLOPs: true, Params: true} }

// Encoder maps an Arch of one space to the predictor's feature vector and
// back. The features are
//
//	[r, w_stem, w_1..w_N, w_head, d_1..d_N, k_1..k_N, t_1..t_N, (mflops), (mparams)]
//
// that is the Arch vector (ALGORITHM.md section 2) as float64, optionally
// followed by the derived features of EncoderOptions. Trees split on the raw
// gene values directly; Ridge one-hot encodes them itself, so one feature
// layout serves every Model kind.
//
// An Encoder is immutable and safe for concurrent use.
//
// See also the reference's arch_encoder.py in mit-han-lab/once-for-all
// (arch2feature / feature2arch), which this mirrors (style rule 9).
type Encoder struct {
	sp    *space.Space
	opt   EncoderOptions
	dims  []space.Dimension // genes in vector order, choices sorted
	names []string
}

// NewEncoder returns the encoder of sp with the derived features of opt.
// It fails only when sp is nil.
func NewEncoder(sp *space.Space, opt EncoderOptions) (*Encoder, error) {
	if sp == nil {
		return nil, errors.New("predictor: NewEncoder: nil space")
	}
	e := &Encoder{sp: sp, opt: opt, dims: sp.Dimensions()}
	for _, d := range e.dims {
		e.names = append(e.names, d.Name)
	}
	if opt.FLOPs {
		e.names = append(e.names, "mflops")
	}
	if opt.Params {
		e.names = append(e.names, "mparams")
	}
	return e, nil
}

// Space returns the space the encoder was built for.
func (e *Encoder) Space() *space.Space { return e.sp }

// Options returns the derived features the encoder appends.
func (e *Encoder) Options() EncoderOptions { return e.opt }

// NumFeatures is the length of a feature vector: VectorLen() genes plus one
// per derived feature.
func (e *Encoder) NumFeatures() int { return len(e.names) }

// NumGenes is the length of the raw-gene prefix of a feature vector, the
// space's VectorLen().
func (e *Encoder) NumGenes() int { return len(e.dims) }

// Names returns the name of each feature, e.g. "resolution",
// "width.mb2", ..., "mflops". The caller may modify the slice.
func (e *Encoder) Names() []string { return slices.Clone(e.names) }

// Encode returns the feature vector of a, or an error when a is not an Arch
// of the encoder's space.
//
// See also EncodeInto, which reuses a buffer.
func (e *Encoder) Encode(a space.Arch) ([]float64, error) {
	f := make([]float64, e.NumFeatures())
	if err := e.EncodeInto(f, a); err != nil {
		return nil, err
	}
	return f, nil
}

// EncodeInto writes the feature vector of a into dst, which must have
// exactly NumFeatures entries. It validates a against the space. Derived
// features are computed by laying out the subnet (space.Space.Plan), which
// allocates; with raw genes only, or through EncodeWithCosts, encoding does
// not allocate.
func (e *Encoder) EncodeInto(dst []float64, a space.Arch) error {
	var flops, params int64
	if err := e.encodeGenes(dst, a); err != nil {
		return err
	}
	if e.opt.FLOPs || e.opt.Params {
		p := e.sp.Plan(a)
		flops, params = p.FLOPs(), p.Params()
	}
	e.encodeCosts(dst, flops, params)
	return nil
}

// EncodeWithCosts is EncodeInto with the subnet's FLOPs and parameter count
// supplied by the caller (space.Space.FLOPs and Params of a), who usually
// has them already: the attentive sampler draws candidates by FLOPs bin and
// evolution checks the FLOPs window. It never allocates, so scoring k
// candidates per training step makes no garbage. Costs the options do not
// use are ignored.
func (e *Encoder) EncodeWithCosts(dst []float64, a space.Arch, flops, params int64) error {
	if err := e.encodeGenes(dst, a); err != nil {
		return err
	}
	e.encodeCosts(dst, flops, params)
	return nil
}

// encodeGenes checks dst and a and writes the raw genes.
func (e *Encoder) encodeGenes(dst []float64, a space.Arch) error {
	if len(dst) != e.NumFeatures() {
		return fmt.Errorf("predictor: encode: dst has %d entries, want %d features", len(dst), e.NumFeatures())
	}
	n := e.sp.NumStages()
	if len(a.Widths) != n || len(a.Depths) != n || len(a.Kernels) != n || len(a.Expands) != n {
		return fmt.Errorf("predictor: encode: arch has %d/%d/%d/%d widths/depths/kernels/expands, space %q has %d stages",
			len(a.Widths), len(a.Depths), len(a.Kernels), len(a.Expands), e.sp.Name, n)
	}
	// Vector order without building the vector: [r, w_stem, w_1..w_N, w_head, d.., k.., t..].
	dst[0], dst[1], dst[2+n] = float64(a.Resolution), float64(a.StemWidth), float64(a.HeadWidth)
	for i := range n {
		dst[2+i] = float64(a.Widths[i])
		dst[3+n+i] = float64(a.Depths[i])
		dst[3+2*n+i] = float64(a.Kernels[i])
		dst[3+3*n+i] = float64(a.Expands[i])
	}
	for g, d := range e.dims {
		if !slices.Contains(d.Choices, int(dst[g])) {
			return fmt.Errorf("predictor: encode: %s = %d is not a choice of space %q (expected one of %v)",
				d.Name, int(dst[g]), e.sp.Name, d.Choices)
		}
	}
	return nil
}

// encodeCosts writes the derived features after the genes.
func (e *Encoder) encodeCosts(dst []float64, flops, params int64) {
	i := len(e.dims)
	if e.opt.FLOPs {
		dst[i] = float64(flops) / 1e6
		i++
	}
	if e.opt.Params {
		dst[i] = float64(params) / 1e6
	}
}

// EncodeVector is Encode for an Arch vector (the int form stored in
// Parquet); it validates v with space.Space.ArchFromVector.
func (e *Encoder) EncodeVector(v []int) ([]float64, error) {
	a, err := e.sp.ArchFromVector(v)
	if err != nil {
		return nil, err
	}
	return e.Encode(a)
}

// Decode inverts Encode: it reads the raw-gene prefix of features back into
// an Arch of the space. Each gene must be an integral value that is one of
// its choices. The derived features, if any, carry no information an Arch
// does not, so Decode only checks that they are present; it does not compare
// them with recomputed ones (they may have been stored in lower precision).
func (e *Encoder) Decode(features []float64) (space.Arch, error) {
	if len(features) != e.NumFeatures() {
		return space.Arch{}, fmt.Errorf("predictor: decode: %d features, want %d (%d genes + derived %+v)",
			len(features), e.NumFeatures(), e.NumGenes(), e.opt)
	}
	v := make([]int, e.NumGenes())
	for g := range v {
		x := features[g]
		if x != math.Trunc(x) || math.Abs(x) > 1<<31 {
			return space.Arch{}, fmt.Errorf("predictor: decode: feature %d (%s) = %v is not an integral gene value",
				g, e.names[g], x)
		}
		v[g] = int(x)
	}
	return e.sp.ArchFromVector(v)
}
