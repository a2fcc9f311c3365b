//go:build goexperiment.simd

package bench

// simdBuild reports a GOEXPERIMENT=simd build.
const simdBuild = true
