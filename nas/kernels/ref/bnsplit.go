package ref

import "github.com/attentivenas/attentivenas/nas/kernels"

// Float64 twins of the split BatchNorm of kernels (bnsplit.go): sums per
// part, statistics and coefficients once, application per part.

// BNSums is the float64 twin of kernels.BNSums: s1[c] += sum (x - shift[c]),
// s2[c] += sum (x - shift[c])^2 over the rows of x[M, C].
func BNSums(s1, s2, x []float64, M, C int, shift []float64) {
	bnCheck("BNSums", M, C, []string{"x"}, []string{"s1", "s2", "shift"}, x, s1, s2, shift)
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			d := x[r*C+c] - shift[c]
			s1[c] += d
			s2[c] += d * d
		}
	}
}

// BNApply is the float64 twin of kernels.BNApply: y = act((x - mean)*a + b).
func BNApply(y, x []float64, M, C int, mean, a, b []float64, f kernels.Act) {
	bnCheck("BNApply", M, C, []string{"y", "x"}, []string{"mean", "a", "b"}, y, x, mean, a, b)
	checkAct("BNApply", f)
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			y[r*C+c] = act(f, (x[r*C+c]-mean[c])*a[c]+b[c])
		}
	}
}

// BNBackwardSums is the float64 twin of kernels.BNBackwardSums; it never
// stores dz (returns false).
func BNBackwardSums(sdz, sdzx, _, dy, x []float64, M, C int, mean, a, b []float64, f kernels.Act) bool {
	bnCheck("BNBackwardSums", M, C, []string{"dy", "x"}, []string{"sdz", "sdzx", "mean", "a", "b"}, dy, x, sdz, sdzx, mean, a, b)
	checkAct("BNBackwardSums", f)
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			v := x[r*C+c]
			dz := dy[r*C+c] * dact(f, (v-mean[c])*a[c]+b[c])
			sdz[c] += dz
			sdzx[c] += dz * (v - mean[c])
		}
	}
	return false
}

// BNBackwardCoeffs is the float64 twin of kernels.BNBackwardCoeffs.
func BNBackwardCoeffs(k1, k2, dgamma, dbeta, sdz, sdzx, a, invstd []float64, N int) {
	for c := range k1 {
		sx := sdzx[c] * invstd[c]
		dbeta[c] += sdz[c]
		dgamma[c] += sx
		k1[c] = a[c] * sdz[c] / float64(N)
		k2[c] = a[c] * invstd[c] * sx / float64(N)
	}
}

// BNBackwardApply is the float64 twin of kernels.BNBackwardApply:
// dx = a*dz - k1 - (x - mean)*k2 with dz = dy*act'((x - mean)*a + b).
func BNBackwardApply(dx, dy, x []float64, M, C int, mean, a, b, k1, k2 []float64, f kernels.Act) {
	bnCheck("BNBackwardApply", M, C, []string{"dx", "dy", "x"}, []string{"mean", "a", "b", "k1", "k2"}, dx, dy, x, mean, a, b, k1, k2)
	checkAct("BNBackwardApply", f)
	for r := 0; r < M; r++ {
		for c := 0; c < C; c++ {
			v := x[r*C+c]
			dz := dy[r*C+c] * dact(f, (v-mean[c])*a[c]+b[c])
			dx[r*C+c] = a[c]*dz - k1[c] - (v-mean[c])*k2[c]
		}
	}
}
