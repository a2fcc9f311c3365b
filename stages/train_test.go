package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// tinySpace is a search space for 8x8 grayscale images and 3 classes,
// small enough to train in a test.
const tinySpace = `{
  "name": "tiny",
  "input": {"channels": 1, "height": 8, "width": 8},
  "classes": 3,
  "resolutions": [8],
  "first_conv": {"c": [8], "k": 3, "s": 1},
  "stages": [
    {"name": "s1", "c": [8, 16], "d": [1, 2], "k": [3], "t": [2, 3], "s": 2, "se": true}
  ],
  "last_conv": {"c": [16, 24], "expand": 2},
  "activation": "hswish"
}`

// writeTrainArtifacts writes what preprocess would: n train examples of a
// learnable 3-class problem (a bright 3x3 patch whose column is the class,
// on noise) and the stats file. It returns the shard and stats paths.
func writeTrainArtifacts(t *testing.T, out string, n int) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([]schemas.Example, n)
	var st data.ChannelStats
	for i := range rows {
		label := rng.IntN(3)
		px := make([]byte, 64)
		for j := range px {
			px[j] = byte(rng.IntN(60))
		}
		for dy := range 3 {
			for dx := range 3 {
				px[(2+dy)*8+3*label+dx-min(label, 1)] = 230 // columns 0-2, 2-4, 5-7
			}
		}
		if err := st.Add(px, 1); err != nil {
			t.Fatal(err)
		}
		rows[i] = schemas.Example{Split: "train", Index: int64(i), Label: int32(label), Height: 8, Width: 8, Channels: 1, Pixels: px}
	}
	shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
	if err := pqio.WriteFile(ctx, shard, rows); err != nil {
		t.Fatal(err)
	}
	mean, std := st.Mean(), st.Std()
	stats := []schemas.DatasetStats{{Split: "train", Images: int64(n), Height: 8, Width: 8, Channels: 1, Classes: 3,
		Mean: []float64{float64(mean[0])}, Std: []float64{float64(std[0])}, ClassCounts: []int64{}}}
	if err := pqio.WriteFile(ctx, statsPath(out), stats); err != nil {
		t.Fatal(err)
	}
	return []string{shard}, statsPath(out)
}

func tinyJob(out, run, smp string) TrainJob {
	return TrainJob{Run: run, Output: out, Space: tinySpace, Sampler: smp, Seed: 3, Epochs: 2, Batch: 16,
		LR: 0.2, Flip: false, Shift: 0, PriorBinWidth: 20_000, PriorSamples: 500, ProgressSeconds: 3600}
}

// TestTrainStage trains a uniform and a BestUp-2 job side by side through
// the Beam stage and checks their checkpoints and logs.
func TestTrainStage(t *testing.T) {
	out := t.TempDir()
	shards, stats := writeTrainArtifacts(t, out, 320) // 20 steps per epoch
	p, s := beam.NewPipelineWithRoot()
	jobs := beam.Create(s, tinyJob(out, "uniform", "uniform"), tinyJob(out, "bestup-2", "bestup-2"))
	res := Train(s, jobs, beam.CreateList(s, shards), beam.Create(s, stats))
	_ = res
	if _, err := ptest.RunWithMetrics(p); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, run := range []string{"uniform", "bestup-2"} {
		for epoch := 1; epoch <= 2; epoch++ {
			if _, st, err := ReadCheckpoint(ctx, CheckpointPath(out, run, epoch)); err != nil || st.Epoch != epoch || st.Step != int64(epoch*20) {
				t.Fatalf("%s checkpoint %d: state %+v, %v", run, epoch, st, err)
			}
		}
		log, _, err := pqio.ReadFile[schemas.TrainStep](ctx, trainLogPath(out, run))
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 40 {
			t.Fatalf("%s: %d log rows, want 40", run, len(log))
		}
		for i, r := range log {
			if r.Step != int64(i) || r.Run != run || len(r.MidArchs) != 2 || math.IsNaN(r.LossMax) || r.Skipped {
				t.Fatalf("%s row %d: %+v", run, i, r)
			}
		}
		mean := func(rs []schemas.TrainStep) float64 {
			var s float64
			for _, r := range rs {
				s += r.LossMax
			}
			return s / float64(len(rs))
		}
		if first, last := mean(log[:5]), mean(log[35:]); !(last < 0.7*first) {
			t.Errorf("%s: largest subnet's loss did not fall: %.3f -> %.3f (means of the first and last 5 steps)", run, first, last)
		}
		for _, r := range log {
			if run == "uniform" {
				if len(r.CandidateArchs) != 0 {
					t.Fatalf("uniform step %d logged candidates", r.Step)
				}
				continue
			}
			// BestUp-2: two candidates per middle slot, the chosen one has
			// the lowest minibatch loss of its slot.
			if len(r.CandidateArchs) != 4 {
				t.Fatalf("bestup-2 step %d: %d candidates, want 4", r.Step, len(r.CandidateArchs))
			}
			for slot := range int32(2) {
				best, chosen := math.Inf(1), -1
				for i := range r.CandidateSlots {
					if r.CandidateSlots[i] != slot {
						continue
					}
					best = math.Min(best, r.CandidateScores[i])
					if r.CandidateChosen[i] {
						chosen = i
					}
				}
				if chosen < 0 || r.CandidateScores[chosen] != best || r.CandidateArchs[chosen] != r.MidArchs[slot] {
					t.Fatalf("bestup-2 step %d slot %d: chosen %d is not the lowest-loss candidate: %+v", r.Step, slot, chosen, r)
				}
			}
		}
	}
}

// TestTrainResumeAfterKill kills a training job (SIGKILL) at random moments,
// restarts it until it finishes, and checks the final weights are those of
// an uninterrupted run with the same seed.
func TestTrainResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts subprocesses")
	}
	ref := t.TempDir()
	shards, stats := writeTrainArtifacts(t, ref, 96)
	job := tinyJob(ref, "bestup-2", "bestup-2")
	// Enough epochs that the job runs about two seconds, so that random
	// kills land inside it on any machine (one epoch is 6 steps).
	job.Epochs = 12
	start := time.Now()
	if _, err := RunTrainJob(context.Background(), job, shards, stats, discard{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second {
		job.Epochs = min(400, int(float64(job.Epochs)*2*float64(time.Second)/float64(max(d, time.Millisecond))))
		ref = t.TempDir()
		shards, stats = writeTrainArtifacts(t, ref, 96)
		job.Output = ref
		start = time.Now()
		if _, err := RunTrainJob(context.Background(), job, shards, stats, discard{}); err != nil {
			t.Fatal(err)
		}
	}
	run := time.Since(start)
	want := finalWeights(t, ref, "bestup-2", job.Epochs)

	out := t.TempDir()
	writeTrainArtifacts(t, out, 96)
	rng := rand.New(rand.NewPCG(9, 9))
	kills := 0
	for attempt := 0; attempt < 40; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTrainHelperProcess$")
		cmd.Env = append(os.Environ(), "ATTENTIVENAS_TRAIN_HELPER="+out, "ATTENTIVENAS_TRAIN_EPOCHS="+strconv.Itoa(job.Epochs))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("helper failed: %v", err)
			}
			if kills == 0 {
				t.Fatal("the job finished before it was ever killed; kill sooner")
			}
			got := finalWeights(t, out, "bestup-2", job.Epochs)
			if !slices.Equal(got, want) {
				t.Fatalf("after %d kills the final weights differ from the uninterrupted run", kills)
			}
			log, _, err := pqio.ReadFile[schemas.TrainStep](context.Background(), trainLogPath(out, "bestup-2"))
			if err != nil || len(log) != 6*job.Epochs {
				t.Fatalf("train log after resume: %d rows, %v", len(log), err)
			}
			return
		case <-time.After(100*time.Millisecond + time.Duration(rng.Float64()*0.8*float64(run))):
			_ = cmd.Process.Kill() // SIGKILL: no cleanup runs
			<-done
			kills++
		}
	}
	t.Fatal("the job never finished")
}

// TestTrainHelperProcess is the body of the subprocess of
// TestTrainResumeAfterKill; it does nothing in a normal test run.
func TestTrainHelperProcess(t *testing.T) {
	out := os.Getenv("ATTENTIVENAS_TRAIN_HELPER")
	if out == "" {
		t.Skip("helper process only")
	}
	epochs, _ := strconv.Atoi(os.Getenv("ATTENTIVENAS_TRAIN_EPOCHS"))
	job := tinyJob(out, "bestup-2", "bestup-2")
	job.Epochs = epochs
	shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
	if _, err := RunTrainJob(context.Background(), job, []string{shard}, statsPath(out), discard{}); err != nil {
		t.Fatal(err)
	}
}

func finalWeights(t *testing.T, out, run string, epochs int) []float32 {
	t.Helper()
	rows, _, err := ReadCheckpoint(context.Background(), CheckpointPath(out, run, epochs))
	if err != nil {
		t.Fatal(err)
	}
	var all []float32
	for _, r := range rows {
		all = append(all, r.Values...)
	}
	return all
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestTrainResumeRefusesOtherSettings: a run resumed with another batch
// size would be neither configuration; the job says so.
func TestTrainResumeRefusesOtherSettings(t *testing.T) {
	out := t.TempDir()
	shards, stats := writeTrainArtifacts(t, out, 96)
	job := tinyJob(out, "uniform", "uniform")
	job.Epochs = 1
	if _, err := RunTrainJob(context.Background(), job, shards, stats, discard{}); err != nil {
		t.Fatal(err)
	}
	job.Epochs, job.Batch = 2, 8
	_, err := RunTrainJob(context.Background(), job, shards, stats, discard{})
	if err == nil || !strings.Contains(err.Error(), "batch=16") {
		t.Fatalf("resuming with another batch size: %v", err)
	}
}

// trainTiny trains job (with the tiny data under its output) and fails the
// test on error.
func trainTiny(t *testing.T, job TrainJob) TrainResult {
	t.Helper()
	shard := filepath.Join(examplesDir(job.Output), "train-00000-of-00001.parquet")
	res, err := RunTrainJob(context.Background(), job, []string{shard}, statsPath(job.Output), discard{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// trainState returns the committed checkpoint's epoch and step and the
// committed log's length, or the error a reader gets.
func trainState(out, run string) (epoch int, step int64, logRows int, err error) {
	ctx := context.Background()
	st, err := ReadTrainState(ctx, out, run)
	if err != nil {
		return 0, 0, 0, err
	}
	_, cst, err := ReadCheckpoint(ctx, st.read)
	if err != nil {
		return 0, 0, 0, err
	}
	log, err := st.Log(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if cst.Epoch != st.Epoch {
		return 0, 0, 0, fmt.Errorf("manifest says epoch %d, the checkpoint %d", st.Epoch, cst.Epoch)
	}
	return cst.Epoch, cst.Step, len(log), nil
}

// TestTrainCommitFaults stops the commit of epoch 2's checkpoint and train
// log at each of its steps (as a crash there would): readers then see epoch
// 1's checkpoint with its whole log or epoch 2's with its whole log, never
// one with the other's log; and the job run again ends with the weights and
// log of an uninterrupted run.
func TestTrainCommitFaults(t *testing.T) {
	ref := t.TempDir()
	writeTrainArtifacts(t, ref, 96) // 6 steps per epoch
	job := tinyJob(ref, "uniform", "uniform")
	trainTiny(t, job)
	want := finalWeights(t, ref, "uniform", 2)
	wantLog, err := ReadTrainLog(context.Background(), ref, "uniform")
	if err != nil || len(wantLog) != 12 {
		t.Fatalf("reference log: %d rows, %v", len(wantLog), err)
	}
	for step := 1; ; step++ {
		out := t.TempDir()
		writeTrainArtifacts(t, out, 96)
		var seen []pqio.CommitEvent
		first := true // epoch 1's commit goes through
		prev := pqio.SetFaultHook(func(ev pqio.CommitEvent) error {
			if first {
				first = ev.Step != "clean"
				return nil
			}
			seen = append(seen, ev)
			if len(seen) == step {
				return errors.New("injected crash")
			}
			return nil
		})
		shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
		_, err := RunTrainJob(context.Background(), tinyJob(out, "uniform", "uniform"), []string{shard}, statsPath(out), discard{})
		pqio.SetFaultHook(prev)
		if err == nil {
			if step < 4 { // manifest, two renames, clean
				t.Fatalf("only %d commit steps: %v", step-1, seen)
			}
			break
		}
		ev := seen[step-1]
		epoch, ckStep, rows, err := trainState(out, "uniform")
		if err != nil {
			t.Fatalf("after a crash before %v: %v", ev, err)
		}
		wantEpoch := 2
		if ev.Step == "manifest" {
			wantEpoch = 1
		}
		if epoch != wantEpoch || ckStep != int64(6*wantEpoch) || rows != 6*wantEpoch {
			t.Fatalf("after a crash before %v: epoch %d, step %d, %d log rows; want epoch %d with all its steps", ev, epoch, ckStep, rows, wantEpoch)
		}
		trainTiny(t, tinyJob(out, "uniform", "uniform"))
		if got := finalWeights(t, out, "uniform", 2); !slices.Equal(got, want) {
			t.Fatalf("after a crash before %v and a re-run: weights differ from an uninterrupted run", ev)
		}
		log, err := ReadTrainLog(context.Background(), out, "uniform")
		if err != nil || len(log) != len(wantLog) {
			t.Fatalf("after a crash before %v and a re-run: log %d rows, %v", ev, len(log), err)
		}
		for i := range log {
			if log[i].Step != wantLog[i].Step || log[i].LossMax != wantLog[i].LossMax || log[i].LR != wantLog[i].LR {
				t.Fatalf("after a crash before %v: log row %d differs: %+v vs %+v", ev, i, log[i], wantLog[i])
			}
		}
	}
}

// TestTrainRefusesUnreadableLog: a damaged train log is the lost history of
// the run's steps; resuming must refuse, not start a new log.
func TestTrainRefusesUnreadableLog(t *testing.T) {
	out := t.TempDir()
	writeTrainArtifacts(t, out, 96)
	job := tinyJob(out, "uniform", "uniform")
	job.Epochs = 1
	trainTiny(t, job)
	p := trainLogPath(out, "uniform")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil { // truncated
		t.Fatal(err)
	}
	job.Epochs = 2
	shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
	_, err = RunTrainJob(context.Background(), job, []string{shard}, statsPath(out), discard{})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("resuming over a truncated log: %v", err)
	}
	if b2, _ := os.ReadFile(p); !slices.Equal(b2, b[:len(b)/2]) {
		t.Error("the damaged log was replaced")
	}
}

// TestTrainResumeComparesSettings: every setting that changes the result
// is compared with the checkpoint's. A changeable one is refused unless the
// job names it in Change; the others are refused always; each error names
// the setting, both values and how to proceed.
func TestTrainResumeComparesSettings(t *testing.T) {
	out := t.TempDir()
	writeTrainArtifacts(t, out, 96)
	base := tinyJob(out, "uniform", "uniform")
	base.Epochs = 1
	trainTiny(t, base)
	shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
	for _, tc := range []struct {
		name  string
		edit  func(j *TrainJob)
		fixed bool // cannot change even with --change
	}{
		{"epochs", func(j *TrainJob) { j.Epochs = 3 }, false},
		{"lr", func(j *TrainJob) { j.LR = 0.1 }, false},
		{"warmup", func(j *TrainJob) { j.Warmup = 0.2 }, false},
		{"dropout", func(j *TrainJob) { j.Dropout = 0.3 }, false},
		{"label_smoothing", func(j *TrainJob) { j.LabelSmoothing = 0.1 }, false},
		{"flip", func(j *TrainJob) { j.Flip = true }, false},
		{"shift", func(j *TrainJob) { j.Shift = 1 }, false},
		{"batch", func(j *TrainJob) { j.Batch = 8 }, true},
		{"seed", func(j *TrainJob) { j.Seed = 4 }, true},
		{"sampler", func(j *TrainJob) { j.Sampler = "bestup-2" }, true},
		{"limit", func(j *TrainJob) { j.Limit = 64 }, true},
		{"prior_bin", func(j *TrainJob) { j.PriorBinWidth = 10_000 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := base
			tc.edit(&job)
			_, err := RunTrainJob(context.Background(), job, []string{shard}, statsPath(out), discard{})
			want := []string{"run uniform was trained with " + tc.name + "=", CheckpointPath(out, "uniform", 1), "--change=" + tc.name}
			if tc.fixed {
				want = []string{"run uniform was trained with " + tc.name + "=", "cannot change in the middle of a run"}
			}
			for _, s := range want {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Fatalf("without --change: %v; want it to say %q", err, s)
				}
			}
			job.Change = []string{tc.name}
			_, err = RunTrainJob(context.Background(), job, []string{shard}, statsPath(out), discard{})
			if tc.fixed && (err == nil || !strings.Contains(err.Error(), "cannot change")) {
				t.Fatalf("with --change=%s: %v", tc.name, err)
			}
			if !tc.fixed {
				if err != nil {
					t.Fatalf("with --change=%s: %v", tc.name, err)
				}
				// Put the run back as it was for the next case.
				if err := os.RemoveAll(runDir(out, "uniform")); err != nil {
					t.Fatal(err)
				}
				trainTiny(t, base)
			}
		})
	}
	// Other data under the same output (preprocess run again with other
	// images) is refused too.
	writeTrainArtifacts2(t, out)
	_, err := RunTrainJob(context.Background(), base, []string{shard}, statsPath(out), discard{})
	if err == nil || !strings.Contains(err.Error(), "trained with data=") {
		t.Fatalf("other train data: %v", err)
	}
}

// writeTrainArtifacts2 rewrites the tiny train split with other images.
func writeTrainArtifacts2(t *testing.T, out string) {
	t.Helper()
	shards, stats := writeTrainArtifacts(t, t.TempDir(), 112)
	for _, c := range [][2]string{{shards[0], filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")}, {stats, statsPath(out)}} {
		b, err := os.ReadFile(c[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c[1], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainDeliberateChange resumes a finished one-epoch run with more
// epochs and another learning rate, allowed by Change: the change is
// recorded in the checkpoint's history, and the learning rate restarts
// from the rate it had (no jump), warms up to the new peak and decays to 0
// at the new end.
func TestTrainDeliberateChange(t *testing.T) {
	out := t.TempDir()
	writeTrainArtifacts(t, out, 96) // 6 steps per epoch
	job := tinyJob(out, "uniform", "uniform")
	job.Epochs, job.Warmup = 1, 0.5
	trainTiny(t, job)
	job.Epochs, job.LR, job.Change = 4, 0.1, []string{"lr", "epochs"}
	trainTiny(t, job)
	ctx := context.Background()
	_, st, err := ReadCheckpoint(ctx, CheckpointPath(out, "uniform", 4))
	if err != nil {
		t.Fatal(err)
	}
	var rec TrainJob
	if err := json.Unmarshal(st.Job, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.History) != 2 || rec.History[0].Setting != "lr" || rec.History[0].From != "0.2" || rec.History[0].To != "0.1" ||
		rec.History[1].Setting != "epochs" || rec.History[1].From != "1" || rec.History[1].To != "4" || rec.History[0].Step != 6 {
		t.Fatalf("history %+v", rec.History)
	}
	log, err := ReadTrainLog(ctx, out, "uniform")
	if err != nil || len(log) != 24 {
		t.Fatalf("log %d rows, %v", len(log), err)
	}
	if len(rec.Restarts) != 1 || rec.Restarts[0].Step != 6 {
		t.Fatalf("restarts %+v", rec.Restarts)
	}
	// Steps 0-5: warm-up over 3 steps to 0.2, cosine towards 0 at step 6
	// (the first run's schedule, untouched); from step 6, a warm-up over
	// half of the 18 remaining steps from the rate the first schedule gives
	// step 6 (0: it had ended) to 0.1, then a cosine.
	if from := rec.Restarts[0].FromLR; math.Abs(from) > 1e-12 {
		t.Errorf("the restart starts from %v, the first schedule gives step 6 a rate of 0", from)
	}
	if !(log[6].LR < log[5].LR) {
		t.Errorf("the rate jumps at the restart: %v after %v", log[6].LR, log[5].LR)
	}
	for s := 7; s < 15; s++ {
		if !(log[s].LR > log[s-1].LR) {
			t.Errorf("warm-up after the restart: lr[%d] = %v after %v", s, log[s].LR, log[s-1].LR)
		}
	}
	if math.Abs(log[14].LR-0.1) > 1e-9 {
		t.Errorf("the new peak is reached at step 14: %v", log[14].LR)
	}
	for s := 16; s < 24; s++ {
		if !(log[s].LR < log[s-1].LR) {
			t.Errorf("cosine after the restart: lr[%d] = %v after %v", s, log[s].LR, log[s-1].LR)
		}
	}
	if log[23].LR > 0.01 {
		t.Errorf("the last step's rate is %v, expected near 0", log[23].LR)
	}
	// Resuming the finished run again with the same settings is a no-op
	// and adds no history, with or without Change.
	res := trainTiny(t, job)
	if !res.Resumed || res.Steps != 24 {
		t.Errorf("resume of a finished run: %+v", res)
	}
}

// TestTrainLiteralDropout: dropout and label smoothing are literal (0 is
// off), recorded as given in the checkpoint and handed to the trainer as
// given.
func TestTrainLiteralDropout(t *testing.T) {
	out := t.TempDir()
	writeTrainArtifacts(t, out, 96)
	job := tinyJob(out, "uniform", "uniform")
	job.Epochs, job.Dropout, job.LabelSmoothing = 1, 0, 0
	trainTiny(t, job)
	_, st, err := ReadCheckpoint(context.Background(), CheckpointPath(out, "uniform", 1))
	if err != nil {
		t.Fatal(err)
	}
	var rec TrainJob
	if err := json.Unmarshal(st.Job, &rec); err != nil {
		t.Fatal(err)
	}
	spec, _ := sampler.Parse(rec.Sampler)
	if c := jobConfig(rec, spec); c.Dropout != 0 || c.LabelSmoothing != 0 {
		t.Errorf("dropout %v, label smoothing %v handed to the trainer; want 0, 0", c.Dropout, c.LabelSmoothing)
	}
	job.Dropout, job.LabelSmoothing = 0.2, 0.1
	if c := jobConfig(job, spec); c.Dropout != 0.2 || c.LabelSmoothing != 0.1 {
		t.Errorf("dropout %v, label smoothing %v", c.Dropout, c.LabelSmoothing)
	}
}
