package predictor

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// KendallTau returns Kendall's rank correlation tau-b of a and b:
//
//	tau_b = (C - D) / sqrt((n0 - n1) * (n0 - n2))
//
// where C and D count the concordant and discordant pairs, n0 = n(n-1)/2,
// n1 and n2 count the pairs tied in a and in b. Ties in both count in
// neither C nor D. It is scipy.stats.kendalltau's default variant ("b"),
// which the reference uses to report its predictor (ALGORITHM.md section 8).
//
// It runs in O(n log n) time with Knight's algorithm (W. R. Knight, "A
// computer method for calculating Kendall's tau with ungrouped data", JASA
// 1966): sort by (a, b), count ties, then count the discordant pairs as the
// swaps of a merge sort on b. It allocates O(n).
//
// It returns NaN when a or b is constant (the denominator is 0), when either
// holds a NaN, or when n < 2, as scipy does. It panics when the lengths differ.
//
// See also Spearman, which is cheaper to explain and usually larger in
// magnitude, and Evaluate, which reports both on held-out pairs.
func KendallTau(a, b []float64) float64 {
	checkLens("KendallTau", a, b)
	n := len(a)
	if n < 2 || hasNaN(a) || hasNaN(b) {
		return math.NaN()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		if c := cmp.Compare(a[i], a[j]); c != 0 {
			return c
		}
		return cmp.Compare(b[i], b[j])
	})
	// n1: pairs tied in a; n3: pairs tied in both a and b.
	var n1, n3 int64
	for i := 0; i < n; {
		j := i + 1
		for j < n && a[idx[j]] == a[idx[i]] {
			j++
		}
		n1 += pairs(j - i)
		for k := i; k < j; {
			l := k + 1
			for l < j && b[idx[l]] == b[idx[k]] {
				l++
			}
			n3 += pairs(l - k)
			k = l
		}
		i = j
	}
	// Discordant pairs: strict inversions of b in the (a, b) order.
	bs := make([]float64, n)
	for i, k := range idx {
		bs[i] = b[k]
	}
	swaps := mergeCount(bs, make([]float64, n))
	// n2: pairs tied in b (bs is now sorted).
	var n2 int64
	for i := 0; i < n; {
		j := i + 1
		for j < n && bs[j] == bs[i] {
			j++
		}
		n2 += pairs(j - i)
		i = j
	}
	n0 := pairs(n)
	if n0 == n1 || n0 == n2 {
		return math.NaN()
	}
	num := float64(n0 - n1 - n2 + n3 - 2*swaps)
	// One square root of the product: exactly +-1 for perfect (dis)agreement
	// while the product is below 2^53 (n up to about 10,000 without ties).
	return num / math.Sqrt(float64(n0-n1)*float64(n0-n2))
}

// pairs is m choose 2.
func pairs(m int) int64 { return int64(m) * int64(m-1) / 2 }

// mergeCount sorts v ascending (stable bottom-up merge sort, buf of the same
// length as scratch) and returns the number of strict inversions, the pairs
// i < j with v[i] > v[j].
func mergeCount(v, buf []float64) int64 {
	n := len(v)
	var inv int64
	src, dst := v, buf
	for width := 1; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid := min(lo+width, n)
			hi := min(lo+2*width, n)
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if src[i] <= src[j] {
					dst[k] = src[i]
					i++
				} else {
					dst[k] = src[j]
					j++
					inv += int64(mid - i) // src[j] jumps every remaining left element
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &v[0] {
		copy(v, src)
	}
	return inv
}

// Spearman returns Spearman's rank correlation rho of a and b: the Pearson
// correlation of their ranks, where tied values share the average of the
// ranks they span (scipy.stats.spearmanr). It returns NaN when a or b is
// constant, holds a NaN, or n < 2, and panics when the lengths differ.
//
// See also KendallTau.
func Spearman(a, b []float64) float64 {
	checkLens("Spearman", a, b)
	if len(a) < 2 || hasNaN(a) || hasNaN(b) {
		return math.NaN()
	}
	return pearson(ranks(a), ranks(b))
}

// ranks returns the 1-based ranks of v, ties sharing their average rank.
func ranks(v []float64) []float64 {
	n := len(v)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(v[i], v[j]) })
	r := make([]float64, n)
	for i := 0; i < n; {
		j := i + 1
		for j < n && v[idx[j]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // mean of the 1-based ranks i+1..j
		for k := i; k < j; k++ {
			r[idx[k]] = avg
		}
		i = j
	}
	return r
}

// pearson is the Pearson correlation, NaN when either side is constant.
func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return math.NaN()
	}
	return sab / math.Sqrt(saa*sbb)
}

// RMSE returns the root mean squared difference of truth and pred, in the
// units of the targets (top-1 accuracy as a fraction, for the predictor).
// It returns NaN for empty inputs and panics when the lengths differ.
//
// See also R2.
func RMSE(truth, pred []float64) float64 {
	checkLens("RMSE", truth, pred)
	if len(truth) == 0 {
		return math.NaN()
	}
	var s float64
	for i := range truth {
		d := truth[i] - pred[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(truth)))
}

// R2 returns the coefficient of determination 1 - SS_res/SS_tot of pred
// against truth, as sklearn.metrics.r2_score(truth, pred): 1 is perfect, 0
// is as good as predicting the mean, and it is negative when worse. It
// returns NaN when truth is constant or empty (scikit-learn returns 0 or 1
// there), and panics when the lengths differ.
//
// See also RMSE.
func R2(truth, pred []float64) float64 {
	checkLens("R2", truth, pred)
	if len(truth) == 0 {
		return math.NaN()
	}
	var m float64
	for _, t := range truth {
		m += t
	}
	m /= float64(len(truth))
	var res, tot float64
	for i, t := range truth {
		res += (t - pred[i]) * (t - pred[i])
		tot += (t - m) * (t - m)
	}
	if tot == 0 {
		return math.NaN()
	}
	return 1 - res/tot
}

func checkLens(fn string, a, b []float64) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("predictor: %s: len(a)=%d != len(b)=%d", fn, len(a), len(b)))
	}
}

func hasNaN(v []float64) bool {
	return slices.ContainsFunc(v, math.IsNaN)
}
