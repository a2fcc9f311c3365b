package sampler

import (
	"fmt"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Stratified draws n distinct archs spread evenly over the prior's FLOPs
// bins: the bins are visited in FLOPs order, round after round, and each
// visit draws one arch inside the bin (RandomInBin). Unlike uniform
// sampling, whose FLOPs concentrate in the middle of the range, it covers
// the low- and high-FLOPs ends, where the Pareto front lives: the archs the
// evaluate stage measures to fit the predictor and draw the front.
//
// A bin that fails to produce a new arch within maxTries proposals is
// dropped from later rounds. The error wraps ErrInfeasible when fewer than
// n distinct archs could be drawn.
func Stratified(p *FLOPsPrior, n int, rng *rand.Rand, maxTries int) ([]space.Arch, error) {
	var bins []int
	for _, b := range p.Bins() {
		bins = append(bins, b.Index)
	}
	seen := map[string]bool{}
	out := make([]space.Arch, 0, n)
	for len(out) < n && len(bins) > 0 {
		live := bins[:0]
		for _, b := range bins {
			if len(out) == n {
				live = append(live, b)
				continue
			}
			ok := false
			for range 8 { // a few redraws when the bin returns a duplicate
				a, _, err := p.RandomInBin(b, rng, maxTries)
				if err != nil {
					break
				}
				if k := a.Key(); !seen[k] {
					seen[k] = true
					out = append(out, a)
					ok = true
					break
				}
			}
			if ok {
				live = append(live, b)
			}
		}
		bins = live
	}
	if len(out) < n {
		return out, fmt.Errorf("sampler: only %d distinct archs over the FLOPs bins, %d requested: %w", len(out), n, ErrInfeasible)
	}
	return out, nil
}
