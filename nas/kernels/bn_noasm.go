//go:build !amd64 || purego

package kernels

const (
	haveBNAsm    = false
	bnStatsChunk = 1
)

func bnReduceChunk(act Act) int { return 1 }

func bnApplyK(act Act, n int, x, y, prm *float32, plen, phase int) {
	panic("kernels: no assembly BatchNorm kernel in this build")
}

func bnBwdApplyK(act Act, n int, x, dy, dx, prm *float32, plen, phase int) {
	panic("kernels: no assembly BatchNorm kernel in this build")
}

func actK(act Act, n int, x, y *float32) {
	panic("kernels: no assembly activation kernel in this build")
}

func dactK(act Act, n int, x, dy, dx *float32) {
	panic("kernels: no assembly activation kernel in this build")
}

func bnStatsK(nv, rows int, x *float32, ld int, prm *float32, s1, s2 *float64) {
	panic("kernels: no assembly BatchNorm kernel in this build")
}

func bnBwdReduceK(act Act, nv, rows int, x, dy *float32, ld int, prm *float32, s1, s2 *float64) {
	panic("kernels: no assembly BatchNorm kernel in this build")
}

func bnStoresDz(act Act) bool { return false }

func bnBwdReduceDzK(nv, rows int, x, dy, dz *float32, ld int, prm *float32, s1, s2 *float64) {
	panic("kernels: no assembly BatchNorm kernel in this build")
}

func addK(n int, a, b, dst *float32) { panic("kernels: no assembly kernel in this build") }
