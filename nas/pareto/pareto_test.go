package pareto

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// tol is style rule 13's float64 tolerance. There is no nastest harness
// yet, and these numbers need no graph to build or run.
const tol = 1e-6

var nan = math.NaN()

// pt is a short Point constructor for tables.
func pt(cost, value float64, id int) Point { return Point{Cost: cost, Value: value, ID: id} }

func ids(ps []Point) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestDominates(t *testing.T) {
	cases := []struct {
		name string
		a, b Point
		want bool
	}{
		{"cheaper and better", pt(1, 0.9, 0), pt(2, 0.8, 1), true},
		{"cheaper, same value", pt(1, 0.8, 0), pt(2, 0.8, 1), true},
		{"same cost, better", pt(2, 0.9, 0), pt(2, 0.8, 1), true},
		{"equal", pt(2, 0.8, 0), pt(2, 0.8, 1), false},
		{"trade-off", pt(1, 0.7, 0), pt(2, 0.8, 1), false},
		{"worse", pt(2, 0.8, 0), pt(1, 0.9, 1), false},
		{"NaN value", pt(1, nan, 0), pt(2, 0.8, 1), false},
		{"NaN victim", pt(1, 0.9, 0), pt(nan, 0.8, 1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Dominates(c.a, c.b); got != c.want {
				t.Errorf("Dominates(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
			}
		})
	}
}

func TestFront(t *testing.T) {
	cases := []struct {
		name   string
		points []Point
		want   []int // IDs of the front, in order
	}{
		{"empty", nil, nil},
		{"single", []Point{pt(3, 0.5, 7)}, []int{7}},
		{
			// Every point trades cost for value: all on the front, sorted by cost.
			"staircase, unsorted input",
			[]Point{pt(4, 0.7, 2), pt(1, 0.2, 0), pt(2, 0.5, 1)},
			[]int{0, 1, 2},
		},
		{
			// 1 (2, 0.4) is beaten by 0 (1, 0.5); 3 (3.5, 0.8) by 2 (3, 0.9);
			// 4 (5, 0.9) by 2 (same value, cheaper).
			"dominated points dropped",
			[]Point{pt(1, 0.5, 0), pt(2, 0.4, 1), pt(3, 0.9, 2), pt(3.5, 0.8, 3), pt(5, 0.9, 4)},
			[]int{0, 2},
		},
		{
			// At cost 2 only the best value survives.
			"equal costs",
			[]Point{pt(2, 0.3, 0), pt(2, 0.6, 1), pt(2, 0.5, 2)},
			[]int{1},
		},
		{
			// At value 0.6 only the cheapest survives.
			"equal values",
			[]Point{pt(3, 0.6, 0), pt(1, 0.6, 1), pt(2, 0.6, 2)},
			[]int{1},
		},
		{
			// 5 and 2 are exact duplicates on the front: both kept, by ID.
			"duplicates on the front kept by ID",
			[]Point{pt(2, 0.8, 5), pt(1, 0.5, 0), pt(2, 0.8, 2), pt(3, 0.7, 9)},
			[]int{0, 2, 5},
		},
		{
			// Duplicates with equal IDs keep their input order (checked by
			// TestFrontStableDuplicates); dominated duplicates both go.
			"dominated duplicates dropped",
			[]Point{pt(1, 0.9, 0), pt(2, 0.5, 1), pt(2, 0.5, 2)},
			[]int{0},
		},
		{
			"NaN ignored",
			[]Point{pt(nan, 1, 0), pt(1, 0.5, 1), pt(0.5, nan, 2), pt(2, 0.6, 3)},
			[]int{1, 3},
		},
		{
			"negative and infinite costs",
			[]Point{pt(-1, 0.1, 0), pt(math.Inf(1), 1, 1), pt(0, 0.1, 2)},
			[]int{0, 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.points)
			got := Front(c.points)
			if !slices.Equal(ids(got), c.want) {
				t.Errorf("Front IDs = %v, want %v (front %v)", ids(got), c.want, got)
			}
			if !reflect.DeepEqual(in, c.points) && !hasNaN(in) {
				t.Error("Front modified its input")
			}
		})
	}
}

func hasNaN(ps []Point) bool {
	for _, p := range ps {
		if math.IsNaN(p.Cost) || math.IsNaN(p.Value) {
			return true
		}
	}
	return false
}

func TestFrontStableDuplicates(t *testing.T) {
	a := Point{Cost: 1, Value: 1, ID: 3}
	in := []Point{a, a, pt(0, 0.5, 1)}
	got := Front(in)
	if want := []Point{pt(0, 0.5, 1), a, a}; !reflect.DeepEqual(got, want) {
		t.Errorf("Front = %v, want %v", got, want)
	}
}

func TestHypervolume(t *testing.T) {
	stair := []Point{pt(1, 0.2, 0), pt(2, 0.5, 1), pt(4, 0.7, 2)}
	cases := []struct {
		name   string
		points []Point
		ref    Point
		want   float64
	}{
		{"empty", nil, pt(1, 0, 0), 0},
		// One rectangle: (3 - 1) * (0.5 - 0) = 1.
		{"single point", []Point{pt(1, 0.5, 0)}, pt(3, 0, 0), 1},
		// Strips between consecutive costs, each at the height of the last
		// point to its left: (2-1)*0.2 + (4-2)*0.5 + (5-4)*0.7 = 0.2 + 1 + 0.7.
		{"staircase", stair, pt(5, 0, 0), 1.9},
		// (1.5, 0.1) and (3, 0.45) are dominated and add nothing.
		{"dominated points add nothing", append(slices.Clone(stair), pt(1.5, 0.1, 3), pt(3, 0.45, 4)), pt(5, 0, 0), 1.9},
		// The value reference 0.3 removes (1, 0.2), which lies below it, and
		// lowers the rest: (4-2)*(0.5-0.3) + (5-4)*(0.7-0.3) = 0.4 + 0.4.
		{"value reference", stair, pt(5, 0.3, 0), 0.8},
		// (6, 0.9) costs more than the reference and is ignored.
		{"point beyond the cost reference", append(slices.Clone(stair), pt(6, 0.9, 3)), pt(5, 0, 0), 1.9},
		// (5, 0.9) lies on the box's edge: zero width, zero area.
		{"point on the boundary", append(slices.Clone(stair), pt(5, 0.9, 3)), pt(5, 0, 0), 1.9},
		// The cost reference cuts the last strip: (2-1)*0.2 + (3-2)*0.5.
		{"cost reference inside the front", stair, pt(3, 0, 0), 0.7},
		// Duplicates count once: (3-1)*0.5.
		{"duplicates", []Point{pt(1, 0.5, 0), pt(1, 0.5, 1)}, pt(3, 0, 0), 1},
		{"NaN point ignored", []Point{pt(1, 0.5, 0), pt(nan, 0.9, 1)}, pt(3, 0, 0), 1},
		{"NaN reference", stair, pt(nan, 0, 0), 0},
		// Normalised FLOPs (min 1e6, max 5e6): costs 0, 0.5, 1 with UnitRef:
		// (0.5-0)*0.6 + (1-0.5)*0.8 + (1-1)*0.85 = 0.3 + 0.4 + 0.
		{"normalised, unit reference", []Point{pt(0, 0.6, 0), pt(0.5, 0.8, 1), pt(1, 0.85, 2)}, UnitRef(), 0.7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Hypervolume(c.points, c.ref); math.Abs(got-c.want) > tol {
				t.Errorf("Hypervolume = %.9f, want %.9f", got, c.want)
			}
		})
	}
}

func TestNormalizeCost(t *testing.T) {
	pts := []Point{pt(1e6, 0.6, 0), pt(3e6, 0.8, 1), pt(5e6, 0.85, 2), pt(0.5e6, 0.1, 3)}
	got, err := NormalizeCost(pts, 1e6, 5e6)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{pt(0, 0.6, 0), pt(0.5, 0.8, 1), pt(1, 0.85, 2), pt(-0.125, 0.1, 3)}
	for i := range want {
		if math.Abs(got[i].Cost-want[i].Cost) > tol || got[i].Value != want[i].Value || got[i].ID != want[i].ID {
			t.Errorf("point %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if pts[0].Cost != 1e6 {
		t.Error("NormalizeCost modified its input")
	}
	// Hypervolume of the normalised points against UnitRef: the point at
	// -0.125 extends the box to the left: (0-(-0.125))*0.1 + 0.7 = 0.7125.
	if hv := Hypervolume(got, UnitRef()); math.Abs(hv-0.7125) > tol {
		t.Errorf("Hypervolume = %v, want 0.7125", hv)
	}
	for _, r := range []struct {
		name   string
		lo, hi float64
	}{{"equal", 1, 1}, {"inverted", 2, 1}, {"NaN", nan, 1}, {"infinite", 0, math.Inf(1)}} {
		t.Run(r.name, func(t *testing.T) {
			if out, err := NormalizeCost(pts, r.lo, r.hi); err == nil || out != nil {
				t.Errorf("NormalizeCost(%v, %v) = %v, %v; want nil and an error", r.lo, r.hi, out, err)
			}
		})
	}
}

func TestBestPerBucket(t *testing.T) {
	pts := []Point{
		pt(0.5, 0.30, 0),  // bucket 0
		pt(1.2, 0.50, 1),  // bucket 1
		pt(1.9, 0.70, 2),  // bucket 1: best
		pt(1.5, 0.70, 3),  // bucket 1: ties 2 on value, cheaper: best
		pt(1.5, 0.70, 1),  // bucket 1: ties 3 on value and cost, lower ID: best
		pt(4.0, 0.90, 4),  // bucket 4 (bucket 2 and 3 empty)
		pt(-0.5, 0.10, 5), // bucket -1
		pt(nan, 0.99, 6),  // ignored
		pt(math.Inf(1), 1, 7),
	}
	got, err := BestPerBucket(pts, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{
		{Index: -1, Lo: -1, Hi: 0, Best: pt(-0.5, 0.10, 5), Count: 1},
		{Index: 0, Lo: 0, Hi: 1, Best: pt(0.5, 0.30, 0), Count: 1},
		{Index: 1, Lo: 1, Hi: 2, Best: pt(1.5, 0.70, 1), Count: 4},
		{Index: 4, Lo: 4, Hi: 5, Best: pt(4.0, 0.90, 4), Count: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BestPerBucket =\n%v\nwant\n%v", got, want)
	}
	// Two copies with equal value, cost and ID: the earlier one stays.
	a, b := pt(1, 1, 0), pt(1, 1, 0)
	if got, _ := BestPerBucket([]Point{a, b}, 10); len(got) != 1 || got[0].Count != 2 {
		t.Errorf("copies: %v", got)
	}
	for _, w := range []float64{0, -1, nan, math.Inf(1)} {
		if out, err := BestPerBucket(pts, w); err == nil || out != nil {
			t.Errorf("BestPerBucket(width %v) = %v, %v; want nil and an error", w, out, err)
		}
	}
	if got, err := BestPerBucket(nil, 1); err != nil || len(got) != 0 {
		t.Errorf("no points: %v, %v", got, err)
	}
}

// randomPoints draws n points on a coarse integer grid, so duplicates and
// ties are frequent.
func randomPoints(rng *rand.Rand, n, grid int) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{Cost: float64(rng.IntN(grid)), Value: float64(rng.IntN(grid)), ID: rng.IntN(n)}
	}
	return pts
}

// TestFrontProperties checks, on random point sets full of ties: no front
// point is dominated by any input point; every input point off the front is
// dominated by a front point; the front is sorted with strictly increasing
// values between distinct positions; and it equals the brute-force O(n^2)
// front, as a multiset.
func TestFrontProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := 1 + rng.IntN(60)
		pts := randomPoints(rng, n, 1+rng.IntN(12))
		front := Front(pts)
		for i, f := range front {
			for _, p := range pts {
				if Dominates(p, f) {
					t.Fatalf("trial %d: front point %v dominated by %v", trial, f, p)
				}
			}
			if i > 0 {
				prev := front[i-1]
				same := prev.Cost == f.Cost && prev.Value == f.Value
				if !same && (f.Cost <= prev.Cost || f.Value <= prev.Value) {
					t.Fatalf("trial %d: front not strictly increasing: %v then %v", trial, prev, f)
				}
				if same && f.ID < prev.ID {
					t.Fatalf("trial %d: duplicates not ordered by ID: %v then %v", trial, prev, f)
				}
			}
		}
		var brute []Point
		for _, p := range pts {
			dominated := false
			for _, q := range pts {
				dominated = dominated || Dominates(q, p)
			}
			if !dominated {
				brute = append(brute, p)
				continue
			}
			found := false
			for _, f := range front {
				found = found || Dominates(f, p)
			}
			if !found {
				t.Fatalf("trial %d: %v is off the front but no front point dominates it", trial, p)
			}
		}
		key := func(a, b Point) int {
			return cmp.Or(cmp.Compare(a.Cost, b.Cost), cmp.Compare(a.Value, b.Value), cmp.Compare(a.ID, b.ID))
		}
		slices.SortFunc(brute, key)
		sorted := slices.Clone(front)
		slices.SortFunc(sorted, key)
		if !reflect.DeepEqual(sorted, brute) {
			t.Fatalf("trial %d: front %v, brute force %v", trial, front, brute)
		}
	}
}

// TestHypervolumeProperties checks Hypervolume against a count of unit
// cells on an integer grid. With integer coordinates, the cell [x, x+1] x
// [y, y+1] is dominated exactly when some point p has p.Cost <= x and
// p.Value >= y+1. It also checks that the front has the hypervolume of its
// input, and that adding a point never lowers it.
func TestHypervolumeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		grid := 2 + rng.IntN(10)
		pts := randomPoints(rng, 1+rng.IntN(30), grid)
		ref := Point{Cost: float64(rng.IntN(grid + 2)), Value: float64(rng.IntN(grid / 2))}
		cells := 0
		for x := math.Floor(minCost(pts)); x < ref.Cost; x++ {
			for y := ref.Value; y < float64(grid); y++ {
				for _, p := range pts {
					if p.Cost <= x && p.Value >= y+1 {
						cells++
						break
					}
				}
			}
		}
		hv := Hypervolume(pts, ref)
		if math.Abs(hv-float64(cells)) > tol {
			t.Fatalf("trial %d: Hypervolume %v, cell count %d (ref %v, points %v)", trial, hv, cells, ref, pts)
		}
		if f := Hypervolume(Front(pts), ref); math.Abs(f-hv) > tol {
			t.Fatalf("trial %d: front's hypervolume %v != input's %v", trial, f, hv)
		}
		more := append(slices.Clone(pts), Point{Cost: float64(rng.IntN(grid)), Value: float64(rng.IntN(grid))})
		if h := Hypervolume(more, ref); h < hv-tol {
			t.Fatalf("trial %d: adding a point lowered the hypervolume from %v to %v", trial, hv, h)
		}
	}
}

func minCost(pts []Point) float64 {
	m := math.Inf(1)
	for _, p := range pts {
		m = math.Min(m, p.Cost)
	}
	return m
}

func BenchmarkFront(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		pts := make([]Point, n)
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range pts {
			pts[i] = Point{Cost: rng.Float64(), Value: rng.Float64(), ID: i}
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				Front(pts)
			}
		})
	}
}
