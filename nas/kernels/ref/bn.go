package ref

import (
	"fmt"
	"math"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// bnCheck validates M and C, the lengths of the [M, C] buffers mc and of
// the per-channel buffers pc.
func bnCheck(fn string, M, C int, mc, pc []string, bufs ...[]float64) {
	if M < 0 || C < 0 {
		panic(fmt.Sprintf("ref: %s: bad shape M=%d C=%d", fn, M, C))
	}
	for i, b := range bufs {
		if i < len(mc) {
			need(fn, mc[i], b, M*C)
		} else {
			need(fn, pc[i-len(mc)], b, C)
		}
	}
}

// BNTrainForward is the float64 twin of kernels.BNTrainForward: per channel
// c of x[M, C], with the batch mean and biased batch variance,
// z = (x - mean)*invstd*gamma + beta and y = act(z), invstd =
// 1/sqrt(var + eps). It writes y (which may alias x) and the per-channel
// mean and invstd. Nothing is written when M or C is 0.
func BNTrainForward(y, x []float64, M, C int, gamma, beta []float64, eps float64, a kernels.Act, mean, invstd []float64) {
	bnCheck("BNTrainForward", M, C, []string{"y", "x"}, []string{"gamma", "beta", "mean", "invstd"},
		y, x, gamma, beta, mean, invstd)
	checkAct("BNTrainForward", a)
	if M == 0 || C == 0 {
		return
	}
	for c := 0; c < C; c++ {
		var s float64
		for r := 0; r < M; r++ {
			s += x[r*C+c]
		}
		mu := s / float64(M)
		var v float64
		for r := 0; r < M; r++ {
			d := x[r*C+c] - mu
			v += d * d
		}
		v /= float64(M)
		mean[c], invstd[c] = mu, 1/math.Sqrt(v+eps)
	}
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			z := (x[r*C+c]-mean[c])*invstd[c]*gamma[c] + beta[c]
			y[r*C+c] = act(a, z)
		}
	}
}

// BNTrainBackward is the float64 twin of kernels.BNTrainBackward: from the
// output gradient dy[M, C], the forward input x, gamma, beta and the mean
// and invstd returned by BNTrainForward, it writes
// dx = gamma*invstd*(dz - mean(dz) - xhat*mean(dz*xhat)) (dx may alias dy)
// and accumulates dgamma[c] += sum dz*xhat, dbeta[c] += sum dz, where
// xhat = (x - mean)*invstd and dz = dy*act'(xhat*gamma + beta).
func BNTrainBackward(dx, dgamma, dbeta, dy, x []float64, M, C int, gamma, beta, mean, invstd []float64, a kernels.Act) {
	bnCheck("BNTrainBackward", M, C, []string{"dx", "dy", "x"}, []string{"dgamma", "dbeta", "gamma", "beta", "mean", "invstd"},
		dx, dy, x, dgamma, dbeta, gamma, beta, mean, invstd)
	checkAct("BNTrainBackward", a)
	if M == 0 || C == 0 {
		return
	}
	xhat := func(r, c int) float64 { return (x[r*C+c] - mean[c]) * invstd[c] }
	dz := func(r, c int) float64 { return dy[r*C+c] * dact(a, xhat(r, c)*gamma[c]+beta[c]) }
	for c := 0; c < C; c++ {
		var sdz, sdzx float64
		for r := 0; r < M; r++ {
			g := dz(r, c)
			sdz += g
			sdzx += g * xhat(r, c)
		}
		dbeta[c] += sdz
		dgamma[c] += sdzx
		mdz, mdzx := sdz/float64(M), sdzx/float64(M)
		// Each dx element is written after its dy element is read, so dx
		// may alias dy; the channel sums above were taken first.
		for r := 0; r < M; r++ {
			dx[r*C+c] = gamma[c] * invstd[c] * (dz(r, c) - mdz - xhat(r, c)*mdzx)
		}
	}
}

// ScaleShiftAct is the float64 twin of kernels.ScaleShiftAct:
// y[r, c] = act(x[r, c]*scale[c] + shift[c]) for x[M, C] (y may alias x); a
// nil scale means 1, a nil shift 0.
func ScaleShiftAct(y, x []float64, M, C int, scale, shift []float64, a kernels.Act) {
	bnCheck("ScaleShiftAct", M, C, []string{"y", "x"}, nil, y, x)
	checkAct("ScaleShiftAct", a)
	if scale != nil {
		need("ScaleShiftAct", "scale", scale, C)
	}
	if shift != nil {
		need("ScaleShiftAct", "shift", shift, C)
	}
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			z := x[r*C+c]
			if scale != nil {
				z *= scale[c]
			}
			if shift != nil {
				z += shift[c]
			}
			y[r*C+c] = act(a, z)
		}
	}
}
