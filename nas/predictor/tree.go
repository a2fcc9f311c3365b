package predictor

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// This file holds the CART regression-tree learner shared by Forest and
// GBT (Breiman, Friedman, Olshen and Stone, "Classification and Regression
// Trees", 1984), following scikit-learn's DecisionTreeRegressor with the
// squared-error criterion and the "best" splitter.

// node is one node of a flat, pre-order regression tree. An internal node
// sends x[feature] <= value to its left child, which is always the next
// node, and everything else (NaN included) to node right. A leaf has
// feature -1 and predicts value. Children always come after their parent,
// so a walk from the root ends after at most len(nodes) steps.
type node struct {
	feature int32   // split feature, or -1 for a leaf
	right   int32   // index of the right child (internal nodes)
	value   float64 // threshold (internal) or prediction (leaf)
}

// walk returns the leaf value of the tree whose root is nodes[root].
func walk(nodes []node, root int32, x []float64) float64 {
	i := root
	for {
		n := &nodes[i]
		if n.feature < 0 {
			return n.value
		}
		if x[n.feature] <= n.value {
			i++
		} else {
			i = n.right
		}
	}
}

// treeParams are the stopping rules of one tree.
type treeParams struct {
	maxDepth    int // leaves at depth <= maxDepth (root is 0); < 0: unlimited
	minLeaf     int // distinct samples in each leaf, at least 1
	maxFeatures int // non-constant features examined per split, 1..F
}

// dataset is the training matrix laid out for split search: one column per
// feature and, per feature, the sample indices sorted by that feature. It
// is built once per fit and shared read-only by every tree.
type dataset struct {
	n, nf  int
	cols   [][]float64 // [F][n]
	sorted [][]int32   // [F][n] sample indices, stable-sorted by cols[f]
}

func newDataset(X [][]float64) *dataset {
	n, nf := len(X), len(X[0])
	d := &dataset{n: n, nf: nf, cols: make([][]float64, nf), sorted: make([][]int32, nf)}
	for f := range nf {
		col := make([]float64, n)
		ord := make([]int32, n)
		for i, row := range X {
			col[i] = row[f]
			ord[i] = int32(i)
		}
		slices.SortStableFunc(ord, func(i, j int32) int { return cmp.Compare(col[i], col[j]) })
		d.cols[f], d.sorted[f] = col, ord
	}
	return d
}

// builder grows trees on one dataset. It owns the per-tree scratch, so one
// builder serves one goroutine and is reused from tree to tree.
type builder struct {
	d *dataset
	p treeParams

	// Set by grow for the current tree.
	y   []float64  // [n] targets
	w   []float64  // [n] sample weights; 0 = not in this tree
	rng *rand.Rand // feature sampling, only when maxFeatures < F

	order [][]int32 // [F][m] the tree's samples; a node owns order[f][lo:hi] for every f
	left  []uint8   // [n] 1 if the sample goes left at the split being applied
	buf   []int32   // [n] partition scratch
	feats []int     // [F] feature visiting order
	nodes []node
}

func newBuilder(d *dataset, p treeParams) *builder {
	b := &builder{d: d, p: p, order: make([][]int32, d.nf), left: make([]uint8, d.n),
		buf: make([]int32, d.n), feats: make([]int, d.nf)}
	for f := range d.nf {
		b.order[f] = make([]int32, 0, d.n)
		b.feats[f] = f
	}
	return b
}

// grow fits one tree to targets y with sample weights w (bootstrap counts,
// or 0/1 for a subsample) and returns its nodes. Leaves predict the
// weighted mean of their targets.
func (b *builder) grow(y, w []float64, rng *rand.Rand) []node {
	b.y, b.w, b.rng = y, w, rng
	m := 0
	for f := range b.d.nf {
		o := b.order[f][:0]
		for _, s := range b.d.sorted[f] {
			if w[s] > 0 {
				o = append(o, s)
			}
		}
		b.order[f], m = o, len(o)
	}
	for f := range b.feats {
		b.feats[f] = f // the visiting order restarts with every tree
	}
	b.nodes = b.nodes[:0]
	b.split(0, m, 0)
	return slices.Clone(b.nodes)
}

// split appends the subtree of the samples at positions [lo, hi).
func (b *builder) split(lo, hi, depth int) {
	var W, S float64
	ord := b.order[0][lo:hi]
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ord {
		W += b.w[s]
		S += b.w[s] * b.y[s]
		ymin = min(ymin, b.y[s])
		ymax = max(ymax, b.y[s])
	}
	i := len(b.nodes)
	b.nodes = append(b.nodes, node{feature: -1, value: S / W})
	m := hi - lo
	if (b.p.maxDepth >= 0 && depth >= b.p.maxDepth) || m < 2 || m < 2*b.p.minLeaf || ymin == ymax {
		return
	}
	f, thr, ok := b.best(lo, hi, W, S)
	if !ok {
		return
	}
	nl := b.partition(lo, hi, f, thr, depth+1)
	b.nodes[i].feature, b.nodes[i].value = int32(f), thr
	b.split(lo, lo+nl, depth+1)
	b.nodes[i].right = int32(len(b.nodes))
	b.split(lo+nl, hi, depth+1)
}

// best finds the split of [lo, hi) with the lowest weighted squared error:
// for each examined feature, every boundary between distinct sorted values
// that leaves at least minLeaf samples on each side. Maximising
// S_L^2/W_L + S_R^2/W_R is equivalent and cheaper (scikit-learn's
// proxy_impurity_improvement). The threshold is the midpoint of the two
// values, as in scikit-learn. Ties keep the first split found.
//
// With maxFeatures < F, features are visited in a random order and the
// search stops after maxFeatures non-constant ones, as scikit-learn does.
func (b *builder) best(lo, hi int, W, S float64) (feat int, thr float64, ok bool) {
	nf, m := b.d.nf, hi-lo
	bestProxy := math.Inf(-1)
	visited := 0
	for j := 0; j < nf && visited < b.p.maxFeatures; j++ {
		if b.p.maxFeatures < nf {
			k := j + b.rng.IntN(nf-j)
			b.feats[j], b.feats[k] = b.feats[k], b.feats[j]
		}
		f := b.feats[j]
		col, ord := b.d.cols[f], b.order[f][lo:hi]
		if col[ord[0]] == col[ord[m-1]] {
			continue // constant in this node: not counted, as scikit-learn
		}
		visited++
		var wl, sl float64
		for p := 0; p < m-1; p++ {
			s := ord[p]
			wl += b.w[s]
			sl += b.w[s] * b.y[s]
			x0, x1 := col[s], col[ord[p+1]]
			if x1 <= x0 {
				continue // equal values cannot be separated
			}
			if p+1 < b.p.minLeaf {
				continue
			}
			if m-(p+1) < b.p.minLeaf {
				break
			}
			wr, sr := W-wl, S-sl
			if proxy := sl*sl/wl + sr*sr/wr; proxy > bestProxy {
				bestProxy, feat, ok = proxy, f, true
				thr = x0/2 + x1/2
				if thr == x1 || math.IsInf(thr, 0) {
					thr = x0 // rounding must not move x1 to the left
				}
			}
		}
	}
	return feat, thr, ok
}

// partition reorders [lo, hi) of the features' orders so that the samples
// with x[f] <= thr come first, keeping each side sorted (a stable
// partition), and returns how many went left. When the children cannot
// split (all reasons to stop but purity are known here: depth and size),
// only order[0], from which split reads node statistics, is partitioned.
// The loop is branchless: the left/right outcome is random, and
// mispredicted branches dominated the fit.
func (b *builder) partition(lo, hi, f int, thr float64, childDepth int) int {
	col := b.d.cols[f]
	for _, s := range b.order[f][lo:hi] {
		b.left[s] = 0
		if col[s] <= thr {
			b.left[s] = 1
		}
	}
	nf := b.d.nf
	if b.p.maxDepth >= 0 && childDepth >= b.p.maxDepth {
		nf = 1
	}
	r := b.buf[:hi-lo]
	nl := 0
	for g := range nf {
		o := b.order[g][lo:hi]
		k, j := 0, 0
		for _, s := range o {
			l := int(b.left[s])
			o[k] = s // k <= the read position: nothing unread is overwritten
			r[j] = s
			k += l
			j += 1 - l
		}
		copy(o[k:], r[:j])
		nl = k
	}
	return nl
}

// maxFeatureCount resolves a MaxFeatures setting (see ForestConfig) for nf
// features.
func maxFeatureCount(v float64, nf int) int {
	switch {
	case v == 0:
		return nf
	case v <= 1:
		return max(1, int(v*float64(nf))) // scikit-learn: max(1, int(max_features * n_features))
	default:
		return min(nf, int(v))
	}
}
