package stages

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/nas/trainer"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.Tensor]()
	pqio.Register[schemas.TrainStep]()
	beam.RegisterType(reflect.TypeFor[TrainJob]())
	beam.RegisterType(reflect.TypeFor[TrainResult]())
	beam.RegisterType(reflect.TypeFor[trainInput]())
	beam.RegisterType(reflect.TypeFor[attachTrainInputsFn]())
	beam.RegisterType(reflect.TypeFor[trainFn]())
	beamreg.Method5x1((*attachTrainInputsFn).ProcessElement)
	beamreg.Method3x1((*trainFn).ProcessElement)
	register.Function1x0(discardTrainResult)
	register.Emitter1[trainInput]()
	register.Emitter1[TrainResult]()
}

var (
	trainSteps       = beam.NewCounter("train", "steps")
	trainImages      = beam.NewCounter("train", "images")
	trainSkipped     = beam.NewCounter("train", "skipped_steps")
	trainCheckpoints = beam.NewCounter("train", "checkpoints_written")
	trainResumed     = beam.NewCounter("train", "jobs_resumed")
)

// TrainJob is one supernet training job: one element of the train stage's
// input. Every field is plain data so a job serialises to any worker.
type TrainJob struct {
	Run     string // names runs/<run>/
	Output  string // output root, local or gs://
	Space   string // search space, JSON (contents, not a path)
	Sampler string // sampler spec: uniform, bestup-3, worstup-50:predictor, ...
	Seed    int64
	Epochs  int
	Batch   int
	LR      float64 // peak learning rate; 0 = 0.1 per 256 images of batch
	Warmup  float64 // fraction of the run spent warming up; 0 = 0.05
	Limit   int     // images per epoch; 0 = the whole train split
	Flip    bool    // augmentation: random horizontal flips
	Shift   int     // augmentation: random shifts of up to Shift pixels
	Dropout float64 // largest subnet's dropout; 0 = 0.2
	// FLOPs prior of the attentive samplers; 0 = the sampler's defaults.
	PriorBinWidth int64
	PriorSamples  int
	// Predictor is a predictors/<run>.parquet file, required by samplers
	// with the predictor estimator.
	Predictor string
	// Progress prints a line per this many seconds to standard error; 0 = 15.
	ProgressSeconds float64
}

// TrainResult is what a finished job emits.
type TrainResult struct {
	Run        string
	Checkpoint string // the final checkpoint
	Log        string // runs/<run>/train_log.parquet
	Epochs     int
	Steps      int64
	LossMax    float64 // of the last step
	LossMin    float64
	Resumed    bool // the job continued from an earlier checkpoint
	Seconds    float64
}

// Train runs supernet training jobs (ALGORITHM.md sections 5 and 6). In:
// PCollection<TrainJob>, reshuffled so jobs run in parallel when the runner
// has workers; the train split's example shards and the dataset stats file
// arrive as side inputs (PCollection<string> of paths), which also makes the
// stage wait for a preprocess stage in the same pipeline. Out:
// PCollection<TrainResult>, one per job.
//
// Each job writes runs/<run>/checkpoints/epoch-NNNN.parquet after every
// epoch and runs/<run>/train_log.parquet (schemas.TrainStep rows), both
// atomically. A job that finds checkpoints of its run resumes from the
// newest, so a retried or restarted job continues where it stopped and ends
// with the weights an uninterrupted run would have.
//
// See also: trainer.Job (the loop), supernet.CheckpointState.
func Train(s beam.Scope, jobs, trainShards, stats beam.PCollection) beam.PCollection {
	s = s.Scope("stages.Train")
	// The long-running training stage has no side input and its output
	// leaves it: prism (v2.77.0) polls a running bundle in a busy loop, up
	// to a core for as long as the bundle runs, when its stage reads a
	// side input or no output leaves it (measured with a bundle that
	// sleeps 8 s: 8-10 s of CPU either way, 0.1 s in this shape). The
	// side inputs are attached to the jobs in a quick stage before.
	in := beam.ParDo(s, &attachTrainInputsFn{}, jobs, beam.SideInput{Input: trainShards}, beam.SideInput{Input: stats})
	results := beam.ParDo(s, &trainFn{}, beam.Reshuffle(s, in))
	beam.ParDo0(s, discardTrainResult, beam.Reshuffle(s, results))
	return results
}

// trainInput is a job with the files it reads.
type trainInput struct {
	Job    TrainJob
	Shards []string // the train split's example shards
	Stats  string   // dataset/stats.parquet
}

type attachTrainInputsFn struct{}

func (f *attachTrainInputsFn) ProcessElement(_ context.Context, job TrainJob, shards, stats func(*string) bool, emit func(trainInput)) error {
	emit(trainInput{Job: job, Shards: collect(shards), Stats: first(stats)})
	return nil
}

func discardTrainResult(TrainResult) {}

type trainFn struct{}

func (f *trainFn) ProcessElement(ctx context.Context, in trainInput, emit func(TrainResult)) error {
	res, err := RunTrainJob(ctx, in.Job, in.Shards, in.Stats, os.Stderr)
	if err != nil {
		return fmt.Errorf("train %s: %w", in.Job.Run, err)
	}
	emit(res)
	return nil
}

// collect drains a side-input iterator. Every element is decoded into a
// fresh value, so elements never share slices.
func collect[T any](it func(*T) bool) []T {
	var out []T
	for {
		var v T
		if !it(&v) {
			return out
		}
		out = append(out, v)
	}
}

func first(it func(*string) bool) string {
	var s string
	it(&s)
	return s
}

// RunTrainJob trains one job outside Beam too (the train stage's body):
// load the train split and stats, resume from the newest checkpoint of the
// run if any, train, and write checkpoints and the log. Progress goes to w.
func RunTrainJob(ctx context.Context, job TrainJob, shards []string, statsFile string, w io.Writer) (TrainResult, error) {
	start := time.Now()
	res := TrainResult{Run: job.Run, Log: trainLogPath(job.Output, job.Run)}
	sp, err := space.Parse([]byte(job.Space), "job "+job.Run+" search space")
	if err != nil {
		return res, err
	}
	spec, err := sampler.Parse(job.Sampler)
	if err != nil {
		return res, err
	}
	train, err := loadSplit(ctx, shards, string(data.SplitTrain), sp.Classes)
	if err != nil {
		return res, err
	}
	mean, std, err := loadStats(ctx, statsFile)
	if err != nil {
		return res, err
	}
	// Decoding the split leaves garbage about the size of the images; give
	// it back before the trainer takes its buffers, or the process keeps it.
	debug.FreeOSMemory()
	jobJSON, _ := json.Marshal(job)

	// Resume from the newest checkpoint of the run, if any.
	net := supernet.New(sp, uint64(job.Seed))
	var st trainer.State
	var log []schemas.TrainStep
	ckpt, _, err := LatestCheckpoint(ctx, job.Output, job.Run)
	if err != nil {
		return res, err
	}
	if ckpt != "" {
		loaded, cst, err := LoadSupernet(ctx, ckpt, sp)
		if err != nil {
			return res, err
		}
		if err := sameTraining(job, cst.Job, ckpt); err != nil {
			return res, err
		}
		net, st = loaded, trainer.State{Step: cst.Step, Epoch: cst.Epoch, RNG: cst.RNG}
		res.Resumed = true
		trainResumed.Inc(ctx, 1)
		if old, _, err := pqio.ReadFile[schemas.TrainStep](ctx, res.Log); err == nil {
			for _, r := range old {
				if r.Step < st.Step {
					log = append(log, r)
				}
			}
		}
		fmt.Fprintf(w, "train %s: resuming from %s (epoch %d, step %d)\n", job.Run, ckpt, st.Epoch, st.Step)
	}

	var est sampler.Estimator
	switch {
	case spec.Mode == sampler.UniformMode:
	case spec.EstimatorName() == sampler.EstimatorMinibatchLoss:
		// The job scores candidates on its trainer's engine.
	default:
		est, err = loadPredictorEstimator(ctx, job.Predictor, sp)
		if err != nil {
			return res, err
		}
	}

	tj := &trainer.Job{
		Cfg: trainer.JobConfig{
			Run: job.Run, Sampler: spec, Seed: uint64(job.Seed), Epochs: job.Epochs, Batch: job.Batch,
			LR: job.LR, Warmup: job.Warmup, Limit: job.Limit,
			Augment: data.AugmentConfig{Flip: job.Flip, MaxShift: job.Shift}, Dropout: job.Dropout,
			Prior: sampler.PriorConfig{BinWidth: job.PriorBinWidth, Samples: job.PriorSamples},
		},
		Net: net, Data: train, Mean: mean, Std: std, Est: est,
	}
	prog := newProgress(w, job, tj.StepsPerEpoch(), st.Step)
	tj.Hooks.OnStep = func(r schemas.TrainStep) error {
		log = append(log, r)
		trainSteps.Inc(ctx, 1)
		trainImages.Inc(ctx, int64(job.Batch))
		if r.Skipped {
			trainSkipped.Inc(ctx, 1)
			fmt.Fprintf(w, "train %s: step %d skipped: a loss or gradient was not finite; the update was not applied\n", job.Run, r.Step)
		}
		prog.step(r)
		return nil
	}
	tj.Hooks.OnEpoch = func(s trainer.State) error {
		p := CheckpointPath(job.Output, job.Run, s.Epoch)
		if err := SaveCheckpoint(ctx, p, net, net.NewState(s.Step, s.Epoch, s.RNG, jobJSON)); err != nil {
			return err
		}
		trainCheckpoints.Inc(ctx, 1)
		if err := pqio.WriteFile(ctx, res.Log, log); err != nil {
			return err
		}
		fmt.Fprintf(w, "train %s: epoch %d/%d done, checkpoint %s\n", job.Run, s.Epoch, job.Epochs, p)
		res.Checkpoint = p
		return nil
	}
	fin, err := tj.Run(ctx, st)
	if err != nil {
		return res, err
	}
	if res.Checkpoint == "" { // nothing left to train: the run was complete
		res.Checkpoint = ckpt
	}
	res.Epochs, res.Steps, res.Seconds = fin.Epoch, fin.Step, time.Since(start).Seconds()
	if n := len(log); n > 0 {
		res.LossMax, res.LossMin = log[n-1].LossMax, log[n-1].LossMin
	}
	return res, nil
}

// sameTraining checks that a job resuming from a checkpoint trains as the
// job that wrote it did: otherwise the resumed run would be neither the old
// configuration nor the new one. Only Epochs may grow (to train longer).
func sameTraining(job TrainJob, prevJSON []byte, ckpt string) error {
	var prev TrainJob
	if len(prevJSON) == 0 {
		return nil
	}
	if err := json.Unmarshal(prevJSON, &prev); err != nil {
		return fmt.Errorf("%s: job configuration: %w", ckpt, err)
	}
	type knob struct {
		name      string
		now, then any
	}
	for _, k := range []knob{
		{"sampler", job.Sampler, prev.Sampler}, {"seed", job.Seed, prev.Seed}, {"batch", job.Batch, prev.Batch},
		{"limit", job.Limit, prev.Limit}, {"lr", job.LR, prev.LR}, {"warmup", job.Warmup, prev.Warmup},
		{"flip", job.Flip, prev.Flip}, {"shift", job.Shift, prev.Shift}, {"dropout", job.Dropout, prev.Dropout},
		{"prior_bin", job.PriorBinWidth, prev.PriorBinWidth}, {"prior samples", job.PriorSamples, prev.PriorSamples},
	} {
		if k.now != k.then {
			return fmt.Errorf("run %s was trained with %s=%v (%s), this job asks for %v: resume it with the same settings, or train into another --output (or delete %s)",
				job.Run, k.name, k.then, ckpt, k.now, runDir(job.Output, job.Run))
		}
	}
	return nil
}

// progress prints a readable line now and then: epoch, step, losses,
// throughput and the time left.
type progress struct {
	w         io.Writer
	job       TrainJob
	spe       int
	total     int64
	every     time.Duration
	last      time.Time
	start     time.Time
	firstStep int64
}

func newProgress(w io.Writer, job TrainJob, stepsPerEpoch int, step int64) *progress {
	every := time.Duration(job.ProgressSeconds * float64(time.Second))
	if every <= 0 {
		every = 15 * time.Second
	}
	p := &progress{w: w, job: job, spe: stepsPerEpoch, total: int64(job.Epochs * stepsPerEpoch), every: every,
		start: time.Now(), firstStep: step}
	p.last = p.start
	fmt.Fprintf(w, "train %s: sampler %s, %d epochs of %d steps (batch %d)\n", job.Run, job.Sampler, job.Epochs, stepsPerEpoch, job.Batch)
	return p
}

func (p *progress) step(r schemas.TrainStep) {
	now := time.Now()
	if now.Sub(p.last) < p.every && r.Step+1 != p.total {
		return
	}
	p.last = now
	done := r.Step + 1 - p.firstStep
	rate := float64(done) / now.Sub(p.start).Seconds()
	eta := time.Duration(float64(p.total-r.Step-1) / rate * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(p.w, "train %s: epoch %d/%d step %d/%d loss max %.3f min %.3f | %.0f img/s | ETA %v\n",
		p.job.Run, r.Epoch+1, p.job.Epochs, r.Step+1, p.total, r.LossMax, r.LossMin,
		rate*float64(p.job.Batch), eta)
}
