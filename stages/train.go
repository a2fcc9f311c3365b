package stages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
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
	beam.RegisterType(reflect.TypeFor[SettingChange]())
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
// input. Every field is plain data so a job serialises to any worker. The
// job as trained is recorded in each checkpoint (JSON), and a resumed job
// is compared with it setting by setting (see ResumeSettings).
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
	// Dropout and LabelSmoothing of the largest subnet are literal: 0 turns
	// them off (the commands pass trainer.DefaultDropout and
	// trainer.DefaultLabelSmoothing unless told otherwise).
	Dropout        float64
	LabelSmoothing float64
	// DistillWarmup: fraction of the run over which the students' targets
	// move from the labels to the largest subnet's output (0 = in-place
	// distillation from the start; see trainer.JobConfig).
	DistillWarmup float64
	// FLOPs prior of the attentive samplers; 0 = the sampler's defaults.
	PriorBinWidth int64
	PriorSamples  int
	// Predictor is a predictors/<run>.parquet file, required by samplers
	// with the predictor estimator.
	Predictor string
	// Progress prints a line per this many seconds to standard error; 0 = 15.
	ProgressSeconds float64
	// Change names the settings (ChangeableSettings) this job may change
	// when it resumes a run trained with other values: the change is
	// recorded in History and the checkpoints. Not compared on resume.
	Change []string

	// Filled by the stage and recorded in the checkpoints:
	DataID      string            // identity of the train split (a hash of its statistics)
	PredictorID string            // identity of the predictor's selected model ("" without one)
	History     []SettingChange   // deliberate changes, in order
	Restarts    []trainer.Restart // schedule restarts those changes made
}

// SettingChange records a deliberate change of a setting when a run was
// resumed (--change).
type SettingChange struct {
	Step    int64  // first step trained with the new value
	Epoch   int    // epochs done before it
	Setting string // e.g. "lr"
	From    string
	To      string
	Time    time.Time
}

// ChangeableSettings may differ from a run's checkpoint when the job names
// them in Change. The others (sampler, seed, batch, limit, prior_bin,
// prior_samples, data) fix what a step is or which subnets and images it
// sees, so changing them in the middle of a run gives neither run.
var ChangeableSettings = []string{"lr", "warmup", "epochs", "dropout", "label_smoothing", "distill_warmup", "flip", "shift", "predictor"}

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
// After every epoch each job commits runs/<run>/checkpoints/epoch-NNNN.parquet
// and runs/<run>/train_log.parquet (schemas.TrainStep rows) together as the
// run's training state (CommitTrainState). A job that finds a committed
// state resumes from it, so a retried or restarted job continues where it
// stopped and ends with the weights and log an uninterrupted run would
// have; settings that differ from the checkpoint's are refused unless the
// job allows the change (ResumeSettings).
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
// load the train split and stats, resume from the run's committed training
// state if any (ReadTrainState), train, and commit a checkpoint with the
// train log after every epoch (CommitTrainState). Progress goes to w.
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
	if job.DataID, err = trainDataID(ctx, statsFile); err != nil {
		return res, err
	}
	var pred *LoadedPredictor
	if spec.Mode != sampler.UniformMode && spec.EstimatorName() == sampler.EstimatorPredictor {
		if pred, err = LoadPredictor(ctx, job.Predictor, sp); err != nil {
			return res, err
		}
		job.PredictorID = pred.ID()
	}

	// Resume from the run's committed state, if any, after finishing its
	// commit if a crash interrupted it.
	if err := pqio.FinishCommit(ctx, runDir(job.Output, job.Run), TrainSet); err != nil {
		return res, err
	}
	net := supernet.New(sp, uint64(job.Seed))
	var st trainer.State
	var log []schemas.TrainStep
	state, err := ReadTrainState(ctx, job.Output, job.Run)
	if err != nil {
		return res, err
	}
	tj := &trainer.Job{Data: train}
	if state.Checkpoint != "" {
		loaded, cst, err := LoadSupernet(ctx, state.read, sp)
		if err != nil {
			return res, err
		}
		st = trainer.State{Step: cst.Step, Epoch: cst.Epoch, RNG: cst.RNG}
		if log, err = state.Log(ctx); err != nil {
			return res, err
		}
		if err := checkHistory(log, st, state.Checkpoint); err != nil {
			return res, err
		}
		var prev TrainJob
		if err := json.Unmarshal(cst.Job, &prev); err != nil {
			return res, fmt.Errorf("%s: job configuration: %w", state.Checkpoint, err)
		}
		var notes []string
		if job, notes, err = ResumeSettings(job, prev, train, st, state.Checkpoint); err != nil {
			return res, err
		}
		net = loaded
		res.Resumed = true
		trainResumed.Inc(ctx, 1)
		fmt.Fprintf(w, "train %s: resuming from %s (epoch %d, step %d)\n", job.Run, state.Checkpoint, st.Epoch, st.Step)
		for _, n := range notes {
			fmt.Fprintf(w, "train %s: %s\n", job.Run, n)
		}
	}
	jobJSON, err := json.Marshal(job)
	if err != nil {
		return res, err
	}

	var est sampler.Estimator
	switch {
	case spec.Mode == sampler.UniformMode:
	case spec.EstimatorName() == sampler.EstimatorMinibatchLoss:
		// The job scores candidates on its trainer's engine.
	default:
		est = predictorEstimator{pred}
	}

	tj.Cfg = jobConfig(job, spec)
	tj.Net, tj.Mean, tj.Std, tj.Est = net, mean, std, est
	prog := newProgress(w, job, tj.StepsPerEpoch(), st.Step)
	// Training holds shared CPU access, released between steps so that a
	// latency measurement elsewhere in the process waits for one step only.
	gate := cpu.hold("train")
	defer gate.release()
	tj.Hooks.OnStep = func(r schemas.TrainStep) error {
		gate.yield()
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
		p, err := CommitTrainState(ctx, job.Output, job.Run, net, net.NewState(s.Step, s.Epoch, s.RNG, jobJSON), log)
		if err != nil {
			return err
		}
		trainCheckpoints.Inc(ctx, 1)
		fmt.Fprintf(w, "train %s: epoch %d/%d done, checkpoint %s\n", job.Run, s.Epoch, job.Epochs, p)
		res.Checkpoint = p
		return nil
	}
	fin, err := tj.Run(ctx, st)
	if err != nil {
		return res, err
	}
	if res.Checkpoint == "" { // nothing left to train: the run was complete
		res.Checkpoint = state.Checkpoint
	}
	res.Epochs, res.Steps, res.Seconds = fin.Epoch, fin.Step, time.Since(start).Seconds()
	if n := len(log); n > 0 {
		res.LossMax, res.LossMin = log[n-1].LossMax, log[n-1].LossMin
	}
	return res, nil
}

// jobConfig is the trainer's configuration of a job.
func jobConfig(job TrainJob, spec sampler.Spec) trainer.JobConfig {
	return trainer.JobConfig{
		Run: job.Run, Sampler: spec, Seed: uint64(job.Seed), Epochs: job.Epochs, Batch: job.Batch,
		LR: job.LR, Warmup: job.Warmup, Limit: job.Limit,
		Augment: data.AugmentConfig{Flip: job.Flip, MaxShift: job.Shift},
		Dropout: job.Dropout, LabelSmoothing: job.LabelSmoothing, DistillWarmup: job.DistillWarmup,
		Prior:    sampler.PriorConfig{BinWidth: job.PriorBinWidth, Samples: job.PriorSamples},
		Restarts: slices.Clone(job.Restarts),
	}
}

// checkHistory checks that a train log holds exactly the steps before the
// checkpoint's: the history is whole.
func checkHistory(log []schemas.TrainStep, st trainer.State, ckpt string) error {
	for i, r := range log {
		if r.Step != int64(i) {
			return fmt.Errorf("the train log of %s holds step %d at row %d: steps are missing or repeated; delete the run's directory to train again", ckpt, r.Step, i)
		}
	}
	if int64(len(log)) != st.Step {
		return fmt.Errorf("the train log of %s holds %d steps, the checkpoint has taken %d: the history does not match the checkpoint; delete the run's directory to train again", ckpt, len(log), st.Step)
	}
	return nil
}

// trainDataID identifies the train split by its statistics (images, class
// counts, per-channel mean and std, source and split seed).
func trainDataID(ctx context.Context, statsFile string) (string, error) {
	rows, _, err := pqio.ReadFile[schemas.DatasetStats](ctx, statsFile)
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if r.Split == string(data.SplitTrain) {
			b, _ := json.Marshal(r)
			h := sha256.Sum256(b)
			return hex.EncodeToString(h[:8]), nil
		}
	}
	return "", fmt.Errorf("%s has no train row", statsFile)
}

// ResumeSettings compares a job with the job that trained the run's
// checkpoint (prev) and returns the job to train: every setting that
// changes the result must be equal, unless the job names it in Change and
// it is one of ChangeableSettings. An allowed change is recorded in
// History (with the step it takes effect at); a change of lr, warmup or
// epochs also restarts the learning-rate schedule there (trainer.Restart:
// a linear warm-up from the current rate to the new peak over the new
// warm-up fraction of the remaining steps, then a cosine to 0). Otherwise
// the error names the setting, both values and how to proceed. The notes
// say what changed.
func ResumeSettings(job, prev TrainJob, train *data.Dataset, st trainer.State, ckpt string) (TrainJob, []string, error) {
	type setting struct {
		name      string
		now, then any
	}
	settings := []setting{
		{"sampler", job.Sampler, prev.Sampler}, {"seed", job.Seed, prev.Seed}, {"batch", job.Batch, prev.Batch},
		{"limit", job.Limit, prev.Limit}, {"prior_bin", job.PriorBinWidth, prev.PriorBinWidth},
		{"prior_samples", job.PriorSamples, prev.PriorSamples},
		{"lr", job.LR, prev.LR}, {"warmup", job.Warmup, prev.Warmup}, {"epochs", job.Epochs, prev.Epochs},
		{"dropout", job.Dropout, prev.Dropout}, {"label_smoothing", job.LabelSmoothing, prev.LabelSmoothing},
		{"flip", job.Flip, prev.Flip}, {"shift", job.Shift, prev.Shift},
		{"distill_warmup", job.DistillWarmup, prev.DistillWarmup},
	}
	if prev.DataID != "" {
		settings = append(settings, setting{"data", job.DataID, prev.DataID})
	}
	if prev.PredictorID != "" || job.PredictorID != "" {
		settings = append(settings, setting{"predictor", job.PredictorID, prev.PredictorID})
	}
	dir := runDir(job.Output, job.Run)
	job.History, job.Restarts = slices.Clone(prev.History), slices.Clone(prev.Restarts)
	var notes []string
	restart := false
	for _, s := range settings {
		if s.now == s.then {
			continue
		}
		changeable := slices.Contains(ChangeableSettings, s.name)
		switch {
		case !changeable:
			return job, nil, fmt.Errorf("run %s was trained with %s=%v (%s), this job asks for %v: %s cannot change in the middle of a run (it fixes what a step is or what it trains on); resume with %s=%v, train into another --output, or delete %s to start over",
				job.Run, s.name, s.then, ckpt, s.now, s.name, s.name, s.then, dir)
		case !slices.Contains(job.Change, s.name):
			return job, nil, fmt.Errorf("run %s was trained with %s=%v (%s), this job asks for %v: resume with %s=%v, or pass --change=%s to change it from step %d on (the change is recorded in the checkpoints%s), or train into another --output",
				job.Run, s.name, s.then, ckpt, s.now, s.name, s.then, s.name, st.Step, scheduleNote(s.name))
		}
		if s.name == "epochs" && job.Epochs < st.Epoch {
			return job, nil, fmt.Errorf("run %s has trained %d epochs (%s), more than --epochs=%d", job.Run, st.Epoch, ckpt, job.Epochs)
		}
		job.History = append(job.History, SettingChange{Step: st.Step, Epoch: st.Epoch, Setting: s.name,
			From: fmt.Sprint(s.then), To: fmt.Sprint(s.now), Time: time.Now().UTC().Truncate(time.Second)})
		notes = append(notes, fmt.Sprintf("%s changed from %v to %v at step %d (--change)", s.name, s.then, s.now, st.Step))
		restart = restart || s.name == "lr" || s.name == "warmup" || s.name == "epochs"
	}
	if restart {
		spec, err := sampler.Parse(prev.Sampler)
		if err != nil {
			return job, nil, err
		}
		old := &trainer.Job{Cfg: jobConfig(prev, spec), Data: train}
		from := old.LR(st.Step)
		job.Restarts = append(job.Restarts, trainer.Restart{Step: st.Step, FromLR: from})
		notes = append(notes, fmt.Sprintf("the learning-rate schedule restarts at step %d: from %.6g, a warm-up to the peak %v, then a cosine to 0 at the end of epoch %d",
			st.Step, from, job.LR, job.Epochs))
	}
	return job, notes, nil
}

func scheduleNote(name string) string {
	switch name {
	case "lr", "warmup", "epochs":
		return "; the learning-rate schedule then restarts there: a warm-up from the current rate to the peak, then a cosine to 0 at the new end"
	}
	return ""
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
