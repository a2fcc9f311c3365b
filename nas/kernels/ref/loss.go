package ref

import (
	"fmt"
	"math"
)

func lossCheck(fn string, logits []float64, B, K int) {
	if B < 0 || K < 1 {
		panic(fmt.Sprintf("ref: %s: bad shape B=%d K=%d", fn, B, K))
	}
	need(fn, "logits", logits, B*K)
}

// logSoftmax writes log(softmax(z)) to dst (which may alias z), computed
// with the maximum subtracted.
func logSoftmax(dst, z []float64) {
	mx := z[0]
	for _, v := range z[1:] {
		mx = math.Max(mx, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - mx)
	}
	lse := mx + math.Log(s)
	for k, v := range z {
		dst[k] = v - lse
	}
}

// SoftmaxCrossEntropy is the float64 twin of kernels.SoftmaxCrossEntropy:
// it returns the batch mean of -sum_k t[b, k]*log_softmax(logits[b])[k] for
// the label-smoothed target t = (1-smoothing)*onehot(labels[b]) +
// smoothing/K, and, if dlogits is not nil, writes its gradient
// (softmax - t)/B to dlogits.
func SoftmaxCrossEntropy(dlogits, logits []float64, labels []int, B, K int, smoothing float64) float64 {
	const fn = "SoftmaxCrossEntropy"
	lossCheck(fn, logits, B, K)
	if len(labels) < B {
		panic(fmt.Sprintf("ref: %s: %d labels, need %d", fn, len(labels), B))
	}
	if dlogits != nil {
		need(fn, "dlogits", dlogits, B*K)
	}
	logp := make([]float64, K)
	var loss float64
	for b := 0; b < B; b++ {
		y := labels[b]
		if y < 0 || y >= K {
			panic(fmt.Sprintf("ref: %s: label %d outside [0, %d)", fn, y, K))
		}
		logSoftmax(logp, logits[b*K:b*K+K])
		for k := 0; k < K; k++ {
			t := smoothing / float64(K)
			if k == y {
				t += 1 - smoothing
			}
			loss -= t * logp[k]
			if dlogits != nil {
				dlogits[b*K+k] = (math.Exp(logp[k]) - t) / float64(B)
			}
		}
	}
	if B == 0 {
		return 0
	}
	return loss / float64(B)
}

// SoftTargetCrossEntropy is the float64 twin of
// kernels.SoftTargetCrossEntropy: it returns the batch mean of
// -sum_k target[b, k]*log_softmax(logits[b])[k] and, if dlogits is not nil,
// writes its gradient (softmax*sum_k(target[b, k]) - target)/B.
func SoftTargetCrossEntropy(dlogits, logits, target []float64, B, K int) float64 {
	const fn = "SoftTargetCrossEntropy"
	lossCheck(fn, logits, B, K)
	need(fn, "target", target, B*K)
	if dlogits != nil {
		need(fn, "dlogits", dlogits, B*K)
	}
	logp := make([]float64, K)
	var loss float64
	for b := 0; b < B; b++ {
		logSoftmax(logp, logits[b*K:b*K+K])
		var st float64
		for k := 0; k < K; k++ {
			loss -= target[b*K+k] * logp[k]
			st += target[b*K+k]
		}
		if dlogits != nil {
			for k := 0; k < K; k++ {
				dlogits[b*K+k] = (math.Exp(logp[k])*st - target[b*K+k]) / float64(B)
			}
		}
	}
	if B == 0 {
		return 0
	}
	return loss / float64(B)
}

// Softmax is the float64 twin of kernels.Softmax: dst[b] =
// softmax(logits[b]) for logits[B, K] (dst may alias logits).
func Softmax(dst, logits []float64, B, K int) {
	lossCheck("Softmax", logits, B, K)
	need("Softmax", "dst", dst, B*K)
	for b := 0; b < B; b++ {
		d := dst[b*K : b*K+K]
		logSoftmax(d, logits[b*K:b*K+K])
		for k, v := range d {
			d[k] = math.Exp(v)
		}
	}
}
