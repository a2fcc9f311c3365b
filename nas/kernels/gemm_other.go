//go:build !amd64 || purego

package kernels

const (
	gemmAVX512  = false
	gemmAVX2    = false
	haveGemmAsm = false
)

var asmGeom = geomGo

func gemmKernelAsm(kind, st, kc int, a []float32, lda int, col bool, bp []float32, ldb int, c []float32, ldc int, alpha, beta float32, w int) {
	panic("kernels: no assembly GEMM kernel in this build")
}

func setGemmKind(kind int) (restore func()) { return func() {} }
