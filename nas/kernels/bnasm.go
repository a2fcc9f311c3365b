package kernels

import (
	"math"
	"sync/atomic"
)

// Driver of the assembly BatchNorm and activation kernels (bn_amd64.go).
//
// The kernels see x[M, C] as a flat array whose channel pattern repeats
// every P = lcm(C, 16) elements (k = P/C rows, pv = P/16 vectors), so that
// every vector of 16 lanes has a fixed channel per lane: no masks, whatever
// C is. Per-channel parameters are tiled over a period in blocks of five
// vectors per vector of data (bnSlots): slot 0 the mean (the shift in the
// statistics pass), 1 a = gamma*invstd (or scale), 2 b = beta (or shift),
// 3 -k1 and 4 k2 of the backward pass.
//
// Reductions run over "period rows" of P elements, in blocks of bnRowBlock
// of them and chunks of up to 4 vectors, with float32 partial sums per
// block added into float64 sums per period lane; a last partial period row
// (M not a multiple of k) goes through a padded copy. The lanes of one
// channel are folded in a fixed order, so results depend on the thread
// count only, never on scheduling.

const bnSlots = 5 // parameter vectors per data vector

// noBNAsm disables the assembly BatchNorm/activation kernels (tests use it
// to exercise the archsimd path).
var noBNAsm atomic.Bool

// useBNAsm reports whether the assembly BatchNorm/activation kernels are
// active.
func useBNAsm() bool { return haveBNAsm && gemmAVX512 && !forceGeneric.Load() && !noBNAsm.Load() }

type bnLayout struct {
	C, k, P, pv int
}

func newBNLayout(C int) bnLayout {
	g := C
	for b := 16; b != 0; {
		g, b = b, g%b
	}
	k := 16 / g
	return bnLayout{C: C, k: k, P: k * C, pv: k * C / 16}
}

// plen is the byte length of a period's parameter blocks.
func (l bnLayout) plen() int { return l.pv * bnSlots * 64 }

// setSlot tiles vals[:C] (nil: all v0) into parameter slot s of prm.
func (l bnLayout) setSlot(prm []float32, s int, vals []float32, v0 float32) {
	c := 0
	for v := 0; v < l.pv; v++ {
		blk := prm[(v*bnSlots+s)*16 : (v*bnSlots+s+1)*16]
		for i := range blk {
			if vals != nil {
				blk[i] = vals[c]
			} else {
				blk[i] = v0
			}
			if c++; c == l.C {
				c = 0
			}
		}
	}
}

// slotAt returns parameter slot s of flat lane i (i < P).
func (l bnLayout) slotAt(prm []float32, s, i int) float32 {
	return prm[((i/16)*bnSlots+s)*16+i%16]
}

// reduce runs a reduction kernel over the full period rows of [M, C] on nt
// goroutines, worker w adding into s[2wP:(2w+1)P] and s[(2w+1)P:(2w+2)P];
// then the last partial period row through tail (on the last worker).
func (l bnLayout) reduce(M, nt, chunk int, s []float64, kern func(nv, rows, off int, s1, s2 []float64), tail func(s1, s2 []float64)) {
	P, full := l.P, M/l.k
	parallel(nt, func(w int) {
		s1, s2 := s[2*w*P:(2*w+1)*P], s[(2*w+1)*P:(2*w+2)*P]
		lo, hi := span(full, nt, w, 1)
		for r0 := lo; r0 < hi; r0 += bnRowBlock {
			rows := min(bnRowBlock, hi-r0)
			for v0 := 0; v0 < l.pv; v0 += chunk {
				kern(min(chunk, l.pv-v0), rows, r0*P+16*v0, s1[16*v0:], s2[16*v0:])
			}
		}
		if w == nt-1 && M%l.k != 0 {
			tail(s1, s2)
		}
	})
}

// fold returns sum over workers and period lanes of channel c.
func (l bnLayout) fold(s []float64, nt, c, which int) float64 {
	var t float64
	for w := 0; w < nt; w++ {
		part := s[(2*w+which)*l.P:]
		for q := 0; q < l.k; q++ {
			t += part[q*l.C+c]
		}
	}
	return t
}

// apply runs a flat elementwise kernel over the M*C elements on nt
// goroutines (each starting on a period boundary); f gets the element
// range, the number of full vectors and the parameter phase of a partial
// last vector.
func (l bnLayout) apply(M, nt int, f func(e0, e1 int)) {
	R := (M + l.k - 1) / l.k
	parallel(nt, func(w int) {
		lo, hi := span(R, nt, w, 1)
		e0, e1 := lo*l.P, min(hi*l.P, M*l.C)
		if e0 < e1 {
			f(e0, e1)
		}
	})
}

// tailPhase returns the parameter phase (bytes) of vector n of a range
// starting on a period boundary.
func (l bnLayout) tailPhase(n int) int { return n % l.pv * bnSlots * 64 }

func bnStatsAsm(x []float32, M int, l bnLayout, prm []float32, nt int, s []float64) {
	ld := 4 * l.P
	l.reduce(M, nt, bnStatsChunk, s, func(nv, rows, off int, s1, s2 []float64) {
		bnStatsK(nv, rows, &x[off], ld, &prm[(off%l.P)/16*bnSlots*16], &s1[0], &s2[0])
	}, func(s1, s2 []float64) {
		tb := getF32(l.P)
		defer putF32(tb)
		t := (*tb)[:l.P]
		for i := range t {
			t[i] = l.slotAt(prm, 0, i)
		}
		copy(t, x[M/l.k*l.P:M*l.C])
		for v0 := 0; v0 < l.pv; v0 += bnStatsChunk {
			bnStatsK(min(bnStatsChunk, l.pv-v0), 1, &t[16*v0], ld, &prm[v0*bnSlots*16], &s1[16*v0], &s2[16*v0])
		}
	})
}

// bnBwdReduceAsm adds sum dz and sum dz*(x-mean) per period lane into s;
// with dz != nil it also writes dz there (dz may alias dy).
func bnBwdReduceAsm(dy, x, dz []float32, M int, l bnLayout, prm []float32, act Act, nt int, s []float64) {
	ld := 4 * l.P
	chunk := bnReduceChunk(act)
	kern := func(nv, rows int, x, dy, dz *float32, prm *float32, s1, s2 *float64) {
		if dz != nil {
			bnBwdReduceDzK(nv, rows, x, dy, dz, ld, prm, s1, s2)
		} else {
			bnBwdReduceK(act, nv, rows, x, dy, ld, prm, s1, s2)
		}
	}
	l.reduce(M, nt, chunk, s, func(nv, rows, off int, s1, s2 []float64) {
		var pz *float32
		if dz != nil {
			pz = &dz[off]
		}
		kern(nv, rows, &x[off], &dy[off], pz, &prm[(off%l.P)/16*bnSlots*16], &s1[0], &s2[0])
	}, func(s1, s2 []float64) {
		tb := getF32(2 * l.P)
		defer putF32(tb)
		tx, td := (*tb)[:l.P], (*tb)[l.P:2*l.P]
		for i := range tx {
			tx[i] = l.slotAt(prm, 0, i) // x = mean: zero contribution
		}
		clear(td)
		e0, e1 := M/l.k*l.P, M*l.C
		copy(tx, x[e0:e1])
		copy(td, dy[e0:e1])
		var pz *float32
		for v0 := 0; v0 < l.pv; v0 += chunk {
			if dz != nil {
				pz = &td[16*v0] // dz over dy, in place
			}
			kern(min(chunk, l.pv-v0), 1, &tx[16*v0], &td[16*v0], pz, &prm[v0*bnSlots*16], &s1[16*v0], &s2[16*v0])
		}
		if dz != nil {
			copy(dz[e0:e1], td)
		}
	})
}

func bnApplyAsm(y, x []float32, M int, l bnLayout, prm []float32, act Act, nt int) {
	plen := l.plen()
	l.apply(M, nt, func(e0, e1 int) {
		n := (e1 - e0) / 16
		if n > 0 {
			bnApplyK(act, n, &x[e0], &y[e0], &prm[0], plen, 0)
		}
		if e := e0 + 16*n; e < e1 {
			var t [16]float32
			copy(t[:], x[e:e1])
			bnApplyK(act, 1, &t[0], &t[0], &prm[0], plen, l.tailPhase(n))
			copy(y[e:e1], t[:])
		}
	})
}

func bnBwdApplyAsm(dx, dy, x []float32, M int, l bnLayout, prm []float32, act Act, nt int) {
	plen := l.plen()
	l.apply(M, nt, func(e0, e1 int) {
		n := (e1 - e0) / 16
		if n > 0 {
			bnBwdApplyK(act, n, &x[e0], &dy[e0], &dx[e0], &prm[0], plen, 0)
		}
		if e := e0 + 16*n; e < e1 {
			var tx, td [16]float32
			copy(tx[:], x[e:e1])
			copy(td[:], dy[e:e1])
			bnBwdApplyK(act, 1, &tx[0], &td[0], &td[0], &prm[0], plen, l.tailPhase(n))
			copy(dx[e:e1], td[:])
		}
	})
}

// actAsm computes y = act(x) (act != ActNone) over lo..hi.
func actAsm(act Act, y, x []float32) {
	n := len(x) / 16
	if n > 0 {
		actK(act, n, &x[0], &y[0])
	}
	if e := 16 * n; e < len(x) {
		var t [16]float32
		copy(t[:], x[e:])
		actK(act, 1, &t[0], &t[0])
		copy(y[e:len(x)], t[:])
	}
}

// dactAsm computes dx = dy*act'(x) (act != ActNone).
func dactAsm(act Act, dx, dy, x []float32) {
	n := len(x) / 16
	if n > 0 {
		dactK(act, n, &x[0], &dy[0], &dx[0])
	}
	if e := 16 * n; e < len(x) {
		var tx, td [16]float32
		copy(tx[:], x[e:])
		copy(td[:], dy[e:len(x)])
		dactK(act, 1, &tx[0], &td[0], &td[0])
		copy(dx[e:len(x)], td[:])
	}
}

func bnTrainForwardAsm(y, x []float32, M, C int, gamma, beta []float32, eps float32, act Act, mean, invstd []float32) {
	l := newBNLayout(C)
	nt := threadsFor(M*C, 1<<16)
	pb := getF32(l.pv*bnSlots*16 + C)
	defer putF32(pb)
	prm, a := (*pb)[:l.pv*bnSlots*16], (*pb)[l.pv*bnSlots*16:][:C]
	shift := x[:C] // the first row: a sample close to the mean
	l.setSlot(prm, 0, shift, 0)
	sums := getF64(2 * nt * l.P)
	defer putF64(sums)
	s := (*sums)[:2*nt*l.P]
	clear(s)
	bnStatsAsm(x, M, l, prm, nt, s)
	for c := 0; c < C; c++ {
		m := l.fold(s, nt, c, 0) / float64(M)
		v := max(l.fold(s, nt, c, 1)/float64(M)-m*m, 0)
		mean[c] = float32(float64(shift[c]) + m)
		invstd[c] = float32(1 / math.Sqrt(v+float64(eps)))
		a[c] = gamma[c] * invstd[c]
	}
	l.setSlot(prm, 0, mean, 0)
	l.setSlot(prm, 1, a, 0)
	l.setSlot(prm, 2, beta, 0)
	bnApplyAsm(y, x, M, l, prm, act, nt)
}

func bnTrainBackwardAsm(dx, dgamma, dbeta, dy, x []float32, M, C int, gamma, beta, mean, invstd []float32, act Act) {
	l := newBNLayout(C)
	nt := threadsFor(M*C, 1<<16)
	pb := getF32(l.pv*bnSlots*16 + 3*C)
	defer putF32(pb)
	n := l.pv * bnSlots * 16
	prm, a, k1, k2 := (*pb)[:n], (*pb)[n:n+C], (*pb)[n+C:n+2*C], (*pb)[n+2*C:n+3*C]
	for c := 0; c < C; c++ {
		a[c] = gamma[c] * invstd[c]
	}
	l.setSlot(prm, 0, mean, 0)
	l.setSlot(prm, 1, a, 0)
	l.setSlot(prm, 2, beta, 0)
	sums := getF64(2 * nt * l.P)
	defer putF64(sums)
	s := (*sums)[:2*nt*l.P]
	clear(s)
	var dz []float32
	if bnStoresDz(act) {
		dz = dx
	}
	bnBwdReduceAsm(dy, x, dz, M, l, prm, act, nt, s)
	// See BNTrainBackward: dx = a*dz - k1 - (x - mean)*k2.
	for c := 0; c < C; c++ {
		sd := l.fold(s, nt, c, 0)
		sx := l.fold(s, nt, c, 1) * float64(invstd[c])
		dbeta[c] += float32(sd)
		dgamma[c] += float32(sx)
		k1[c] = -float32(float64(a[c]) * sd / float64(M))
		k2[c] = float32(float64(a[c]) * float64(invstd[c]) * sx / float64(M))
	}
	l.setSlot(prm, 3, k1, 0)
	l.setSlot(prm, 4, k2, 0)
	if dz != nil {
		// dx holds dz: the rest is the identity's formula.
		bnBwdApplyAsm(dx, dx, x, M, l, prm, ActNone, nt)
		return
	}
	bnBwdApplyAsm(dx, dy, x, M, l, prm, act, nt)
}

// scaleShiftActAsm is scaleShiftAct on the assembly kernels.
func scaleShiftActAsm(y, x []float32, M, C int, m, a, b []float32, act Act, nt int) {
	l := newBNLayout(C)
	pb := getF32(l.pv * bnSlots * 16)
	defer putF32(pb)
	prm := (*pb)[:l.pv*bnSlots*16]
	l.setSlot(prm, 0, m, 0)
	l.setSlot(prm, 1, a, 0)
	l.setSlot(prm, 2, b, 0)
	bnApplyAsm(y, x, M, l, prm, act, nt)
}
