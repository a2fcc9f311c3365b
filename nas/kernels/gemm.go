package kernels

import (
	"fmt"
)

// GEMM blocking. A micro-kernel computes an mr x nr tile of C from an A strip
// (read in place) and a packed B panel [kc][nr] (alpha folded in, zero padded).
const (
	gemmKCMax   = 512     // a K block; 12 A rows of it fit L1, a B panel L2
	gemmMinWork = 1 << 21 // flops per goroutine below which splitting does not pay
)

// gemmGeom is the shape of the active micro-kernel.
type gemmGeom struct {
	mr, nr int  // tile rows and panel columns
	narrow int  // panel width used for a last panel of at most narrow columns (0: none)
	kind   int  // gemmGo, gemm512 or gemm256
	masked bool // the kernel masks partial panels (else a C tile is used)
	direct bool // the kernel may read a non-transposed B in place (no packing)
}

const (
	gemmGo = iota
	gemm512
	gemm256
)

var geomGo = gemmGeom{mr: 12, nr: 32, kind: gemmGo}

func currentGeom() gemmGeom {
	if useGemmAsm() {
		return asmGeom
	}
	return geomGo
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose: op(A) is m x k, op(B) is k x n, C is m x n.
// A is stored with leading dimension lda (row stride; rows of A are m if
// !transA, k if transA), likewise B with ldb and C with ldc. Leading
// dimensions may exceed the used width, so the leading block of a max-shape
// weight matrix can be passed as is. With beta == 0, C is not read (BLAS
// semantics). The three cases of a 1x1 convolution with weight
// W[CinMax, CoutMax] (Y[M,cout] = X[M,cin] * W[:cin,:cout]) are
//
//	forward:     Gemm(false, false, M, cout, cin, 1, x, cin, w, CoutMax, 0, y, cout)
//	input grad:  Gemm(false, true, M, cin, cout, 1, dy, cout, w, CoutMax, 0, dx, cin)
//	weight grad: Gemm(true, false, cin, cout, M, 1, x, cin, dy, cout, 1, dw, CoutMax)
//
// Large problems are split over up to MaxThreads goroutines: over the rows of
// C when there are enough of them, otherwise over k with private partial
// results that are summed at the end (the weight-gradient case). Scratch
// space comes from pools; Gemm does not allocate in steady state apart from
// the goroutines it starts.
// Gemm panics if a dimension is negative or a slice is too short.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Threads(0).Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm is the package-level Gemm under the goroutine budget t.
func (t Threads) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nonneg(m, n, k)
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("A", a, ar, ac, lda)
	checkMat("B", b, br, bc, ldb)
	checkMat("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMat(c, m, n, ldc, beta)
		return
	}
	g := gemmCall{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, geo: currentGeom(), threads: t}
	g.run()
}

func checkMat(name string, s []float32, rows, cols, ld int) {
	if ld < 1 || cols > ld {
		panic(fmt.Sprintf("kernels: Gemm: %s leading dimension %d < %d columns", name, ld, cols))
	}
	if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: Gemm: %s has %d elements, need %d (%dx%d, ld %d)", name, len(s), (rows-1)*ld+cols, rows, cols, ld))
	}
}

// scaleMat sets C = beta*C (C = 0 when beta == 0, even if C holds NaNs).
func scaleMat(c []float32, m, n, ldc int, beta float32) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

type gemmCall struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	geo            gemmGeom
	threads        Threads
	npan           int  // number of B panels
	pack           bool // B is packed (else read in place)
}

// gemmWS is one goroutine's scratch: a padded A strip and a C tile.
type gemmWS struct {
	apad []float32 // mr*gemmKCMax
	tile []float32 // mr*nr
}

// kBlock returns the K block size for a K range of length k.
func kBlock(k int) int {
	if k <= gemmKCMax {
		return k
	}
	nb := (k + gemmKCMax - 1) / gemmKCMax
	return (k + nb - 1) / nb
}

func (g *gemmCall) run() {
	mr, nr := g.geo.mr, g.geo.nr
	g.npan = (g.n + nr - 1) / nr
	g.pack = g.transB || !g.geo.direct
	flops := 2 * g.m * g.n * g.k
	nt := g.threads.limit(flops, gemmMinWork)
	splitK := false
	if nt > 1 && g.m < nt*4*mr {
		// Too few rows to share: split the reduction when it is long,
		// otherwise share what rows there are.
		if g.k >= nt*256 {
			splitK = true
		} else if nt = g.m / (2 * mr); nt < 1 {
			nt = 1
		}
	}
	wsLen := mr*gemmKCMax + mr*nr
	wsBuf := getF32(nt * wsLen)
	defer putF32(wsBuf)
	ws := func(w int) gemmWS {
		base := (*wsBuf)[w*wsLen : (w+1)*wsLen]
		return gemmWS{apad: base[:mr*gemmKCMax], tile: base[mr*gemmKCMax:]}
	}
	if !splitK {
		// B is packed once, whole, and shared read-only.
		kcb := kBlock(g.k)
		var bpack []float32
		if g.pack {
			bpBuf := getF32(g.k * g.npan * nr)
			defer putF32(bpBuf)
			bpack = *bpBuf
			for p0 := 0; p0 < g.k; p0 += kcb {
				g.packB(bpack[p0*g.npan*nr:], p0, min(kcb, g.k-p0))
			}
		}
		parallel(nt, func(w int) {
			lo, hi := span(g.m, nt, w, mr)
			s := ws(w)
			for p0 := 0; p0 < g.k; p0 += kcb {
				kc := min(kcb, g.k-p0)
				beta := g.beta
				if p0 > 0 {
					beta = 1
				}
				var bblk []float32
				if g.pack {
					bblk = bpack[p0*g.npan*nr:]
				}
				for i := lo; i < hi; i += mr {
					g.strip(&s, i, min(mr, hi-i), p0, kc, bblk, g.c[i*g.ldc:], g.ldc, beta)
				}
			}
		})
		return
	}
	// Split K: worker 0 accumulates into C, the others into private
	// m x n partial sums that are added to C at the end.
	kcb := kBlock((g.k + nt - 1) / nt)
	part := getF32((nt - 1) * g.m * g.n)
	defer putF32(part)
	var bpBuf *[]float32
	if g.pack {
		bpBuf = getF32(nt * kcb * g.npan * nr)
		defer putF32(bpBuf)
	}
	parallel(nt, func(w int) {
		k0, k1 := span(g.k, nt, w, 1)
		s := ws(w)
		var bpack []float32
		if g.pack {
			bpack = (*bpBuf)[w*kcb*g.npan*nr : (w+1)*kcb*g.npan*nr]
		}
		c, ldc, beta0 := g.c, g.ldc, g.beta
		if w > 0 {
			c, ldc, beta0 = (*part)[(w-1)*g.m*g.n:w*g.m*g.n], g.n, 0
			if k0 >= k1 {
				clear(c)
			}
		}
		for p0 := k0; p0 < k1; p0 += kcb {
			kc := min(kcb, k1-p0)
			beta := beta0
			if p0 > k0 {
				beta = 1
			}
			if g.pack {
				g.packB(bpack, p0, kc)
			}
			for i := 0; i < g.m; i += mr {
				g.strip(&s, i, min(mr, g.m-i), p0, kc, bpack, c[i*ldc:], ldc, beta)
			}
		}
	})
	for w := 1; w < nt; w++ {
		p := (*part)[(w-1)*g.m*g.n:]
		for i := 0; i < g.m; i++ {
			axpyGo(1, p[i*g.n:i*g.n+g.n], g.c[i*g.ldc:i*g.ldc+g.n])
		}
	}
}

// panelWidth returns the packed width of panel jp and its used columns.
func (g *gemmCall) panelWidth(jp int) (st, w int) {
	nr := g.geo.nr
	w = min(nr, g.n-jp*nr)
	st = nr
	if g.geo.narrow > 0 && w <= g.geo.narrow {
		st = g.geo.narrow
	}
	return st, w
}

// packB copies rows p0..p0+kc of op(B) into panels dst[jp*kc*nr:] laid out
// [kc][st], zero padded to st columns.
func (g *gemmCall) packB(dst []float32, p0, kc int) {
	nr := g.geo.nr
	for jp := 0; jp < g.npan; jp++ {
		j0 := jp * nr
		st, w := g.panelWidth(jp)
		d := dst[jp*kc*nr:][:kc*st]
		if !g.transB {
			for p := 0; p < kc; p++ {
				row := d[p*st:][:st]
				copy(row, g.b[(p0+p)*g.ldb+j0:][:w])
				clear(row[w:])
			}
			continue
		}
		// op(B)[p][j] = B[j][p]: read rows of B, write columns of the panel.
		for j := 0; j < w; j++ {
			src := g.b[(j0+j)*g.ldb+p0:][:kc]
			for p, v := range src {
				d[p*st+j] = v
			}
		}
		if w < st {
			for p := 0; p < kc; p++ {
				clear(d[p*st+w : p*st+st])
			}
		}
	}
}

// strip computes rows i..i+mrr of C (c starts at row i) for the K block
// p0..p0+kc over all panels; bblk holds the packed panels of the block, or
// is nil when B is read in place.
func (g *gemmCall) strip(s *gemmWS, i, mrr, p0, kc int, bblk []float32, c []float32, ldc int, beta float32) {
	mr, nr := g.geo.mr, g.geo.nr
	var as []float32
	alda, acol := g.lda, g.transA
	if !acol {
		as = g.a[i*g.lda+p0:]
	} else {
		as = g.a[p0*g.lda+i:]
	}
	asm := g.geo.kind != gemmGo
	if asm && mrr < mr {
		// Pad the short strip to mr rows so the kernel never reads past A.
		ap := s.apad[:mr*kc]
		if !acol {
			for r := 0; r < mr; r++ {
				if r < mrr {
					copy(ap[r*kc:(r+1)*kc], g.a[(i+r)*g.lda+p0:][:kc])
				} else {
					clear(ap[r*kc : (r+1)*kc])
				}
			}
			alda = kc
		} else {
			for p := 0; p < kc; p++ {
				copy(ap[p*mr:p*mr+mrr], g.a[(p0+p)*g.lda+i:][:mrr])
				clear(ap[p*mr+mrr : (p+1)*mr])
			}
			alda = mr
		}
		as = ap
	}
	for jp := 0; jp < g.npan; jp++ {
		j0 := jp * nr
		st, w := g.panelWidth(jp)
		var bp []float32
		ldb := st
		if g.pack {
			bp = bblk[jp*kc*nr:][:kc*st]
		} else {
			bp = g.b[p0*g.ldb+j0:]
			ldb = g.ldb
		}
		cc := c[j0:]
		if !asm {
			gemmKernelGo(kc, as, alda, acol, mrr, bp, st, w, cc, ldc, g.alpha, beta)
			continue
		}
		if mrr == mr && (w == st || g.geo.masked) {
			gemmKernelAsm(g.geo.kind, st, kc, as, alda, acol, bp, ldb, cc, ldc, g.alpha, beta, w)
			continue
		}
		t := s.tile[:mr*st]
		gemmKernelAsm(g.geo.kind, st, kc, as, alda, acol, bp, ldb, t, st, g.alpha, 0, w)
		for r := 0; r < mrr; r++ {
			src := t[r*st : r*st+w]
			dst := cc[r*ldc : r*ldc+w]
			if beta == 0 {
				copy(dst, src)
				continue
			}
			for j, v := range src {
				dst[j] = v + beta*dst[j]
			}
		}
	}
}

// gemmKernelGo is the portable micro-kernel: C[0:mr, 0:nr] = alpha*A*Bp + beta*C where
// A(i,p) = a[i*lda+p] (or a[p*lda+i] when col) and Bp is [kc][st] with
// st a multiple of 4 and zero padding beyond nr. It works on 4x4 blocks of
// scalar accumulators; rows past mr reuse the last row and are not stored.
func gemmKernelGo(kc int, a []float32, lda int, col bool, mr int, bp []float32, st, nr int, c []float32, ldc int, alpha, beta float32) {
	for i0 := 0; i0 < mr; i0 += 4 {
		r1, r2, r3 := min(i0+1, mr-1), min(i0+2, mr-1), min(i0+3, mr-1)
		for j0 := 0; j0 < nr; j0 += 4 {
			var acc [16]float32
			if !col {
				gemmBlock4x4Row(&acc, kc, a[i0*lda:][:kc], a[r1*lda:][:kc], a[r2*lda:][:kc], a[r3*lda:][:kc], bp[j0:], st)
			} else {
				gemmBlock4x4Col(&acc, kc, a, lda, i0, r1, r2, r3, bp[j0:], st)
			}
			for r := 0; r < 4 && i0+r < mr; r++ {
				row := c[(i0+r)*ldc+j0:]
				for q := 0; q < 4 && j0+q < nr; q++ {
					v := alpha * acc[4*r+q]
					if beta != 0 {
						v += beta * row[q]
					}
					row[q] = v
				}
			}
		}
	}
}

func gemmBlock4x4Row(acc *[16]float32, kc int, a0, a1, a2, a3 []float32, bp []float32, st int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a1 = a1[:len(a0)]
	a2 = a2[:len(a0)]
	a3 = a3[:len(a0)]
	for p := range a0 {
		b := bp[p*st : p*st+4 : p*st+4]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		x := a0[p]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = a1[p]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		x = a2[p]
		c20 += x * b0
		c21 += x * b1
		c22 += x * b2
		c23 += x * b3
		x = a3[p]
		c30 += x * b0
		c31 += x * b1
		c32 += x * b2
		c33 += x * b3
	}
	*acc = [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
}

func gemmBlock4x4Col(acc *[16]float32, kc int, a []float32, lda, i0, r1, r2, r3 int, bp []float32, st int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		b := bp[p*st : p*st+4 : p*st+4]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		ar := a[p*lda:]
		x := ar[i0]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		x = ar[r1]
		c10 += x * b0
		c11 += x * b1
		c12 += x * b2
		c13 += x * b3
		x = ar[r2]
		c20 += x * b0
		c21 += x * b1
		c22 += x * b2
		c23 += x * b3
		x = ar[r3]
		c30 += x * b0
		c31 += x * b1
		c32 += x * b2
		c33 += x * b3
	}
	*acc = [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
}
