package infer

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// EvalConfig configures Evaluate. The zero value is the default.
type EvalConfig struct {
	// BatchSize is the number of images per batch (default DefaultBatchSize;
	// the last batch may be smaller). With BN folded the images are
	// independent, so it only sets the unit of work.
	BatchSize int
	// Goroutines is how many batches run at once, each on its own buffers
	// (default kernels.MaxThreads()). The result does not depend on it.
	Goroutines int
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Images  int     // images evaluated
	Correct int     // images whose largest logit is at their label
	Top1    float64 // Correct / Images
	Loss    float64 // mean cross-entropy (no label smoothing), natural log
}

// Evaluate computes the top-1 accuracy and mean cross-entropy of m over a
// labelled dataset (ALGORITHM.md section 7: held-out accuracy and loss of a
// recalibrated, folded subnet).
//
// Input: images[N, S, S, Cin], normalised NHWC at the model's input size,
// and labels[N] in [0, classes). The data is cut into fixed batches of
// cfg.BatchSize that run on cfg.Goroutines goroutines with their own
// buffers (batch-level parallelism; inside a batch the micro-batches run one
// after another on that goroutine); per-batch counts and loss sums are
// combined in batch order, so for a given BatchSize the result is the same
// for any number of goroutines (bit for bit; the loss's last bits depend on
// BatchSize through the summation order). A non-finite logit makes Loss NaN or +Inf (reported, not an
// error).
//
// See also: Recalibrate, Fold, EvaluateSubnet.
func Evaluate(m *Model, images []float32, labels []int, cfg EvalConfig) (EvalResult, error) {
	N, err := countImages(m.net, images)
	if err != nil {
		return EvalResult{}, err
	}
	if len(labels) != N {
		return EvalResult{}, fmt.Errorf("infer: Evaluate: %d labels for %d images", len(labels), N)
	}
	K := m.Classes()
	for i, y := range labels {
		if y < 0 || y >= K {
			return EvalResult{}, fmt.Errorf("infer: Evaluate: label %d of image %d outside [0, %d)", y, i, K)
		}
	}
	if N == 0 {
		return EvalResult{}, fmt.Errorf("infer: Evaluate: no images")
	}
	bs := cfg.BatchSize
	if bs <= 0 {
		bs = DefaultBatchSize
	}
	g := cfg.Goroutines
	if g <= 0 {
		g = kernels.MaxThreads()
	}
	nb := (N + bs - 1) / bs
	g = min(g, nb)
	in := m.net.inSize * m.net.inSize * m.net.plan.InChannels
	correct := make([]int, nb)
	loss := make([]float64, nb)
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(g)
	for w := 0; w < g; w++ {
		go func() {
			defer wg.Done()
			logits := make([]float32, bs*K)
			for {
				i := int(next.Add(1)) - 1
				if i >= nb {
					return
				}
				lo, hi := i*bs, min((i+1)*bs, N)
				B := hi - lo
				m.forward(logits, images[lo*in:hi*in], B, 1)
				correct[i] = kernels.Top1Correct(logits, labels[lo:hi], B, K)
				loss[i] = kernels.SoftmaxCrossEntropy(nil, logits, labels[lo:hi], B, K, 0) * float64(B)
			}
		}()
	}
	wg.Wait()
	r := EvalResult{Images: N}
	var sum float64
	for i := 0; i < nb; i++ { // fixed order
		r.Correct += correct[i]
		sum += loss[i]
	}
	r.Top1 = float64(r.Correct) / float64(N)
	r.Loss = sum / float64(N)
	return r, nil
}

// EvaluateSubnet evaluates subnet arch of sn as ALGORITHM.md section 7
// prescribes: Recalibrate its BN statistics on calib[Nc, S, S, Cin] (rc),
// Fold them into a Model, and Evaluate it on images/labels (ec). It returns
// the result and the folded model (for latency or export).
func EvaluateSubnet(sn *supernet.Supernet, arch space.Arch, calib, images []float32, labels []int, rc RecalConfig, ec EvalConfig) (EvalResult, *Model, error) {
	st, err := Recalibrate(sn, arch, calib, rc)
	if err != nil {
		return EvalResult{}, nil, err
	}
	m, err := Fold(sn, arch, st)
	if err != nil {
		return EvalResult{}, nil, err
	}
	r, err := Evaluate(m, images, labels, ec)
	if err != nil {
		return EvalResult{}, nil, err
	}
	return r, m, nil
}
