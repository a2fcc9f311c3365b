package trainer

import (
	"fmt"
	"math"
	"time"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Config configures the sandwich step (ALGORITHM.md section 5). Dropout and
// LabelSmoothing are taken as given (0 is off; the reference uses 0.2 and
// 0.1); zero ClipGrad, SGD and Shards take the defaults noted.
type Config struct {
	Batch          int          // images per step (required)
	Dropout        float64      // before the largest subnet's classifier
	LabelSmoothing float32      // of the largest subnet's loss
	ClipGrad       float32      // elementwise gradient clip; 1
	SGD            supernet.SGD // momentum 0.9, weight decay 1e-5
	Shards         int          // image groups of the engine; DefaultShards
}

func (c Config) withDefaults() Config {
	if c.ClipGrad == 0 {
		c.ClipGrad = 1
	}
	if c.SGD == (supernet.SGD{}) {
		c.SGD = supernet.DefaultSGD
	}
	return c
}

// Trainer runs sandwich steps on a supernet. The largest and smallest
// subnets' graphs are built once and reused every step; the middle subnets
// change every step and get fresh graphs.
type Trainer struct {
	Net      *supernet.Supernet
	Cfg      Config
	max, min *graph[float32]
	e        *engine[float32] // shared by the step's graphs, which run one after another
	groups   groups[float32]
	resized  map[int][]float32 // the batch resampled to each resolution (buffers kept across steps)
	fresh    map[int]bool      // which of them hold this step's batch
	batch    []float32         // the batch they were made from
	teacher  []float32         // largest subnet's softmax, [B, classes]
	mixed    []float32         // the students' targets when labels are mixed in
}

// New builds the trainer's persistent graphs.
func New(net *supernet.Supernet, cfg Config) (*Trainer, error) {
	if cfg.Batch < 1 {
		return nil, fmt.Errorf("trainer: batch size %d: expected at least 1", cfg.Batch)
	}
	cfg = cfg.withDefaults()
	t := &Trainer{Net: net, Cfg: cfg, e: newEngine(prims32, cfg.Shards), groups: groupsOf(net),
		resized: map[int][]float32{}, fresh: map[int]bool{}}
	var err error
	if t.max, err = buildGraph(t.e, net, t.groups, net.Space.Max(), cfg.Batch, cfg.Dropout); err != nil {
		return nil, err
	}
	if t.min, err = buildGraph(t.e, net, t.groups, net.Space.Min(), cfg.Batch, 0); err != nil {
		return nil, err
	}
	t.teacher = make([]float32, cfg.Batch*net.Space.Classes)
	return t, nil
}

// Close releases the graphs.
func (t *Trainer) Close() {
	t.max.Close()
	t.min.Close()
	t.e.close()
}

// StepResult reports one sandwich step.
type StepResult struct {
	LossMax      float64   // label-smoothed CE of the largest subnet
	LossMin      float64   // distillation loss of the smallest subnet
	MidLosses    []float64 // distillation losses of the middle subnets
	Skipped      bool      // a loss or gradient was not finite: no update applied
	Reason       string    // why the step was skipped
	BuildSeconds float64   // building the middle subnets' graphs
}

// Step trains one minibatch with the sandwich rule: the largest subnet
// against the labels (label smoothing, dropout), then the middle subnets
// mids and the smallest against the largest's detached softmax; gradients
// of all are summed, clipped elementwise, and one SGD step with learning
// rate lr is taken. x holds the normalised images at the space's input size
// (B*S*S*C values, NHWC); seed drives dropout. A non-finite loss or
// gradient skips the update (and says why) instead of corrupting the
// weights (ALGORITHM.md section 11).
func (t *Trainer) Step(x []float32, labels []int, mids []space.Arch, lr float64, seed uint64) (StepResult, error) {
	return t.StepWith(x, labels, mids, StepParams{LR: lr, Seed: seed})
}

// StepParams are the per-step settings of StepWith.
type StepParams struct {
	LR   float64 // learning rate of the update
	Seed uint64  // drives dropout
	// LabelWeight mixes the labels into the distillation targets of the
	// middle and smallest subnets: target = w*labels (label-smoothed) +
	// (1-w)*teacher. 0 is the method's in-place distillation; a warm-up
	// from 1 to 0 keeps the students from learning an untrained teacher's
	// near-uniform output in the first steps.
	LabelWeight float64
}

// StepWith is Step with every per-step setting.
func (t *Trainer) StepWith(x []float32, labels []int, mids []space.Arch, sp StepParams) (StepResult, error) {
	lr := sp.LR
	res, err := t.gradients(x, labels, mids, sp.Seed, sp.LabelWeight)
	if err != nil || res.Skipped {
		return res, err
	}
	params := t.Net.Params
	supernet.ClipGrad(params, t.Cfg.ClipGrad)
	if ok, name := supernet.GradsFinite(params); !ok {
		res.Skipped, res.Reason = true, "non-finite gradient in "+name
		t.Net.ZeroGrad()
		return res, nil
	}
	t.Cfg.SGD.Step(params, float32(lr))
	return res, nil
}

// gradients runs the four subnets of a sandwich step and leaves the sum of
// their gradients in the supernet's gradient buffers (cleared when the
// step is skipped).
func (t *Trainer) gradients(x []float32, labels []int, mids []space.Arch, seed uint64, labelWeight float64) (StepResult, error) {
	sp, B := t.Net.Space, t.Cfg.Batch
	in := sp.Input
	if len(x) != B*in.Height*in.Width*in.Channels || len(labels) != B {
		return StepResult{}, fmt.Errorf("trainer: batch of %d values and %d labels, expected %d images of %dx%dx%d",
			len(x), len(labels), B, in.Height, in.Width, in.Channels)
	}
	if !t.sameBatch(x) {
		t.newBatch(x)
	}
	t.batch = nil // the next step's batch is new, whatever its address
	var res StepResult
	defer func() {
		if res.Skipped {
			t.Net.ZeroGrad()
		}
	}()
	skip := func(what string, l float64) bool {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			res.Skipped, res.Reason = true, fmt.Sprintf("non-finite loss %v of %s", l, what)
			return true
		}
		return false
	}

	// 1. The largest subnet against the labels; its softmax is the teacher.
	l, err := t.max.Run(t.batchAt(x, t.max.Plan.Resolution), labels, t.Cfg.LabelSmoothing, nil, seed)
	if err != nil {
		return res, err
	}
	res.LossMax = l
	if skip("the largest subnet", l) {
		return res, nil
	}
	kernels.Softmax(t.teacher, t.max.Logits(), B, sp.Classes)
	target := t.teacher
	if labelWeight > 0 {
		target = t.mixTargets(labels, labelWeight)
	}

	// 2. The middle subnets, distilled from the teacher.
	for _, a := range mids {
		start := time.Now()
		g, err := buildGraph(t.e, t.Net, t.groups, a, B, 0)
		res.BuildSeconds += time.Since(start).Seconds()
		if err != nil {
			return res, err
		}
		l, err := g.Run(t.batchAt(x, a.Resolution), labels, 0, target, 0)
		g.Close()
		if err != nil {
			return res, err
		}
		res.MidLosses = append(res.MidLosses, l)
		if skip("middle subnet "+a.String(), l) {
			return res, nil
		}
	}

	// 3. The smallest subnet, distilled.
	if l, err = t.min.Run(t.batchAt(x, t.min.Plan.Resolution), labels, 0, target, 0); err != nil {
		return res, err
	}
	res.LossMin = l
	skip("the smallest subnet", l)
	return res, nil
}

// mixTargets returns w*smoothed one-hot labels + (1-w)*teacher.
func (t *Trainer) mixTargets(labels []int, w float64) []float32 {
	K := t.Net.Space.Classes
	if len(t.mixed) != len(t.teacher) {
		t.mixed = make([]float32, len(t.teacher))
	}
	eps := float64(t.Cfg.LabelSmoothing)
	for b, y := range labels {
		row, tr := t.mixed[b*K:(b+1)*K], t.teacher[b*K:(b+1)*K]
		for k := range row {
			p := eps / float64(K)
			if k == y {
				p += 1 - eps
			}
			row[k] = float32(w*p + (1-w)*float64(tr[k]))
		}
	}
	return t.mixed
}

// newBatch forgets the resampled copies of the previous batch; x is the
// batch until the next step.
func (t *Trainer) newBatch(x []float32) {
	clear(t.fresh)
	t.batch = x
}

// sameBatch reports whether x is the batch a minibatch-loss estimator was
// given for this step (its resampled copies are reused).
func (t *Trainer) sameBatch(x []float32) bool {
	return len(x) > 0 && len(t.batch) == len(x) && &t.batch[0] == &x[0]
}

// batchAt returns the batch resampled to r x r (ALGORITHM.md section 4:
// elastic resolution resamples the batch at the start of the forward).
func (t *Trainer) batchAt(x []float32, r int) []float32 {
	in := t.Net.Space.Input
	if r == in.Height && r == in.Width {
		return x
	}
	dst := t.resized[r]
	if t.fresh[r] {
		return dst
	}
	B := t.Cfg.Batch
	if dst == nil {
		dst = make([]float32, B*r*r*in.Channels)
		t.resized[r] = dst
	}
	kernels.ResizeBilinear(dst, x, B, in.Height, in.Width, in.Channels, r, r)
	t.fresh[r] = true
	return dst
}

// EngineBytes is the memory the trainer's engine holds for activations,
// temporaries and gradient buffers (grown to the largest subnet's needs).
func (t *Trainer) EngineBytes() int64 { return t.e.memoryBytes() }
