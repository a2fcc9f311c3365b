package predictor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// ForestConfig sets up a random-forest regressor. Zero fields take the
// defaults, which are the reference's: facebookresearch/AttentiveNAS ships a
// scikit-learn RandomForestRegressor(n_estimators=100, max_depth=15), and
// the rest are scikit-learn's defaults (min_samples_leaf=1,
// max_features=1.0, bootstrap=True).
type ForestConfig struct {
	// Trees is the number of trees (default 100, the reference's n_estimators).
	Trees int `json:"trees"`
	// MaxDepth bounds the depth of each tree, the root being depth 0
	// (default 15, the reference's max_depth); negative means unlimited.
	MaxDepth int `json:"max_depth"`
	// MinSamplesLeaf is the fewest distinct training samples a leaf may hold
	// (default 1, scikit-learn's).
	MinSamplesLeaf int `json:"min_samples_leaf"`
	// MaxFeatures is how many features each split examines: 0 or 1 mean all
	// of them (scikit-learn's regressor default, max_features=1.0); a value
	// in (0, 1) is a fraction, max(1, int(MaxFeatures*n)) as scikit-learn
	// rounds it; a value above 1 is a count and must be an integer. (A count
	// of one is written as any fraction below 1/n.)
	MaxFeatures float64 `json:"max_features"`
	// Workers is the number of goroutines fitting trees (default
	// GOMAXPROCS). It does not change the result.
	Workers int `json:"workers"`
}

// DefaultForestConfig returns the reference's forest: 100 trees of depth at
// most 15, leaves of one sample, all features at every split.
func DefaultForestConfig() ForestConfig {
	return ForestConfig{Trees: 100, MaxDepth: 15, MinSamplesLeaf: 1, MaxFeatures: 0}
}

func (c ForestConfig) withDefaults() (ForestConfig, error) {
	d := DefaultForestConfig()
	if c.Trees == 0 {
		c.Trees = d.Trees
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = d.MaxDepth
	}
	if c.MinSamplesLeaf == 0 {
		c.MinSamplesLeaf = d.MinSamplesLeaf
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.Trees < 0:
		return c, fmt.Errorf("predictor: forest: Trees = %d, expected > 0", c.Trees)
	case c.MinSamplesLeaf < 0:
		return c, fmt.Errorf("predictor: forest: MinSamplesLeaf = %d, expected > 0", c.MinSamplesLeaf)
	case !(c.MaxFeatures >= 0) || math.IsInf(c.MaxFeatures, 0) || (c.MaxFeatures > 1 && c.MaxFeatures != math.Trunc(c.MaxFeatures)):
		return c, fmt.Errorf("predictor: forest: MaxFeatures = %v, expected 0 (all), a fraction in (0,1] or an integer count", c.MaxFeatures)
	}
	return c, nil
}

// Forest is a random-forest regressor (Breiman, "Random Forests", Machine
// Learning 2001): the mean of CART regression trees, each grown on a
// bootstrap sample of the training pairs, the reference's accuracy
// predictor. Input: a feature vector of NumFeatures() values (see Encoder);
// output: the predicted accuracy.
//
// The trees are stored as one flat array of nodes in pre-order, so
// Predict is a tight loop with no allocation.
//
// See also FitForest, GBT, Marshal.
type Forest struct {
	nf    int
	roots []int32 // first node of each tree
	nodes []node  // every tree, right indices global
}

// FitForest grows cfg.Trees regression trees in parallel. Tree t draws its
// bootstrap sample (n draws with replacement, used as sample weights as
// scikit-learn does) and its feature subsets from its own PCG generator,
// seeded with two values drawn from rng in tree order before any tree
// starts, so the forest depends on rng's state only, not on Workers or on
// scheduling.
//
// Splits minimise the squared error exhaustively over every boundary between
// distinct sorted feature values (see ForestConfig for the stopping rules).
// Fitting costs O(Trees * n * F * depth) with features presorted once.
func FitForest(X [][]float64, y []float64, cfg ForestConfig, rng *rand.Rand) (*Forest, error) {
	if err := checkXY("FitForest", X, y); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := newDataset(X)
	p := treeParams{maxDepth: cfg.MaxDepth, minLeaf: cfg.MinSamplesLeaf, maxFeatures: maxFeatureCount(cfg.MaxFeatures, d.nf)}
	seeds := make([][2]uint64, cfg.Trees)
	for t := range seeds {
		seeds[t] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	trees := make([][]node, cfg.Trees)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.Workers, cfg.Trees) {
		wg.Go(func() {
			b := newBuilder(d, p)
			w := make([]float64, d.n)
			for {
				t := int(next.Add(1) - 1)
				if t >= len(trees) {
					return
				}
				r := rand.New(rand.NewPCG(seeds[t][0], seeds[t][1]))
				clear(w)
				for range d.n {
					w[r.IntN(d.n)]++
				}
				trees[t] = b.grow(y, w, r)
			}
		})
	}
	wg.Wait()
	f := &Forest{nf: d.nf}
	f.roots, f.nodes = flatten(trees)
	return f, nil
}

// flatten concatenates trees into one node array, making right indices
// global, and returns each tree's root.
func flatten(trees [][]node) (roots []int32, nodes []node) {
	total := 0
	for _, t := range trees {
		total += len(t)
	}
	roots = make([]int32, len(trees))
	nodes = make([]node, 0, total)
	for i, t := range trees {
		off := int32(len(nodes))
		roots[i] = off
		for _, n := range t {
			if n.feature >= 0 {
				n.right += off
			}
			nodes = append(nodes, n)
		}
	}
	return roots, nodes
}

// Predict returns the mean of the trees' predictions for features.
func (f *Forest) Predict(features []float64) float64 {
	checkLen(KindForest, len(features), f.nf)
	var s float64
	for _, r := range f.roots {
		s += walk(f.nodes, r, features)
	}
	return s / float64(len(f.roots))
}

// Kind returns KindForest.
func (f *Forest) Kind() string { return KindForest }

// NumFeatures is the length of the feature vectors Predict takes.
func (f *Forest) NumFeatures() int { return f.nf }

// NumTrees is the number of trees.
func (f *Forest) NumTrees() int { return len(f.roots) }

// NumNodes is the total number of nodes, which drives the serialised size
// (at most 16 bytes a node).
func (f *Forest) NumNodes() int { return len(f.nodes) }
