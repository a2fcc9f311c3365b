package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestBNSplitMatchesUndivided checks that BatchNorm over a batch split into
// parts (BNSums/BNFinish/BNApply forward, BNBackwardSums/BNBackwardCoeffs/
// BNBackwardApply backward) computes what BNTrainForward and
// BNTrainBackward compute on the undivided batch, on every code path.
func TestBNSplitMatchesUndivided(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		r := newRand(11)
		for _, sh := range []struct{ M, C, parts int }{
			{64, 12, 2}, {66, 24, 3}, {37, 144, 2}, {100, 7, 4}, {8, 288, 1}, {5, 16, 5},
		} {
			for _, a := range []Act{ActNone, ActHSwish, ActSwish} {
				t.Run(fmt.Sprintf("M%d_C%d_parts%d_%v", sh.M, sh.C, sh.parts, a), func(t *testing.T) {
					M, C := sh.M, sh.C
					x := randVec(r, M*C, -2, 3)
					gamma, beta := randVec(r, C, 0.5, 1.5), randVec(r, C, -0.5, 0.5)
					dy := randVec(r, M*C, -1, 1)

					y0, m0, s0 := make([]float32, M*C), make([]float32, C), make([]float32, C)
					BNTrainForward(y0, x, M, C, gamma, beta, 1e-5, a, m0, s0)
					dx0, dg0, db0 := make([]float32, M*C), make([]float32, C), make([]float32, C)
					BNTrainBackward(dx0, dg0, db0, dy, x, M, C, gamma, beta, m0, s0, a)

					// Row boundaries of the parts.
					cut := func(p int) int { return M * p / sh.parts }
					s1, s2 := make([]float64, C), make([]float64, C)
					for p := range sh.parts {
						lo, hi := cut(p), cut(p+1)
						BNSums(s1, s2, x[lo*C:hi*C], hi-lo, C, x[:C])
					}
					mean, invstd, av := make([]float32, C), make([]float32, C), make([]float32, C)
					for c := range av {
						m := s1[c] / float64(M)
						mean[c] = x[c] + float32(m)
						invstd[c] = float32(1 / math.Sqrt(max(s2[c]/float64(M)-m*m, 0)+1e-5))
						av[c] = gamma[c] * invstd[c]
					}
					y := make([]float32, M*C)
					for p := range sh.parts {
						lo, hi := cut(p), cut(p+1)
						BNApply(y[lo*C:hi*C], x[lo*C:hi*C], hi-lo, C, mean, av, beta, a)
					}
					if err := closeTo(y, to64(y0), tol32); err != nil {
						t.Fatalf("forward: %v", err)
					}
					if err := closeTo(mean, to64(m0), tol32); err != nil {
						t.Fatalf("mean: %v", err)
					}

					sdz, sdzx := make([]float64, C), make([]float64, C)
					dz := make([]float32, M*C)
					stored := make([]bool, sh.parts)
					for p := range sh.parts {
						lo, hi := cut(p), cut(p+1)
						stored[p] = BNBackwardSums(sdz, sdzx, dz[lo*C:hi*C], dy[lo*C:hi*C], x[lo*C:hi*C], hi-lo, C, mean, av, beta, a)
					}
					k1, k2, dg, db := make([]float32, C), make([]float32, C), make([]float32, C), make([]float32, C)
					BNBackwardCoeffs(k1, k2, dg, db, sdz, sdzx, av, invstd, M)
					dx := make([]float32, M*C)
					for p := range sh.parts {
						lo, hi := cut(p), cut(p+1)
						src, act := dy[lo*C:hi*C], a
						if stored[p] {
							src, act = dz[lo*C:hi*C], ActNone
						}
						BNBackwardApply(dx[lo*C:hi*C], src, x[lo*C:hi*C], hi-lo, C, mean, av, beta, k1, k2, act)
					}
					for _, c := range []struct {
						name      string
						got, want []float32
					}{{"dx", dx, dx0}, {"dgamma", dg, dg0}, {"dbeta", db, db0}} {
						if err := closeTo(c.got, to64(c.want), 1e-3); err != nil {
							t.Fatalf("%s: %v", c.name, err)
						}
					}
				})
			}
		}
	})
}
