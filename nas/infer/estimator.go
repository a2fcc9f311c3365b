package infer

import (
	"fmt"
	"math"
	"sync"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// LabelSmoothing is the smoothing of the minibatch-loss estimator's
// cross-entropy: the reference's 0.1 (ALGORITHM.md sections 5 and 6).
const LabelSmoothing = 0.1

// MinibatchLoss is the reference's shipped performance estimator for
// attentive sampling (ALGORITHM.md section 6, step 3): the score of a
// candidate subnet is the label-smoothed (LabelSmoothing) cross-entropy of a
// no-grad forward pass on the current training minibatch, with BN in
// batch-statistics mode, against the true labels. Lower is better. It
// implements sampler.Estimator (Name "minibatch_loss").
//
// The trainer calls SetBatch once per step with the step's minibatch, then
// the sampler calls Estimate with the k candidates. A candidate whose loss is
// not finite scores NaN (the sampler never picks it). MinibatchLoss is safe
// for concurrent use (calls are serialised); it reads the supernet's
// tensors in place, so it must not run while an optimiser step writes them.
//
// See also: sampler.Attentive, Engine.
type MinibatchLoss struct {
	// Goroutines is how many candidates are scored at once, each on its own
	// Engine and buffers (default 1; see the package doc's measurements).
	// The scores do not depend on it.
	Goroutines int

	mu      sync.Mutex
	sn      *supernet.Supernet
	engs    []candidateEngine
	classes int
	in      int // values per image
	x       []float32
	labels  []int
	B       int
	err     error // from SetBatch
}

// candidateEngine is one goroutine's engine and logits buffer.
type candidateEngine struct {
	eng    *Engine
	logits []float32
}

// NewMinibatchLoss returns an estimator over sn's tensors, with no batch yet.
func NewMinibatchLoss(sn *supernet.Supernet) *MinibatchLoss {
	in := sn.Space.Input
	return &MinibatchLoss{sn: sn, classes: sn.Space.Classes, in: in.Height * in.Width * in.Channels}
}

// Name returns "minibatch_loss" (sampler.EstimatorMinibatchLoss).
func (m *MinibatchLoss) Name() string { return "minibatch_loss" }

// HigherIsBetter returns false: the score is a loss.
func (m *MinibatchLoss) HigherIsBetter() bool { return false }

// SetBatch sets the minibatch the candidates are scored on: x[B, S, S, Cin]
// normalised images at the native size and labels[B]. The values are copied
// (into buffers reused across steps), so the caller may reuse its slices. A
// malformed batch makes the next Estimate return an error.
func (m *MinibatchLoss) SetBatch(x []float32, labels []int, B int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = nil
	switch {
	case B <= 0:
		m.err = fmt.Errorf("infer: minibatch loss: batch of %d images", B)
	case len(x) < B*m.in:
		m.err = fmt.Errorf("infer: minibatch loss: %d input values for %d images of %d", len(x), B, m.in)
	case len(labels) < B:
		m.err = fmt.Errorf("infer: minibatch loss: %d labels for %d images", len(labels), B)
	}
	if m.err == nil {
		for i, y := range labels[:B] {
			if y < 0 || y >= m.classes {
				m.err = fmt.Errorf("infer: minibatch loss: label %d of image %d outside [0, %d)", y, i, m.classes)
				break
			}
		}
	}
	if m.err != nil {
		m.B = 0
		return
	}
	m.x = append(m.x[:0], x[:B*m.in]...)
	m.labels = append(m.labels[:0], labels[:B]...)
	m.B = B
}

// Estimate returns, for each arch in order, the label-smoothed
// cross-entropy of its batch-statistics forward pass on the current
// minibatch (NaN when not finite). Errors: no batch set, a malformed batch,
// or an arch that is not in the space.
func (m *MinibatchLoss) Estimate(archs []space.Arch) ([]float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if m.B == 0 {
		return nil, fmt.Errorf("infer: minibatch loss: Estimate before SetBatch")
	}
	for _, a := range archs { // fail before any work
		if err := m.sn.Space.Validate(a); err != nil {
			return nil, err
		}
	}
	scores := make([]float64, len(archs))
	errs := make([]error, len(archs))
	g := max(1, min(len(archs), m.goroutines()))
	for len(m.engs) < g {
		m.engs = append(m.engs, candidateEngine{eng: NewEngine(m.sn)})
	}
	score := func(ce *candidateEngine, i int) {
		if cap(ce.logits) < m.B*m.classes {
			ce.logits = make([]float32, m.B*m.classes)
		}
		logits := ce.logits[:m.B*m.classes]
		if errs[i] = ce.eng.Forward(logits, m.x, m.B, archs[i], nil); errs[i] != nil {
			return
		}
		l := kernels.SoftmaxCrossEntropy(nil, logits, m.labels, m.B, m.classes, LabelSmoothing)
		if math.IsNaN(l) || math.IsInf(l, 0) {
			l = math.NaN()
		}
		scores[i] = l
	}
	if g == 1 {
		for i := range archs {
			score(&m.engs[0], i)
		}
	} else {
		var wg sync.WaitGroup
		wg.Add(g)
		for w := 0; w < g; w++ {
			go func() {
				defer wg.Done()
				for i := w; i < len(archs); i += g {
					score(&m.engs[w], i)
				}
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return scores, nil
}

// goroutines is how many candidates Estimate scores at once.
func (m *MinibatchLoss) goroutines() int {
	if m.Goroutines > 0 {
		return m.Goroutines
	}
	return defaultEstimatorGoroutines
}

// defaultEstimatorGoroutines is MinibatchLoss's default concurrency: one
// candidate at a time with the kernels parallel inside each forward pass.
// Two at a time (two engines, twice the buffers) was not faster on the
// 2-core machine (BenchmarkMinibatchLoss; see the package doc).
const defaultEstimatorGoroutines = 1
