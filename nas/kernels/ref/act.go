package ref

import (
	"math"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// relu6 clamps v to [0, 6].
func relu6(v float64) float64 { return math.Min(math.Max(v, 0), 6) }

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// act applies a to z.
func act(a kernels.Act, z float64) float64 {
	switch a {
	case kernels.ActReLU:
		return math.Max(z, 0)
	case kernels.ActHSwish:
		return z * relu6(z+3) / 6
	case kernels.ActSwish:
		return z * sigmoid(z)
	case kernels.ActHSigmoid:
		return relu6(z+3) / 6
	}
	return z
}

// dact returns the derivative of a at z with the float32 kernels' (PyTorch's)
// conventions at the kinks: relu'(0) = 0; hswish' = z/3 + 0.5 on [-3, 3]
// (0 below, 1 above); hsigmoid' = 1/6 on the open interval (-3, 3).
func dact(a kernels.Act, z float64) float64 {
	switch a {
	case kernels.ActReLU:
		if z > 0 {
			return 1
		}
		return 0
	case kernels.ActHSwish:
		switch {
		case z < -3:
			return 0
		case z <= 3:
			return z/3 + 0.5
		}
		return 1
	case kernels.ActSwish:
		s := sigmoid(z)
		return s * (1 + z*(1-s))
	case kernels.ActHSigmoid:
		if z > -3 && z < 3 {
			return 1.0 / 6
		}
		return 0
	}
	return 1
}

// ActForward is the float64 twin of kernels.ActForward: y = act(x)
// elementwise over len(x) elements (y may alias x).
func ActForward(y, x []float64, a kernels.Act) {
	checkAct("ActForward", a)
	need("ActForward", "y", y, len(x))
	for i, v := range x {
		y[i] = act(a, v)
	}
}

// ActBackward is the float64 twin of kernels.ActBackward: dx = dy*act'(x)
// over len(x) elements, x being the activation's input (dx may alias dy).
func ActBackward(dx, dy, x []float64, a kernels.Act) {
	checkAct("ActBackward", a)
	need("ActBackward", "dy", dy, len(x))
	need("ActBackward", "dx", dx, len(x))
	for i, v := range x {
		dx[i] = dy[i] * dact(a, v)
	}
}
