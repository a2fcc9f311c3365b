//go:build amd64 && !purego

package kernels

// Depthwise gather blocks in assembly (gemm_amd64.s): 8 output pixels x 16,
// 32 or 48 channels per call, FMAs with memory operands. Used in every amd64
// build on AVX-512 CPUs: archsimd's register allocation made the same
// block about 4x slower.

//go:noescape
func dwGather512x16p8(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x32p8(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x48p8(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x16p4(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x32p4(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x48p4(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x16p1(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x32p1(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGather512x48p1(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)

//go:noescape
func dwGrad512g1x16(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g1x32(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g1x48(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g3x16(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g3x32(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g3x48(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g5x16(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g5x32(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g5x48(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g7x16(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g7x32(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

//go:noescape
func dwGrad512g7x48(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)

const haveDWAsm = true

// dwGradAsm accumulates acc[j*c + ...] += sum over n pixels of
// dy[t*c] * x[t*xstride + j*c] for taps j < G (G = 1, 3, 5 or 7) and
// 16*nv channels, the last 16 masked by mask.
func dwGradAsm(G, nv, n int, x []float32, xstride int, dy []float32, c int, acc []float32, mask uint32) {
	if n <= 0 {
		return
	}
	px, pd, pa := &x[0], &dy[0], &acc[0]
	_ = x[(n-1)*xstride+(G-1)*c] // the last tap of the last pixel is inside
	_ = dy[(n-1)*c]
	_ = acc[(G-1)*c]
	switch 4*G + nv {
	case 5:
		dwGrad512g1x16(n, px, xstride, pd, c, pa, mask)
	case 6:
		dwGrad512g1x32(n, px, xstride, pd, c, pa, mask)
	case 7:
		dwGrad512g1x48(n, px, xstride, pd, c, pa, mask)
	case 13:
		dwGrad512g3x16(n, px, xstride, pd, c, pa, mask)
	case 14:
		dwGrad512g3x32(n, px, xstride, pd, c, pa, mask)
	case 15:
		dwGrad512g3x48(n, px, xstride, pd, c, pa, mask)
	case 21:
		dwGrad512g5x16(n, px, xstride, pd, c, pa, mask)
	case 22:
		dwGrad512g5x32(n, px, xstride, pd, c, pa, mask)
	case 23:
		dwGrad512g5x48(n, px, xstride, pd, c, pa, mask)
	case 29:
		dwGrad512g7x16(n, px, xstride, pd, c, pa, mask)
	case 30:
		dwGrad512g7x32(n, px, xstride, pd, c, pa, mask)
	case 31:
		dwGrad512g7x48(n, px, xstride, pd, c, pa, mask)
	default:
		panic("kernels: bad depthwise gradient block")
	}
}

// dwBlockRaw runs block dwGather512x(16*nv)pP.
func dwBlockRaw(P, nv, ntap int, offs *[2]int, src, w *float32, sstride int, out *float32, ostride int) {
	switch 4*P + nv {
	case 33:
		dwGather512x16p8(ntap, offs, src, w, sstride, out, ostride)
	case 34:
		dwGather512x32p8(ntap, offs, src, w, sstride, out, ostride)
	case 35:
		dwGather512x48p8(ntap, offs, src, w, sstride, out, ostride)
	case 17:
		dwGather512x16p4(ntap, offs, src, w, sstride, out, ostride)
	case 18:
		dwGather512x32p4(ntap, offs, src, w, sstride, out, ostride)
	case 19:
		dwGather512x48p4(ntap, offs, src, w, sstride, out, ostride)
	case 5:
		dwGather512x16p1(ntap, offs, src, w, sstride, out, ostride)
	case 6:
		dwGather512x32p1(ntap, offs, src, w, sstride, out, ostride)
	case 7:
		dwGather512x48p1(ntap, offs, src, w, sstride, out, ostride)
	default:
		panic("kernels: bad depthwise block")
	}
}
