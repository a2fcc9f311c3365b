package supernet

import "math"

// SGD is stochastic gradient descent with Nesterov momentum and decoupled
// selection of decayed tensors, as torch.optim.SGD(nesterov=True) applies
// it in the reference: g += wd*w (decayed tensors only); m = mu*m + g;
// w -= lr*(g + mu*m).
type SGD struct {
	Momentum    float32 // 0.9 in the reference
	WeightDecay float32 // 1e-5 in the reference, on conv and linear weights only
}

// DefaultSGD is the reference optimiser (ALGORITHM.md section 5).
var DefaultSGD = SGD{Momentum: 0.9, WeightDecay: 1e-5}

// Step updates every tensor from its accumulated gradient, then clears the
// gradients. Like PyTorch, it updates whole tensors: weights outside a
// step's subnets still move by momentum and weight decay.
func (o SGD) Step(params []*Param, lr float32) {
	mu := o.Momentum
	for _, p := range params {
		wd := float32(0)
		if p.Decay {
			wd = o.WeightDecay
		}
		w, g, m := p.W, p.G[:len(p.W)], p.M[:len(p.W)]
		for i := range w {
			gi := g[i] + wd*w[i]
			mi := mu*m[i] + gi
			m[i] = mi
			w[i] -= lr * (gi + mu*mi)
		}
		clear(g)
	}
}

// ClipGrad clips every gradient element to [-limit, limit]
// (torch.nn.utils.clip_grad_value_; the reference uses 1).
func ClipGrad(params []*Param, limit float32) {
	for _, p := range params {
		for i, g := range p.G {
			if g > limit {
				p.G[i] = limit
			} else if g < -limit {
				p.G[i] = -limit
			}
		}
	}
}

// GradsFinite reports whether every gradient element is finite, and the
// name of the first tensor that is not.
func GradsFinite(params []*Param) (bool, string) {
	for _, p := range params {
		for _, g := range p.G {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				return false, p.Name
			}
		}
	}
	return true, ""
}

// Schedule is the per-iteration learning rate: linear warm-up from
// WarmupFrom*Base to Base over Warmup iterations, then cosine decay to 0 at
// Total (the reference's warmup + cosine, stepped every iteration).
type Schedule struct {
	Base       float64 // peak learning rate; the reference uses 0.1 per 256 images of batch
	Warmup     int     // warm-up iterations
	Total      int     // iterations of the whole run
	WarmupFrom float64 // fraction of Base at iteration 0 (0 starts from zero)
}

// At returns the learning rate of iteration it (0-based).
func (s Schedule) At(it int) float64 {
	if it < s.Warmup {
		f := float64(it+1) / float64(s.Warmup)
		return s.Base * (s.WarmupFrom + (1-s.WarmupFrom)*f)
	}
	span := s.Total - s.Warmup
	if span <= 0 {
		return s.Base
	}
	t := min(float64(it-s.Warmup)/float64(span), 1)
	return 0.5 * s.Base * (1 + math.Cos(math.Pi*t))
}
