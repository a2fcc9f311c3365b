package trainer

import (
	"fmt"
	"math"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
)

// scoreSmoothing is the label smoothing of the minibatch-loss estimator,
// the reference's 0.1 (ALGORITHM.md section 6), as nas/infer's.
const scoreSmoothing = 0.1

// MinibatchLoss is the attentive samplers' minibatch-loss estimator
// (ALGORITHM.md section 6, step 3) on the trainer's own engine: the score of
// a candidate is the label-smoothed cross-entropy of its forward pass on
// the step's minibatch, BatchNorm with the batch's statistics, no
// gradient. It computes what nas/infer's MinibatchLoss computes (to float32
// rounding: TestMinibatchLossMatchesInfer), with every layer split over the
// engine's shards, and the batch resampled to each resolution once per step
// for the scores and the training graphs alike. It implements
// sampler.Estimator and the loop's BatchEstimator.
type MinibatchLoss struct {
	t      *Trainer
	x      []float32
	labels []int
	B      int
	err    error
}

// MinibatchLoss returns the trainer's minibatch-loss estimator.
func (t *Trainer) MinibatchLoss() *MinibatchLoss { return &MinibatchLoss{t: t} }

// Name returns "minibatch_loss" (sampler.EstimatorMinibatchLoss).
func (m *MinibatchLoss) Name() string { return "minibatch_loss" }

// HigherIsBetter returns false: the score is a loss.
func (m *MinibatchLoss) HigherIsBetter() bool { return false }

// SetBatch sets the minibatch the candidates are scored on: the trainer's
// batch size of normalised images at the space's input size, and their
// labels. The slices are kept (not copied): they must hold the batch until
// the step that trains on it.
func (m *MinibatchLoss) SetBatch(x []float32, labels []int, B int) {
	in := m.t.Net.Space.Input
	m.err = nil
	if B != m.t.Cfg.Batch || len(x) < B*in.Height*in.Width*in.Channels || len(labels) < B {
		m.err = fmt.Errorf("trainer: minibatch loss: batch of %d images (%d values, %d labels), expected %d", B, len(x), len(labels), m.t.Cfg.Batch)
		return
	}
	m.x, m.labels, m.B = x, labels, B
	m.t.newBatch(x)
}

// Estimate returns each arch's score (NaN when not finite).
func (m *MinibatchLoss) Estimate(archs []space.Arch) ([]float64, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.B == 0 {
		return nil, fmt.Errorf("trainer: minibatch loss: Estimate before SetBatch")
	}
	t := m.t
	K := t.Net.Space.Classes
	scores := make([]float64, len(archs))
	for i, a := range archs {
		logits, err := t.forward(a, t.batchAt(m.x, a.Resolution))
		if err != nil {
			return nil, err
		}
		l := kernels.SoftmaxCrossEntropy(nil, logits, m.labels, m.B, K, scoreSmoothing)
		if math.IsNaN(l) || math.IsInf(l, 0) {
			l = math.NaN()
		}
		scores[i] = l
	}
	return scores, nil
}

// forward runs subnet a's layers forward on the engine (no graph, no
// gradient) over x, already at a's resolution, and returns its logits,
// valid until the engine's next run.
func (t *Trainer) forward(a space.Arch, x []float32) (logits []float32, err error) {
	net := t.Net
	if err := net.Space.Validate(a); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			logits, err = nil, fmt.Errorf("trainer: forward pass of %v: %v", a, r)
		}
	}()
	p, B, e := net.Space.Plan(a), t.Cfg.Batch, t.e
	layers := []layer[float32]{newStem[float32](net, p, B)}
	groups := []int{0}
	for i, bp := range p.Blocks {
		layers = append(layers, newBlock[float32](net, p, i, B))
		groups = append(groups, 1+net.Space.SlotIndex(bp.Stage, bp.Index))
	}
	layers = append(layers, newHead[float32](net, p, B, 0))
	groups = append(groups, len(net.Groups)-1)
	e.acts.reset()
	h := x
	for i, l := range layers {
		r, c := l.out()
		y := e.acts.alloc(r * c)
		l.forward(e, h, t.groups.w[groups[i]], y)
		h = y
	}
	return h, nil
}
