package kernels

import (
	"fmt"
	"math"
	"testing"
)

var allActs = []Act{ActNone, ActReLU, ActHSwish, ActSwish, ActHSigmoid}

// act64 and dact64 are the float64 references.
func act64(a Act, z float64) float64 {
	relu6 := func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }
	switch a {
	case ActReLU:
		return math.Max(z, 0)
	case ActHSwish:
		return z * relu6(z+3) / 6
	case ActSwish:
		return z / (1 + math.Exp(-z))
	case ActHSigmoid:
		return relu6(z+3) / 6
	}
	return z
}

func dact64(a Act, z float64) float64 {
	switch a {
	case ActReLU:
		if z > 0 {
			return 1
		}
		return 0
	case ActHSwish:
		if z < -3 {
			return 0
		}
		if z <= 3 {
			return z/3 + 0.5
		}
		return 1
	case ActSwish:
		s := 1 / (1 + math.Exp(-z))
		return s * (1 + z*(1-s))
	case ActHSigmoid:
		if z > -3 && z < 3 {
			return 1.0 / 6
		}
		return 0
	}
	return 1
}

func TestExpf(t *testing.T) {
	for x := float32(-87); x < 88; x += 0.0137 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 3e-7*want {
			t.Fatalf("expf(%g) = %g, want %g", x, got, want)
		}
	}
	if expf(-200) <= 0 || math.IsInf(float64(expf(200)), 0) {
		t.Fatal("expf does not clamp")
	}
}

func TestAct(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		r := newRand(6)
		for _, n := range []int{1, 15, 16, 17, 1000, 70001} {
			x := randVec(r, n, -6, 6)
			x[0] = 0
			dy := randVec(r, n, -1, 1)
			for _, a := range allActs {
				want := make([]float64, n)
				wantd := make([]float64, n)
				for i, v := range x {
					want[i] = act64(a, float64(v))
					wantd[i] = float64(dy[i]) * dact64(a, float64(v))
				}
				y := make([]float32, n)
				ActForward(y, x, a)
				check(t, fmt.Sprintf("%v n=%d", a, n), y, want, tol32)
				dx := make([]float32, n)
				ActBackward(dx, dy, x, a)
				check(t, fmt.Sprintf("d%v n=%d", a, n), dx, wantd, tol32)
				// In place.
				y = append([]float32(nil), x...)
				ActForward(y, y, a)
				check(t, fmt.Sprintf("%v in place", a), y, want, tol32)
			}
		}
	})
}

// bnRef is the float64 reference of BNTrainForward.
func bnRef(x []float64, M, C int, gamma, beta []float64, eps float64, a Act) (y, mean, invstd []float64) {
	y = make([]float64, M*C)
	mean = make([]float64, C)
	invstd = make([]float64, C)
	for c := 0; c < C; c++ {
		var s float64
		for r := 0; r < M; r++ {
			s += x[r*C+c]
		}
		m := s / float64(M)
		var v float64
		for r := 0; r < M; r++ {
			d := x[r*C+c] - m
			v += d * d
		}
		v /= float64(M)
		mean[c], invstd[c] = m, 1/math.Sqrt(v+eps)
		for r := 0; r < M; r++ {
			y[r*C+c] = act64(a, gamma[c]*(x[r*C+c]-m)*invstd[c]+beta[c])
		}
	}
	return y, mean, invstd
}

// bnRefBackward is the analytic float64 backward pass of bnRef.
func bnRefBackward(dy, x []float64, M, C int, gamma, beta []float64, eps float64, a Act) (dx, dgamma, dbeta []float64) {
	_, mean, invstd := bnRef(x, M, C, gamma, beta, eps, a)
	dx = make([]float64, M*C)
	dgamma = make([]float64, C)
	dbeta = make([]float64, C)
	for c := 0; c < C; c++ {
		var sd, sdx float64
		dz := make([]float64, M)
		for r := 0; r < M; r++ {
			xh := (x[r*C+c] - mean[c]) * invstd[c]
			dz[r] = dy[r*C+c] * dact64(a, gamma[c]*xh+beta[c])
			sd += dz[r]
			sdx += dz[r] * xh
		}
		dgamma[c], dbeta[c] = sdx, sd
		for r := 0; r < M; r++ {
			xh := (x[r*C+c] - mean[c]) * invstd[c]
			dx[r*C+c] = gamma[c] * invstd[c] * (dz[r] - sd/float64(M) - xh*sdx/float64(M))
		}
	}
	return dx, dgamma, dbeta
}

type bnShape struct{ M, C, CMax int }

// bnShapes cover the assembly kernels' layouts (bnasm.go): periods of 1, 2,
// 4 and 16 rows with and without a partial last period, 1 to 18 vectors per
// period, several row blocks per goroutine.
var bnShapes = []bnShape{{1, 8, 8}, {7, 24, 32}, {64, 33, 40}, {130, 144, 160}, {2050, 16, 16}, {40000, 8, 24},
	{37, 12, 12}, {131, 33, 33}, {300, 288, 288}, {1003, 5, 8}, {4099, 40, 48}, {3, 1, 1}}

// TestBNReference checks bnRefBackward against finite differences of bnRef.
func TestBNReference(t *testing.T) {
	r := newRand(7)
	M, C := 9, 5
	for _, a := range allActs {
		x := to64(randVec(r, M*C, 1, 3))
		g := to64(randVec(r, C, 0.5, 1.5))
		b := to64(randVec(r, C, -0.5, 0.5))
		dy := to64(randVec(r, M*C, -1, 1))
		loss := func(x, g, b []float64) float64 {
			y, _, _ := bnRef(x, M, C, g, b, 1e-5, a)
			return dot64(dy, y)
		}
		dx, dg, db := bnRefBackward(dy, x, M, C, g, b, 1e-5, a)
		fdCheck(t, a.String()+" dx", func(v []float64) float64 { return loss(v, g, b) }, x, dx, 1e-6)
		fdCheck(t, a.String()+" dgamma", func(v []float64) float64 { return loss(x, v, b) }, g, dg, 1e-6)
		fdCheck(t, a.String()+" dbeta", func(v []float64) float64 { return loss(x, g, v) }, b, db, 1e-6)
	}
}

func TestBNTrain(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		forThreads(t, func(t *testing.T) {
			r := newRand(8)
			for _, s := range bnShapes {
				for _, a := range allActs {
					name := fmt.Sprintf("M%d_C%d_%v", s.M, s.C, a)
					M, C := s.M, s.C
					x := randVec(r, M*C, 3, 5) // offset mean: exercises the shifted sums
					gamma := randVec(r, s.CMax, 0.5, 1.5)
					beta := randVec(r, s.CMax, -1, 1)
					dy := randVec(r, M*C, -1, 1)
					g64, b64 := to64(gamma[:C]), to64(beta[:C])
					wy, wmean, winv := bnRef(to64(x), M, C, g64, b64, 1e-5, a)
					y := make([]float32, M*C)
					mean, invstd := make([]float32, C), make([]float32, C)
					BNTrainForward(y, x, M, C, gamma, beta, 1e-5, a, mean, invstd)
					check(t, name+" mean", mean, wmean, tol32)
					check(t, name+" invstd", invstd, winv, tol32)
					check(t, name+" y", y, wy, tol32)

					wdx, wdg, wdb := bnRefBackward(to64(dy), to64(x), M, C, g64, b64, 1e-5, a)
					dg := randVec(r, s.CMax, -1, 1)
					db := randVec(r, s.CMax, -1, 1)
					for c := 0; c < C; c++ {
						wdg[c] += float64(dg[c])
						wdb[c] += float64(db[c])
					}
					dx := append([]float32(nil), dy...) // in place: dx aliases dy
					BNTrainBackward(dx, dg, db, dx, x, M, C, gamma, beta, mean, invstd, a)
					check(t, name+" dx", dx, wdx, tol32)
					// Into a separate buffer: the same bits.
					dx2 := make([]float32, M*C)
					BNTrainBackward(dx2, make([]float32, C), make([]float32, C), dy, x, M, C, gamma, beta, mean, invstd, a)
					check(t, name+" dx not in place", dx2, to64(dx), 0)
					// y aliasing x: the same bits.
					y2 := append([]float32(nil), x...)
					BNTrainForward(y2, y2, M, C, gamma, beta, 1e-5, a, mean, invstd)
					check(t, name+" y in place", y2, to64(y), 0)
					check(t, name+" dgamma", dg[:C], wdg, tol32)
					check(t, name+" dbeta", db[:C], wdb, tol32)
				}
			}
		})
	})
}

func TestScaleShiftAct(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		r := newRand(9)
		M, C := 37, 40
		x := randVec(r, M*C, -4, 4)
		gamma, beta := randVec(r, C, 0.5, 1.5), randVec(r, C, -1, 1)
		mean, variance := randVec(r, C, -1, 1), randVec(r, C, 0.5, 2)
		scale, shift := make([]float32, C), make([]float32, C)
		BNFold(scale, shift, gamma, beta, mean, variance, 1e-5)
		for _, a := range allActs {
			want := make([]float64, M*C)
			for i, v := range x {
				c := i % C
				z := float64(gamma[c])*(float64(v)-float64(mean[c]))/math.Sqrt(float64(variance[c])+1e-5) + float64(beta[c])
				want[i] = act64(a, z)
			}
			y := make([]float32, M*C)
			ScaleShiftAct(y, x, M, C, scale, shift, a)
			check(t, a.String(), y, want, tol32)
		}
		y := append([]float32(nil), x...)
		ScaleShiftAct(y, y, M, C, nil, nil, ActNone)
		check(t, "identity", y, to64(x), 0)
	})
}

func TestChannelSums(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		r := newRand(10)
		for _, s := range bnShapes {
			M, C := s.M, s.C
			x := randVec(r, M*C, -3, 5)
			sum, sumsq := make([]float64, C), make([]float64, C)
			for c := range sum {
				sum[c], sumsq[c] = 1, 2
			}
			ChannelSums(sum, sumsq, x, M, C)
			for c := 0; c < C; c++ {
				w1, w2 := 1.0, 2.0
				for r := 0; r < M; r++ {
					v := float64(x[r*C+c])
					w1 += v
					w2 += v * v
				}
				if math.Abs(sum[c]-w1) > 1e-12*math.Abs(w2) || math.Abs(sumsq[c]-w2) > 1e-12*w2 {
					t.Fatalf("M%d C%d channel %d: got %g %g, want %g %g", M, C, c, sum[c], sumsq[c], w1, w2)
				}
			}
		}
	})
}
