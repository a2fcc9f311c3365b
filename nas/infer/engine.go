package infer

import (
	"fmt"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Stats holds the BatchNorm statistics of one subnet: per BN layer, in
// forward order (stem, then per block its expand, depthwise and project BN,
// then the head's expand BN), the per-channel mean and biased variance of
// the layer's input. Recalibrate returns one; Engine.Forward uses it in
// given-statistics mode and Fold folds it into a Model. A Stats value is
// valid for its Arch only.
//
// See also: Recalibrate, Fold, ALGORITHM.md section 7.
type Stats struct {
	Arch   space.Arch
	Images int          // calibration images the statistics were computed over
	Layers []LayerStats // one per BN layer, in forward order
}

// LayerStats is one BN layer's statistics over the calibration set.
type LayerStats struct {
	// Name is the supernet parameter prefix of the layer, e.g. "stem.bn",
	// "blocks.3.expand.bn", "blocks.3.dw.bn", "blocks.3.project.bn" or
	// "head.expand.bn" (3 is the slot index, space.Space.SlotIndex).
	Name string
	Mean []float32 // [C]
	Var  []float32 // [C], biased (divided by the pixel count)
}

// check reports whether s fits the BN layers of n.
func (s *Stats) check(n *net) error {
	if !archEqual(s.Arch, n.plan.Arch) {
		return fmt.Errorf("infer: statistics are for subnet %v, not %v", s.Arch, n.plan.Arch)
	}
	if len(s.Layers) != len(n.bn) {
		return fmt.Errorf("infer: statistics have %d BN layers, subnet %v has %d", len(s.Layers), n.plan.Arch, len(n.bn))
	}
	for i, b := range n.bn {
		l := &s.Layers[i]
		if len(l.Mean) != b.c || len(l.Var) != b.c {
			return fmt.Errorf("infer: statistics of BN layer %d (%s) have %d means and %d variances, expected %d",
				i, b.name, len(l.Mean), len(l.Var), b.c)
		}
	}
	return nil
}

// archEqual compares two archs without allocating.
func archEqual(a, b space.Arch) bool {
	return a.Resolution == b.Resolution && a.StemWidth == b.StemWidth && a.HeadWidth == b.HeadWidth &&
		slices.Equal(a.Widths, b.Widths) && slices.Equal(a.Depths, b.Depths) &&
		slices.Equal(a.Kernels, b.Kernels) && slices.Equal(a.Expands, b.Expands)
}

// Engine runs subnets of a supernet directly over its max-shape tensors:
// every weight is a view (leading slice with the tensor's own leading
// dimension, centre crop of the depthwise kernel), nothing is copied, so an
// in-place weight update is seen by the next Forward. The Engine owns
// activation buffers that grow to the largest batch and subnet seen and are
// then reused: Forward allocates nothing once warm (apart from laying out a
// new Arch, a few hundred bytes).
//
// An Engine is not safe for concurrent use; goroutines sharing one supernet
// each use their own Engine (style rule 7: the Arch is passed in, the
// supernet holds no per-subnet state).
//
// See also: Model (BN folded, standalone), Recalibrate, MinibatchLoss.
type Engine struct {
	sn   *supernet.Supernet
	ws   workspace
	arch space.Arch // arch of net
	net  *net
	mode bnMode
}

// NewEngine returns an engine over sn's tensors. sn must not be nil.
func NewEngine(sn *supernet.Supernet) *Engine { return &Engine{sn: sn} }

// netFor returns the views of arch, reusing the last layout when arch has
// not changed.
func (e *Engine) netFor(arch space.Arch) (*net, error) {
	if e.net != nil && archEqual(e.arch, arch) {
		return e.net, nil
	}
	n, err := viewNet(e.sn, arch)
	if err != nil {
		return nil, err
	}
	e.net, e.arch = n, arch.Clone()
	return n, nil
}

// Forward computes the logits of subnet arch for a batch.
//
// Input: x[B, S, S, Cin], B normalised NHWC images at the space's native size
// (resized to the Arch resolution with bilinear interpolation,
// align_corners=False). Output: logits[B, classes] (overwritten).
//
// BatchNorm mode: with stats == nil, every BN layer normalises with the
// statistics of the current batch (training mode, biased variance, eps
// BNEps; ALGORITHM.md section 4), as the training graph does; otherwise with
// the given per-layer mean and variance (stats must be for arch).
// Dropout is never applied.
//
// Errors: an arch that is not in the space, statistics for another subnet,
// or short slices.
func (e *Engine) Forward(logits, x []float32, B int, arch space.Arch, stats *Stats) error {
	n, err := e.netFor(arch)
	if err != nil {
		return err
	}
	if stats != nil {
		if err := stats.check(n); err != nil {
			return err
		}
	}
	if err := checkIO(n, logits, x, B); err != nil {
		return err
	}
	e.mode = bnMode{stats: stats}
	e.ws.forward(n, &e.mode, logits, x, B)
	return nil
}

// checkIO validates the batch size and slice lengths of a forward pass.
func checkIO(n *net, logits, x []float32, B int) error {
	p := n.plan
	in := n.inSize * n.inSize * p.InChannels
	switch {
	case B < 0:
		return fmt.Errorf("infer: negative batch size %d", B)
	case len(x) < B*in:
		return fmt.Errorf("infer: input has %d values, need %d for %d images of %dx%dx%d", len(x), B*in, B, n.inSize, n.inSize, p.InChannels)
	case len(logits) < B*p.Head.Classes:
		return fmt.Errorf("infer: logits have %d values, need %d (%d images x %d classes)", len(logits), B*p.Head.Classes, B, p.Head.Classes)
	}
	return nil
}
