// Package nastest is the numeric test harness of the nas packages (style
// rule 13): named tolerances, deterministic random tensors, comparisons that
// say where two tensors differ, and a float64 central-difference gradient
// check.
//
//	x := nastest.Rand(rng, 12, -1, 1)
//	nastest.CheckGrad(t, "op", x, analyticGrad, func() float64 { return loss(x) })
package nastest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Named tolerances: relative error allowed when comparing float64 results
// (and gradients against finite differences) and float32 results against a
// float64 reference.
const (
	Tol64 = 1e-6
	Tol32 = 1e-4
)

// NewRand returns a deterministic generator for a test.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7e57)) }

// Rand returns n values uniform in [lo, hi).
func Rand(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// Rand32 is Rand as float32.
func Rand32(rng *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return v
}

// To64 widens a float32 slice.
func To64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Diff returns nil when got and want agree within tol relative to the
// root-mean-square of want (floored at 1), or an error naming the worst
// element.
func Diff(got, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	var ss float64
	for _, w := range want {
		ss += w * w
	}
	scale := math.Max(1, math.Sqrt(ss/math.Max(1, float64(len(want)))))
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(got[i]) || math.IsNaN(want[i]) {
			d = math.Inf(1)
		}
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol*scale {
		return fmt.Errorf("element %d: got %.9g, want %.9g (|diff| %.3g > %.3g)", at, got[at], want[at], worst, tol*scale)
	}
	return nil
}

// Close fails t when got and want differ by more than tol (see Diff).
func Close(t testing.TB, name string, got, want []float64, tol float64) {
	t.Helper()
	if err := Diff(got, want, tol); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// Close32 compares a float32 result with a float64 reference.
func Close32(t testing.TB, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	Close(t, name, To64(got), want, tol)
}

// FDStep is the central-difference step of CheckGrad.
const FDStep = 1e-6

// NumGrad returns the central-difference gradient of loss with respect to
// x, perturbing x in place and restoring it.
func NumGrad(x []float64, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		orig := x[i]
		x[i] = orig + FDStep
		lp := loss()
		x[i] = orig - FDStep
		lm := loss()
		x[i] = orig
		g[i] = (lp - lm) / (2 * FDStep)
	}
	return g
}

// CheckGrad compares an analytic gradient of loss with respect to x with
// central differences, within Tol64 scaled like Diff (loosened by 1e-4 of
// the gradient scale for the finite-difference truncation error).
func CheckGrad(t testing.TB, name string, x, analytic []float64, loss func() float64) {
	t.Helper()
	if err := Diff(analytic, NumGrad(x, loss), 1e-5); err != nil {
		t.Errorf("%s gradient: %v", name, err)
	}
}
