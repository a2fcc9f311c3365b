package sampler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/attentivenas/attentivenas/nas/space"
)

// MaxK bounds a spec's K so that a typo cannot ask for millions of forward
// passes per step. The paper's largest K is 50.
const MaxK = 1000

// ErrSpec is wrapped by every error of Parse and Spec.UnmarshalText.
var ErrSpec = errors.New("invalid sampler spec")

// Spec names a sampler in flags, job configs and run names. Its text form is
//
//	uniform
//	bestup-K[:ESTIMATOR]
//	worstup-K[:ESTIMATOR]
//
// K is between 1 and MaxK. ESTIMATOR is minibatch_loss (the default, left
// out of the text) or predictor. A Spec encodes as that text in JSON, so it
// can travel in a job config. The zero Spec is "uniform".
//
// See also: Parse, New.
type Spec struct {
	Mode      Mode   // UniformMode, BestUp or WorstUp
	K         int    // candidates per draw (0 for uniform)
	Estimator string // "" (= EstimatorMinibatchLoss) or EstimatorPredictor; "" for uniform
}

// Parse reads a Spec from its text form. It accepts surrounding space and
// any letter case, e.g. "uniform", "bestup-3", "worstup-50",
// "BestUp-3:predictor". An explicit ":minibatch_loss" parses to the same
// Spec as no suffix. Errors wrap ErrSpec and say what was expected.
func Parse(text string) (Spec, error) {
	s := strings.ToLower(strings.TrimSpace(text))
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("sampler: %q: %s; expected uniform, bestup-K or worstup-K (1 <= K <= %d), optionally followed by :%s or :%s: %w",
			text, why, MaxK, EstimatorMinibatchLoss, EstimatorPredictor, ErrSpec)
	}
	if s == "" {
		return bad("empty")
	}
	name, est, hasEst := strings.Cut(s, ":")
	if name == "uniform" {
		if hasEst {
			return bad("uniform sampling uses no estimator")
		}
		return Spec{}, nil
	}
	var spec Spec
	mode, ks, ok := strings.Cut(name, "-")
	switch mode {
	case "bestup":
		spec.Mode = BestUp
	case "worstup":
		spec.Mode = WorstUp
	default:
		return bad(fmt.Sprintf("unknown sampler %q", mode))
	}
	if !ok || ks == "" {
		return bad("missing K, the number of candidates per draw")
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 1 || k > MaxK || strings.TrimLeft(ks, "0123456789") != "" {
		return bad(fmt.Sprintf("K %q is not an integer in [1, %d]", ks, MaxK))
	}
	spec.K = k
	switch est {
	case "", EstimatorMinibatchLoss:
		if hasEst && est == "" {
			return bad("empty estimator after ':'")
		}
	case EstimatorPredictor:
		spec.Estimator = EstimatorPredictor
	default:
		return bad(fmt.Sprintf("unknown estimator %q", est))
	}
	return spec, nil
}

// String returns the canonical text form, which Parse reads back.
func (s Spec) String() string {
	if s.Mode == UniformMode {
		return "uniform"
	}
	t := s.Mode.String() + "-" + strconv.Itoa(s.K)
	if s.Estimator != "" && s.Estimator != EstimatorMinibatchLoss {
		t += ":" + s.Estimator
	}
	return t
}

// EstimatorName returns the estimator the spec needs:
// EstimatorMinibatchLoss when Estimator is empty, or "" for uniform.
func (s Spec) EstimatorName() string {
	switch {
	case s.Mode == UniformMode:
		return ""
	case s.Estimator == "":
		return EstimatorMinibatchLoss
	}
	return s.Estimator
}

// MarshalText implements encoding.TextMarshaler with String.
func (s Spec) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (s *Spec) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// New builds the Sampler that spec names: Uniform{sp} for uniform, or an
// Attentive with DefaultMaxTries. The prior and est arguments are ignored
// for uniform and may be nil there. For an attentive spec, New returns an
// error when the prior is nil or was built for a different space, or when
// est is nil or its Name differs from spec.EstimatorName(). In particular,
// a predictor spec with no predictor fails here (see
// NewPredictorEstimator and ErrNoPredictor) rather than at the first step.
func New(spec Spec, sp *space.Space, prior *FLOPsPrior, est Estimator) (Sampler, error) {
	if sp == nil {
		return nil, errors.New("sampler: New: nil space")
	}
	if spec.Mode == UniformMode {
		return Uniform{Space: sp}, nil
	}
	want := spec.EstimatorName()
	switch {
	case est == nil && want == EstimatorPredictor:
		return nil, fmt.Errorf("sampler: %s: %w", spec, ErrNoPredictor)
	case est == nil:
		return nil, fmt.Errorf("sampler: %s needs the %s estimator, got none", spec, want)
	case est.Name() != want:
		return nil, fmt.Errorf("sampler: %s needs the %s estimator, got %s", spec, want, est.Name())
	case prior == nil:
		return nil, fmt.Errorf("sampler: %s needs a FLOPs prior (see BuildPrior), got none", spec)
	case !prior.Space().Equal(sp):
		return nil, fmt.Errorf("sampler: %s: the FLOPs prior was built for space %q (%s), not %q (%s)",
			spec, prior.Space().Name, prior.Space().Fingerprint(), sp.Name, sp.Fingerprint())
	}
	a := &Attentive{Mode: spec.Mode, K: spec.K, Estimator: est, Prior: prior, MaxTries: DefaultMaxTries}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}
