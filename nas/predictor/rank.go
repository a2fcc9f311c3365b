package predictor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// OutOfFold returns, for every pair, the prediction of a model of the given
// kind fitted without it: the pairs are dealt into folds (a permutation from
// rng), and each fold is predicted by a model fitted on the others. These
// honest predictions rank subnets the model never saw, which is what
// RankByBin needs to compare the predictor with other estimators.
func OutOfFold(kind string, X [][]float64, y []float64, folds int, cfg Config, rng *rand.Rand) ([]float64, error) {
	if err := checkXY("OutOfFold", X, y); err != nil {
		return nil, err
	}
	if folds < 2 || folds > len(y) {
		return nil, fmt.Errorf("predictor: OutOfFold: %d folds for %d pairs", folds, len(y))
	}
	perm := rng.Perm(len(y))
	seeds := make([]uint64, folds)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	out := make([]float64, len(y))
	for f := range folds {
		var fx [][]float64
		var fy []float64
		var held []int
		for i, p := range perm {
			if i%folds == f {
				held = append(held, p)
			} else {
				fx, fy = append(fx, X[p]), append(fy, y[p])
			}
		}
		m, err := Fit(kind, fx, fy, cfg, rand.New(rand.NewPCG(seeds[f], 0)))
		if err != nil {
			return nil, err
		}
		for _, p := range held {
			out[p] = m.Predict(X[p])
		}
	}
	return out, nil
}

// BinTau is the rank agreement of an estimate with the truth among the
// subnets of one FLOPs bin [Lo, Hi).
type BinTau struct {
	Bin    int
	Lo, Hi int64
	N      int
	Tau    float64 // Kendall tau-b
}

// RankByBin groups items by FLOPs bin (width MACs) and returns, for every
// bin with at least minN items, the Kendall tau between estimate (higher
// meaning better) and truth; pooled is the mean of those taus weighted by
// their numbers of pairs n(n-1)/2 (NaN when no bin qualifies).
func RankByBin(flops []int64, width int64, estimate, truth []float64, minN int) (bins []BinTau, pooled float64) {
	groups := map[int][]int{}
	for i, f := range flops {
		b := int(f / width)
		groups[b] = append(groups[b], i)
	}
	keys := slices.Sorted(func(yield func(int) bool) {
		for k := range groups {
			if !yield(k) {
				return
			}
		}
	})
	var wsum, tsum float64
	for _, b := range keys {
		idx := groups[b]
		if len(idx) < max(minN, 2) {
			continue
		}
		e, t := make([]float64, len(idx)), make([]float64, len(idx))
		for j, i := range idx {
			e[j], t[j] = estimate[i], truth[i]
		}
		tau := KendallTau(e, t)
		bins = append(bins, BinTau{Bin: b, Lo: int64(b) * width, Hi: int64(b+1) * width, N: len(idx), Tau: tau})
		if !math.IsNaN(tau) { // all ties
			w := float64(len(idx) * (len(idx) - 1) / 2)
			wsum += w
			tsum += w * tau
		}
	}
	if wsum == 0 {
		return bins, math.NaN()
	}
	return bins, tsum / wsum
}

// AutoBinWidth returns a FLOPs bin width for RankByBin that gives about
// perBin items per bin over the range of flops, rounded up to a multiple of
// step (and at least step): fixed narrow bins leave a few dozen evaluations
// spread one or two per bin, too few for a rank correlation.
func AutoBinWidth(flops []int64, perBin int, step int64) int64 {
	if len(flops) == 0 || perBin <= 0 || step <= 0 {
		return max(step, 1)
	}
	lo, hi := slices.Min(flops), slices.Max(flops)
	bins := max(1, len(flops)/perBin)
	w := (hi - lo + int64(bins)) / int64(bins) // ceil((hi-lo+1)/bins)
	return max(step, (w+step-1)/step*step)
}
