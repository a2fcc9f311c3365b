package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// growOne fits one tree to the rows X with weights w (nil: all 1).
func growOne(X [][]float64, y, w []float64, p treeParams) []node {
	if w == nil {
		w = make([]float64, len(y))
		for i := range w {
			w[i] = 1
		}
	}
	if p.maxFeatures == 0 {
		p.maxFeatures = len(X[0])
	}
	return newBuilder(newDataset(X), p).grow(y, w, rand.New(rand.NewPCG(1, 1)))
}

func column(xs ...float64) [][]float64 {
	X := make([][]float64, len(xs))
	for i, x := range xs {
		X[i] = []float64{x}
	}
	return X
}

func TestTreeByHand(t *testing.T) {
	leaf := func(v float64) node { return node{feature: -1, value: v} }
	cases := []struct {
		name string
		X    [][]float64
		y, w []float64
		p    treeParams
		want []node
	}{
		{
			name: "two steps",
			X:    column(1, 2, 3, 4), y: []float64{0, 0, 1, 1},
			p:    treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{{feature: 0, right: 2, value: 2.5}, leaf(0), leaf(1)},
		},
		{
			// y = 0 1 1 3. Root candidates (SSE left + right): after x=1:
			// 0 + 24/9; after 2: 0.5 + 2; after 3: 6/9 + 0: split at 3.5.
			// Left {0,1,1}: after 1: 0 + 0: split at 1.5. Pre-order:
			// 0 root, 1 left split, 2-3 its leaves, 4 the right leaf.
			name: "unbalanced",
			X:    column(1, 2, 3, 4), y: []float64{0, 1, 1, 3},
			p: treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{
				{feature: 0, right: 4, value: 3.5},
				{feature: 0, right: 3, value: 1.5}, leaf(0), leaf(1),
				leaf(3),
			},
		},
		{
			name: "depth 1 keeps the root split",
			X:    column(1, 2, 3, 4), y: []float64{0, 1, 1, 3},
			p:    treeParams{maxDepth: 1, minLeaf: 1},
			want: []node{{feature: 0, right: 2, value: 3.5}, leaf(2.0 / 3), leaf(3)},
		},
		{
			// Only the middle split leaves 2 samples a side; then 2 < 2*2 stops.
			name: "min samples leaf 2",
			X:    column(1, 2, 3, 4), y: []float64{0, 1, 1, 3},
			p:    treeParams{maxDepth: -1, minLeaf: 2},
			want: []node{{feature: 0, right: 2, value: 2.5}, leaf(0.5), leaf(2)},
		},
		{
			// Bootstrap weights 2 0 1 1: samples (x1,y0)x2, (x3,y1), (x4,y3).
			// After x=1: 0 + 2 (right {1,3}); after x=3: weighted left mean
			// 1/3, SSE 2/9+4/9 = 6/9, right 0: split at 3.5, then the left
			// pair splits at (1+3)/2 = 2 (x=2 is out of the bag).
			name: "bootstrap weights",
			X:    column(1, 2, 3, 4), y: []float64{0, 1, 1, 3}, w: []float64{2, 0, 1, 1},
			p: treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{
				{feature: 0, right: 4, value: 3.5},
				{feature: 0, right: 3, value: 2}, leaf(0), leaf(1),
				leaf(3),
			},
		},
		{
			// Feature 0 is constant; feature 1 separates.
			name: "second feature",
			X:    [][]float64{{5, 1}, {5, 1}, {5, 2}, {5, 2}}, y: []float64{1, 1, 4, 4},
			p:    treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{{feature: 1, right: 2, value: 1.5}, leaf(1), leaf(4)},
		},
		{
			name: "pure node is a leaf",
			X:    column(1, 2, 3), y: []float64{7, 7, 7},
			p:    treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{leaf(7)},
		},
		{
			name: "tied features cannot split",
			X:    column(1, 1, 1), y: []float64{1, 2, 3},
			p:    treeParams{maxDepth: -1, minLeaf: 1},
			want: []node{leaf(2)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := growOne(c.X, c.y, c.w, c.p)
			if len(got) != len(c.want) {
				t.Fatalf("tree = %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i].feature != c.want[i].feature || got[i].right != c.want[i].right || !near(got[i].value, c.want[i].value) {
					t.Fatalf("node %d = %+v, want %+v (tree %+v)", i, got[i], c.want[i], got)
				}
			}
		})
	}
}

// sse is the weighted squared error of predicting each side's weighted mean.
func sse(y, w []float64, idx []int) float64 {
	var W, S float64
	for _, i := range idx {
		W += w[i]
		S += w[i] * y[i]
	}
	var e float64
	for _, i := range idx {
		e += w[i] * (y[i] - S/W) * (y[i] - S/W)
	}
	return e
}

// TestBestSplitIsExhaustive checks the root split against every valid split
// tried by brute force, on data with many ties and random weights.
func TestBestSplitIsExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for trial := range 200 {
		n, nf := 3+rng.IntN(30), 1+rng.IntN(4)
		minLeaf := 1 + rng.IntN(3)
		X := make([][]float64, n)
		y, w := make([]float64, n), make([]float64, n)
		for i := range n {
			X[i] = make([]float64, nf)
			for f := range nf {
				X[i][f] = float64(rng.IntN(5))
			}
			y[i] = rng.NormFloat64()
			w[i] = float64(1 + rng.IntN(3))
		}
		tree := growOne(X, y, w, treeParams{maxDepth: 1, minLeaf: minLeaf})
		best := math.Inf(1)
		for f := range nf {
			for thr := 0.5; thr < 5; thr++ {
				var l, r []int
				for i := range n {
					if X[i][f] <= thr {
						l = append(l, i)
					} else {
						r = append(r, i)
					}
				}
				if len(l) >= minLeaf && len(r) >= minLeaf {
					best = min(best, sse(y, w, l)+sse(y, w, r))
				}
			}
		}
		if tree[0].feature < 0 {
			if !math.IsInf(best, 1) {
				t.Fatalf("trial %d: no split, but brute force finds SSE %v", trial, best)
			}
			continue
		}
		var l, r []int
		for i := range n {
			if X[i][tree[0].feature] <= tree[0].value {
				l = append(l, i)
			} else {
				r = append(r, i)
			}
		}
		if got := sse(y, w, l) + sse(y, w, r); got > best+1e-9 {
			t.Fatalf("trial %d: split SSE %v, brute force finds %v", trial, got, best)
		}
	}
}

// TestTreeStructure checks the invariants Predict and Unmarshal rely on.
func TestTreeStructure(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	X := make([][]float64, 300)
	y := make([]float64, 300)
	for i := range X {
		X[i] = []float64{rng.Float64(), float64(rng.IntN(3)), rng.NormFloat64()}
		y[i] = X[i][0] + X[i][1] + 0.1*rng.NormFloat64()
	}
	for _, depth := range []int{-1, 0, 1, 4, 15} {
		tree := growOne(X, y, nil, treeParams{maxDepth: depth, minLeaf: 2, maxFeatures: 2})
		maxd := 0
		var visit func(i int32, d int) int32 // returns the index after the subtree
		visit = func(i int32, d int) int32 {
			maxd = max(maxd, d)
			n := tree[i]
			if n.feature < 0 {
				return i + 1
			}
			if n.right <= i+1 || int(n.right) >= len(tree) {
				t.Fatalf("depth %d: node %d has right %d", depth, i, n.right)
			}
			if end := visit(i+1, d+1); end != n.right {
				t.Fatalf("depth %d: left subtree of %d ends at %d, right is %d", depth, i, end, n.right)
			}
			return visit(n.right, d+1)
		}
		if end := visit(0, 0); int(end) != len(tree) {
			t.Fatalf("depth %d: tree covers %d of %d nodes", depth, end, len(tree))
		}
		if depth >= 0 && maxd > depth {
			t.Errorf("maxDepth %d: tree has depth %d", depth, maxd)
		}
	}
}

func TestMaxFeatureCount(t *testing.T) {
	cases := []struct {
		v    float64
		nf   int
		want int
	}{
		{0, 21, 21}, {1, 21, 21}, {0.5, 21, 10}, {1.0 / 3, 21, 7}, {1e-9, 21, 1}, {5, 21, 5}, {40, 21, 21},
	}
	for _, c := range cases {
		if got := maxFeatureCount(c.v, c.nf); got != c.want {
			t.Errorf("maxFeatureCount(%v, %d) = %d, want %d", c.v, c.nf, got, c.want)
		}
	}
}
