//go:build ignore

// gen_asm.go writes gemm_amd64.s, the GEMM micro-kernels:
//
//	go run gen_asm.go > gemm_amd64.s
//
// AVX-512: 12x32 and 12x16 tiles (24 or 12 zmm accumulators, column masks in
// K1/K2 for partial panels). AVX2/FMA: 6x16 tiles. "Row" kernels read
// A(i,p) = a[i*lda+p] (A not transposed), "Col" kernels A(i,p) = a[p*lda+i].
// B rows are ldb apart (a packed panel or B itself); the AVX-512 kernels load
// B and store C under the column mask, the AVX2 ones read 16 full columns.
// C = alpha*acc + beta*C (C not read if beta == 0).
//
// Depthwise convolution: dwGather512x{16,32,48}p{8,4,1} compute 8, 4 or 1
// output pixels x 16/32/48 channels of a depthwise row plan (depthwise.go);
// dwGrad512g{1,3,5,7}x{16,32,48} accumulate the weight gradient of 1, 3, 5
// or 7 taps of a kernel row.
package main

import (
	"fmt"
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
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop:", name)
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

func main() {
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
	cpu()
	os.Stdout.WriteString(sb.String())
}
