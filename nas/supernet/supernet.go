// Package supernet holds the weights of an AttentiveNAS weight-sharing
// supernet: one tensor per layer at the largest shape of the search space,
// from which every subnet takes leading slices (first channels), the centre
// k x k of the largest depthwise kernel and the first d blocks of each stage
// (ALGORITHM.md section 4). It also owns the optimiser (SGD with Nesterov
// momentum), the learning-rate schedule and the checkpoint encoding.
//
// Layouts (the kernels in nas/kernels rely on them):
//
//	stem conv        [k*k*Cin, StemMax]        rows in (kh, kw, cin) order
//	1x1 conv         [CinMax, CoutMax]         a subnet uses W[:cin, :cout]
//	depthwise conv   [Kmax, Kmax, MidMax]      a subnet uses the centre k x k, first mid channels
//	BN gamma, beta   [Cmax]
//	SE reduce        [MidMax, SEMax] + bias [SEMax]; expand [SEMax, MidMax] + bias [MidMax]
//	head mix         [ExpandedMax, HeadMax] + bias; classifier [HeadMax, Classes] + bias
//
// The training graph (nas/trainer) and the plain-Go inference (nas/infer)
// read these tensors; neither keeps hidden per-subnet state.
package supernet

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Param is one learnable tensor at its maximum shape, with its gradient
// accumulator and optimiser state. Its slices are windows of its Group's.
type Param struct {
	Name   string
	Shape  []int
	W      []float32 // values
	G      []float32 // gradient, accumulated over the subnets of a step
	M      []float32 // momentum buffer
	Decay  bool      // weight decay applies: conv and linear weights only
	Offset int       // position of W in its group's W
}

// Len is the number of scalars in p.
func (p *Param) Len() int { return len(p.W) }

// Group is the tensors of one layer of the training graph (the stem, one
// block, the head) stored back to back: the trainer binds a group as one
// gorgonia node, so a subnet's graph has one parameter node per layer.
type Group struct {
	Name    string
	Params  []*Param
	W, G, M []float32 // every Param's W, G and M are windows of these
}

// ConvBN is a convolution followed by BatchNorm: a 1x1 conv [CinMax, CoutMax]
// or the stem's dense conv [k*k*Cin, CoutMax].
type ConvBN struct {
	W, Gamma, Beta *Param
}

// DepthwiseBN is a depthwise conv [Kmax, Kmax, MidMax] followed by BatchNorm.
type DepthwiseBN struct {
	W, Gamma, Beta *Param
}

// SE is squeeze-excite: reduce [MidMax, SEMax] + bias, ReLU, expand
// [SEMax, MidMax] + bias, hard sigmoid.
type SE struct {
	ReduceW, ReduceB, ExpandW, ExpandB *Param
}

// Block is one MBConv block position of the supernet.
type Block struct {
	Slot     space.BlockSlot
	Expand   *ConvBN // nil when the stage has no expand conv
	DW       DepthwiseBN
	SE       *SE // nil without squeeze-excite
	Project  ConvBN
	Shortcut *Param // bias-free 1x1 conv [CinMax, CoutMax]; nil when never needed
}

// Head is the MobileNetV3 head and the classifier.
type Head struct {
	Expand                   ConvBN // [CinMax, ExpandedMax]
	MixW, MixB               *Param // [ExpandedMax, HeadMax], [HeadMax]
	ClassifierW, ClassifierB *Param // [HeadMax, Classes], [Classes]
}

// Supernet is the shared weight store of every subnet of a space.
type Supernet struct {
	Space  *space.Space
	Stem   ConvBN
	Blocks []Block // in space.Slots order
	Head   Head
	Params []*Param // every tensor, in a fixed order with unique names
	Groups []Group  // the stem, each block, the head: Params partitioned in order
}

// New allocates the supernet of sp and initialises it from seed alone
// (InitWeights).
func New(sp *space.Space, seed uint64) *Supernet {
	s := &Supernet{Space: sp}
	var group []*Param
	add := func(name string, decay bool, shape ...int) *Param {
		p := &Param{Name: name, Shape: shape, Decay: decay}
		s.Params = append(s.Params, p)
		group = append(group, p)
		return p
	}
	endGroup := func(name string) {
		s.Groups = append(s.Groups, newGroup(name, group))
		group = nil
	}
	convBN := func(prefix string, rows, cols int) ConvBN {
		return ConvBN{W: add(prefix+".conv", true, rows, cols),
			Gamma: add(prefix+".bn.gamma", false, cols), Beta: add(prefix+".bn.beta", false, cols)}
	}
	fc := sp.FirstConv
	s.Stem = convBN("stem", fc.K*fc.K*sp.Input.Channels, maxOf(fc.C))
	endGroup("stem")
	for i, sl := range sp.Slots() {
		pre := fmt.Sprintf("blocks.%d", i)
		b := Block{Slot: sl}
		if sl.Expand {
			e := convBN(pre+".expand", sl.MaxCin, sl.MaxMid)
			b.Expand = &e
		}
		b.DW = DepthwiseBN{W: add(pre+".dw.conv", true, sl.MaxK, sl.MaxK, sl.MaxMid),
			Gamma: add(pre+".dw.bn.gamma", false, sl.MaxMid), Beta: add(pre+".dw.bn.beta", false, sl.MaxMid)}
		if sl.MaxSEMid > 0 {
			b.SE = &SE{
				ReduceW: add(pre+".se.reduce.w", true, sl.MaxMid, sl.MaxSEMid),
				ReduceB: add(pre+".se.reduce.b", false, sl.MaxSEMid),
				ExpandW: add(pre+".se.expand.w", true, sl.MaxSEMid, sl.MaxMid),
				ExpandB: add(pre+".se.expand.b", false, sl.MaxMid),
			}
		}
		b.Project = convBN(pre+".project", sl.MaxMid, sl.MaxCout)
		if sl.ShortcutConv {
			b.Shortcut = add(pre+".shortcut.conv", true, sl.MaxCin, sl.MaxCout)
		}
		s.Blocks = append(s.Blocks, b)
		endGroup(pre)
	}
	cin, expanded, width := sp.MaxHead()
	s.Head.Expand = convBN("head.expand", cin, expanded)
	s.Head.MixW = add("head.mix.w", true, expanded, width)
	s.Head.MixB = add("head.mix.b", false, width)
	s.Head.ClassifierW = add("classifier.w", true, width, sp.Classes)
	s.Head.ClassifierB = add("classifier.b", false, sp.Classes)
	endGroup("head")
	s.InitWeights(seed)
	return s
}

// newGroup allocates the storage of params back to back.
func newGroup(name string, params []*Param) Group {
	n := 0
	for _, p := range params {
		p.Offset = n
		l := 1
		for _, d := range p.Shape {
			l *= d
		}
		n += l
	}
	g := Group{Name: name, Params: params, W: make([]float32, n), G: make([]float32, n), M: make([]float32, n)}
	for i, p := range params {
		end := n
		if i+1 < len(params) {
			end = params[i+1].Offset
		}
		p.W, p.G, p.M = g.W[p.Offset:end:end], g.G[p.Offset:end:end], g.M[p.Offset:end:end]
	}
	return g
}

func maxOf(vs []int) int {
	m := vs[0]
	for _, v := range vs[1:] {
		m = max(m, v)
	}
	return m
}

// InitWeights sets every tensor from seed alone, as the reference (OFA's
// init_model) does: convolutions He-normal with fan_out = cout*k*k;
// linear layers uniform in +-1/sqrt(fan_in) with zero bias; BN gamma 1 and
// beta 0; then the last BN gamma of every block zero, so each block starts
// as its shortcut (ALGORITHM.md section 4). Optimiser state is cleared.
func (s *Supernet) InitWeights(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	normal := func(p *Param, std float64) {
		for i := range p.W {
			p.W[i] = float32(rng.NormFloat64() * std)
		}
	}
	uniform := func(p *Param, bound float64) {
		for i := range p.W {
			p.W[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	fill := func(p *Param, v float32) {
		for i := range p.W {
			p.W[i] = v
		}
	}
	convBN := func(c ConvBN, k int) {
		normal(c.W, math.Sqrt(2/float64(c.W.Shape[1]*k*k)))
		fill(c.Gamma, 1)
		fill(c.Beta, 0)
	}
	convBN(s.Stem, s.Space.FirstConv.K)
	for _, b := range s.Blocks {
		if b.Expand != nil {
			convBN(*b.Expand, 1)
		}
		k := b.Slot.MaxK
		normal(b.DW.W, math.Sqrt(2/float64(b.Slot.MaxMid*k*k)))
		fill(b.DW.Gamma, 1)
		fill(b.DW.Beta, 0)
		if b.SE != nil {
			normal(b.SE.ReduceW, math.Sqrt(2/float64(b.SE.ReduceW.Shape[1])))
			fill(b.SE.ReduceB, 0)
			normal(b.SE.ExpandW, math.Sqrt(2/float64(b.SE.ExpandW.Shape[1])))
			fill(b.SE.ExpandB, 0)
		}
		convBN(b.Project, 1)
		fill(b.Project.Gamma, 0) // zero-init the block's last BN gamma
		if b.Shortcut != nil {
			normal(b.Shortcut, math.Sqrt(2/float64(b.Shortcut.Shape[1])))
		}
	}
	convBN(s.Head.Expand, 1)
	uniform(s.Head.MixW, 1/math.Sqrt(float64(s.Head.MixW.Shape[0])))
	fill(s.Head.MixB, 0)
	uniform(s.Head.ClassifierW, 1/math.Sqrt(float64(s.Head.ClassifierW.Shape[0])))
	fill(s.Head.ClassifierB, 0)
	for _, p := range s.Params {
		clear(p.G)
		clear(p.M)
	}
}

// NumParams is the number of scalars the supernet stores.
func (s *Supernet) NumParams() int {
	n := 0
	for _, p := range s.Params {
		n += p.Len()
	}
	return n
}

// Block returns the weights of block j of stage i.
func (s *Supernet) Block(stage, index int) *Block {
	return &s.Blocks[s.Space.SlotIndex(stage, index)]
}

// ZeroGrad clears every gradient accumulator.
func (s *Supernet) ZeroGrad() {
	for _, p := range s.Params {
		clear(p.G)
	}
}
