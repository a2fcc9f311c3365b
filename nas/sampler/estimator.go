package sampler

import (
	"errors"
	"fmt"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Estimator names, as they appear in sampler specs ("bestup-3:predictor"),
// run names and the training log.
const (
	// EstimatorMinibatchLoss is the reference's shipped estimator: the
	// label-smoothed cross-entropy of a no-grad forward pass of the candidate
	// on the current minibatch (lower is better). It needs the network
	// engine, so it is implemented outside this package.
	EstimatorMinibatchLoss = "minibatch_loss"
	// EstimatorPredictor scores a candidate with the accuracy predictor
	// (ALGORITHM.md section 8; higher is better). See PredictorEstimator.
	EstimatorPredictor = "predictor"
)

// Estimator scores the candidates of one attentive draw (ALGORITHM.md
// section 6, step 3). Attentive calls Estimate once per draw with all k
// candidates, so an implementation can batch them (one forward pass per
// candidate on the same minibatch, or one predictor call).
//
// Estimate returns exactly one score per arch, in the order given. A NaN
// score marks a candidate that could not be scored (e.g. a non-finite loss);
// Attentive never chooses it. Implementations must be safe for the way the
// caller shares them; Attentive itself adds no locking.
//
// See also: PredictorEstimator, Attentive.
type Estimator interface {
	// Name identifies the estimator: EstimatorMinibatchLoss,
	// EstimatorPredictor, or a caller's own name.
	Name() string
	// Estimate scores archs, one score per arch.
	Estimate(archs []space.Arch) ([]float64, error)
	// HigherIsBetter is false for a loss and true for a predicted accuracy.
	HigherIsBetter() bool
}

// ErrNoPredictor is returned when a sampler is configured with the
// predictor estimator but no predictor exists yet (for example a first
// training run, before any evaluations were made to fit one).
var ErrNoPredictor = errors.New("sampler: the predictor estimator needs a trained accuracy predictor, and none was given (train one first, or use the minibatch_loss estimator)")

// PredictorEstimator adapts an accuracy predictor, a function from an Arch
// to its predicted held-out accuracy, to the Estimator interface. Its Name is
// EstimatorPredictor and higher scores are better.
//
// Predict must be safe to call from every goroutine that shares the
// estimator. A nil Predict makes Estimate return ErrNoPredictor.
//
// See also: NewPredictorEstimator, ALGORITHM.md section 8.
type PredictorEstimator struct {
	Predict func(space.Arch) float64
}

// NewPredictorEstimator wraps predict, or returns ErrNoPredictor when it is
// nil, so a caller configured with the predictor estimator fails while the
// job is built rather than at the first training step.
func NewPredictorEstimator(predict func(space.Arch) float64) (*PredictorEstimator, error) {
	if predict == nil {
		return nil, ErrNoPredictor
	}
	return &PredictorEstimator{Predict: predict}, nil
}

// Name returns EstimatorPredictor.
func (p *PredictorEstimator) Name() string { return EstimatorPredictor }

// HigherIsBetter returns true: the score is a predicted accuracy.
func (p *PredictorEstimator) HigherIsBetter() bool { return true }

// Estimate returns Predict(a) for every arch, or ErrNoPredictor when there is
// no predictor.
func (p *PredictorEstimator) Estimate(archs []space.Arch) ([]float64, error) {
	if p == nil || p.Predict == nil {
		return nil, ErrNoPredictor
	}
	scores := make([]float64, len(archs))
	for i, a := range archs {
		scores[i] = p.Predict(a)
	}
	return scores, nil
}

// estimate calls est and checks the length of its answer.
func estimate(est Estimator, archs []space.Arch) ([]float64, error) {
	scores, err := est.Estimate(archs)
	if err != nil {
		return nil, fmt.Errorf("sampler: %s estimator: %w", est.Name(), err)
	}
	if len(scores) != len(archs) {
		return nil, fmt.Errorf("sampler: %s estimator returned %d scores for %d candidates", est.Name(), len(scores), len(archs))
	}
	return scores, nil
}
