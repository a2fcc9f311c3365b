package trainer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/schemas"
)

// Defaults of the recipe (ALGORITHM.md section 5). JobConfig's Dropout and
// LabelSmoothing are literal (0 turns them off), so callers that take no
// user setting pass these.
const (
	DefaultDropout        = 0.2 // before the largest subnet's classifier
	DefaultLabelSmoothing = 0.1 // of the largest subnet's cross-entropy
)

// JobConfig is what one training job trains. Zero fields take the defaults
// noted (ALGORITHM.md section 5 unless said otherwise), except Dropout and
// LabelSmoothing, where 0 means off.
type JobConfig struct {
	Run            string       // name of the run, recorded in the log
	Sampler        sampler.Spec // uniform, bestup-k, worstup-k (with its estimator)
	Seed           uint64       // every random choice of the job flows from it
	Epochs         int          // required
	Batch          int          // required
	LR             float64      // peak learning rate; 0.1 per 256 images of batch
	Warmup         float64      // fraction of the run spent warming up; 0.05
	Limit          int          // images per epoch (a prefix of each epoch's shuffle); 0 = all
	Augment        data.AugmentConfig
	Dropout        float64 // largest subnet's dropout, literal (see DefaultDropout)
	LabelSmoothing float64 // largest subnet's label smoothing, literal (see DefaultLabelSmoothing)
	// DistillWarmup is the fraction of the run over which the middle and
	// smallest subnets' targets move from the labels to the largest
	// subnet's output (linearly; StepParams.LabelWeight). 0 is the
	// method's in-place distillation from the first step. An untrained
	// teacher's near-uniform output slows the start: at 400 steps of 64
	// on Fashion-MNIST, largest/smallest val top-1 72.9%/69.7% with pure
	// distillation, 81.0%/78.4% with 1 (BENCHMARKS.md).
	DistillWarmup float64
	Prior         sampler.PriorConfig // FLOPs prior of the attentive samplers
	MaxTries      int                 // rejection-sampling bound; sampler.DefaultMaxTries
	// MaxSkips is how many consecutive non-finite steps end the job with an
	// error (the caller then restores the last checkpoint); 5.
	MaxSkips int
	// Restarts are the deliberate changes of LR, Warmup or Epochs made
	// when the job was resumed, in order (see Restart); none: one warm-up
	// then cosine over the whole run.
	Restarts []Restart
}

// A Restart records that a resumed job's schedule settings (learning rate,
// warm-up, epochs) were changed deliberately at step Step. From Step on, the
// learning rate warms up linearly from FromLR, the rate the previous
// schedule gave at Step (so there is no jump), to the new peak LR over the
// new Warmup fraction of the remaining steps, then decays with a cosine to
// 0 at the new last step. Steps before Step keep the rates they were
// trained with.
type Restart struct {
	Step   int64
	FromLR float64
}

func (c JobConfig) withDefaults() JobConfig {
	if c.LR == 0 {
		c.LR = 0.1 * float64(c.Batch) / 256
	}
	if c.Warmup == 0 {
		c.Warmup = 0.05
	}
	if c.MaxTries == 0 {
		c.MaxTries = sampler.DefaultMaxTries
	}
	if c.MaxSkips == 0 {
		c.MaxSkips = 5
	}
	return c
}

// State is where a job is: what a checkpoint records besides the tensors.
type State struct {
	Step  int64  // optimiser steps taken
	Epoch int    // epochs completed
	RNG   []byte // the job's generator (rand.PCG binary form); nil at the start
}

// Hooks receive the job's progress. Returning an error stops the job.
type Hooks struct {
	OnStep  func(schemas.TrainStep) error
	OnEpoch func(State) error // after each epoch, with the state to checkpoint
}

// BatchEstimator is an estimator that scores candidates on the current
// minibatch (nas/infer's minibatch loss); the loop hands it every batch.
type BatchEstimator interface {
	sampler.Estimator
	SetBatch(x []float32, labels []int, B int)
}

// Job trains a supernet for the epochs of its config.
type Job struct {
	Cfg   JobConfig
	Net   *supernet.Supernet
	Data  *data.Dataset // the train split
	Mean  []float32     // per-channel normalisation (the train split's stats)
	Std   []float32
	Est   sampler.Estimator // scores attentive candidates; nil: uniform, or the trainer's minibatch loss
	Hooks Hooks
}

// StepsPerEpoch is the number of optimiser steps in one epoch.
func (j *Job) StepsPerEpoch() int {
	n := j.Data.Len()
	if j.Cfg.Limit > 0 && j.Cfg.Limit < n {
		n = j.Cfg.Limit
	}
	return n / j.Cfg.Batch
}

// Run trains from state st (the zero State starts from scratch; a
// checkpoint's State resumes it) until the configured epochs are done, and
// returns the final state. Every random choice comes from Cfg.Seed and the
// generator saved in the state, so a job resumed from a checkpoint
// continues exactly as if it had never stopped.
func (j *Job) Run(ctx context.Context, st State) (State, error) {
	cfg := j.Cfg.withDefaults()
	sp := j.Net.Space
	if cfg.Epochs < 1 || cfg.Batch < 1 {
		return st, fmt.Errorf("trainer: job %q: epochs %d and batch %d must be at least 1", cfg.Run, cfg.Epochs, cfg.Batch)
	}
	if d := j.Data; d.Height != sp.Input.Height || d.Width != sp.Input.Width || d.Channels != sp.Input.Channels {
		return st, fmt.Errorf("trainer: job %q: images are %dx%dx%d, the search space %q expects %dx%dx%d",
			cfg.Run, d.Height, d.Width, d.Channels, sp.Name, sp.Input.Height, sp.Input.Width, sp.Input.Channels)
	}
	spe := j.StepsPerEpoch()
	if spe < 1 {
		return st, fmt.Errorf("trainer: job %q: %d training images give no full batch of %d", cfg.Run, j.Data.Len(), cfg.Batch)
	}
	total := cfg.Epochs * spe
	lrAt := cfg.schedule(spe)

	pcg := rand.NewPCG(cfg.Seed, 0xa77e)
	if st.RNG != nil {
		if err := pcg.UnmarshalBinary(st.RNG); err != nil {
			return st, fmt.Errorf("trainer: job %q: restoring the generator: %w", cfg.Run, err)
		}
	}
	master := rand.New(pcg)
	tr, err := New(j.Net, Config{Batch: cfg.Batch, Dropout: cfg.Dropout, LabelSmoothing: float32(cfg.LabelSmoothing)})
	if err != nil {
		return st, err
	}
	defer tr.Close()
	smp, est, err := j.sampler(cfg, tr)
	if err != nil {
		return st, err
	}

	B, in := cfg.Batch, sp.Input
	imgLen := in.Height * in.Width * in.Channels
	x := make([]float32, B*imgLen)
	norm := make([]float32, imgLen)
	labels := make([]int, B)
	skips := 0
	for epoch := st.Epoch; epoch < cfg.Epochs; epoch++ {
		// The order of an epoch depends on the seed and the epoch alone.
		order := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)+1)).Perm(j.Data.Len())
		first := int(st.Step) - epoch*spe // > 0 only when resuming inside an epoch
		for s := max(first, 0); s < spe; s++ {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			start := time.Now()
			stepSeed := master.Uint64()
			aug := rand.New(rand.NewPCG(stepSeed, 1))
			for b := range B {
				i := order[s*B+b]
				data.Normalize(norm, j.Data.Pixels[i*imgLen:(i+1)*imgLen], in.Channels, j.Mean, j.Std)
				data.Augment(x[b*imgLen:(b+1)*imgLen], norm, in.Height, in.Width, in.Channels, aug, cfg.Augment)
				labels[b] = int(j.Data.Labels[i])
			}
			row := schemas.TrainStep{Run: cfg.Run, Step: st.Step, Epoch: int32(epoch)}
			if est != nil {
				est.SetBatch(x, labels, B)
			}
			mids, err := j.sampleMids(smp, rand.New(rand.NewPCG(stepSeed, 2)), &row)
			if err != nil {
				return st, fmt.Errorf("trainer: job %q step %d: %w", cfg.Run, st.Step, err)
			}
			row.SampleSeconds = time.Since(start).Seconds()
			lr := lrAt(st.Step)
			row.LabelWeight = cfg.labelWeight(st.Step, total)
			res, err := tr.StepWith(x, labels, mids, StepParams{LR: lr, Seed: stepSeed, LabelWeight: row.LabelWeight})
			if err != nil {
				return st, fmt.Errorf("trainer: job %q step %d: %w", cfg.Run, st.Step, err)
			}
			row.LR, row.LossMax, row.LossMin, row.MidLosses = lr, res.LossMax, res.LossMin, res.MidLosses
			row.Skipped = res.Skipped
			row.StepSeconds = time.Since(start).Seconds()
			row.ImagesPerSec = float64(B) / row.StepSeconds
			if res.Skipped {
				skips++
				if skips >= cfg.MaxSkips {
					return st, fmt.Errorf("trainer: job %q diverged: %d consecutive steps skipped, last at step %d (%s); resume from the last checkpoint with a lower learning rate (--lr with --change=lr)",
						cfg.Run, skips, st.Step, res.Reason)
				}
			} else {
				skips = 0
			}
			st.Step++
			if j.Hooks.OnStep != nil {
				if err := j.Hooks.OnStep(row); err != nil {
					return st, err
				}
			}
		}
		st.Epoch = epoch + 1
		rngState, err := pcg.MarshalBinary()
		if err != nil {
			return st, err
		}
		st.RNG = rngState
		if j.Hooks.OnEpoch != nil {
			if err := j.Hooks.OnEpoch(st); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// LR returns the learning rate the job's schedule gives step (0-based), for
// steps at or after its last Restart.
func (j *Job) LR(step int64) float64 {
	return j.Cfg.withDefaults().schedule(j.StepsPerEpoch())(step)
}

// schedule returns the learning rate of each step: warm-up then cosine over
// the run (ALGORITHM.md section 5), restarted at the last Restart.
func (c JobConfig) schedule(stepsPerEpoch int) func(int64) float64 {
	total := c.Epochs * stepsPerEpoch
	base := supernet.Schedule{Base: c.LR, Warmup: max(1, int(c.Warmup*float64(total))), Total: total}
	if len(c.Restarts) == 0 {
		return func(s int64) float64 { return base.At(int(s)) }
	}
	r := c.Restarts[len(c.Restarts)-1]
	left := max(1, total-int(r.Step))
	seg := supernet.Schedule{Base: c.LR, Warmup: max(1, int(c.Warmup*float64(left))), Total: left, WarmupFrom: r.FromLR / c.LR}
	return func(s int64) float64 {
		if s < r.Step {
			return base.At(int(s)) // not trained again: the rate of the settings before the restart is not recorded here
		}
		return seg.At(int(s - r.Step))
	}
}

// labelWeight is the labels' share in the students' targets at step (of
// total): DistillWarmup's linear decay from 1 to 0.
func (c JobConfig) labelWeight(step int64, total int) float64 {
	if c.DistillWarmup <= 0 || total <= 0 {
		return 0
	}
	return max(0, 1-float64(step)/(c.DistillWarmup*float64(total)))
}

// sampler builds the job's sampler: the FLOPs prior comes from the seed.
// The minibatch-loss estimator, unless the job brings its own, is the
// trainer's (scored on the trainer's engine).
func (j *Job) sampler(cfg JobConfig, tr *Trainer) (sampler.Sampler, BatchEstimator, error) {
	if cfg.Sampler.Mode == sampler.UniformMode {
		return sampler.Uniform{Space: j.Net.Space}, nil, nil
	}
	est := j.Est
	if est == nil && cfg.Sampler.EstimatorName() == sampler.EstimatorMinibatchLoss {
		est = tr.MinibatchLoss()
	}
	if est == nil {
		return nil, nil, fmt.Errorf("trainer: job %q: sampler %s needs the %s estimator: %w",
			cfg.Run, cfg.Sampler, cfg.Sampler.EstimatorName(), sampler.ErrNoPredictor)
	}
	prior, err := sampler.BuildPrior(j.Net.Space, cfg.Prior, rand.New(rand.NewPCG(cfg.Seed, 0x9e1)))
	if err != nil {
		return nil, nil, err
	}
	smp, err := sampler.New(cfg.Sampler, j.Net.Space, prior, est)
	if err != nil {
		return nil, nil, err
	}
	if a, ok := smp.(*sampler.Attentive); ok {
		a.MaxTries = cfg.MaxTries
	}
	be, _ := est.(BatchEstimator)
	return smp, be, nil
}

// sampleMids draws the two middle subnets and records them in row.
func (j *Job) sampleMids(smp sampler.Sampler, rng *rand.Rand, row *schemas.TrainStep) ([]space.Arch, error) {
	mids := make([]space.Arch, 0, 2)
	for slot := range 2 {
		d, err := smp.Sample(rng)
		if err != nil {
			if errors.Is(err, sampler.ErrNaNScore) {
				return nil, fmt.Errorf("every candidate of middle slot %d scored NaN: the supernet's outputs are not finite", slot)
			}
			return nil, err
		}
		mids = append(mids, d.Arch)
		row.MidArchs = append(row.MidArchs, d.Arch.Key())
		row.MidFLOPs = append(row.MidFLOPs, d.FLOPs)
		for i, c := range d.Candidates {
			row.CandidateSlots = append(row.CandidateSlots, int32(slot))
			row.CandidateArchs = append(row.CandidateArchs, c.Arch.Key())
			row.CandidateFLOPs = append(row.CandidateFLOPs, c.FLOPs)
			row.CandidateScores = append(row.CandidateScores, c.Score)
			row.CandidateChosen = append(row.CandidateChosen, i == d.Chosen)
		}
	}
	return mids, nil
}
