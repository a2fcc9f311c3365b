package kernels

import (
	"fmt"
	"slices"
	"testing"
)

// TestDeterminism runs the kernels whose reductions are split over
// goroutines several times at a fixed thread count and requires identical
// bits: partial results must combine in an order that does not depend on
// scheduling (training is bit-reproducible for a given thread count).
func TestDeterminism(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		for _, nt := range []int{2, 3} {
			t.Run(fmt.Sprintf("threads=%d", nt), func(t *testing.T) {
				defer SetMaxThreads(SetMaxThreads(nt))
				r := newRand(21)
				M, C := 6001, 40
				x, dy := randVec(r, M*C, -2, 3), randVec(r, M*C, -1, 1)
				gamma, beta := randVec(r, C, 0.5, 1.5), randVec(r, C, -1, 1)
				gates := randVec(r, 100*C, 0, 1)
				d := Depthwise{B: 6, H: 16, W: 16, C: 48, K: 5, Stride: 2, KMax: 5, CMax: 48}
				ho, wo := d.OutSize()
				dx0 := randVec(r, d.B*d.H*d.W*d.C, -1, 1)
				dy0 := randVec(r, d.B*ho*wo*d.C, -1, 1)
				run := func() [][]float32 {
					var out [][]float32
					for _, a := range []Act{ActSwish, ActHSwish} {
						y, mean, invstd := make([]float32, M*C), make([]float32, C), make([]float32, C)
						BNTrainForward(y, x, M, C, gamma, beta, 1e-5, a, mean, invstd)
						dx, dg, db := make([]float32, M*C), make([]float32, C), make([]float32, C)
						BNTrainBackward(dx, dg, db, dy, x, M, C, gamma, beta, mean, invstd, a)
						out = append(out, y, mean, invstd, dx, dg, db)
					}
					ds := make([]float32, 100*C)
					ChannelScaleBackward(nil, ds, dy, x, gates, 100, M/100, C)
					dw := make([]float32, d.KMax*d.KMax*d.CMax)
					d.BackwardWeight(dw, dx0, dy0)
					wg := make([]float32, C*24)
					Gemm(true, false, C, 24, M, 1, x, C, dy, C, 0, wg, 24)
					return append(out, ds, dw, wg)
				}
				want := run()
				for range 3 {
					for i, got := range run() {
						if !slices.Equal(got, want[i]) {
							t.Fatalf("output %d differs between runs", i)
						}
					}
				}
			})
		}
	})
}
