package infer

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// defaultMicroBatch is the number of images Model.Forward pushes through the
// whole network at a time. Images are independent once BN is folded, so a
// batch is cut into micro-batches small enough for their activations to stay
// near the core (L2 is 1 MiB per core here, L3 32 MiB shared; the widest
// tensor of the largest reference subnet is 2.4 MB for 8 images), and the
// micro-batches run on kernels.MaxThreads goroutines. 8, 16 and 32 measured
// the same within noise and 8 needs the smallest buffers
// (BenchmarkModelStrategy; see the package doc).
const defaultMicroBatch = 8

// Model is a standalone static subnet: contiguous copies of the subnet's
// sliced weights with BatchNorm folded into the preceding convolutions
// (scale into the weights, shift into a per-channel bias; ALGORITHM.md
// section 10's exported subnet). It shares no memory with the supernet it
// came from.
//
// Forward is safe for concurrent use: each call takes buffers from the
// model's free list (grown to the largest micro-batch seen and kept, so a
// warm model allocates nothing per batch).
//
// See also: Fold, LoadModel, Evaluate, Latency.
type Model struct {
	// Space and Arch name the subnet (read-only: the weights are laid out
	// for them).
	Space *space.Space
	Arch  space.Arch
	// Mean and Std are the per-channel input normalisation the model was
	// trained with, x = (pixel/255 - Mean)/Std (metadata for users of an
	// exported file: Forward expects normalised images). Fold leaves them
	// nil; the caller sets them from the dataset statistics.
	Mean, Std []float64

	net        *net
	microBatch int // images per micro-batch (see defaultMicroBatch)

	mu   sync.Mutex
	free []*workspace
}

// Fold extracts subnet arch from sn as a standalone Model with BN folded
// from stats (usually Recalibrate's result for arch): for each BN layer,
// scale = gamma/sqrt(var+BNEps) multiplies the output channels of the
// preceding conv or depthwise weights and beta - mean*scale becomes a bias
// (kernels.BNFold). Model.Forward then equals Engine.Forward with the same
// stats up to float32 rounding (style rule 8's twin test, 1e-4).
//
// Errors: arch not in sn's space, or stats not for arch.
func Fold(sn *supernet.Supernet, arch space.Arch, stats *Stats) (*Model, error) {
	v, err := viewNet(sn, arch)
	if err != nil {
		return nil, err
	}
	if stats == nil {
		return nil, fmt.Errorf("infer: Fold needs BN statistics (see Recalibrate)")
	}
	if err := stats.check(v); err != nil {
		return nil, err
	}
	return &Model{Space: sn.Space, Arch: arch.Clone(), net: foldNet(v, stats), microBatch: defaultMicroBatch}, nil
}

// Plan describes the model's layers (channels, kernels, strides, sizes).
// The result is a copy.
func (m *Model) Plan() space.Plan {
	p := m.net.plan
	p.Arch, p.Blocks = p.Arch.Clone(), slices.Clone(p.Blocks)
	return p
}

// Classes is the number of logits per image.
func (m *Model) Classes() int { return m.net.plan.Head.Classes }

// InputShape is the shape of one input image, S x S x Cin (the space's
// native size; the model resizes to its resolution itself).
func (m *Model) InputShape() (size, channels int) { return m.net.inSize, m.net.plan.InChannels }

// FLOPs is the model's multiply-accumulates per image (space.Plan.FLOPs).
func (m *Model) FLOPs() int64 { return m.net.plan.FLOPs() }

// Params is the number of learnable scalars of the subnet before folding
// (space.Plan.Params).
func (m *Model) Params() int64 { return m.net.plan.Params() }

// Forward computes logits[B, classes] (overwritten) from x[B, S, S, Cin],
// B normalised NHWC images at the native size (resized to the model's
// resolution with bilinear interpolation, align_corners=False).
// Micro-batches of the batch run on up to kernels.MaxThreads goroutines; the
// logits do not depend on that number. Forward panics (prefix "infer:") if a
// slice is too short or B is negative.
func (m *Model) Forward(logits, x []float32, B int) {
	m.forward(logits, x, B, kernels.MaxThreads())
}

// forward is Forward with g goroutines.
func (m *Model) forward(logits, x []float32, B, g int) {
	if err := checkIO(m.net, logits, x, B); err != nil {
		panic(err.Error())
	}
	mb := m.microBatch
	if mb <= 0 {
		mb = B
	}
	nm := (B + mb - 1) / mb
	g = max(1, min(g, nm))
	in := m.net.inSize * m.net.inSize * m.net.plan.InChannels
	K := m.Classes()
	run := func(ws *workspace, i int) {
		lo, hi := i*mb, min((i+1)*mb, B)
		ws.forward(m.net, nil, logits[lo*K:hi*K], x[lo*in:hi*in], hi-lo)
	}
	if g == 1 {
		ws := m.getWS()
		for i := 0; i < nm; i++ {
			run(ws, i)
		}
		m.putWS(ws)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(g)
	for w := 0; w < g; w++ {
		go func() {
			defer wg.Done()
			ws := m.getWS()
			defer m.putWS(ws)
			for {
				i := int(next.Add(1)) - 1
				if i >= nm {
					return
				}
				run(ws, i)
			}
		}()
	}
	wg.Wait()
}

func (m *Model) getWS() *workspace {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := len(m.free); k > 0 {
		ws := m.free[k-1]
		m.free = m.free[:k-1]
		return ws
	}
	return new(workspace)
}

func (m *Model) putWS(ws *workspace) {
	m.mu.Lock()
	m.free = append(m.free, ws)
	m.mu.Unlock()
}
