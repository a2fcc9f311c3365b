//go:build amd64 && !purego

package kernels

// BatchNorm and activation kernels in assembly (gemm_amd64.s), used in
// every amd64 build on AVX-512 CPUs: vector exp/sigmoid with constants held
// in registers and no masked stores. Their declarations and dispatchers
// (bnApplyK, bnBwdApplyK, actK, dactK, bnStatsK, bnBwdReduceK,
// bnBwdReduceDzK) are generated with them into bn_decl_amd64.go. See
// bnasm.go for the data layout.

const haveBNAsm = true

// bnStoresDz reports whether the backward pass for act writes
// dz = dy*act'(z) to dx in its reduction and reads it back in its apply pass
// instead of evaluating act' twice (for swish: the sigmoid costs more than
// the extra stream of memory traffic).
func bnStoresDz(act Act) bool { return act == ActSwish }

func addK(n int, a, b, dst *float32) { add512(n, a, b, dst) }
