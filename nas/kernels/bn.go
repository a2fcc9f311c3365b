package kernels

import (
	"fmt"
	"math"
)

// BatchNorm over activations x[M, C] (M = batch*height*width rows, row
// stride C): per channel c, with batch statistics (training mode, biased
// variance; ALGORITHM.md section 4: supernet training always uses batch
// statistics),
//
//	z = gamma[c]*(x - mean[c])*invstd[c] + beta[c],  y = act(z),
//
// invstd = 1/sqrt(var + eps). gamma and beta are leading slices of the
// max-shape parameter vectors. The statistics are computed in float64 over
// per-block float32 partial sums of x - x[0, c] (shifted data, so a large
// mean does not cancel the variance).
//
// See also BNTrainBackward, ScaleShiftAct (inference), ChannelSums
// (recalibration).

const bnRowBlock = 64 // rows per float32 partial sum

func bnCheck(name string, M, C int, bufs ...[]float32) {
	if M < 0 || C < 0 {
		panic(fmt.Sprintf("kernels: %s: bad shape M=%d C=%d", name, M, C))
	}
	for i, b := range bufs {
		n := C
		if i < 2 {
			n = M * C
		}
		if n > 0 && len(b) < n { // format the name only on failure
			need(fmt.Sprintf("%s argument %d", name, i), b, n)
		}
	}
}

// BNTrainForward computes y = act(BN(x)) with batch statistics and writes the
// batch mean and inverse standard deviation per channel to mean and invstd
// (needed by BNTrainBackward; mean and 1/invstd^2 - eps are the batch
// statistics). y may alias x.
func BNTrainForward(y, x []float32, M, C int, gamma, beta []float32, eps float32, act Act, mean, invstd []float32) {
	bnCheck("BNTrainForward", M, C, y, x, gamma, beta, mean, invstd)
	act.check()
	if M == 0 || C == 0 {
		return
	}
	if useBNAsm() {
		bnTrainForwardAsm(y, x, M, C, gamma, beta, eps, act, mean, invstd)
		return
	}
	nt := threadsFor(M*C, 1<<16)
	sums := getF64(2 * nt * C)
	defer putF64(sums)
	s := (*sums)[:2*nt*C]
	clear(s)
	shift := x[:C] // the first row: a sample close to the mean
	parallel(nt, func(w int) {
		lo, hi := span(M, nt, w, 1)
		if useSIMD() {
			bnStatsSIMD(x, C, lo, hi, shift, s[2*w*C:(2*w+1)*C], s[(2*w+1)*C:(2*w+2)*C])
			return
		}
		bnStatsGo(x, C, lo, hi, shift, s[2*w*C:(2*w+1)*C], s[(2*w+1)*C:(2*w+2)*C])
	})
	for c := 0; c < C; c++ {
		var s1, s2 float64
		for w := 0; w < nt; w++ {
			s1 += s[2*w*C+c]
			s2 += s[(2*w+1)*C+c]
		}
		m := s1 / float64(M)
		v := max(s2/float64(M)-m*m, 0)
		mean[c] = float32(float64(shift[c]) + m)
		invstd[c] = float32(1 / math.Sqrt(v+float64(eps)))
	}
	ab := getF32(C)
	defer putF32(ab)
	a := (*ab)[:C]
	for c := 0; c < C; c++ {
		a[c] = gamma[c] * invstd[c]
	}
	Threads(0).scaleShiftAct(y, x, M, C, mean, a, beta, act)
}

// bnStatsGo adds, per channel, the sums of d and d^2 over rows lo..hi, where
// d = x - shift.
func bnStatsGo(x []float32, C, lo, hi int, shift []float32, s1, s2 []float64) {
	p1, p2 := getF32(C), getF32(C)
	defer putF32(p1)
	defer putF32(p2)
	a1, a2 := (*p1)[:C], (*p2)[:C]
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		clear(a1)
		clear(a2)
		for r := r0; r < min(r0+bnRowBlock, hi); r++ {
			row := x[r*C : r*C+C]
			for c, v := range row {
				d := v - shift[c]
				a1[c] += d
				a2[c] += d * d
			}
		}
		for c := range a1 {
			s1[c] += float64(a1[c])
			s2[c] += float64(a2[c])
		}
	}
}

// BNFold returns in scale and shift the per-channel affine map of inference
// BatchNorm: scale = gamma/sqrt(variance+eps), shift = beta - mean*scale, so
// that BN(x) = x*scale + shift (fold it into the preceding convolution or
// pass it to ScaleShiftAct).
func BNFold(scale, shift, gamma, beta, mean, variance []float32, eps float32) {
	C := len(scale)
	for _, s := range [][]float32{shift, gamma, beta, mean, variance} {
		need("BNFold argument", s, C)
	}
	for c := 0; c < C; c++ {
		sc := float64(gamma[c]) / math.Sqrt(float64(variance[c])+float64(eps))
		scale[c] = float32(sc)
		shift[c] = float32(float64(beta[c]) - float64(mean[c])*sc)
	}
}

// ScaleShiftAct computes y[r, c] = act(x[r, c]*scale[c] + shift[c]) for
// x[M, C] (inference BatchNorm, BN folded or not; y may alias x). A nil scale
// means 1, a nil shift 0.
func ScaleShiftAct(y, x []float32, M, C int, scale, shift []float32, act Act) {
	Threads(0).ScaleShiftAct(y, x, M, C, scale, shift, act)
}

// ScaleShiftAct is the package-level ScaleShiftAct under the goroutine
// budget t.
func (t Threads) ScaleShiftAct(y, x []float32, M, C int, scale, shift []float32, act Act) {
	bnCheck("ScaleShiftAct", M, C, y, x)
	act.check()
	if M == 0 || C == 0 {
		return
	}
	ab := getF32(3 * C)
	defer putF32(ab)
	m, a, b := (*ab)[:C], (*ab)[C:2*C], (*ab)[2*C:3*C]
	for c := 0; c < C; c++ {
		m[c], a[c], b[c] = 0, 1, 0
		if scale != nil {
			a[c] = scale[c]
		}
		if shift != nil {
			b[c] = shift[c]
		}
	}
	t.scaleShiftAct(y, x, M, C, m, a, b, act)
}

// scaleShiftAct computes y = act((x - m)*a + b) per channel. Subtracting the
// mean first keeps z exact where x == mean even when a = gamma*invstd is
// large (tiny batch variance).
func (t Threads) scaleShiftAct(y, x []float32, M, C int, m, a, b []float32, act Act) {
	nt := t.limit(M*C, 1<<16)
	if useBNAsm() {
		scaleShiftActAsm(y, x, M, C, m, a, b, act, nt)
		return
	}
	parallel(nt, func(w int) {
		lo, hi := span(M, nt, w, 1)
		if useSIMD() {
			scaleShiftActSIMD(y, x, C, lo, hi, m, a, b, act)
			return
		}
		for r := lo; r < hi; r++ {
			yr, xr := y[r*C:r*C+C], x[r*C:r*C+C]
			for c, v := range xr {
				yr[c] = (v-m[c])*a[c] + b[c]
			}
			actRowGo(act, yr)
		}
	})
}

// BNTrainBackward is the backward pass of BNTrainForward: given the output
// gradient dy[M, C], the forward input x, gamma, beta and the mean and invstd
// that BNTrainForward returned, it writes dx[M, C] (dx may alias dy, not x) and
// accumulates dgamma[c] += sum dz*xhat, dbeta[c] += sum dz, where
// dz = dy*act'(z). It recomputes xhat and z from x instead of storing them.
func BNTrainBackward(dx, dgamma, dbeta, dy, x []float32, M, C int, gamma, beta, mean, invstd []float32, act Act) {
	bnCheck("BNTrainBackward", M, C, dx, dy, dgamma, dbeta, gamma, beta, mean, invstd)
	need("x", x, M*C)
	act.check()
	if M == 0 || C == 0 {
		return
	}
	if useBNAsm() {
		bnTrainBackwardAsm(dx, dgamma, dbeta, dy, x, M, C, gamma, beta, mean, invstd, act)
		return
	}
	nt := threadsFor(M*C, 1<<16)
	sums := getF64(2 * nt * C)
	defer putF64(sums)
	s := (*sums)[:2*nt*C]
	clear(s)
	pb := getF32(4 * C)
	defer putF32(pb)
	// Per channel: z = (x - mean)*a + beta; xhat = (x - mean)*invstd.
	a, b := (*pb)[:C], beta[:C]
	for c := 0; c < C; c++ {
		a[c] = gamma[c] * invstd[c]
	}
	parallel(nt, func(w int) {
		lo, hi := span(M, nt, w, 1)
		sdz, sdzx := s[2*w*C:(2*w+1)*C], s[(2*w+1)*C:(2*w+2)*C]
		if useSIMD() {
			bnBwdReduceSIMD(dy, x, C, lo, hi, a, b, mean, act, sdz, sdzx)
			return
		}
		bnBwdReduceGo(dy, x, C, lo, hi, a, b, mean, act, sdz, sdzx)
	})
	// dx = a*(dz - mean(dz) - xhat*mean(dz*xhat)), written as
	// dx = a*dz - k1 - (x - mean)*k2 with k1 = a*mean(dz),
	// k2 = a*invstd*mean(dz*xhat).
	k1, k2 := (*pb)[2*C:3*C], (*pb)[3*C:4*C]
	for c := 0; c < C; c++ {
		var sd, sx float64
		for w := 0; w < nt; w++ {
			sd += s[2*w*C+c]
			sx += s[(2*w+1)*C+c]
		}
		sx *= float64(invstd[c]) // sum dz*(x-mean) -> sum dz*xhat
		dbeta[c] += float32(sd)
		dgamma[c] += float32(sx)
		k1[c] = float32(float64(a[c]) * sd / float64(M))
		k2[c] = float32(float64(a[c]) * float64(invstd[c]) * sx / float64(M))
	}
	parallel(nt, func(w int) {
		lo, hi := span(M, nt, w, 1)
		if useSIMD() {
			bnBwdApplySIMD(dx, dy, x, C, lo, hi, a, b, mean, k1, k2, act)
			return
		}
		for r := lo; r < hi; r++ {
			dxr, dyr, xr := dx[r*C:r*C+C], dy[r*C:r*C+C], x[r*C:r*C+C]
			for c, v := range xr {
				dz := dyr[c]
				if act != ActNone {
					dz *= dactf(act, (v-mean[c])*a[c]+b[c])
				}
				dxr[c] = a[c]*dz - k1[c] - (v-mean[c])*k2[c]
			}
		}
	})
}

// bnBwdReduceGo adds, per channel, sum dz and sum dz*(x-mean) over rows
// lo..hi (float32 partials per row block, float64 totals).
func bnBwdReduceGo(dy, x []float32, C, lo, hi int, a, b, mean []float32, act Act, sdz, sdzx []float64) {
	p1, p2 := getF32(C), getF32(C)
	defer putF32(p1)
	defer putF32(p2)
	a1, a2 := (*p1)[:C], (*p2)[:C]
	for r0 := lo; r0 < hi; r0 += bnRowBlock {
		clear(a1)
		clear(a2)
		for r := r0; r < min(r0+bnRowBlock, hi); r++ {
			dyr, xr := dy[r*C:r*C+C], x[r*C:r*C+C]
			for c, v := range xr {
				dz := dyr[c]
				if act != ActNone {
					dz *= dactf(act, (v-mean[c])*a[c]+b[c])
				}
				a1[c] += dz
				a2[c] += dz * (v - mean[c])
			}
		}
		for c := range a1 {
			sdz[c] += float64(a1[c])
			sdzx[c] += float64(a2[c])
		}
	}
}

// ChannelSums accumulates, in float64, sum[c] += sum_r x[r, c] and
// sumsq[c] += sum_r x[r, c]^2 over x[M, C]: exact BatchNorm recalibration over
// many batches (ALGORITHM.md section 7: cumulative, not exponential,
// averages); mean = sum/N, var = sumsq/N - mean^2.
func ChannelSums(sum, sumsq []float64, x []float32, M, C int) {
	bnCheck("ChannelSums", M, C, x, x)
	need64("sum", sum, C)
	need64("sumsq", sumsq, C)
	if M == 0 || C == 0 {
		return
	}
	nt := threadsFor(M*C, 1<<16)
	buf := getF64(2 * nt * C)
	defer putF64(buf)
	s := (*buf)[:2*nt*C]
	clear(s)
	parallel(nt, func(w int) {
		lo, hi := span(M, nt, w, 1)
		s1, s2 := s[2*w*C:(2*w+1)*C], s[(2*w+1)*C:(2*w+2)*C]
		if useSIMD() {
			channelSumsSIMD(x, C, lo, hi, s1, s2)
			return
		}
		for r := lo; r < hi; r++ {
			for c, v := range x[r*C : r*C+C] {
				f := float64(v)
				s1[c] += f
				s2[c] += f * f
			}
		}
	})
	for w := 0; w < nt; w++ {
		for c := 0; c < C; c++ {
			sum[c] += s[2*w*C+c]
			sumsq[c] += s[(2*w+1)*C+c]
		}
	}
}
