//go:build !amd64 || purego

package kernels

const haveDWAsm = false

func dwBlockAsm(P int, r *dwRow, offs [][2]int, ntap int, out, src, w []float32, t, c0, nv int) {
	panic("kernels: no assembly depthwise kernel in this build")
}

func dwGradAsm(G, nv, n int, x []float32, xstride int, dy []float32, c int, acc []float32, mask uint32) {
	panic("kernels: no assembly depthwise kernel in this build")
}
