package kernels

import "fmt"

// axpyGo computes y += alpha*x (len(y) >= len(x)).
func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Add computes dst = a + b elementwise over len(dst) elements (the residual
// connection; dst may alias a or b).
func Add(dst, a, b []float32) { Threads(0).Add(dst, a, b) }

// Add is the package-level Add under the goroutine budget t.
func (t Threads) Add(dst, a, b []float32) {
	n := len(dst)
	need("a", a, n)
	need("b", b, n)
	t.elementwise(n, func(lo, hi int) {
		d, x, y := dst[lo:hi], a[lo:hi], b[lo:hi]
		i := 0
		if nv := len(d) / 16; nv > 0 && useBNAsm() {
			addK(nv, &x[0], &y[0], &d[0])
			i = 16 * nv
		}
		for ; i < len(d); i++ {
			d[i] = x[i] + y[i]
		}
	})
}

// addTo computes dst += src (len(src) elements) on the calling goroutine,
// with the assembly add where there is one. Each element sees the same
// single addition either way.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	if nv := len(src) / 16; nv > 0 && useBNAsm() {
		addK(nv, &dst[0], &src[0], &dst[0])
		i = 16 * nv
	}
	for ; i < len(src); i++ {
		dst[i] += src[i]
	}
}

// Scale computes dst = alpha*x over len(dst) elements (dst may alias x).
func Scale(dst, x []float32, alpha float32) {
	n := len(dst)
	need("x", x, n)
	Threads(0).elementwise(n, func(lo, hi int) {
		d, s := dst[lo:hi], x[lo:hi]
		for i := range d {
			d[i] = alpha * s[i]
		}
	})
}

// Axpy computes y += alpha*x over len(x) elements.
func Axpy(alpha float32, x, y []float32) {
	need("y", y, len(x))
	Threads(0).elementwise(len(x), func(lo, hi int) { axpyGo(alpha, x[lo:hi], y[lo:hi]) })
}

// AddBias adds bias[j] to column j of y[M, N] (row stride ldy >= N): the
// bias of a linear layer or of squeeze-excite's 1x1 convolutions.
func AddBias(y []float32, M, N, ldy int, bias []float32) {
	checkLD("AddBias", y, M, N, ldy)
	need("bias", bias, N)
	bias = bias[:N]
	for r := 0; r < M; r++ {
		row := y[r*ldy : r*ldy+N]
		for j, b := range bias {
			row[j] += b
		}
	}
}

// SumRows accumulates dst[j] += sum_r x[r, j] over x[M, N] (row stride
// ldx): the gradient of AddBias's bias.
func SumRows(dst, x []float32, M, N, ldx int) {
	checkLD("SumRows", x, M, N, ldx)
	need("dst", dst, N)
	dst = dst[:N]
	for r := 0; r < M; r++ {
		axpyGo(1, x[r*ldx:r*ldx+N], dst)
	}
}

func checkLD(name string, s []float32, M, N, ld int) {
	if M < 0 || N < 0 || ld < N {
		panic(fmt.Sprintf("kernels: %s: bad shape %dx%d, ld %d", name, M, N, ld))
	}
	if M > 0 {
		need(name+" matrix", s, (M-1)*ld+N)
	}
}
