//go:build goexperiment.simd && amd64

package kernels

import "simd/archsimd"

func bcast(v float32) archsimd.Float32x16 { return archsimd.BroadcastFloat32x16(v) }

// expv is the vector form of expf (same polynomial and clamping).
func expv(x archsimd.Float32x16) archsimd.Float32x16 {
	x = x.Max(bcast(-87.3)).Min(bcast(88.3))
	n := x.Mul(bcast(1.44269504)).RoundToEvenScaled(0)
	r := n.Mul(bcast(-0.693145752)).Add(x)
	r = n.Mul(bcast(-1.42860677e-06)).Add(r)
	p := bcast(1.0/720).MulAdd(r, bcast(1.0/120))
	p = p.MulAdd(r, bcast(1.0/24))
	p = p.MulAdd(r, bcast(1.0/6))
	p = p.MulAdd(r, bcast(0.5))
	p = p.MulAdd(r, bcast(1))
	p = p.MulAdd(r, bcast(1))
	e := n.ConvertToInt32().Add(archsimd.BroadcastInt32x16(127)).ShiftAllLeft(23).AsFloat32x16()
	return p.Mul(e)
}

// sigmoidv returns 1/(1+exp(-x)) using a reciprocal estimate refined by one
// Newton step (relative error ~1e-7).
func sigmoidv(x archsimd.Float32x16) archsimd.Float32x16 {
	d := expv(bcast(0).Sub(x)).Add(bcast(1))
	r := d.Reciprocal()
	return r.Mul(bcast(2).Sub(d.Mul(r)))
}

func actv(a Act, z archsimd.Float32x16) archsimd.Float32x16 {
	switch a {
	case ActReLU:
		return z.Max(bcast(0))
	case ActHSwish:
		return z.Add(bcast(3)).Max(bcast(0)).Min(bcast(6)).Mul(z).Mul(bcast(1.0 / 6))
	case ActSwish:
		return z.Mul(sigmoidv(z))
	case ActHSigmoid:
		return z.Add(bcast(3)).Max(bcast(0)).Min(bcast(6)).Mul(bcast(1.0 / 6))
	}
	return z
}

// dactv returns act'(z) with dactf's conventions.
func dactv(a Act, z archsimd.Float32x16) archsimd.Float32x16 {
	zero := bcast(0)
	switch a {
	case ActReLU:
		return bcast(1).Masked(z.Greater(zero))
	case ActHSwish:
		d := z.MulAdd(bcast(1.0/3), bcast(0.5)).Masked(z.GreaterEqual(bcast(-3)))
		return d.Merge(bcast(1), z.LessEqual(bcast(3)))
	case ActSwish:
		s := sigmoidv(z)
		return bcast(1).Sub(s).MulAdd(z, bcast(1)).Mul(s)
	case ActHSigmoid:
		return bcast(1.0 / 6).Masked(z.Greater(bcast(-3)).And(z.Less(bcast(3))))
	}
	return bcast(1)
}

func actSIMD(a Act, y, x []float32) {
	n := len(x)
	i := 0
	for ; i+16 <= n; i += 16 {
		st(actv(a, ld(x, i)), y, i)
	}
	if i < n {
		m := laneMask(n - i)
		stm(actv(a, ldm(x, i, m)), y, i, m)
	}
}

func dactSIMD(a Act, dx, dy, x []float32) {
	n := len(x)
	i := 0
	for ; i+16 <= n; i += 16 {
		st(ld(dy, i).Mul(dactv(a, ld(x, i))), dx, i)
	}
	if i < n {
		m := laneMask(n - i)
		stm(ldm(dy, i, m).Mul(dactv(a, ldm(x, i, m))), dx, i, m)
	}
}

// addF64 adds the lanes of v (as float64) to s[0:n], n <= 16.
func addF64(s []float64, v archsimd.Float32x16, n int) {
	var t [16]float32
	v.Store(&t)
	for i := range min(n, 16) {
		s[i] += float64(t[i])
	}
}

func bnStatsSIMD(x []float32, C, lo, hi int, shift []float32, s1, s2 []float64) {
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		r1 := min(r0+bnRowBlock, hi)
		for c0 := 0; c0 < C; c0 += 16 {
			m := laneMask(C - c0)
			k := ldm(shift, c0, m)
			var a1, a2, b1, b2 archsimd.Float32x16
			r := r0
			for ; r+2 <= r1; r += 2 {
				d := ldm(x, r*C+c0, m).Sub(k)
				e := ldm(x, (r+1)*C+c0, m).Sub(k)
				a1 = a1.Add(d)
				a2 = d.MulAdd(d, a2)
				b1 = b1.Add(e)
				b2 = e.MulAdd(e, b2)
			}
			if r < r1 {
				d := ldm(x, r*C+c0, m).Sub(k)
				a1 = a1.Add(d)
				a2 = d.MulAdd(d, a2)
			}
			addF64(s1[c0:], a1.Add(b1), C-c0)
			addF64(s2[c0:], a2.Add(b2), C-c0)
		}
	}
}

func scaleShiftActSIMD(y, x []float32, C, lo, hi int, mu, a, b []float32, act Act) {
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		r1 := min(r0+bnRowBlock, hi)
		for c0 := 0; c0 < C; c0 += 16 {
			m := laneMask(C - c0)
			mv, av, bv := ldm(mu, c0, m), ldm(a, c0, m), ldm(b, c0, m)
			for r := r0; r < r1; r++ {
				o := r*C + c0
				stm(actv(act, ldm(x, o, m).Sub(mv).MulAdd(av, bv)), y, o, m)
			}
		}
	}
}

func bnBwdReduceSIMD(dy, x []float32, C, lo, hi int, a, b, mean []float32, act Act, sdz, sdzx []float64) {
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		r1 := min(r0+bnRowBlock, hi)
		for c0 := 0; c0 < C; c0 += 16 {
			m := laneMask(C - c0)
			av, bv, mv := ldm(a, c0, m), ldm(b, c0, m), ldm(mean, c0, m)
			var s1, s2 archsimd.Float32x16
			for r := r0; r < r1; r++ {
				o := r*C + c0
				xv := ldm(x, o, m)
				dz := ldm(dy, o, m)
				if act != ActNone {
					dz = dz.Mul(dactv(act, xv.Sub(mv).MulAdd(av, bv)))
				}
				s1 = s1.Add(dz)
				s2 = dz.MulAdd(xv.Sub(mv), s2)
			}
			addF64(sdz[c0:], s1, C-c0)
			addF64(sdzx[c0:], s2, C-c0)
		}
	}
}

func bnBwdApplySIMD(dx, dy, x []float32, C, lo, hi int, a, b, mean, k1, k2 []float32, act Act) {
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		bnBwdApplyBlock(dx, dy, x, C, r0, min(r0+bnRowBlock, hi), a, b, mean, k1, k2, act)
	}
}

func bnBwdApplyBlock(dx, dy, x []float32, C, lo, hi int, a, b, mean, k1, k2 []float32, act Act) {
	for c0 := 0; c0 < C; c0 += 16 {
		m := laneMask(C - c0)
		av, bv, mv := ldm(a, c0, m), ldm(b, c0, m), ldm(mean, c0, m)
		k1v, k2v := ldm(k1, c0, m), ldm(k2, c0, m)
		for r := lo; r < hi; r++ {
			o := r*C + c0
			xv := ldm(x, o, m)
			dz := ldm(dy, o, m)
			if act != ActNone {
				dz = dz.Mul(dactv(act, xv.Sub(mv).MulAdd(av, bv)))
			}
			// a*dz - k1 - (x-mean)*k2
			v := dz.MulAdd(av, bcast(0).Sub(k1v)).Sub(xv.Sub(mv).Mul(k2v))
			stm(v, dx, o, m)
		}
	}
}

func channelSumsSIMD(x []float32, C, lo, hi int, s1, s2 []float64) {
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		r1 := min(r0+bnRowBlock, hi)
		for c0 := 0; c0 < C; c0 += 16 {
			m := laneMask(C - c0)
			var l1, h1, l2, h2 archsimd.Float64x8
			for r := r0; r < r1; r++ {
				v := ldm(x, r*C+c0, m)
				lo64 := v.GetLo().ConvertToFloat64()
				hi64 := v.GetHi().ConvertToFloat64()
				l1 = l1.Add(lo64)
				h1 = h1.Add(hi64)
				l2 = lo64.MulAdd(lo64, l2)
				h2 = hi64.MulAdd(hi64, h2)
			}
			var t [4][8]float64
			l1.Store(&t[0])
			h1.Store(&t[1])
			l2.Store(&t[2])
			h2.Store(&t[3])
			for i := 0; i < min(16, C-c0); i++ {
				s1[c0+i] += t[i/8][i%8]
				s2[c0+i] += t[2+i/8][i%8]
			}
		}
	}
}
