package ref

// Add is the float64 twin of kernels.Add: dst = a + b over len(dst)
// elements (dst may alias a or b).
func Add(dst, a, b []float64) {
	need("Add", "a", a, len(dst))
	need("Add", "b", b, len(dst))
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Scale is the float64 twin of kernels.Scale: dst = alpha*x over len(dst)
// elements (dst may alias x).
func Scale(dst, x []float64, alpha float64) {
	need("Scale", "x", x, len(dst))
	for i := range dst {
		dst[i] = alpha * x[i]
	}
}

// Axpy is the float64 twin of kernels.Axpy: y += alpha*x over len(x)
// elements.
func Axpy(alpha float64, x, y []float64) {
	need("Axpy", "y", y, len(x))
	for i, v := range x {
		y[i] += alpha * v
	}
}

// AddBias is the float64 twin of kernels.AddBias: y[r, j] += bias[j] for
// y[M, N] with row stride ldy >= N.
func AddBias(y []float64, M, N, ldy int, bias []float64) {
	needMat("AddBias", "y", y, M, N, ldy)
	need("AddBias", "bias", bias, N)
	for r := 0; r < M; r++ {
		for j := 0; j < N; j++ {
			y[r*ldy+j] += bias[j]
		}
	}
}

// SumRows is the float64 twin of kernels.SumRows: it accumulates
// dst[j] += sum_r x[r, j] over x[M, N] with row stride ldx >= N (the
// gradient of AddBias's bias).
func SumRows(dst, x []float64, M, N, ldx int) {
	needMat("SumRows", "x", x, M, N, ldx)
	need("SumRows", "dst", dst, N)
	for j := 0; j < N; j++ {
		var s float64
		for r := 0; r < M; r++ {
			s += x[r*ldx+j]
		}
		dst[j] += s
	}
}
