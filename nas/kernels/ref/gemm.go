package ref

import "fmt"

// Gemm is the float64 twin of kernels.Gemm: C = alpha*op(A)*op(B) + beta*C
// for row-major matrices with leading dimensions lda, ldb, ldc (op(A) is
// m x k, op(B) is k x n). With beta == 0, C is not read; with alpha == 0 or
// k == 0, A and B are not read.
func Gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	nonneg("Gemm", m, n, k)
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < 1 || ldb < 1 || ldc < 1 {
		panic(fmt.Sprintf("ref: Gemm: leading dimensions %d, %d, %d must be positive", lda, ldb, ldc))
	}
	needMat("Gemm", "A", a, ar, ac, lda)
	needMat("Gemm", "B", b, br, bc, ldb)
	needMat("Gemm", "C", c, m, n, ldc)
	at := func(i, p int) float64 { // op(A)[i, p]
		if transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	bt := func(p, j int) float64 { // op(B)[p, j]
		if transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var v float64
			if alpha != 0 {
				var s float64
				for p := 0; p < k; p++ {
					s += at(i, p) * bt(p, j)
				}
				v = alpha * s
			}
			if beta != 0 {
				v += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = v
		}
	}
}
