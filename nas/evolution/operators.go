package evolution

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Mutate returns a copy of a in which each gene, with probability prob, is
// resampled uniformly among its OTHER choices. A gene with a single choice
// never changes. This is the reference's mutate_and_reset
// (facebookresearch/AttentiveNAS, models/attentive_nas_dynamic_model.py),
// applied to the Arch vector, where kernel and expand ratio are per stage.
// Search uses prob = Config.MutateProb (reference 0.2).
//
// Mutate returns an error when a is not an arch of sp, or when prob is not
// in [0, 1]. It draws one rng.Float64 per gene, plus one rng.IntN per gene
// that changes.
//
// See also: Crossover, Search.
func Mutate(sp *space.Space, a space.Arch, prob float64, rng *rand.Rand) (space.Arch, error) {
	if err := check(sp, prob, a); err != nil {
		return space.Arch{}, err
	}
	return mutate(sp, sp.Dimensions(), a, prob, rng)
}

// Crossover returns a child whose every gene comes from a (with
// probability prob) or else from b, gene by gene. This is the reference's
// crossover_and_reset. Search uses prob = Config.CrossoverProb (reference
// 0.5).
//
// Crossover returns an error when a or b is not an arch of sp, or when prob
// is not in [0, 1]. It draws one rng.Float64 per gene.
//
// See also: Mutate, Search.
func Crossover(sp *space.Space, a, b space.Arch, prob float64, rng *rand.Rand) (space.Arch, error) {
	if err := check(sp, prob, a, b); err != nil {
		return space.Arch{}, err
	}
	return crossover(sp, a, b, prob, rng)
}

func check(sp *space.Space, prob float64, archs ...space.Arch) error {
	if sp == nil {
		return fmt.Errorf("evolution: nil space")
	}
	if !(prob >= 0 && prob <= 1) {
		return fmt.Errorf("evolution: probability %v: expected a value in [0, 1]", prob)
	}
	for _, a := range archs {
		if err := sp.Validate(a); err != nil {
			return fmt.Errorf("evolution: parent %v: %w", a, err)
		}
	}
	return nil
}

// mutate is Mutate for a valid parent. dims is sp.Dimensions().
func mutate(sp *space.Space, dims []space.Dimension, a space.Arch, prob float64, rng *rand.Rand) (space.Arch, error) {
	v := a.Vector()
	for d, dim := range dims {
		if rng.Float64() >= prob || len(dim.Choices) < 2 {
			continue
		}
		cur := slices.Index(dim.Choices, v[d])
		j := rng.IntN(len(dim.Choices) - 1) // an index among the others:
		if j >= cur {                       // skip over the current choice
			j++
		}
		v[d] = dim.Choices[j]
	}
	return sp.ArchFromVector(v)
}

// crossover is Crossover for valid parents.
func crossover(sp *space.Space, a, b space.Arch, prob float64, rng *rand.Rand) (space.Arch, error) {
	v, w := a.Vector(), b.Vector()
	for d := range v {
		if rng.Float64() >= prob {
			v[d] = w[d]
		}
	}
	return sp.ArchFromVector(v)
}
