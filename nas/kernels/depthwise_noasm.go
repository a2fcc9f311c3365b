//go:build !amd64 || purego

package kernels

const haveDWAsm = false

func dwGradAsm(G, nv, n int, x []float32, xstride int, dy []float32, c int, acc []float32, mask uint32) {
	panic("kernels: no assembly depthwise kernel in this build")
}

func dwBlockRaw(P, nv, ntap int, offs *[2]int, src, w *float32, sstride int, out *float32, ostride int) {
	panic("kernels: no assembly depthwise kernel in this build")
}
