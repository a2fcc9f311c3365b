package kernels

import (
	"fmt"
	"math"
)

func lossCheck(name string, logits []float32, B, K int) {
	if B < 0 || K < 1 {
		panic(fmt.Sprintf("kernels: %s: bad shape B=%d K=%d", name, B, K))
	}
	need("logits", logits, B*K)
}

// logSumExp returns max and log(sum(exp(z - max))) of one row, in float64.
func logSumExp(z []float32) (mx, lse float64) {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v - m))
	}
	return float64(m), math.Log(s)
}

// SoftmaxCrossEntropy returns the mean over the batch of the cross-entropy
// between softmax(logits[b]) and the label-smoothed target
// (1-smoothing)*onehot(labels[b]) + smoothing/K (ALGORITHM.md section 5:
// smoothing 0.1 for the largest subnet; the minibatch-loss estimator of
// section 6). If dlogits is not nil it receives the gradient of that mean,
// (softmax - target)/B. Sums are in float64 after max subtraction.
func SoftmaxCrossEntropy(dlogits, logits []float32, labels []int, B, K int, smoothing float32) float64 {
	lossCheck("SoftmaxCrossEntropy", logits, B, K)
	if len(labels) < B {
		panic(fmt.Sprintf("kernels: SoftmaxCrossEntropy: %d labels, need %d", len(labels), B))
	}
	if dlogits != nil {
		need("dlogits", dlogits, B*K)
	}
	eps := float64(smoothing)
	var loss float64
	for b := 0; b < B; b++ {
		z := logits[b*K : b*K+K]
		y := labels[b]
		if y < 0 || y >= K {
			panic(fmt.Sprintf("kernels: SoftmaxCrossEntropy: label %d outside [0, %d)", y, K))
		}
		mx, lse := logSumExp(z)
		// -sum t*log p with log p = z - mx - lse and sum t = 1.
		var sz float64
		for _, v := range z {
			sz += float64(v)
		}
		loss += (mx + lse) - (1-eps)*float64(z[y]) - eps/float64(K)*sz
		if dlogits != nil {
			d := dlogits[b*K : b*K+K]
			for k, v := range z {
				t := eps / float64(K)
				if k == y {
					t += 1 - eps
				}
				d[k] = float32((math.Exp(float64(v)-mx-lse) - t) / float64(B))
			}
		}
	}
	if B == 0 {
		return 0
	}
	return loss / float64(B)
}

// SoftTargetCrossEntropy returns the mean over the batch of
// -sum_k target[b, k]*log_softmax(logits[b])[k]: in-place distillation
// against the largest subnet's (detached) probabilities (ALGORITHM.md
// section 5). If dlogits is not nil it receives the gradient,
// (softmax*sum(target) - target)/B.
func SoftTargetCrossEntropy(dlogits, logits, target []float32, B, K int) float64 {
	lossCheck("SoftTargetCrossEntropy", logits, B, K)
	need("target", target, B*K)
	if dlogits != nil {
		need("dlogits", dlogits, B*K)
	}
	var loss float64
	for b := 0; b < B; b++ {
		z, t := logits[b*K:b*K+K], target[b*K:b*K+K]
		mx, lse := logSumExp(z)
		var st float64
		for k, v := range z {
			loss -= float64(t[k]) * (float64(v) - mx - lse)
			st += float64(t[k])
		}
		if dlogits != nil {
			d := dlogits[b*K : b*K+K]
			for k, v := range z {
				d[k] = float32((math.Exp(float64(v)-mx-lse)*st - float64(t[k])) / float64(B))
			}
		}
	}
	if B == 0 {
		return 0
	}
	return loss / float64(B)
}

// Softmax writes dst[b] = softmax(logits[b]) for logits[B, K] (dst may alias
// logits).
func Softmax(dst, logits []float32, B, K int) {
	lossCheck("Softmax", logits, B, K)
	need("dst", dst, B*K)
	for b := 0; b < B; b++ {
		z := logits[b*K : b*K+K]
		mx, lse := logSumExp(z)
		d := dst[b*K : b*K+K]
		for k, v := range z {
			d[k] = float32(math.Exp(float64(v) - mx - lse))
		}
	}
}

// Argmax writes dst[b] = the index of the largest logits[b, k] (the first
// one on ties).
func Argmax(dst []int, x []float32, B, K int) {
	lossCheck("Argmax", x, B, K)
	if len(dst) < B {
		panic(fmt.Sprintf("kernels: Argmax: dst has %d elements, need %d", len(dst), B))
	}
	for b := 0; b < B; b++ {
		dst[b] = argmaxRow(x[b*K : b*K+K])
	}
}

func argmaxRow(z []float32) int {
	best := 0
	for k, v := range z {
		if v > z[best] {
			best = k
		}
	}
	return best
}

// Top1Correct returns how many rows of logits[B, K] have their largest entry
// at labels[b].
func Top1Correct(logits []float32, labels []int, B, K int) int {
	lossCheck("Top1Correct", logits, B, K)
	n := 0
	for b := 0; b < B; b++ {
		if argmaxRow(logits[b*K:b*K+K]) == labels[b] {
			n++
		}
	}
	return n
}
