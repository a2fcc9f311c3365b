package space

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Arch names one subnet of a space. Its vector form
//
//	[r, w_stem, w_stage1..w_stageN, w_head, d_1..d_N, k_1..k_N, t_1..t_N]
//
// is the key of evaluations, the predictor's features and the evolution
// genome (ALGORITHM.md section 2).
type Arch struct {
	Resolution int
	StemWidth  int
	Widths     []int // output width of each stage
	HeadWidth  int
	Depths     []int // blocks in each stage
	Kernels    []int // depthwise kernel size of each stage
	Expands    []int // expand ratio of each stage
}

// Vector returns the fixed-length integer encoding of a.
func (a Arch) Vector() []int {
	v := make([]int, 0, 3+4*len(a.Widths))
	v = append(v, a.Resolution, a.StemWidth)
	v = append(v, a.Widths...)
	v = append(v, a.HeadWidth)
	v = append(v, a.Depths...)
	v = append(v, a.Kernels...)
	v = append(v, a.Expands...)
	return v
}

// Vector32 is Vector as int32, the Parquet column type.
func (a Arch) Vector32() []int32 {
	v := a.Vector()
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// String formats a as its vector, e.g. "[32 16 12 24 32 48 192 2 3 3 3 5 5 5 5 1 6 6 6]".
func (a Arch) String() string { return fmt.Sprint(a.Vector()) }

// Key is a compact string form of the vector, usable as a map or Beam key.
func (a Arch) Key() string {
	var b strings.Builder
	for i, x := range a.Vector() {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// Equal reports whether two archs are the same subnet.
func (a Arch) Equal(o Arch) bool { return slices.Equal(a.Vector(), o.Vector()) }

// Clone returns a deep copy of a.
func (a Arch) Clone() Arch {
	return Arch{
		Resolution: a.Resolution, StemWidth: a.StemWidth, HeadWidth: a.HeadWidth,
		Widths: slices.Clone(a.Widths), Depths: slices.Clone(a.Depths),
		Kernels: slices.Clone(a.Kernels), Expands: slices.Clone(a.Expands),
	}
}

// ArchFromVector decodes and validates a vector of this space.
func (s *Space) ArchFromVector(v []int) (Arch, error) {
	if len(v) != s.VectorLen() {
		return Arch{}, &Error{Field: "arch", Msg: fmt.Sprintf("vector %v has %d numbers, expected %d for space %q ([r, w_stem, w_1..w_%d, w_head, d_1..d_%d, k_1..k_%d, t_1..t_%d])",
			v, len(v), s.VectorLen(), s.Name, s.NumStages(), s.NumStages(), s.NumStages(), s.NumStages())}
	}
	n := s.NumStages()
	a := Arch{
		Resolution: v[0],
		StemWidth:  v[1],
		Widths:     slices.Clone(v[2 : 2+n]),
		HeadWidth:  v[2+n],
		Depths:     slices.Clone(v[3+n : 3+2*n]),
		Kernels:    slices.Clone(v[3+2*n : 3+3*n]),
		Expands:    slices.Clone(v[3+3*n : 3+4*n]),
	}
	if err := s.Validate(a); err != nil {
		return Arch{}, err
	}
	return a, nil
}

// ParseArch reads an arch written as its Key ("24-8-8-16-...", the form the
// tool prints) or as a JSON list ("[24,8,8,16,...]", spaces allowed) and
// validates it against the space.
func (s *Space) ParseArch(text string) (Arch, error) {
	t := strings.TrimSpace(text)
	var parts []string
	switch {
	case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
		parts = strings.Split(t[1:len(t)-1], ",")
	case strings.Contains(t, "-") || t != "" && !strings.ContainsAny(t, " ,"):
		parts = strings.Split(t, "-")
	default:
		parts = []string{t}
	}
	v := make([]int, len(parts))
	for i, p := range parts {
		x, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || x < 0 {
			return Arch{}, &Error{Field: "arch", Msg: fmt.Sprintf("%q: number %d is %q, not a non-negative integer; expected %d numbers as 24-8-8-... (an arch key) or [24,8,8,...] (JSON)",
				text, i+1, strings.TrimSpace(p), s.VectorLen())}
		}
		v[i] = x
	}
	return s.ArchFromVector(v)
}

// ArchFromVector32 is ArchFromVector for the int32 Parquet column form.
func (s *Space) ArchFromVector32(v []int32) (Arch, error) {
	w := make([]int, len(v))
	for i, x := range v {
		w[i] = int(x)
	}
	return s.ArchFromVector(w)
}

// Validate reports whether every gene of a is one of the space's choices.
func (s *Space) Validate(a Arch) error {
	n := s.NumStages()
	if len(a.Widths) != n || len(a.Depths) != n || len(a.Kernels) != n || len(a.Expands) != n {
		return &Error{Field: "arch", Msg: fmt.Sprintf("%d/%d/%d/%d widths/depths/kernels/expands, expected %d stages",
			len(a.Widths), len(a.Depths), len(a.Kernels), len(a.Expands), n)}
	}
	check := func(field string, v int, choices []int) error {
		if !slices.Contains(choices, v) {
			return &Error{Field: "arch." + field, Msg: fmt.Sprintf("%d is not a choice of the space (expected one of %v)", v, choices)}
		}
		return nil
	}
	if err := check("resolution", a.Resolution, s.Resolutions); err != nil {
		return err
	}
	if err := check("width.first_conv", a.StemWidth, s.FirstConv.C); err != nil {
		return err
	}
	for i, st := range s.Stages {
		if err := check("width."+st.Name, a.Widths[i], st.C); err != nil {
			return err
		}
		if err := check("depth."+st.Name, a.Depths[i], st.D); err != nil {
			return err
		}
		if err := check("kernel."+st.Name, a.Kernels[i], st.K); err != nil {
			return err
		}
		if err := check("expand."+st.Name, a.Expands[i], st.T); err != nil {
			return err
		}
	}
	return check("width.last_conv", a.HeadWidth, s.LastConv.C)
}

// Min is the smallest subnet: the smallest choice of every gene.
func (s *Space) Min() Arch { return s.pick(func(c []int) int { return slices.Min(c) }) }

// Max is the largest subnet: the largest choice of every gene.
func (s *Space) Max() Arch { return s.pick(func(c []int) int { return slices.Max(c) }) }

// Random draws every gene uniformly from its choices, as the reference's
// sample_active_subnet does.
func (s *Space) Random(rng *rand.Rand) Arch {
	return s.pick(func(c []int) int { return c[rng.IntN(len(c))] })
}

func (s *Space) pick(f func([]int) int) Arch {
	n := s.NumStages()
	a := Arch{
		Resolution: f(s.Resolutions),
		StemWidth:  f(s.FirstConv.C),
		HeadWidth:  f(s.LastConv.C),
		Widths:     make([]int, n),
		Depths:     make([]int, n),
		Kernels:    make([]int, n),
		Expands:    make([]int, n),
	}
	for i, st := range s.Stages {
		a.Widths[i] = f(st.C)
		a.Depths[i] = f(st.D)
		a.Kernels[i] = f(st.K)
		a.Expands[i] = f(st.T)
	}
	return a
}
