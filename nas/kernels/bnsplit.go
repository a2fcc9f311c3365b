package kernels

// BatchNorm over a batch whose rows are split between several goroutines
// (the sharded training engine of nas/trainer). Every part runs on its
// caller's goroutine: it adds float64 channel sums of its own rows (BNSums,
// BNBackwardSums); the caller combines the parts in a fixed order, derives
// the batch statistics or the backward coefficients (BNBackwardCoeffs)
// once, and every part applies them to its rows (BNApply,
// BNBackwardApply). The result depends on how the rows were split, never
// on the number of cores. BNTrainForward and BNTrainBackward are the same
// computation on one undivided batch.

// BNSums adds, per channel c of x[M, C], the sums of d = x - shift[c] and
// of d*d to s1[c] and s2[c]. shift is a sample close to the mean (e.g. the
// part's first row), so that a large mean does not cancel the variance;
// parts with different shifts combine exactly (Chan et al.'s pairwise
// update of mean and squared deviations).
func BNSums(s1, s2 []float64, x []float32, M, C int, shift []float32) {
	bnCheck("BNSums", M, C, x, x, shift)
	need64("s1", s1, C)
	need64("s2", s2, C)
	if M == 0 || C == 0 {
		return
	}
	if useBNAsm() {
		l := newBNLayout(C)
		pb := getF32(l.pv * bnSlots * 16)
		defer putF32(pb)
		prm := (*pb)[:l.pv*bnSlots*16]
		l.setSlot(prm, 0, shift, 0)
		sb := getF64(2 * l.P)
		defer putF64(sb)
		s := (*sb)[:2*l.P]
		clear(s)
		bnStatsAsm(x, M, l, prm, 1, s)
		for c := 0; c < C; c++ {
			s1[c] += l.fold(s, 1, c, 0)
			s2[c] += l.fold(s, 1, c, 1)
		}
		return
	}
	if useSIMD() {
		bnStatsSIMD(x, C, 0, M, shift, s1, s2)
		return
	}
	bnStatsGo(x, C, 0, M, shift, s1, s2)
}

// BNApply computes y = act((x - mean)*a + b) per channel of x[M, C] (y may
// alias x), with a = gamma*invstd and b = beta: the normalisation of
// BNTrainForward with statistics from BNFinish.
func BNApply(y, x []float32, M, C int, mean, a, b []float32, act Act) {
	bnCheck("BNApply", M, C, y, x, mean, a, b)
	act.check()
	if M == 0 || C == 0 {
		return
	}
	if useBNAsm() {
		l := newBNLayout(C)
		pb := getF32(l.pv * bnSlots * 16)
		defer putF32(pb)
		prm := (*pb)[:l.pv*bnSlots*16]
		l.setSlot(prm, 0, mean, 0)
		l.setSlot(prm, 1, a, 0)
		l.setSlot(prm, 2, b, 0)
		bnApplyAsm(y, x, M, l, prm, act, 1)
		return
	}
	Threads(1).scaleShiftAct(y, x, M, C, mean, a, b, act)
}

// BNBackwardSums adds, per channel of x[M, C], sdz[c] += sum dz and
// sdzx[c] += sum dz*(x - mean), where dz = dy*act'((x - mean)*a + b) is the
// gradient at the normalised output. When dz is not nil and storing it pays
// (the sigmoid of swish costs more than a stream of memory), it also writes
// dz there (dz may alias dy) and returns true: BNBackwardApply then takes dz
// in place of dy with ActNone.
func BNBackwardSums(sdz, sdzx []float64, dz, dy, x []float32, M, C int, mean, a, b []float32, act Act) bool {
	bnCheck("BNBackwardSums", M, C, dy, x, mean, a, b)
	need64("sdz", sdz, C)
	need64("sdzx", sdzx, C)
	act.check()
	if M == 0 || C == 0 {
		return false
	}
	if useBNAsm() {
		l := newBNLayout(C)
		pb := getF32(l.pv * bnSlots * 16)
		defer putF32(pb)
		prm := (*pb)[:l.pv*bnSlots*16]
		l.setSlot(prm, 0, mean, 0)
		l.setSlot(prm, 1, a, 0)
		l.setSlot(prm, 2, b, 0)
		sb := getF64(2 * l.P)
		defer putF64(sb)
		s := (*sb)[:2*l.P]
		clear(s)
		store := dz != nil && bnStoresDz(act)
		if store {
			need("dz", dz, M*C)
		} else {
			dz = nil
		}
		bnBwdReduceAsm(dy, x, dz, M, l, prm, act, 1, s)
		for c := 0; c < C; c++ {
			sdz[c] += l.fold(s, 1, c, 0)
			sdzx[c] += l.fold(s, 1, c, 1)
		}
		return store
	}
	if useSIMD() {
		bnBwdReduceSIMD(dy, x, C, 0, M, a, b, mean, act, sdz, sdzx)
		return false
	}
	bnBwdReduceGo(dy, x, C, 0, M, a, b, mean, act, sdz, sdzx)
	return false
}

// BNBackwardCoeffs turns the sums of BNBackwardSums over all N rows into
// the coefficients of BNBackwardApply, k1 = a*mean(dz) and
// k2 = a*invstd*mean(dz*xhat), and accumulates the parameter gradients
// dgamma[c] += sum dz*xhat and dbeta[c] += sum dz.
func BNBackwardCoeffs(k1, k2, dgamma, dbeta []float32, sdz, sdzx []float64, a, invstd []float32, N int) {
	C := len(k1)
	for _, s := range [][]float32{k2, dgamma, dbeta, a, invstd} {
		need("BNBackwardCoeffs argument", s, C)
	}
	need64("sdz", sdz, C)
	need64("sdzx", sdzx, C)
	for c := 0; c < C; c++ {
		sd := sdz[c]
		sx := sdzx[c] * float64(invstd[c])
		dbeta[c] += float32(sd)
		dgamma[c] += float32(sx)
		k1[c] = float32(float64(a[c]) * sd / float64(N))
		k2[c] = float32(float64(a[c]) * float64(invstd[c]) * sx / float64(N))
	}
}

// BNBackwardApply writes dx = a*dz - k1 - (x - mean)*k2 per channel of
// x[M, C], where dz = dy*act'((x - mean)*a + b) (dx may alias dy, not x).
func BNBackwardApply(dx, dy, x []float32, M, C int, mean, a, b, k1, k2 []float32, act Act) {
	bnCheck("BNBackwardApply", M, C, dx, dy, mean, a, b, k1, k2)
	need("x", x, M*C)
	act.check()
	if M == 0 || C == 0 {
		return
	}
	if useBNAsm() {
		l := newBNLayout(C)
		pb := getF32(l.pv*bnSlots*16 + C)
		defer putF32(pb)
		prm, nk1 := (*pb)[:l.pv*bnSlots*16], (*pb)[l.pv*bnSlots*16:][:C]
		for c := range nk1 {
			nk1[c] = -k1[c]
		}
		l.setSlot(prm, 0, mean, 0)
		l.setSlot(prm, 1, a, 0)
		l.setSlot(prm, 2, b, 0)
		l.setSlot(prm, 3, nk1, 0)
		l.setSlot(prm, 4, k2, 0)
		bnBwdApplyAsm(dx, dy, x, M, l, prm, act, 1)
		return
	}
	if useSIMD() {
		bnBwdApplySIMD(dx, dy, x, C, 0, M, a, b, mean, k1, k2, act)
		return
	}
	for r := 0; r < M; r++ {
		dxr, dyr, xr := dx[r*C:r*C+C], dy[r*C:r*C+C], x[r*C:r*C+C]
		for c, v := range xr {
			dz := dyr[c]
			if act != ActNone {
				dz *= dactf(act, (v-mean[c])*a[c]+b[c])
			}
			dxr[c] = a[c]*dz - k1[c] - (v-mean[c])*k2[c]
		}
	}
}
