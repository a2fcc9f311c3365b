//go:build goexperiment.simd && amd64

package kernels

import "simd/archsimd"

// haveSIMD reports whether the archsimd kernels may run: they use 512-bit
// vectors and masks (AVX-512 F+CD+BW+DQ+VL).
var haveSIMD = archsimd.X86.AVX512()
