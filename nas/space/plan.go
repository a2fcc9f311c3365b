package space

import (
	"math"
	"slices"
)

// Plan is the static description of one subnet: every layer's channels,
// kernel, stride and feature-map size, without weights. The supernet, the
// plain-Go inference and the cost model all walk the same Plan, so they
// cannot disagree about what a subnet is (style rule 8's SubnetConfig).
type Plan struct {
	Arch       Arch
	InChannels int // image channels
	Resolution int // r: the input is resized to r x r
	Stem       ConvPlan
	Blocks     []BlockPlan // active blocks in order
	Head       HeadPlan
	Act        Activation
}

// ConvPlan is a dense convolution (the stem).
type ConvPlan struct {
	Cin, Cout, K, Stride int
	InSize, OutSize      int // square feature maps
}

// BlockPlan is one MBConv block (ALGORITHM.md section 2).
type BlockPlan struct {
	Stage, Index int // stage number and block position inside the stage
	Cin, Cout    int
	Mid          int  // hidden width
	Expand       bool // has the 1x1 expand conv (false when the stage's max t is 1)
	K, Stride    int
	SE           bool
	SEMid        int // squeeze-excite hidden width (0 without SE)
	InSize       int
	OutSize      int
	// Residual: identity when ShortcutPool and ShortcutConv are both false.
	ShortcutPool bool // 2x2 average pool (stride 2)
	ShortcutConv bool // bias-free 1x1 conv (Cin != Cout)
}

// HeadPlan is the MobileNetV3 head: 1x1 conv Cin -> Expanded + BN + act,
// global average pool, linear Expanded -> Width (+ bias) + act, dropout
// (largest subnet in training only), linear Width -> Classes (+ bias).
type HeadPlan struct {
	Cin, Expanded, Width, Classes int
	Size                          int // feature-map size entering the head
}

// MakeDivisible rounds v to the nearest multiple of 8 (at least 8), adding
// 8 when that loses more than 10% of v; the reference's make_divisible(v, 8).
func MakeDivisible(v float64) int {
	const d = 8
	n := int(v+d/2) / d * d
	if n < d {
		n = d
	}
	if float64(n) < 0.9*v {
		n += d
	}
	return n
}

// MidChannels is the hidden width of an MBConv block with cin inputs and
// expand ratio t: make_divisible(round(cin*t), 8), or cin when the stage has
// no expand conv.
func MidChannels(cin, t int, expand bool) int {
	if !expand {
		return cin
	}
	return MakeDivisible(math.Round(float64(cin * t)))
}

// SEChannels is the squeeze-excite hidden width: make_divisible(mid/4, 8)
// with integer division, as the reference's DynamicSE.
func SEChannels(mid int) int { return MakeDivisible(float64(mid / 4)) }

// convOut is the output size of a "same"-padded odd-kernel conv: ceil(n/s).
func convOut(n, stride int) int { return (n + stride - 1) / stride }

// hasExpand reports whether stage i has the 1x1 expand conv: only when its
// largest expand ratio exceeds 1, as in the reference's DynamicMBConvLayer.
func (s *Space) hasExpand(i int) bool {
	for _, t := range s.Stages[i].T {
		if t > 1 {
			return true
		}
	}
	return false
}

// Plan lays out the subnet a. a must be valid (see Validate).
func (s *Space) Plan(a Arch) Plan {
	p := Plan{Arch: a, InChannels: s.Input.Channels, Resolution: a.Resolution, Act: s.Activation}
	size := convOut(a.Resolution, s.FirstConv.S)
	p.Stem = ConvPlan{Cin: s.Input.Channels, Cout: a.StemWidth, K: s.FirstConv.K, Stride: s.FirstConv.S,
		InSize: a.Resolution, OutSize: size}
	cin := a.StemWidth
	for i, st := range s.Stages {
		expand := s.hasExpand(i)
		for j := 0; j < a.Depths[i]; j++ {
			stride := 1
			if j == 0 {
				stride = st.S
			}
			b := BlockPlan{Stage: i, Index: j, Cin: cin, Cout: a.Widths[i], Expand: expand,
				K: a.Kernels[i], Stride: stride, SE: st.SE, InSize: size, OutSize: convOut(size, stride)}
			b.Mid = MidChannels(cin, a.Expands[i], expand)
			if b.SE {
				b.SEMid = SEChannels(b.Mid)
			}
			b.ShortcutPool = stride > 1
			b.ShortcutConv = cin != b.Cout
			p.Blocks = append(p.Blocks, b)
			cin, size = b.Cout, b.OutSize
		}
	}
	p.Head = HeadPlan{Cin: cin, Expanded: cin * s.LastConv.Expand, Width: a.HeadWidth, Classes: s.Classes, Size: size}
	return p
}

// FLOPs counts the multiply-accumulates per image of the convolutions and
// linear layers of a (BN, activations, pooling and adds are free), the
// reference's "MFLOPs" unit (ALGORITHM.md section 3).
func (s *Space) FLOPs(a Arch) int64 { return s.Plan(a).FLOPs() }

// Params counts the learnable scalars of the subnet a.
func (s *Space) Params(a Arch) int64 { return s.Plan(a).Params() }

// FLOPs counts MACs per image; see Space.FLOPs.
func (p Plan) FLOPs() int64 {
	sq := func(n int) int64 { return int64(n) * int64(n) }
	st := p.Stem
	f := int64(st.Cin*st.Cout*st.K*st.K) * sq(st.OutSize)
	for _, b := range p.Blocks {
		if b.Expand {
			f += int64(b.Cin*b.Mid) * sq(b.InSize)
		}
		f += int64(b.Mid*b.K*b.K) * sq(b.OutSize)
		if b.SE {
			f += int64(2 * b.Mid * b.SEMid)
		}
		f += int64(b.Mid*b.Cout) * sq(b.OutSize)
		if b.ShortcutConv {
			f += int64(b.Cin*b.Cout) * sq(b.OutSize)
		}
	}
	h := p.Head
	f += int64(h.Cin*h.Expanded)*sq(h.Size) + int64(h.Expanded*h.Width) + int64(h.Width*h.Classes)
	return f
}

// Params counts every learnable scalar of the subnet: conv and linear
// weights, biases, and BN scale and shift.
func (p Plan) Params() int64 {
	st := p.Stem
	n := st.Cin*st.Cout*st.K*st.K + 2*st.Cout
	for _, b := range p.Blocks {
		if b.Expand {
			n += b.Cin*b.Mid + 2*b.Mid
		}
		n += b.Mid*b.K*b.K + 2*b.Mid
		if b.SE {
			n += b.Mid*b.SEMid + b.SEMid + b.SEMid*b.Mid + b.Mid
		}
		n += b.Mid*b.Cout + 2*b.Cout
		if b.ShortcutConv {
			n += b.Cin * b.Cout
		}
	}
	h := p.Head
	n += h.Cin*h.Expanded + 2*h.Expanded
	n += h.Expanded*h.Width + h.Width
	n += h.Width*h.Classes + h.Classes
	return int64(n)
}

// BlockSlot is the storage shape of one block position of the supernet: the
// largest value each dimension takes over every subnet that runs the block.
type BlockSlot struct {
	Stage, Index int
	MaxCin       int
	MaxCout      int
	MaxMid       int
	MaxK         int
	MaxSEMid     int  // 0 when the stage has no squeeze-excite
	Expand       bool // the block has an expand conv
	ShortcutConv bool // some subnet needs the 1x1 shortcut conv here
}

// Slots lists the block positions of the supernet in order, with the
// maximum shapes the weight store must hold.
func (s *Space) Slots() []BlockSlot {
	var slots []BlockSlot
	ins := s.FirstConv.C // possible input widths of the next block
	for i, st := range s.Stages {
		expand := s.hasExpand(i)
		for j := 0; j < slices.Max(st.D); j++ {
			b := BlockSlot{Stage: i, Index: j, MaxCin: slices.Max(ins), MaxCout: slices.Max(st.C),
				MaxK: slices.Max(st.K), Expand: expand}
			for _, cin := range ins {
				for _, t := range st.T {
					mid := MidChannels(cin, t, expand)
					b.MaxMid = max(b.MaxMid, mid)
					if st.SE {
						b.MaxSEMid = max(b.MaxSEMid, SEChannels(mid))
					}
				}
				for _, cout := range st.C {
					if cin != cout {
						b.ShortcutConv = true
					}
				}
			}
			slots = append(slots, b)
			ins = st.C
		}
	}
	return slots
}

// SlotIndex returns the position in Slots of block j of stage i.
func (s *Space) SlotIndex(stage, index int) int {
	n := 0
	for i := 0; i < stage; i++ {
		n += slices.Max(s.Stages[i].D)
	}
	return n + index
}

// MaxHead returns the largest head input width, expanded width and head
// width over the space, the storage shape of the head.
func (s *Space) MaxHead() (cin, expanded, width int) {
	cin = slices.Max(s.Stages[len(s.Stages)-1].C)
	return cin, cin * s.LastConv.Expand, slices.Max(s.LastConv.C)
}
