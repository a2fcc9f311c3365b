//go:build ignore

// gen_asm.go writes gemm_amd64.s, the assembly kernels, and
// bn_decl_amd64.go, the Go declarations of its BatchNorm kernels:
//
//	go run gen_asm.go > gemm_amd64.s
//	go run gen_asm.go -decl > bn_decl_amd64.go
//
// AVX-512: 12x32 and 12x16 tiles (24 or 12 zmm accumulators, column masks in
// K1/K2 for partial panels; the Row kernels prefetch the next strip's A and
// C). AVX2/FMA: 6x16 tiles. "Row" kernels read
// A(i,p) = a[i*lda+p] (A not transposed), "Col" kernels A(i,p) = a[p*lda+i].
// B rows are ldb apart (a packed panel or B itself); the AVX-512 kernels load
// B and store C under the column mask, the AVX2 ones read 16 full columns.
// C = alpha*acc + beta*C (C not read if beta == 0).
//
// Depthwise convolution: dwGather512x{16,32,48}p{8,4,1} compute 8, 4 or 1
// output pixels x 16/32/48 channels of a depthwise row (depthwise_pad.go);
// dwGrad512g{1,3,5,7}x{16,32,48} accumulate the weight gradient of 1, 3, 5
// or 7 taps of a kernel row.
//
// BatchNorm and activations (bnasm.go): bnStats512xN, bnApply512<Act>,
// bnBwdReduce512<Act>xN (and bnBwdReduceDz512Swish, which also stores dz),
// bnBwdApply512<Act>, act512<Act>, dact512<Act>; add512 for Add.
package main

import (
	"fmt"
	"go/format"
	"math"
	"os"
	"strings"
)

var sb strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }

// rowAddr returns the address of A(r, p) for row mode.
func rowAddr(r int) string {
	base := []string{"R8", "R9", "R10", "R11"}[r/3]
	switch r % 3 {
	case 0:
		return "(" + base + ")"
	case 1:
		return "(" + base + ")(R12*1)"
	default:
		return "(" + base + ")(R12*2)"
	}
}

func colAddr(r int) string { return fmt.Sprintf("%d(R8)", 4*r) }

// kernel512 emits a 12 x (16*nv) AVX-512 kernel.
func kernel512(name string, nv int, col bool) {
	p("// func %s(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-68", name)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ a+8(FP), R8")
	p("\tMOVQ lda+16(FP), R12")
	p("\tSHLQ $2, R12")
	if !col {
		p("\tLEAQ (R12)(R12*2), R13")
		p("\tLEAQ (R8)(R13*1), R9")
		p("\tLEAQ (R9)(R13*1), R10")
		p("\tLEAQ (R10)(R13*1), R11")
	}
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), DX")
	p("\tSHLQ $2, DX")
	p("\tMOVL mask+64(FP), AX")
	p("\tKMOVW AX, K1")
	if nv == 2 {
		p("\tSHRL $16, AX")
		p("\tKMOVW AX, K2")
	}
	for r := 0; r < 12*nv; r++ {
		p("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
	}
	if !col {
		// Prefetch the next strip of A (the 12 rows after these, contiguous
		// when lda == kc), one line per k: tall-skinny products stream A
		// from memory and the 12 interleaved rows defeat the prefetchers.
		// In the first 12 iterations, also prefetch the next
		// strip's C tile (one row per iteration), so that its stores do not
		// wait for their lines.
		p("\tLEAQ (R8)(R13*4), AX")
		p("\tMOVQ c+40(FP), DI")
		p("\tMOVQ ldc+48(FP), SI")
		p("\tSHLQ $2, SI")
		p("\tLEAQ (SI)(SI*2), R13")
		p("\tLEAQ (DI)(R13*4), DI")
		p("\tMOVQ CX, R13")
		p("\tSUBQ $12, R13")
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	if !col {
		p("\tPREFETCHT0 (AX)")
		p("\tADDQ $64, AX")
		p("\tCMPQ CX, R13")
		p("\tJLE %s_nopf", name)
		for v := 0; v < nv; v++ {
			p("\tPREFETCHT0 %d(DI)", 64*v)
		}
		p("\tADDQ SI, DI")
		p("%s_nopf:", name)
	}
	for v := 0; v < nv; v++ {
		p("\tVMOVUPS.Z %d(BX), K%d, Z%d", 64*v, v+1, 24+v)
	}
	for r := 0; r < 12; r++ {
		addr := rowAddr(r)
		if col {
			addr = colAddr(r)
		}
		bc := 26 + r%3
		p("\tVBROADCASTSS %s, Z%d", addr, bc)
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS Z%d, Z%d, Z%d", 24+v, bc, r*nv+v)
		}
	}
	p("\tADDQ DX, BX")
	if col {
		p("\tADDQ R12, R8")
	} else {
		p("\tADDQ $4, R8")
		p("\tADDQ $4, R9")
		p("\tADDQ $4, R10")
		p("\tADDQ $4, R11")
	}
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ c+40(FP), DI")
	p("\tMOVQ ldc+48(FP), SI")
	p("\tSHLQ $2, SI")
	p("\tMOVL alpha+56(FP), AX")
	p("\tCMPL AX, $0x3f800000")
	p("\tJEQ %s_scaled", name)
	p("\tVBROADCASTSS alpha+56(FP), Z30")
	for r := 0; r < 12*nv; r++ {
		p("\tVMULPS Z30, Z%d, Z%d", r, r)
	}
	p("%s_scaled:", name)
	p("\tMOVL beta+60(FP), AX")
	p("\tTESTL $0x7fffffff, AX")
	p("\tJEQ %s_store0", name)
	p("\tVBROADCASTSS beta+60(FP), Z30")
	for r := 0; r < 12; r++ {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS.Z %d(DI), K%d, Z%d", 64*v, v+1, 29+2*v)
			p("\tVFMADD231PS Z30, Z%d, Z%d", 29+2*v, r*nv+v)
			p("\tVMOVUPS Z%d, K%d, %d(DI)", r*nv+v, v+1, 64*v)
		}
		if r < 11 {
			p("\tADDQ SI, DI")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_store0:", name)
	for r := 0; r < 12; r++ {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS Z%d, K%d, %d(DI)", r*nv+v, v+1, 64*v)
		}
		if r < 11 {
			p("\tADDQ SI, DI")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// kernel256 emits a 6 x 16 AVX2/FMA kernel (no column mask: full tiles only).
func kernel256(name string, col bool) {
	p("// func %s(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-68", name)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ a+8(FP), R8")
	p("\tMOVQ lda+16(FP), R12")
	p("\tSHLQ $2, R12")
	if !col {
		p("\tLEAQ (R12)(R12*2), R13")
		p("\tLEAQ (R8)(R13*1), R9")
	}
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), DX")
	p("\tSHLQ $2, DX")
	for r := 0; r < 12; r++ {
		p("\tVXORPS Y%d, Y%d, Y%d", r, r, r)
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	p("\tVMOVUPS 0(BX), Y12")
	p("\tVMOVUPS 32(BX), Y13")
	for r := 0; r < 6; r++ {
		addr := rowAddr(r)
		if col {
			addr = colAddr(r)
		}
		bc := 14 + r%2
		p("\tVBROADCASTSS %s, Y%d", addr, bc)
		p("\tVFMADD231PS Y12, Y%d, Y%d", bc, 2*r)
		p("\tVFMADD231PS Y13, Y%d, Y%d", bc, 2*r+1)
	}
	p("\tADDQ DX, BX")
	if col {
		p("\tADDQ R12, R8")
	} else {
		p("\tADDQ $4, R8")
		p("\tADDQ $4, R9")
	}
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ c+40(FP), DI")
	p("\tMOVQ ldc+48(FP), SI")
	p("\tSHLQ $2, SI")
	p("\tMOVL alpha+56(FP), AX")
	p("\tCMPL AX, $0x3f800000")
	p("\tJEQ %s_scaled", name)
	p("\tVBROADCASTSS alpha+56(FP), Y12")
	for r := 0; r < 12; r++ {
		p("\tVMULPS Y12, Y%d, Y%d", r, r)
	}
	p("%s_scaled:", name)
	p("\tMOVL beta+60(FP), AX")
	p("\tTESTL $0x7fffffff, AX")
	p("\tJEQ %s_store0", name)
	p("\tVBROADCASTSS beta+60(FP), Y12")
	for r := 0; r < 6; r++ {
		for v := 0; v < 2; v++ {
			p("\tVMOVUPS %d(DI), Y13", 32*v)
			p("\tVFMADD231PS Y12, Y13, Y%d", 2*r+v)
			p("\tVMOVUPS Y%d, %d(DI)", 2*r+v, 32*v)
		}
		if r < 5 {
			p("\tADDQ SI, DI")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_store0:", name)
	for r := 0; r < 6; r++ {
		for v := 0; v < 2; v++ {
			p("\tVMOVUPS Y%d, %d(DI)", 2*r+v, 32*v)
		}
		if r < 5 {
			p("\tADDQ SI, DI")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func cpu() {
	p("// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)")
	p("TEXT ·cpuid(SB), NOSPLIT, $0-24")
	p("\tMOVL eaxArg+0(FP), AX")
	p("\tMOVL ecxArg+4(FP), CX")
	p("\tCPUID")
	p("\tMOVL AX, eax+8(FP)")
	p("\tMOVL BX, ebx+12(FP)")
	p("\tMOVL CX, ecx+16(FP)")
	p("\tMOVL DX, edx+20(FP)")
	p("\tRET")
	p("")
	p("// func xgetbv() (eax, edx uint32)")
	p("TEXT ·xgetbv(SB), NOSPLIT, $0-8")
	p("\tMOVL $0, CX")
	p("\tXGETBV")
	p("\tMOVL AX, eax+0(FP)")
	p("\tMOVL DX, edx+4(FP)")
	p("\tRET")
}

// dwGather512 emits a depthwise gather block: P output pixels x 16*nv
// channels. For each tap (pairs of element offsets into src and w), every
// accumulator gains w[tap] * src[tap + q*sstride]; FMAs take src from memory.
func dwGather512(name string, nv, P int) {
	p("// func %s(ntap int, taps *[2]int, src *float32, w *float32, sstride int, out *float32, ostride int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	p("\tMOVQ ntap+0(FP), CX")
	p("\tMOVQ taps+8(FP), R8")
	p("\tMOVQ src+16(FP), R9")
	p("\tMOVQ w+24(FP), R10")
	p("\tMOVQ sstride+32(FP), R11")
	p("\tSHLQ $2, R11")
	p("\tLEAQ (R11)(R11*2), R12") // 3s
	p("\tLEAQ (R11)(R11*4), R13") // 5s
	p("\tLEAQ (R12)(R11*4), SI")  // 7s
	for r := 0; r < P*nv; r++ {
		p("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	p("\tMOVQ 0(R8), AX")
	p("\tMOVQ 8(R8), DX")
	p("\tLEAQ (R9)(AX*4), BX")
	p("\tLEAQ (R10)(DX*4), DX")
	for v := 0; v < nv; v++ {
		p("\tVMOVUPS %d(DX), Z%d", 64*v, 24+v)
	}
	addr := []string{"(BX)", "(BX)(R11*1)", "(BX)(R11*2)", "(BX)(R12*1)", "(BX)(R11*4)", "(BX)(R13*1)", "(BX)(R12*2)", "(BX)(SI*1)"}
	for q := 0; q < P; q++ {
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS %d%s, Z%d, Z%d", 64*v, addr[q], 24+v, q*nv+v)
		}
	}
	p("\tADDQ $16, R8")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ out+40(FP), BX")
	p("\tMOVQ ostride+48(FP), R11")
	p("\tSHLQ $2, R11")
	p("\tLEAQ (R11)(R11*2), R12")
	p("\tLEAQ (R11)(R11*4), R13")
	p("\tLEAQ (R12)(R11*4), SI")
	for q := 0; q < P; q++ {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS Z%d, %d%s", q*nv+v, 64*v, addr[q])
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dwGrad512 emits a depthwise weight-gradient kernel for G consecutive taps
// of one kernel row and 16*nv channels: acc[j] += sum over n pixels of
// dy[t] * x[t*xstride + j*c]; the last vector is masked by mask (K1).
func dwGrad512(name string, G, nv int) {
	p("// func %s(n int, x *float32, xstride int, dy *float32, c int, acc *float32, mask uint32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-52", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), R8")
	p("\tMOVQ xstride+16(FP), R9")
	p("\tSHLQ $2, R9")
	p("\tMOVQ dy+24(FP), R10")
	p("\tMOVQ c+32(FP), R11")
	p("\tSHLQ $2, R11")
	p("\tLEAQ (R11)(R11*2), R12")
	p("\tLEAQ (R11)(R11*4), R13")
	p("\tMOVL mask+48(FP), AX")
	p("\tKMOVW AX, K1")
	for r := 0; r < G*nv; r++ {
		p("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
	}
	tap := func(base string, j int) string {
		return []string{"(%s)", "(%s)(R11*1)", "(%s)(R11*2)", "(%s)(R12*1)", "(%s)(R11*4)", "(%s)(R13*1)", "(%s)(R12*2)"}[j]
	}
	k := func(v int) string {
		if v == nv-1 {
			return "K1, "
		}
		return ""
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	for v := 0; v < nv; v++ {
		if v == nv-1 {
			p("\tVMOVUPS.Z %d(R10), K1, Z%d", 64*v, 24+v)
		} else {
			p("\tVMOVUPS %d(R10), Z%d", 64*v, 24+v)
		}
	}
	for j := 0; j < G; j++ {
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS %d"+tap("R8", j)+", Z%d, %sZ%d", 64*v, "R8", 24+v, k(v), j*nv+v)
		}
	}
	p("\tADDQ R9, R8")
	p("\tADDQ R11, R10")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ acc+40(FP), DI")
	for j := 0; j < G; j++ {
		for v := 0; v < nv; v++ {
			a := fmt.Sprintf("%d"+tap("DI", j), 64*v, "DI")
			if v == nv-1 {
				p("\tVMOVUPS.Z %s, K1, Z29", a)
			} else {
				p("\tVMOVUPS %s, Z29", a)
			}
			p("\tVADDPS Z29, Z%d, Z%d", j*nv+v, j*nv+v)
			p("\tVMOVUPS Z%d, %s%s", j*nv+v, k(v), a)
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// bnDecl writes the Go declarations of the BatchNorm kernels and their
// dispatch tables (bn_decl_amd64.go).
func bnDecl() {
	p("// Code generated by gen_asm.go -decl; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("package kernels")
	p("")
	var stats, dzs []string
	for _, a := range bnActs {
		t := actTitle(a)
		p("//go:noescape\nfunc bnApply512%s(n int, x, y, prm *float32, plen, phase int)\n", t)
		p("//go:noescape\nfunc bnBwdApply512%s(n int, x, dy, dx, prm *float32, plen, phase int)\n", t)
		if a != "none" {
			p("//go:noescape\nfunc act512%s(n int, x, y *float32)\n", t)
			p("//go:noescape\nfunc dact512%s(n int, x, dy, dx *float32)\n", t)
		}
		for nv := 1; nv <= bnReduceMax(a); nv++ {
			p("//go:noescape\nfunc bnBwdReduce512%sx%d(rows int, x, dy *float32, ld int, prm *float32, s1, s2 *float64)\n", t, nv)
		}
		if a == "swish" {
			for nv := 1; nv <= bnReduceMax(a); nv++ {
				p("//go:noescape\nfunc bnBwdReduceDz512%sx%d(rows int, x, dy, dz *float32, ld int, prm *float32, s1, s2 *float64)\n", t, nv)
				dzs = append(dzs, fmt.Sprintf("bnBwdReduceDz512%sx%d", t, nv))
			}
		}
	}
	for nv := 1; nv <= 12; nv++ {
		p("//go:noescape\nfunc bnStats512x%d(rows int, x *float32, ld int, prm *float32, s1, s2 *float64)\n", nv)
		stats = append(stats, fmt.Sprintf("bnStats512x%d", nv))
	}
	p("//go:noescape\nfunc add512(n int, a, b, dst *float32)\n")
	actCase := func(a string) string {
		return map[string]string{"none": "ActNone", "relu": "ActReLU", "hswish": "ActHSwish", "swish": "ActSwish", "hsigmoid": "ActHSigmoid"}[a]
	}
	// Dispatchers: direct calls (not through function values) keep the
	// arguments' go:noescape, so callers' scratch arrays stay on the stack.
	p("// bnApplyK runs bnApply512<act>.")
	p("func bnApplyK(act Act, n int, x, y, prm *float32, plen, phase int) {")
	p("\tswitch act {")
	for _, a := range bnActs {
		p("\tcase %s:\n\t\tbnApply512%s(n, x, y, prm, plen, phase)", actCase(a), actTitle(a))
	}
	p("\t}")
	p("}\n")
	p("// bnBwdApplyK runs bnBwdApply512<act>.")
	p("func bnBwdApplyK(act Act, n int, x, dy, dx, prm *float32, plen, phase int) {")
	p("\tswitch act {")
	for _, a := range bnActs {
		p("\tcase %s:\n\t\tbnBwdApply512%s(n, x, dy, dx, prm, plen, phase)", actCase(a), actTitle(a))
	}
	p("\t}")
	p("}\n")
	p("// actK runs act512<act> (act != ActNone).")
	p("func actK(act Act, n int, x, y *float32) {")
	p("\tswitch act {")
	for _, a := range bnActs[1:] {
		p("\tcase %s:\n\t\tact512%s(n, x, y)", actCase(a), actTitle(a))
	}
	p("\t}")
	p("}\n")
	p("// dactK runs dact512<act> (act != ActNone).")
	p("func dactK(act Act, n int, x, dy, dx *float32) {")
	p("\tswitch act {")
	for _, a := range bnActs[1:] {
		p("\tcase %s:\n\t\tdact512%s(n, x, dy, dx)", actCase(a), actTitle(a))
	}
	p("\t}")
	p("}\n")
	p("// bnStatsChunk is the widest chunk (vectors) of bnStatsK.")
	p("const bnStatsChunk = %d\n", len(stats))
	p("// bnStatsK runs bnStats512x<nv>.")
	p("func bnStatsK(nv, rows int, x *float32, ld int, prm *float32, s1, s2 *float64) {")
	p("\tswitch nv {")
	for i, f := range stats {
		p("\tcase %d:\n\t\t%s(rows, x, ld, prm, s1, s2)", i+1, f)
	}
	p("\tdefault:\n\t\tpanic(\"kernels: bad BatchNorm chunk\")")
	p("\t}")
	p("}\n")
	p("// bnReduceChunk returns the widest chunk (vectors) of bnBwdReduceK for act.")
	p("func bnReduceChunk(act Act) int {")
	p("\tswitch act {")
	for _, a := range bnActs {
		p("\tcase %s:\n\t\treturn %d", actCase(a), bnReduceMax(a))
	}
	p("\t}")
	p("\treturn 1")
	p("}\n")
	p("// bnBwdReduceK runs bnBwdReduce512<act>x<nv>.")
	p("func bnBwdReduceK(act Act, nv, rows int, x, dy *float32, ld int, prm *float32, s1, s2 *float64) {")
	p("\tswitch 16*int(act) + nv {")
	for ai, a := range bnActs {
		for nv := 1; nv <= bnReduceMax(a); nv++ {
			p("\tcase %d:\n\t\tbnBwdReduce512%sx%d(rows, x, dy, ld, prm, s1, s2)", 16*ai+nv, actTitle(a), nv)
		}
	}
	p("\tdefault:\n\t\tpanic(\"kernels: bad BatchNorm chunk\")")
	p("\t}")
	p("}\n")
	p("// bnBwdReduceDzK runs bnBwdReduceDz512Swishx<nv>.")
	p("func bnBwdReduceDzK(nv, rows int, x, dy, dz *float32, ld int, prm *float32, s1, s2 *float64) {")
	p("\tswitch nv {")
	for i, f := range dzs {
		p("\tcase %d:\n\t\t%s(rows, x, dy, dz, ld, prm, s1, s2)", i+1, f)
	}
	p("\tdefault:\n\t\tpanic(\"kernels: bad BatchNorm chunk\")")
	p("\t}")
	p("}")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-decl" {
		bnDecl()
		out, err := format.Source([]byte(sb.String()))
		if err != nil {
			panic(err)
		}
		os.Stdout.Write(out)
		return
	}
	p("// Code generated by gen_asm.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	kernel512("sgemm512Row12x32", 2, false)
	kernel512("sgemm512Col12x32", 2, true)
	kernel512("sgemm512Row12x16", 1, false)
	kernel512("sgemm512Col12x16", 1, true)
	kernel256("sgemm256Row6x16", false)
	kernel256("sgemm256Col6x16", true)
	for _, P := range []int{8, 4, 1} {
		for nv := 1; nv <= 3; nv++ {
			dwGather512(fmt.Sprintf("dwGather512x%dp%d", 16*nv, P), nv, P)
		}
	}
	for _, G := range []int{1, 3, 5, 7} {
		for nv := 1; nv <= 3; nv++ {
			dwGrad512(fmt.Sprintf("dwGrad512g%dx%d", G, 16*nv), G, nv)
		}
	}
	bnKernels()
	cpu()
	os.Stdout.WriteString(sb.String())
}

// ---- BatchNorm and activation kernels ----
//
// Registers: Z0-Z7 temporaries, Z8-Z15 accumulators, Z16-Z31 constants of
// the activation (broadcast once per call from bnconst<>).
//
// Parameter blocks (bn_amd64.go): for vector v of a period (P = lcm(C, 16)
// elements of the flat [M, C] array), 5 vectors of 16 floats at
// prm + v*bnBlk: slot 0 the mean (or the statistics' shift), 1 a, 2 b,
// 3 -k1, 4 k2.

const bnBlk = 5 * 64 // bytes per parameter block

var bnConstVals = []struct {
	name string
	v    float32
}{
	{"c87", 87.3}, {"cm88", -88.3}, {"nl2e", -1.44269504}, {"ln2hi", 0.693145752},
	{"ln2lo", 1.42860677e-06}, {"p720", 1.0 / 720}, {"p120", 1.0 / 120}, {"p24", 1.0 / 24},
	{"p6", 1.0 / 6}, {"half", 0.5}, {"one", 1}, {"two", 2}, {"three", 3}, {"zero", 0},
	{"six", 6}, {"third", 1.0 / 3}, {"m3", -3},
}

func bnConstOff(name string) int {
	for i, c := range bnConstVals {
		if c.name == name {
			return 4 * i
		}
	}
	panic("unknown constant " + name)
}

// actConsts lists the constants an activation's forward and derivative use.
func actConsts(act string) []string {
	switch act {
	case "relu":
		return []string{"zero"}
	case "hswish", "hsigmoid":
		return []string{"three", "zero", "six", "p6", "half", "third", "m3", "one"}
	case "swish":
		return []string{"c87", "cm88", "nl2e", "ln2hi", "ln2lo", "p720", "p120", "p24", "p6", "half", "one", "two"}
	}
	return nil
}

// kreg maps a constant name to its register for act (valid after loadConsts).
type kreg map[string]string

func loadConsts(act string) kreg {
	k := kreg{}
	for i, n := range actConsts(act) {
		r := fmt.Sprintf("Z%d", 16+i)
		p("\tVBROADCASTSS bnconst<>+%d(SB), %s", bnConstOff(n), r)
		k[n] = r
	}
	return k
}

// emitSigmoid sets s = 1/(1+exp(-z)) with expf's polynomial and clamping
// (exp(-z) evaluated on s = -r so every step is exact negation of expv's),
// a 14-bit reciprocal and one Newton step. t1, t2 are clobbered.
func emitSigmoid(k kreg, z, s, t1, t2 string) {
	p("\tVMINPS %s, %s, %s", k["c87"], z, t1)
	p("\tVMAXPS %s, %s, %s", k["cm88"], t1, t1)
	p("\tVMULPS %s, %s, %s", k["nl2e"], t1, t2)
	p("\tVRNDSCALEPS $0, %s, %s", t2, t2)
	p("\tVFMADD231PS %s, %s, %s", k["ln2hi"], t2, t1)
	p("\tVFMADD231PS %s, %s, %s", k["ln2lo"], t2, t1)
	p("\tVMOVAPS %s, %s", k["p720"], s)
	for _, c := range []string{"p120", "p24", "p6", "half", "one", "one"} {
		p("\tVFNMADD213PS %s, %s, %s", k[c], t1, s)
	}
	p("\tVSCALEFPS %s, %s, %s", t2, s, s)
	p("\tVADDPS %s, %s, %s", k["one"], s, s)
	p("\tVRCP14PS %s, %s", s, t1)
	p("\tVFNMADD213PS %s, %s, %s", k["two"], t1, s)
	p("\tVMULPS %s, %s, %s", t1, s, s)
}

// emitAct sets out = act(z) (out != z); t are temporaries.
func emitAct(k kreg, act, z, out string, t []string) {
	switch act {
	case "none":
		p("\tVMOVAPS %s, %s", z, out)
	case "relu":
		p("\tVMAXPS %s, %s, %s", k["zero"], z, out)
	case "hswish":
		p("\tVADDPS %s, %s, %s", k["three"], z, out)
		p("\tVMAXPS %s, %s, %s", k["zero"], out, out)
		p("\tVMINPS %s, %s, %s", k["six"], out, out)
		p("\tVMULPS %s, %s, %s", z, out, out)
		p("\tVMULPS %s, %s, %s", k["p6"], out, out)
	case "hsigmoid":
		p("\tVADDPS %s, %s, %s", k["three"], z, out)
		p("\tVMAXPS %s, %s, %s", k["zero"], out, out)
		p("\tVMINPS %s, %s, %s", k["six"], out, out)
		p("\tVMULPS %s, %s, %s", k["p6"], out, out)
	case "swish":
		emitSigmoid(k, z, out, t[0], t[1])
		p("\tVMULPS %s, %s, %s", z, out, out)
	default:
		panic(act)
	}
}

// emitDz sets out = dy*act'(z) with dactf's conventions (out differs from
// z and dy; t are temporaries; K1, K2 are clobbered).
func emitDz(k kreg, act, z, dy, out string, t []string) {
	switch act {
	case "none":
		p("\tVMOVAPS %s, %s", dy, out)
	case "relu":
		p("\tVCMPPS $0x1e, %s, %s, K1", k["zero"], z) // z > 0
		p("\tVMOVAPS.Z %s, K1, %s", dy, out)
	case "hswish":
		p("\tVMOVAPS %s, %s", k["half"], out)
		p("\tVFMADD231PS %s, %s, %s", k["third"], z, out) // z/3 + 0.5
		p("\tVCMPPS $0x1d, %s, %s, K1", k["m3"], z)       // z >= -3
		p("\tVMOVAPS.Z %s, K1, %s", out, out)
		p("\tVCMPPS $0x16, %s, %s, K2", k["three"], z) // !(z <= 3)
		p("\tVMOVAPS %s, K2, %s", k["one"], out)
		p("\tVMULPS %s, %s, %s", dy, out, out)
	case "hsigmoid":
		p("\tVCMPPS $0x1e, %s, %s, K1", k["m3"], z)        // z > -3
		p("\tVCMPPS $0x11, %s, %s, K1, K1", k["three"], z) // and z < 3
		p("\tVMULPS.Z %s, %s, K1, %s", k["p6"], dy, out)
	case "swish":
		// s*(1 + z*(1-s))
		emitSigmoid(k, z, t[0], t[1], t[2])
		p("\tVSUBPS %s, %s, %s", t[0], k["one"], out)
		p("\tVFMADD213PS %s, %s, %s", k["one"], z, out)
		p("\tVMULPS %s, %s, %s", t[0], out, out)
		p("\tVMULPS %s, %s, %s", dy, out, out)
	default:
		panic(act)
	}
}

var bnActs = []string{"none", "relu", "hswish", "swish", "hsigmoid"}

func actTitle(act string) string { return strings.ToUpper(act[:1]) + act[1:] }

// bnConstData emits the constant table.
func bnConstData() {
	for i, c := range bnConstVals {
		p("DATA bnconst<>+%d(SB)/4, $0x%08x // %s", 4*i, math.Float32bits(c.v), c.name)
	}
	p("GLOBL bnconst<>(SB), RODATA|NOPTR, $%d", 4*len(bnConstVals))
	p("")
}

// bnApply emits y[i] = act((x[i]-m)*a + b) over n vectors of 16, the
// parameter block pointer advancing by bnBlk per vector and wrapping from
// prm+plen back to prm; it starts at prm+phase (bytes).
func bnApply(act string) {
	name := "bnApply512" + actTitle(act)
	p("// func %s(n int, x, y, prm *float32, plen, phase int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ y+16(FP), DI")
	p("\tMOVQ prm+24(FP), R11")
	p("\tMOVQ plen+32(FP), R10")
	p("\tADDQ R11, R10")
	p("\tMOVQ phase+40(FP), DX")
	p("\tADDQ R11, DX")
	k := loadConsts(act)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("%s_loop:", name)
	p("\tVMOVUPS (SI), Z0")
	p("\tVSUBPS 0(DX), Z0, Z0")
	p("\tVMOVUPS 128(DX), Z1")
	p("\tVFMADD231PS 64(DX), Z0, Z1")
	emitAct(k, act, "Z1", "Z2", []string{"Z3", "Z4", "Z5"})
	p("\tVMOVUPS Z2, (DI)")
	p("\tADDQ $64, SI")
	p("\tADDQ $64, DI")
	p("\tADDQ $%d, DX", bnBlk)
	p("\tCMPQ DX, R10")
	p("\tCMOVQEQ R11, DX")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// bnBwdApply emits dx = a*dz - k1 - (x-m)*k2 with dz = dy*act'((x-m)*a+b),
// parameters as in bnApply.
func bnBwdApply(act string) {
	name := "bnBwdApply512" + actTitle(act)
	p("// func %s(n int, x, dy, dx, prm *float32, plen, phase int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ dy+16(FP), R9")
	p("\tMOVQ dx+24(FP), DI")
	p("\tMOVQ prm+32(FP), R11")
	p("\tMOVQ plen+40(FP), R10")
	p("\tADDQ R11, R10")
	p("\tMOVQ phase+48(FP), DX")
	p("\tADDQ R11, DX")
	k := loadConsts(act)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("%s_loop:", name)
	p("\tVMOVUPS (SI), Z0")
	p("\tVSUBPS 0(DX), Z0, Z0")
	p("\tVMOVUPS (R9), Z2")
	dz := "Z2"
	if act != "none" {
		p("\tVMOVUPS 128(DX), Z1")
		p("\tVFMADD231PS 64(DX), Z0, Z1")
		emitDz(k, act, "Z1", "Z2", "Z3", []string{"Z5", "Z6", "Z7"})
		dz = "Z3"
	}
	p("\tVMOVUPS 192(DX), Z4")
	p("\tVFMADD231PS 64(DX), %s, Z4", dz)
	p("\tVFNMADD231PS 256(DX), Z0, Z4")
	p("\tVMOVUPS Z4, (DI)")
	p("\tADDQ $64, SI")
	p("\tADDQ $64, R9")
	p("\tADDQ $64, DI")
	p("\tADDQ $%d, DX", bnBlk)
	p("\tCMPQ DX, R10")
	p("\tCMOVQEQ R11, DX")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// bnSumsF64 adds the float32 accumulators Zacc[v] to the float64 sums at
// reg (16 per vector).
func bnSumsF64(acc []int, reg string) {
	for v, a := range acc {
		p("\tVCVTPS2PD Y%d, Z0", a)
		p("\tVEXTRACTF64X4 $1, Z%d, Y1", a)
		p("\tVCVTPS2PD Y1, Z1")
		p("\tVADDPD %d(%s), Z0, Z0", 128*v, reg)
		p("\tVADDPD %d(%s), Z1, Z1", 128*v+64, reg)
		p("\tVMOVUPD Z0, %d(%s)", 128*v, reg)
		p("\tVMOVUPD Z1, %d(%s)", 128*v+64, reg)
	}
}

// accRegs returns two accumulator register lists of nv registers each
// among Z8-Z31 less the first nconst (Z16...) holding constants.
func accRegs(nconst, nv int) (a1, a2 []int) {
	var free []int
	for r := 8; r < 32; r++ {
		if r < 16 || r >= 16+nconst {
			free = append(free, r)
		}
	}
	if 2*nv > len(free) {
		panic("too many accumulators")
	}
	return free[:nv], free[nv : 2*nv]
}

// bnReduceMax is the widest chunk (vectors) of the backward reduction for
// act: as many as its accumulators fit beside the constants.
func bnReduceMax(act string) int { return (24 - len(actConsts(act))) / 2 }

// bnStats emits the statistics pass over rows x nv vectors (nv <= 12, rows
// ld bytes apart): d = x - shift (slot 0), s1 += d, s2 += d*d, the float32
// partials added to the float64 sums s1, s2 at the end. Accumulators:
// Z8+v and Z20+v.
func bnStats(nv int) {
	name := fmt.Sprintf("bnStats512x%d", nv)
	p("// func %s(rows int, x *float32, ld int, prm *float32, s1, s2 *float64)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	p("\tMOVQ rows+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ ld+16(FP), R8")
	p("\tMOVQ prm+24(FP), DX")
	a1, a2 := accRegs(0, nv)
	for v := 0; v < nv; v++ {
		p("\tVPXORD Z%d, Z%d, Z%d", a1[v], a1[v], a1[v])
		p("\tVPXORD Z%d, Z%d, Z%d", a2[v], a2[v], a2[v])
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	for v := 0; v < nv; v++ {
		t := v % 8
		p("\tVMOVUPS %d(SI), Z%d", 64*v, t)
		p("\tVSUBPS %d(DX), Z%d, Z%d", v*bnBlk, t, t)
		p("\tVADDPS Z%d, Z%d, Z%d", t, a1[v], a1[v])
		p("\tVFMADD231PS Z%d, Z%d, Z%d", t, t, a2[v])
	}
	p("\tADDQ R8, SI")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ s1+32(FP), DI")
	p("\tMOVQ s2+40(FP), BX")
	bnSumsF64(a1, "DI")
	bnSumsF64(a2, "BX")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// bnBwdReduce emits the backward reduction over rows x nv vectors:
// xm = x - m, dz = dy*act'(xm*a + b), s1 += dz, s2 += dz*xm.
func bnBwdReduce(act string, nv int, store bool) {
	name := fmt.Sprintf("bnBwdReduce512%sx%d", actTitle(act), nv)
	args, frame, off := "rows int, x, dy *float32, ld int, prm *float32, s1, s2 *float64", 56, 0
	if store {
		name = fmt.Sprintf("bnBwdReduceDz512%sx%d", actTitle(act), nv)
		args, frame, off = "rows int, x, dy, dz *float32, ld int, prm *float32, s1, s2 *float64", 64, 8
	}
	p("// func %s(%s)", name, args)
	p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, frame)
	p("\tMOVQ rows+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ dy+16(FP), R9")
	if store {
		p("\tMOVQ dz+24(FP), R10")
	}
	p("\tMOVQ ld+%d(FP), R8", 24+off)
	p("\tMOVQ prm+%d(FP), DX", 32+off)
	k := loadConsts(act)
	a1, a2 := accRegs(len(actConsts(act)), nv)
	for v := 0; v < nv; v++ {
		p("\tVPXORD Z%d, Z%d, Z%d", a1[v], a1[v], a1[v])
		p("\tVPXORD Z%d, Z%d, Z%d", a2[v], a2[v], a2[v])
	}
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
	for v := 0; v < nv; v++ {
		o := v * bnBlk
		p("\tVMOVUPS %d(SI), Z0", 64*v)
		p("\tVSUBPS %d(DX), Z0, Z0", o)
		p("\tVMOVUPS %d(R9), Z2", 64*v)
		dz := "Z2"
		if act != "none" {
			p("\tVMOVUPS %d(DX), Z1", o+128)
			p("\tVFMADD231PS %d(DX), Z0, Z1", o+64)
			emitDz(k, act, "Z1", "Z2", "Z3", []string{"Z5", "Z6", "Z7"})
			dz = "Z3"
		}
		if store {
			p("\tVMOVUPS %s, %d(R10)", dz, 64*v)
		}
		p("\tVADDPS %s, Z%d, Z%d", dz, a1[v], a1[v])
		p("\tVFMADD231PS Z0, %s, Z%d", dz, a2[v])
	}
	p("\tADDQ R8, SI")
	p("\tADDQ R8, R9")
	if store {
		p("\tADDQ R8, R10")
	}
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_store:", name)
	p("\tMOVQ s1+%d(FP), DI", 40+off)
	p("\tMOVQ s2+%d(FP), BX", 48+off)
	bnSumsF64(a1, "DI")
	bnSumsF64(a2, "BX")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// actFwd emits y = act(x) over n vectors; actBwd dx = dy*act'(x).
func actFwd(act string) {
	name := "act512" + actTitle(act)
	p("// func %s(n int, x, y *float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-24", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ y+16(FP), DI")
	k := loadConsts(act)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("%s_loop:", name)
	p("\tVMOVUPS (SI), Z0")
	emitAct(k, act, "Z0", "Z1", []string{"Z3", "Z4", "Z5"})
	p("\tVMOVUPS Z1, (DI)")
	p("\tADDQ $64, SI")
	p("\tADDQ $64, DI")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func actBwd(act string) {
	name := "dact512" + actTitle(act)
	p("// func %s(n int, x, dy, dx *float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ dy+16(FP), R9")
	p("\tMOVQ dx+24(FP), DI")
	k := loadConsts(act)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("%s_loop:", name)
	p("\tVMOVUPS (SI), Z0")
	p("\tVMOVUPS (R9), Z2")
	emitDz(k, act, "Z0", "Z2", "Z3", []string{"Z5", "Z6", "Z7"})
	p("\tVMOVUPS Z3, (DI)")
	p("\tADDQ $64, SI")
	p("\tADDQ $64, R9")
	p("\tADDQ $64, DI")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// addKernel emits dst = a + b over n vectors of 16 (two per iteration
// while there are two).
func addKernel() {
	name := "add512"
	p("// func %s(n int, a, b, dst *float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ b+16(FP), R9")
	p("\tMOVQ dst+24(FP), DI")
	p("\tCMPQ CX, $2")
	p("\tJLT %s_one", name)
	p("%s_loop2:", name)
	p("\tVMOVUPS (SI), Z0")
	p("\tVMOVUPS 64(SI), Z1")
	p("\tVADDPS (R9), Z0, Z0")
	p("\tVADDPS 64(R9), Z1, Z1")
	p("\tVMOVUPS Z0, (DI)")
	p("\tVMOVUPS Z1, 64(DI)")
	p("\tADDQ $128, SI")
	p("\tADDQ $128, R9")
	p("\tADDQ $128, DI")
	p("\tSUBQ $2, CX")
	p("\tCMPQ CX, $2")
	p("\tJGE %s_loop2", name)
	p("%s_one:", name)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_done", name)
	p("\tVMOVUPS (SI), Z0")
	p("\tVADDPS (R9), Z0, Z0")
	p("\tVMOVUPS Z0, (DI)")
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func bnKernels() {
	addKernel()
	bnConstData()
	for _, a := range bnActs {
		bnApply(a)
		bnBwdApply(a)
		if a != "none" {
			actFwd(a)
			actBwd(a)
		}
		for nv := 1; nv <= bnReduceMax(a); nv++ {
			bnBwdReduce(a, nv, false)
			if a == "swish" {
				bnBwdReduce(a, nv, true)
			}
		}
	}
	for nv := 1; nv <= 12; nv++ {
		bnStats(nv)
	}
}
