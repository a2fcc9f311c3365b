package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// tol is the float64 comparison tolerance of style rule 13.
const tol = 1e-6

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func TestRankMetrics(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name     string
		a, b     []float64
		tau, rho float64
	}{
		{name: "perfect agreement", a: []float64{1, 2, 3, 4}, b: []float64{10, 20, 30, 40}, tau: 1, rho: 1},
		{name: "reversal", a: []float64{1, 2, 3, 4, 5}, b: []float64{5, 4, 3, 2, 1}, tau: -1, rho: -1},
		{
			// a = 1 2 3 4 5, b = 1 3 2 5 5 (one tie in b). The 10 pairs:
			// concordant (1,2) (1,3) (1,4) (1,5) (2,4) (2,5) (3,4) (3,5) = 8,
			// discordant (2,3) = 1, tied in b only (4,5): n0 = 10, n1 = 0, n2 = 1.
			// tau_b = (8 - 1) / sqrt((10 - 0)(10 - 1)) = 7/sqrt(90).
			// Ranks of b: 1 3 2 4.5 4.5; against 1..5 (both means 3):
			// sum da*db = 4 + 0 + 0 + 1.5 + 3 = 8.5, sum da^2 = 10,
			// sum db^2 = 4 + 0 + 1 + 2.25 + 2.25 = 9.5: rho = 8.5/sqrt(95).
			name: "five with one tie",
			a:    []float64{1, 2, 3, 4, 5}, b: []float64{1, 3, 2, 5, 5},
			tau: 7 / math.Sqrt(90), rho: 8.5 / math.Sqrt(95),
		},
		{
			// a = 1 1 2 3, b = 1 2 2 3. Pairs: (1,2) tied in a; (1,3) C;
			// (1,4) C; (2,3) tied in b; (2,4) C; (3,4) C: C = 4, D = 0,
			// n0 = 6, n1 = 1, n2 = 1: tau_b = 4/sqrt(5*5) = 0.8.
			// Ranks 1.5 1.5 3 4 and 1 2.5 2.5 4, means 2.5: da = -1 -1 .5 1.5,
			// db = -1.5 0 0 1.5: sum da*db = 1.5 + 2.25 = 3.75,
			// sum da^2 = 1+1+.25+2.25 = 4.5, sum db^2 = 4.5: rho = 3.75/4.5.
			name: "ties on both sides",
			a:    []float64{1, 1, 2, 3}, b: []float64{1, 2, 2, 3},
			tau: 0.8, rho: 3.75 / 4.5,
		},
		{name: "constant side", a: []float64{1, 2, 3}, b: []float64{7, 7, 7}, tau: nan, rho: nan},
		{name: "single pair", a: []float64{1}, b: []float64{2}, tau: nan, rho: nan},
		{name: "NaN input", a: []float64{1, nan, 3}, b: []float64{1, 2, 3}, tau: nan, rho: nan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KendallTau(c.a, c.b); !near(got, c.tau) {
				t.Errorf("KendallTau = %v, want %v", got, c.tau)
			}
			if got := Spearman(c.a, c.b); !near(got, c.rho) {
				t.Errorf("Spearman = %v, want %v", got, c.rho)
			}
			// Both are symmetric.
			if got := KendallTau(c.b, c.a); !near(got, c.tau) {
				t.Errorf("KendallTau(b, a) = %v, want %v", got, c.tau)
			}
		})
	}
}

// TestRankIdentitiesExact: self-agreement is exactly 1 and reversal
// exactly -1, ties or not (no 0.9999999999999999).
func TestRankIdentitiesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	for _, n := range []int{2, 5, 100, 1000} {
		for _, levels := range []int{2, 7, 1 << 30} {
			a, rev := make([]float64, n), make([]float64, n)
			for i := range a {
				a[i] = float64(rng.IntN(levels))
			}
			a[0], a[1] = 0, 1 // not constant
			for i, v := range a {
				rev[i] = -v
			}
			if tau, rho := KendallTau(a, a), Spearman(a, a); tau != 1 || rho != 1 {
				t.Errorf("n %d, %d levels: self tau %v, rho %v; want exactly 1", n, levels, tau, rho)
			}
			if tau, rho := KendallTau(a, rev), Spearman(a, rev); tau != -1 || rho != -1 {
				t.Errorf("n %d, %d levels: reversed tau %v, rho %v; want exactly -1", n, levels, tau, rho)
			}
		}
	}
}

// naiveTau is tau-b by definition, O(n^2), for cross-checking Knight's algorithm.
func naiveTau(a, b []float64) float64 {
	var C, D, n1, n2 float64
	n := len(a)
	for i := range n {
		for j := i + 1; j < n; j++ {
			da, db := a[i]-a[j], b[i]-b[j]
			switch {
			case da == 0 && db == 0:
				n1++
				n2++
			case da == 0:
				n1++
			case db == 0:
				n2++
			case (da > 0) == (db > 0):
				C++
			default:
				D++
			}
		}
	}
	n0 := float64(n * (n - 1) / 2)
	return (C - D) / math.Sqrt((n0-n1)*(n0-n2))
}

func TestKendallTauMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 300 {
		n := 2 + rng.IntN(60)
		levels := 1 + rng.IntN(8) // few levels: many ties
		a, b := make([]float64, n), make([]float64, n)
		for i := range n {
			a[i] = float64(rng.IntN(levels))
			b[i] = float64(rng.IntN(levels)) + 0.5*a[i]
		}
		if got, want := KendallTau(a, b), naiveTau(a, b); !near(got, want) {
			t.Fatalf("trial %d: KendallTau(%v, %v) = %v, definition gives %v", trial, a, b, got, want)
		}
	}
}

func TestErrorMetrics(t *testing.T) {
	cases := []struct {
		name        string
		truth, pred []float64
		rmse, r2    float64
	}{
		// Residuals 0 0 -1: SS_res = 1, RMSE = sqrt(1/3); mean 2, SS_tot = 2: R2 = 0.5.
		{name: "one miss", truth: []float64{1, 2, 3}, pred: []float64{1, 2, 4}, rmse: math.Sqrt(1.0 / 3), r2: 0.5},
		{name: "perfect", truth: []float64{1, 2, 3}, pred: []float64{1, 2, 3}, rmse: 0, r2: 1},
		// Predicting the mean scores R2 = 0; RMSE is the population std, sqrt(2/3).
		{name: "mean", truth: []float64{1, 2, 3}, pred: []float64{2, 2, 2}, rmse: math.Sqrt(2.0 / 3), r2: 0},
		{name: "constant truth", truth: []float64{2, 2}, pred: []float64{1, 2}, rmse: math.Sqrt(0.5), r2: math.NaN()},
		{name: "empty", truth: nil, pred: nil, rmse: math.NaN(), r2: math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RMSE(c.truth, c.pred); !near(got, c.rmse) {
				t.Errorf("RMSE = %v, want %v", got, c.rmse)
			}
			if got := R2(c.truth, c.pred); !near(got, c.r2) {
				t.Errorf("R2 = %v, want %v", got, c.r2)
			}
		})
	}
}

func TestMetricsPanicOnLengthMismatch(t *testing.T) {
	for name, f := range map[string]func(a, b []float64) float64{
		"KendallTau": KendallTau, "Spearman": Spearman, "RMSE": RMSE, "R2": R2,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with lengths 2 and 3 did not panic", name)
				}
			}()
			f([]float64{1, 2}, []float64{1, 2, 3})
		})
	}
}
