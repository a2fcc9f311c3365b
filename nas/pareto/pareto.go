// Package pareto computes the outputs of ALGORITHM.md section 10: Pareto
// fronts of accuracy against a cost (FLOPs, parameters or latency), their
// hypervolume, and the best subnet per cost bucket. These serve to compare
// runs, e.g. uniform against BestUp-3 sampling.
//
// A Point is one evaluated subnet. Its cost is minimised and its value
// (accuracy) maximised:
//
//	pts := []pareto.Point{{Cost: 1, Value: 0.5, ID: 0}, {Cost: 2, Value: 0.4, ID: 1}, {Cost: 3, Value: 0.9, ID: 2}}
//	front := pareto.Front(pts)                                    // IDs 0 and 2: ID 1 costs more than ID 0 and is worse
//	hv := pareto.Hypervolume(front, pareto.Point{Cost: 4, Value: 0}) // 0.5*(3-1) + 0.9*(4-3) = 1.9
//
// To compare runs fairly, normalise the cost with the space's bounds and use
// UnitRef (see Hypervolume):
//
//	norm, _ := pareto.NormalizeCost(pts, float64(sp.FLOPs(sp.Min())), float64(sp.FLOPs(sp.Max())))
//	hv := pareto.Hypervolume(pareto.Front(norm), pareto.UnitRef())
//
// Everything here is deterministic. The functions never modify their
// arguments, and they ignore points with a NaN coordinate.
//
// See also: package evolution, whose archive is the shortlist these fronts
// are built from; schemas.Eval, the rows the pipeline turns into Points.
package pareto

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Point is one evaluated subnet on two axes.
type Point struct {
	Cost  float64 // minimised: FLOPs (MACs), parameters or latency
	Value float64 // maximised: accuracy
	ID    int     // the caller's identifier, e.g. an index into its evaluation rows
}

// Dominates reports whether a dominates b: a costs no more, is worth no
// less, and is strictly better on at least one axis. Equal points do not
// dominate each other. A point with a NaN coordinate neither dominates nor
// is dominated.
func Dominates(a, b Point) bool {
	return a.Cost <= b.Cost && a.Value >= b.Value && (a.Cost < b.Cost || a.Value > b.Value)
}

// Front returns the non-dominated points: those that no other point
// dominates (see Dominates). They are sorted by ascending Cost, so Value
// ascends strictly along the front.
//
// Duplicates: points with the same Cost and Value do not dominate each
// other, so when such a point is on the front, all its copies are kept,
// ordered by ID, then by input order. That way every input point is either
// on the front or dominated by a front point. Callers that want one point
// per position can drop the neighbours with equal coordinates.
//
// Points with a NaN Cost or Value are ignored. Front runs in O(n log n). It
// returns a new slice (nil for no points) and leaves points unchanged.
func Front(points []Point) []Point {
	pts := valid(points)
	slices.SortStableFunc(pts, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Cost, b.Cost), cmp.Compare(b.Value, a.Value), cmp.Compare(a.ID, b.ID))
	})
	var front []Point
	for _, p := range pts {
		if n := len(front); n > 0 {
			last := front[n-1]
			if p.Cost == last.Cost && p.Value == last.Value {
				front = append(front, p) // duplicate of a front point
				continue
			}
			if p.Value <= last.Value {
				continue // dominated by last: it costs no less and is worth no more
			}
		}
		front = append(front, p)
	}
	return front
}

// valid copies the points whose coordinates are not NaN.
func valid(points []Point) []Point {
	out := make([]Point, 0, len(points))
	for _, p := range points {
		if !math.IsNaN(p.Cost) && !math.IsNaN(p.Value) {
			out = append(out, p)
		}
	}
	return out
}

// UnitRef returns the reference point for Hypervolume on normalised costs:
// cost 1 (the space's largest subnet) and value 0 (zero accuracy). It is a
// function so that no package-level value can be changed by a caller. See
// Hypervolume and NormalizeCost.
func UnitRef() Point { return Point{Cost: 1, Value: 0} }

// Hypervolume returns the area of the region that the points dominate,
// inside the box bounded by the reference point ref: every (c, v) with
// c <= ref.Cost and v >= ref.Value that some point p reaches, with
// p.Cost <= c and p.Value >= v. The front argument need not be a front.
// Dominated points add nothing, and Hypervolume takes the front itself.
//
// Points outside the box are ignored (equivalently, clipped to it): those
// with Cost > ref.Cost or Value < ref.Value dominate nothing inside it.
// Points on its boundary add zero area, and so do points with NaN
// coordinates. The result is 0 when nothing is left, or when ref has a NaN
// coordinate. Costs below any bound (e.g. negative) are allowed, and they
// simply add area.
//
// Reference point for the pipeline: map every cost c to
// (c - min) / (max - min), where min and max are the cost of the space's
// smallest and largest subnets (NormalizeCost), keep accuracy in [0, 1] as
// the value, and use UnitRef() = (1, 0). Why:
//   - The box depends only on the search space, never on the runs being
//     compared. So every run of a space (uniform, BestUp-3, WorstUp-50,
//     any seed) is measured against the same box, and a larger
//     hypervolume means a better front.
//   - Every possible subnet lies inside the box: cost <= 1 and accuracy
//     >= 0. So nothing is clipped, and the result does not change when a
//     run happens to explore the extremes.
//   - The result is in [0, 1]. It is the area under the front's accuracy
//     staircase over the normalised cost range, the same kind of number for
//     FLOPs, params and latency, and for spaces of different sizes.
//
// For latency, use the measured latency of the smallest and largest
// subnets as min and max. A subnet measured faster than the smallest one
// gets a slightly negative cost, and this is harmless. The value reference
// is 0 rather than chance accuracy, so the box stays valid even for a
// collapsed run. The choice matters little: lowering the value reference by
// d adds d * (1 - c0) to a front whose cheapest point has normalised cost
// c0. Fronts that contain the smallest subnet (c0 = 0, and every run
// should evaluate it) all gain the same amount, so their ranking does not
// change.
//
// See also: Front, NormalizeCost, UnitRef.
func Hypervolume(front []Point, ref Point) float64 {
	if math.IsNaN(ref.Cost) || math.IsNaN(ref.Value) {
		return 0
	}
	var in []Point
	for _, p := range front {
		if p.Cost <= ref.Cost && p.Value >= ref.Value {
			in = append(in, p)
		}
	}
	f := Front(in) // ascending cost, strictly ascending value (duplicates aside)
	// At cost x, the dominated values reach up to the Value of the last
	// front point with Cost <= x. So the area is the sum of the strips
	// between consecutive costs.
	area := 0.0
	for i, p := range f {
		next := ref.Cost
		if i+1 < len(f) {
			next = f[i+1].Cost
		}
		area += (next - p.Cost) * (p.Value - ref.Value)
	}
	return area
}

// NormalizeCost returns a copy of points with every Cost mapped to
// (Cost - lo) / (hi - lo). Values and IDs are kept. With lo and hi the
// costs of the space's smallest and largest subnets, the costs fall in
// [0, 1], ready for Hypervolume with UnitRef(). It returns an error unless
// lo < hi, with both finite.
func NormalizeCost(points []Point, lo, hi float64) ([]Point, error) {
	if !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, fmt.Errorf("pareto: normalize: cost range [%v, %v]: expected finite bounds with lo < hi", lo, hi)
	}
	out := make([]Point, len(points))
	for i, p := range points {
		out[i] = Point{Cost: (p.Cost - lo) / (hi - lo), Value: p.Value, ID: p.ID}
	}
	return out, nil
}

// Bucket is one cost bucket of BestPerBucket.
type Bucket struct {
	// Index is floor(Cost / width): the bucket holds costs in [Lo, Hi) =
	// [Index*width, (Index+1)*width).
	Index  int
	Lo, Hi float64
	// Best is the point with the highest Value. Ties go to the lower Cost,
	// then the lower ID, then the earlier point.
	Best Point
	// Count is the number of points in the bucket.
	Count int
}

// BestPerBucket splits the points into cost buckets of the given width and
// returns the best point of each non-empty bucket, by ascending Index.
// Bucket i holds costs in [i*width, (i+1)*width), the same buckets as
// evolution.Config.BucketWidth when the cost is FLOPs. Two runs bucketed
// with the same width line up by Index, for a side-by-side comparison
// (e.g. uniform against BestUp-3).
//
// Points with a NaN coordinate are ignored, and so are points whose bucket
// index is beyond +-2^53, where float64 stops counting integers exactly
// (this includes infinite costs). The function
// returns an error unless width is finite and positive.
func BestPerBucket(points []Point, width float64) ([]Bucket, error) {
	if !(width > 0) || math.IsInf(width, 0) {
		return nil, fmt.Errorf("pareto: bucket width %v: expected a finite positive width", width)
	}
	byIndex := map[int]*Bucket{}
	for _, p := range valid(points) {
		q := math.Floor(p.Cost / width)
		if math.Abs(q) > 1<<53 {
			continue
		}
		i := int(q)
		b := byIndex[i]
		if b == nil {
			byIndex[i] = &Bucket{Index: i, Lo: float64(i) * width, Hi: float64(i+1) * width, Best: p, Count: 1}
			continue
		}
		b.Count++
		if cmp.Or(cmp.Compare(p.Value, b.Best.Value), cmp.Compare(b.Best.Cost, p.Cost), cmp.Compare(b.Best.ID, p.ID)) > 0 {
			b.Best = p
		}
	}
	out := make([]Bucket, 0, len(byIndex))
	for _, b := range byIndex {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b Bucket) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}
