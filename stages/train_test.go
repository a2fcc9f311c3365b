package stages

import (
	"context"
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
	job.Epochs = 12
	if _, err := RunTrainJob(context.Background(), job, shards, stats, discard{}); err != nil {
		t.Fatal(err)
	}
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
			if err != nil || len(log) != 72 {
				t.Fatalf("train log after resume: %d rows, %v", len(log), err)
			}
			return
		case <-time.After(time.Duration(150+rng.IntN(550)) * time.Millisecond):
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
