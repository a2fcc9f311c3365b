package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Named tolerances (style rule 13): float32 kernels against float64
// references, and float64 finite differences against float64 gradients.
const (
	tol32 = 1e-4
	tol64 = 1e-6
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// randVec returns n uniform values in [lo, hi).
func randVec(r *rand.Rand, n int, lo, hi float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return s
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

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

// closeTo reports the first element where |got-want| > tol*max(|want|, rms(want)).
func closeTo(got []float32, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	ref := rms(want)
	if ref == 0 {
		ref = 1
	}
	for i := range want {
		g, w := float64(got[i]), want[i]
		if math.IsNaN(g) || math.Abs(g-w) > tol*math.Max(math.Abs(w), ref) {
			return fmt.Errorf("element %d: got %g, want %g (rms %g)", i, g, w, ref)
		}
	}
	return nil
}

func check(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if err := closeTo(got, want, tol); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// forBackends runs f once per code path available in this build and on this
// CPU: pure Go, the native choice, archsimd BatchNorm where the assembly
// one is native and, on AVX-512 CPUs, the AVX2 GEMM.
func forBackends(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	t.Run("generic", func(t *testing.T) {
		SetGeneric(true)
		defer SetGeneric(false)
		f(t)
	})
	if haveGemmAsm || haveSIMD {
		t.Run("native", f)
	}
	if haveSIMD && useBNAsm() {
		// archsimd BatchNorm and activations (the native choice in
		// GOEXPERIMENT=simd builds with -tags purego).
		t.Run("simd", func(t *testing.T) {
			noBNAsm.Store(true)
			defer noBNAsm.Store(false)
			f(t)
		})
	}
	if gemmAVX512 && gemmAVX2 {
		t.Run("avx2gemm", func(t *testing.T) {
			defer setGemmKind(gemm256)()
			f(t)
		})
	}
}

// forThreads runs f with 1 and 3 goroutines per call (3 > the 2 cores of the
// target machine exercises uneven splits).
func forThreads(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, nt := range []int{1, 3} {
		t.Run(fmt.Sprintf("threads=%d", nt), func(t *testing.T) {
			defer SetMaxThreads(SetMaxThreads(nt))
			f(t)
		})
	}
}
