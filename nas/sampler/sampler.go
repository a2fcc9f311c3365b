// Package sampler chooses the middle subnets that the supernet trains at
// each step: the part of AttentiveNAS that differs from uniform sandwich
// training (ALGORITHM.md section 6; Wang et al., "AttentiveNAS", CVPR 2021).
//
// Uniform draws every gene uniformly at random. That is the baseline, and
// the reference's sample_active_subnet. Attentive first draws a target FLOPs
// bin from a FLOPsPrior. It then draws k candidates in that bin, scores them
// all with an Estimator, and trains the best one (BestUp) or the worst one
// (WorstUp). Parse turns a flag such as "bestup-3" into a Spec, and New
// builds the Sampler it names:
//
//	prior, _ := sampler.BuildPrior(sp, sampler.PriorConfig{}, rand.New(rand.NewPCG(1, 0)))
//	spec, _ := sampler.Parse("bestup-3:predictor")
//	est, _ := sampler.NewPredictorEstimator(predict)
//	smp, _ := sampler.New(spec, sp, prior, est)
//	d, _ := smp.Sample(rng)
//	fmt.Println(smp.Name(), len(d.Candidates), d.FLOPs/prior.BinWidth() == int64(d.Bin))
//	// bestup-3:predictor 3 true
//
// Every random choice comes from the caller's *rand.Rand, so a seed fixes
// every draw. Rejection loops are bounded, and report ErrInfeasible when
// they run out of tries. Samplers hold no mutable state. Goroutines can
// share one sampler if each goroutine uses its own *rand.Rand and the
// Estimator is safe to share.
//
// See also: package evolution (stage 2), whose search uses the same space
// operations.
package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Sampler chooses one middle subnet per call. The training step calls it
// once for each middle slot of the sandwich (ALGORITHM.md section 5).
//
// See also: Uniform, Attentive, New.
type Sampler interface {
	// Name identifies the sampler in run names and logs. It is the String
	// of its Spec, e.g. "uniform" or "bestup-3".
	Name() string
	// Sample draws one subnet, with every random choice taken from rng.
	Sample(rng *rand.Rand) (Draw, error)
}

// NoBin is Draw.Bin for samplers that draw no target bin (Uniform).
const NoBin = -1

// Draw is the result of one Sample call: the chosen subnet and the record
// the training log stores (schemas.TrainStep's mid_* and candidate_*
// columns).
type Draw struct {
	Arch  space.Arch // the subnet to train
	FLOPs int64      // its MACs per image
	// Bin is the target FLOPs bin (see FLOPsPrior.BinOf), or NoBin.
	Bin int
	// Chosen is the index of Arch in Candidates, or -1 when nothing was
	// scored (Uniform).
	Chosen int
	// Candidates holds every scored candidate, in draw order. It is nil for
	// Uniform.
	Candidates []Candidate
}

// Candidate is one arch that an attentive draw considered.
type Candidate struct {
	Arch  space.Arch
	FLOPs int64   // MACs per image
	Score float64 // the estimator's score; NaN if it could not score it
}

// Uniform is the baseline sampler. It draws every gene uniformly, with
// Space.Random, as the reference's sample_active_subnet does.
type Uniform struct {
	Space *space.Space // the space to sample; required
}

// Name returns "uniform".
func (u Uniform) Name() string { return Spec{}.String() }

// Sample returns sp.Random(rng), with Bin NoBin, Chosen -1 and no
// candidates.
func (u Uniform) Sample(rng *rand.Rand) (Draw, error) {
	if u.Space == nil {
		return Draw{}, errors.New("sampler: uniform: nil space")
	}
	a := u.Space.Random(rng)
	return Draw{Arch: a, FLOPs: u.Space.FLOPs(a), Bin: NoBin, Chosen: -1}, nil
}

// Mode says which candidate of an attentive draw is trained.
type Mode int

// Modes. UniformMode is the zero value, and only a Spec uses it.
const (
	// UniformMode is the baseline. In a Spec it names the Uniform sampler,
	// and Attentive rejects it.
	UniformMode Mode = iota
	// BestUp trains the best-scored candidate: lowest loss or highest
	// predicted accuracy. It is the reference's shipped choice (BestUp-3
	// with the minibatch loss).
	BestUp
	// WorstUp trains the worst-scored candidate.
	WorstUp
)

// String returns "uniform", "bestup" or "worstup".
func (m Mode) String() string {
	switch m {
	case UniformMode:
		return "uniform"
	case BestUp:
		return "bestup"
	case WorstUp:
		return "worstup"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrNaNScore is wrapped by Attentive.Sample's error when the estimator
// scored every candidate NaN.
var ErrNaNScore = errors.New("every candidate scored NaN")

// Attentive is the attentive sampler of ALGORITHM.md section 6. Each
// Sample:
//  1. draws a target bin tau from Prior (Prior.Draw);
//  2. draws K candidates in tau with Prior.RandomInBin, each within MaxTries
//     proposals;
//  3. scores all K candidates with ONE Estimator.Estimate call;
//  4. chooses the best candidate (BestUp) or the worst (WorstUp), as
//     Estimator.HigherIsBetter defines them.
//
// Ties go to the lowest candidate index, as Python's max/min over
// enumerate do in the reference. NaN scores are never chosen. If every
// score is NaN, Sample returns an error wrapping ErrNaNScore.
//
// The paper studies K in {3, 50}. The default is none: K must be at least 1
// (K = 1 samples the prior's bins with no selection). MaxTries <= 0 means
// DefaultMaxTries.
//
// The reference is facebookresearch/AttentiveNAS, train_attentive_nas.py
// (train_epoch, sampler.method bestup/worstup).
//
// See also: Uniform, FLOPsPrior, Estimator, Parse.
type Attentive struct {
	Mode      Mode        // BestUp or WorstUp
	K         int         // candidates per draw, at least 1
	Estimator Estimator   // scores the candidates
	Prior     *FLOPsPrior // target bins and per-bin marginals
	MaxTries  int         // proposals per candidate; <= 0 means DefaultMaxTries
}

// Spec returns the Spec that names a, e.g. "bestup-3" or
// "worstup-50:predictor". The estimator suffix is omitted for the default
// minibatch_loss estimator, and for a nil Estimator.
func (a *Attentive) Spec() Spec {
	s := Spec{Mode: a.Mode, K: a.K}
	if a.Estimator != nil && a.Estimator.Name() != EstimatorMinibatchLoss {
		s.Estimator = a.Estimator.Name()
	}
	return s
}

// Name returns the String of a's Spec.
func (a *Attentive) Name() string { return a.Spec().String() }

// Validate reports a configuration that Sample cannot run: a mode other
// than BestUp or WorstUp, K < 1, or a nil Estimator or Prior.
func (a *Attentive) Validate() error {
	switch {
	case a.Mode != BestUp && a.Mode != WorstUp:
		return fmt.Errorf("sampler: attentive: mode %v, expected bestup or worstup", a.Mode)
	case a.K < 1:
		return fmt.Errorf("sampler: attentive: k = %d, expected at least 1 (the paper uses 3 and 50)", a.K)
	case a.Estimator == nil:
		return errors.New("sampler: attentive: nil estimator")
	case a.Prior == nil:
		return errors.New("sampler: attentive: nil FLOPs prior (see BuildPrior)")
	}
	return nil
}

// Sample makes one attentive draw. See Attentive for the steps.
func (a *Attentive) Sample(rng *rand.Rand) (Draw, error) {
	if err := a.Validate(); err != nil {
		return Draw{}, err
	}
	bin := a.Prior.Draw(rng)
	cands := make([]Candidate, a.K)
	archs := make([]space.Arch, a.K)
	for i := range cands {
		arch, flops, err := a.Prior.RandomInBin(bin, rng, a.MaxTries)
		if err != nil {
			return Draw{}, fmt.Errorf("sampler: %s: candidate %d of %d: %w", a.Name(), i+1, a.K, err)
		}
		cands[i] = Candidate{Arch: arch, FLOPs: flops}
		archs[i] = arch
	}
	scores, err := estimate(a.Estimator, archs)
	if err != nil {
		return Draw{}, err
	}
	for i, s := range scores {
		cands[i].Score = s
	}
	wantHigh := (a.Mode == BestUp) == a.Estimator.HigherIsBetter()
	chosen := choose(scores, wantHigh)
	if chosen < 0 {
		return Draw{}, fmt.Errorf("sampler: %s: %s estimator: %w", a.Name(), a.Estimator.Name(), ErrNaNScore)
	}
	return Draw{Arch: cands[chosen].Arch, FLOPs: cands[chosen].FLOPs, Bin: bin, Chosen: chosen, Candidates: cands}, nil
}

// choose returns the index of the highest (wantHigh) or lowest score,
// ignoring NaNs; ties go to the lowest index. It returns -1 when every score
// is NaN.
func choose(scores []float64, wantHigh bool) int {
	best := -1
	for i, s := range scores {
		if math.IsNaN(s) {
			continue
		}
		if best < 0 || (wantHigh && s > scores[best]) || (!wantHigh && s < scores[best]) {
			best = i
		}
	}
	return best
}
