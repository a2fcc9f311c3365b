package kernels

import "math"

// expf is a float32 exp accurate to about 2 ulp: exp(x) = 2^n * e^r with
// n = round(x*log2 e), |r| <= ln2/2 and a degree-6 Taylor polynomial for e^r.
// Inputs are clamped to [-87.3, 88.3] (results stay normal and finite).
func expf(x float32) float32 {
	x = min(max(x, -87.3), 88.3)
	n := float32(math.RoundToEven(float64(x * 1.44269504)))
	r := x - n*0.693145752 - n*1.42860677e-06
	p := ((((((1.0/720)*r+1.0/120)*r+1.0/24)*r+1.0/6)*r+0.5)*r+1)*r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

func sigmoidf(x float32) float32 { return 1 / (1 + expf(-x)) }

// actf applies a to one value.
func actf(a Act, z float32) float32 {
	switch a {
	case ActReLU:
		return max(z, 0)
	case ActHSwish:
		return z * min(max(z+3, 0), 6) * (1.0 / 6)
	case ActSwish:
		return z * sigmoidf(z)
	case ActHSigmoid:
		return min(max(z+3, 0), 6) * (1.0 / 6)
	}
	return z
}

// dactf returns the derivative of a at z, with PyTorch's conventions at the
// kinks (relu'(0) = 0; hswish' = z/3+0.5 on [-3, 3]; hsigmoid' = 1/6 on (-3, 3)).
func dactf(a Act, z float32) float32 {
	switch a {
	case ActReLU:
		if z > 0 {
			return 1
		}
		return 0
	case ActHSwish:
		switch {
		case z < -3:
			return 0
		case z <= 3:
			return z*(1.0/3) + 0.5
		}
		return 1
	case ActSwish:
		s := sigmoidf(z)
		return s * (1 + z*(1-s))
	case ActHSigmoid:
		if z > -3 && z < 3 {
			return 1.0 / 6
		}
		return 0
	}
	return 1
}

// actRowGo applies a in place to z.
func actRowGo(a Act, z []float32) {
	switch a {
	case ActNone:
	case ActReLU:
		for i, v := range z {
			z[i] = max(v, 0)
		}
	case ActHSwish:
		for i, v := range z {
			z[i] = v * min(max(v+3, 0), 6) * (1.0 / 6)
		}
	case ActHSigmoid:
		for i, v := range z {
			z[i] = min(max(v+3, 0), 6) * (1.0 / 6)
		}
	default:
		for i, v := range z {
			z[i] = actf(a, v)
		}
	}
}

// ActForward computes y = act(x) elementwise (y may alias x).
func ActForward(y, x []float32, act Act) { Threads(0).ActForward(y, x, act) }

// ActForward is the package-level ActForward under the goroutine budget t.
func (t Threads) ActForward(y, x []float32, act Act) {
	act.check()
	need("y", y, len(x))
	y = y[:len(x)]
	t.elementwise(len(x), func(lo, hi int) {
		if useBNAsm() {
			if act == ActNone {
				copy(y[lo:hi], x[lo:hi])
			} else {
				actAsm(act, y[lo:hi], x[lo:hi])
			}
			return
		}
		if useSIMD() {
			actSIMD(act, y[lo:hi], x[lo:hi])
			return
		}
		copy(y[lo:hi], x[lo:hi])
		actRowGo(act, y[lo:hi])
	})
}

// ActBackward computes dx = dy * act'(x), where x is the activation's input
// (dx may alias dy).
func ActBackward(dx, dy, x []float32, act Act) { Threads(0).ActBackward(dx, dy, x, act) }

// ActBackward is the package-level ActBackward under the goroutine budget t.
func (t Threads) ActBackward(dx, dy, x []float32, act Act) {
	act.check()
	need("dy", dy, len(x))
	need("dx", dx, len(x))
	t.elementwise(len(x), func(lo, hi int) {
		if useBNAsm() {
			if act == ActNone {
				copy(dx[lo:hi], dy[lo:hi])
			} else {
				dactAsm(act, dx[lo:hi], dy[lo:hi], x[lo:hi])
			}
			return
		}
		if useSIMD() {
			dactSIMD(act, dx[lo:hi], dy[lo:hi], x[lo:hi])
			return
		}
		d, g := dx[lo:hi], dy[lo:hi]
		for i, v := range x[lo:hi] {
			d[i] = g[i] * dactf(act, v)
		}
	})
}

// elementwise splits [0, n) into chunks of at least 64k elements, one per
// goroutine, with boundaries on multiples of 16.
func (t Threads) elementwise(n int, fn func(lo, hi int)) {
	nt := t.limit(n, 1<<16)
	parallel(nt, func(w int) {
		lo, hi := span(n, nt, w, 16)
		if lo < hi {
			fn(lo, hi)
		}
	})
}
