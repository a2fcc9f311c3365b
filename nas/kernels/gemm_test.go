package kernels

import (
	"fmt"
	"math"
	"testing"
)

// gemmRef is the float64 reference: C = alpha*op(A)*op(B) + beta*C.
func gemmRef(transA, transB bool, m, n, k int, alpha float64, a []float32, lda int, b []float32, ldb int, beta float64, c []float32, ldc int) []float64 {
	out := to64(c)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := alpha * s
			if beta != 0 {
				v += beta * float64(c[i*ldc+j])
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	type shape struct{ m, n, k, pad int }
	shapes := []shape{
		{1, 1, 1, 0}, {3, 5, 7, 1}, {12, 32, 16, 0}, {13, 33, 17, 3}, {11, 16, 9, 0},
		{24, 8, 40, 5}, {50, 24, 144, 0}, {37, 144, 24, 7}, {8, 48, 300, 2},
		{300, 10, 3, 0}, {7, 70, 1100, 1}, {130, 47, 19, 4},
	}
	forBackends(t, func(t *testing.T) {
		forThreads(t, func(t *testing.T) {
			r := newRand(1)
			for _, s := range shapes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2.5}} {
						name := fmt.Sprintf("m%d_n%d_k%d_pad%d_t%v_ab%v", s.m, s.n, s.k, s.pad, tr, ab)
						ar, ac := s.m, s.k
						if tr[0] {
							ar, ac = s.k, s.m
						}
						br, bc := s.k, s.n
						if tr[1] {
							br, bc = s.n, s.k
						}
						lda, ldb, ldc := ac+s.pad, bc+2*s.pad, s.n+s.pad
						a := randVec(r, ar*lda, -1, 1)
						b := randVec(r, br*ldb, -1, 1)
						c := randVec(r, s.m*ldc, -1, 1)
						if ab[1] == 0 {
							for i := 0; i < s.m; i++ {
								for j := 0; j < s.n; j++ {
									c[i*ldc+j] = float32(math.NaN()) // must not be read
								}
							}
						}
						want := gemmRef(tr[0], tr[1], s.m, s.n, s.k, float64(ab[0]), a, lda, b, ldb, float64(ab[1]), c, ldc)
						// Padding columns of C must be left alone.
						Gemm(tr[0], tr[1], s.m, s.n, s.k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
						for i := 0; i < s.m; i++ {
							for j := s.n; j < ldc && i*ldc+j < len(c); j++ {
								want[i*ldc+j] = float64(c[i*ldc+j])
							}
						}
						if ab[1] == 0 {
							for i := range want {
								if math.IsNaN(want[i]) {
									want[i] = float64(c[i])
								}
							}
						}
						check(t, name, c, want, tol32)
					}
				}
			}
		})
	})
}

func TestGemmDegenerate(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c, 2)
	check(t, "k=0", c, []float64{2, 4, 6, 8}, 0)
	Gemm(false, false, 2, 2, 3, 0, make([]float32, 6), 3, make([]float32, 6), 2, 0, c, 2)
	check(t, "alpha=0", c, []float64{0, 0, 0, 0}, 0)
	Gemm(false, false, 0, 2, 3, 1, nil, 3, make([]float32, 6), 2, 0, nil, 2)
	defer func() {
		if recover() == nil {
			t.Fatal("short C did not panic")
		}
	}()
	Gemm(false, false, 2, 2, 1, 1, []float32{1, 2}, 1, []float32{1, 2}, 2, 0, c[:3], 2)
}

// TestGemmLargeSplit covers the parallel paths at the engine's shapes
// (split over rows of C and split over K with partial sums).
func TestGemmLargeSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	r := newRand(2)
	forBackends(t, func(t *testing.T) {
		defer SetMaxThreads(SetMaxThreads(3))
		m, cin, cout, coutMax := 2049, 24, 40, 48
		x := randVec(r, m*cin, -1, 1)
		w := randVec(r, 32*coutMax, -1, 1)
		y := make([]float32, m*cout)
		Gemm(false, false, m, cout, cin, 1, x, cin, w, coutMax, 0, y, cout)
		check(t, "fwd", y, gemmRef(false, false, m, cout, cin, 1, x, cin, w, coutMax, 0, y, cout), tol32)
		dx := make([]float32, m*cin)
		Gemm(false, true, m, cin, cout, 1, y, cout, w, coutMax, 0, dx, cin)
		check(t, "dx", dx, gemmRef(false, true, m, cin, cout, 1, y, cout, w, coutMax, 0, dx, cin), tol32)
		dw := randVec(r, 32*coutMax, -1, 1)
		want := gemmRef(true, false, cin, cout, m, 1, x, cin, y, cout, 1, dw, coutMax)
		Gemm(true, false, cin, cout, m, 1, x, cin, y, cout, 1, dw, coutMax)
		check(t, "dw", dw, want, tol32)
	})
}
