package ref

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// Named tolerances: the float32 kernels against their float64 twins, and
// the float64 gradients against central finite differences with step fdStep.
const (
	tol32  = 1e-4
	tolFD  = 1e-6
	fdStep = 1e-6
)

var allActs = []kernels.Act{kernels.ActNone, kernels.ActReLU, kernels.ActHSwish, kernels.ActSwish, kernels.ActHSigmoid}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x2ef64)) }

// randPair returns n uniform values in [lo, hi) rounded to float32, both as
// float32 and as (the same) float64 values.
func randPair(r *rand.Rand, n int, lo, hi float64) ([]float32, []float64) {
	s32, s64 := make([]float32, n), make([]float64, n)
	for i := range s32 {
		s32[i] = float32(lo + (hi-lo)*r.Float64())
		s64[i] = float64(s32[i])
	}
	return s32, s64
}

// rand64 returns n uniform float64 values in [lo, hi).
func rand64(r *rand.Rand, n int, lo, hi float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = lo + (hi-lo)*r.Float64()
	}
	return s
}

// nanPair returns two buffers of n NaNs, for outputs that must be
// overwritten.
func nanPair(n int) ([]float32, []float64) {
	s32, s64 := make([]float32, n), make([]float64, n)
	for i := range s32 {
		s32[i], s64[i] = float32(math.NaN()), math.NaN()
	}
	return s32, s64
}

func clone64(s []float64) []float64 { return append([]float64(nil), s...) }

func rms(s []float64) float64 {
	var q float64
	for _, v := range s {
		q += v * v
	}
	if len(s) == 0 {
		return 0
	}
	return math.Sqrt(q / float64(len(s)))
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func sub(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// match fails t unless the float32 kernel's output got and the twin's
// output want agree elementwise within tol32*max(|want|, rms(want)); a NaN
// anywhere (an output element left unwritten) is a mismatch.
func match(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	ref := rms(want)
	if ref == 0 || math.IsNaN(ref) {
		ref = 1
	}
	for i := range want {
		g, w := float64(got[i]), want[i]
		if math.IsNaN(g) || math.IsNaN(w) || math.Abs(g-w) > tol32*math.Max(math.Abs(w), ref) {
			t.Fatalf("%s: element %d: float32 %g, float64 %g (rms %g)", name, i, g, w, ref)
		}
	}
}

// matchScalar is match for one value.
func matchScalar(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.IsNaN(got) || math.IsNaN(want) || math.Abs(got-want) > tol32*math.Max(math.Abs(want), 1) {
		t.Fatalf("%s: float32 %g, float64 %g", name, got, want)
	}
}

// same fails t unless a and b are bitwise equal (aliasing tests).
func same(t *testing.T, name string, a, b []float64) {
	t.Helper()
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			t.Fatalf("%s: element %d: %g, want %g", name, i, a[i], b[i])
		}
	}
}

// checkGrad is the shared finite-difference helper: it compares grad (the
// gradient of f with respect to x) with central differences
// (f(x+h) - f(x-h))/2h, h = fdStep, at every coordinate of x (at most 400,
// spread over x). x is perturbed in place and restored; f must read it.
// The tolerance is tolFD relative to max(|grad[i]|, rms(grad)), plus
// tolFD*1e-3 absolute for gradients that are all (near) zero.
func checkGrad(t *testing.T, name string, f func() float64, x, grad []float64) {
	t.Helper()
	if len(grad) != len(x) {
		t.Fatalf("%s: gradient length %d, want %d", name, len(grad), len(x))
	}
	ref := rms(grad)
	step := max(1, len(x)/400)
	for i := 0; i < len(x); i += step {
		v := x[i]
		x[i] = v + fdStep
		fp := f()
		x[i] = v - fdStep
		fm := f()
		x[i] = v
		fd := (fp - fm) / (2 * fdStep)
		if math.IsNaN(grad[i]) || math.Abs(fd-grad[i]) > tolFD*math.Max(math.Abs(grad[i]), ref)+tolFD*1e-3 {
			t.Fatalf("%s: coordinate %d: finite difference %.12g, gradient %.12g", name, i, fd, grad[i])
		}
	}
}

// forPaths runs f with the float32 kernels on their portable pure-Go code
// and on the native choice (assembly/SIMD where this build and CPU have it).
func forPaths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, generic := range []bool{true, false} {
		t.Run(fmt.Sprintf("generic=%v", generic), func(t *testing.T) {
			kernels.SetGeneric(generic)
			defer kernels.SetGeneric(false)
			f(t)
		})
	}
}

// expectPanic fails t unless fn panics with a "ref:" message.
func expectPanic(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		msg, _ := recover().(string)
		if len(msg) < 4 || msg[:4] != "ref:" {
			t.Errorf("%s: panic %q, want a \"ref:\" panic", name, msg)
		}
	}()
	fn()
}
