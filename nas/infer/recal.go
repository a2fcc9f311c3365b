package infer

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// DefaultBatchSize is the default batch of Recalibrate and Evaluate: the
// reference's evaluation batch (PERFORMANCE.md measures PyTorch at 256).
const DefaultBatchSize = 256

// RecalConfig configures Recalibrate. The zero value is the default.
type RecalConfig struct {
	// BatchSize is the largest calibration batch (default DefaultBatchSize).
	// The images are cut into ceil(N/BatchSize) batches of near-equal size
	// (sizes differ by at most one), so no batch is tiny: in batch-statistics
	// mode a batch's composition changes what deeper layers see.
	BatchSize int
	// Goroutines is how many batches run at once, each on its own buffers
	// (default 1: the kernels parallelise each batch, which measured faster
	// on 2 cores; see the package doc). The statistics do not depend on it.
	Goroutines int
}

// Recalibrate computes the BatchNorm statistics of subnet arch over a
// calibration set (ALGORITHM.md section 7): it runs the batches forward in
// batch-statistics mode (each BN normalises with its batch's statistics, as
// in training) and accumulates, per BN layer and channel, the exact float64
// sum and sum of squares of the layer's input over every calibration pixel.
// The result is mean = sum/N and the biased variance E[x^2] - mean^2 over
// the whole set: not an exponential average, not an average of batch
// variances.
//
// Input: images[N, S, S, Cin], normalised NHWC at the space's native size.
// Output: new Stats for arch; sn is only read (no hidden state, style rule
// 9). The batch partition is fixed by N and cfg.BatchSize and the batch sums
// are combined in batch order, so the result does not depend on
// cfg.Goroutines or on kernels.MaxThreads.
//
// See also: Fold (inference with these statistics), Engine.Forward.
func Recalibrate(sn *supernet.Supernet, arch space.Arch, images []float32, cfg RecalConfig) (*Stats, error) {
	n, err := viewNet(sn, arch)
	if err != nil {
		return nil, err
	}
	N, err := countImages(n, images)
	if err != nil {
		return nil, err
	}
	if N == 0 {
		return nil, fmt.Errorf("infer: Recalibrate: no calibration images")
	}
	bs := cfg.BatchSize
	if bs <= 0 {
		bs = DefaultBatchSize
	}
	nb := (N + bs - 1) / bs
	// Per batch, per BN layer: sum [C] then sum of squares [C].
	off := make([]int, len(n.bn))
	L := 0
	for i, b := range n.bn {
		off[i] = L
		L += 2 * b.c
	}
	sums := make([]float64, nb*L)
	in := n.inSize * n.inSize * n.plan.InChannels
	classes := n.plan.Head.Classes

	g := max(1, min(cfg.Goroutines, nb))
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(g)
	for w := 0; w < g; w++ {
		go func() {
			defer wg.Done()
			var ws workspace
			logits := make([]float32, (N/nb+1)*classes)
			for {
				i := int(next.Add(1)) - 1
				if i >= nb {
					return
				}
				lo, hi := i*N/nb, (i+1)*N/nb
				mode := bnMode{acc: sums[i*L : (i+1)*L], accOff: off}
				ws.forward(n, &mode, logits, images[lo*in:hi*in], hi-lo)
			}
		}()
	}
	wg.Wait()

	st := &Stats{Arch: arch.Clone(), Images: N, Layers: make([]LayerStats, len(n.bn))}
	tot := make([]float64, L)
	for i := 0; i < nb; i++ { // fixed order
		for j, v := range sums[i*L : (i+1)*L] {
			tot[j] += v
		}
	}
	for i, b := range n.bn {
		cnt := float64(N) * float64(b.pix)
		ls := LayerStats{Name: b.name, Mean: make([]float32, b.c), Var: make([]float32, b.c)}
		s, ss := tot[off[i]:off[i]+b.c], tot[off[i]+b.c:off[i]+2*b.c]
		for c := 0; c < b.c; c++ {
			mean := s[c] / cnt
			ls.Mean[c] = float32(mean)
			ls.Var[c] = float32(max(ss[c]/cnt-mean*mean, 0))
		}
		st.Layers[i] = ls
	}
	return st, nil
}

// countImages returns how many images of n's input shape images holds.
func countImages(n *net, images []float32) (int, error) {
	in := n.inSize * n.inSize * n.plan.InChannels
	if len(images)%in != 0 {
		return 0, fmt.Errorf("infer: %d input values are not a whole number of %dx%dx%d images", len(images), n.inSize, n.inSize, n.plan.InChannels)
	}
	return len(images) / in, nil
}
