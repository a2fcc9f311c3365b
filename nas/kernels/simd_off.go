//go:build !(goexperiment.simd && amd64)

package kernels

const haveSIMD = false

func dwGatherSIMD(r *dwRow, out, src, w []float32) { panic("kernels: no SIMD in this build") }

func dwRowGradSIMD(acc, xRow, dyRow []float32, K, C, s, W, wo int) {
	panic("kernels: no SIMD in this build")
}

func actSIMD(a Act, y, x []float32)       { panic("kernels: no SIMD in this build") }
func dactSIMD(a Act, dx, dy, x []float32) { panic("kernels: no SIMD in this build") }
func bnStatsSIMD(x []float32, C, lo, hi int, shift []float32, s1, s2 []float64) {
	panic("kernels: no SIMD in this build")
}
func scaleShiftActSIMD(y, x []float32, C, lo, hi int, mu, a, b []float32, act Act) {
	panic("kernels: no SIMD in this build")
}
func bnBwdReduceSIMD(dy, x []float32, C, lo, hi int, a, b, mean []float32, act Act, sdz, sdzx []float64) {
	panic("kernels: no SIMD in this build")
}
func bnBwdApplySIMD(dx, dy, x []float32, C, lo, hi int, a, b, mean, k1, k2 []float32, act Act) {
	panic("kernels: no SIMD in this build")
}
func channelSumsSIMD(x []float32, C, lo, hi int, s1, s2 []float64) {
	panic("kernels: no SIMD in this build")
}
