package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/nas/trainer"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// TestRunChecksBeforeRunning: settings that would fail late fail while the
// pipeline is built: too few evaluated subnets for the predictor, and a
// predictor-guided sampler without a predictor of the current uniform run.
func TestRunChecksBeforeRunning(t *testing.T) {
	ctx := context.Background()
	dataDir, spaceFile := tinyInputs(t)
	out := t.TempDir()
	build := func(extra ...string) error {
		_, s := beam.NewPipelineWithRoot()
		f := parseNASFlags(t, tinyArgs(out, spaceFile, extra...)...)
		pre := parsePreprocessFlags(t, "--data="+dataDir, "--output="+out, "--val=96", "--calib=64", "--classes=3")
		_, err := buildAll(ctx, s, f, pre)
		return err
	}
	if err := build("--eval_subnets=6"); err == nil || !strings.Contains(err.Error(), "--eval_subnets=6 gives 7 sampled subnets") ||
		!strings.Contains(err.Error(), "at least 10") {
		t.Errorf("--eval_subnets=6: %v", err)
	}
	if err := build("--samplers=uniform,bestup-3:predictor"); err == nil || !strings.Contains(err.Error(), "--samplers=bestup-3:predictor") ||
		!strings.Contains(err.Error(), stages.PredictorPath(out, "uniform")) || !strings.Contains(err.Error(), "attentivenas train --samplers") {
		t.Errorf("a predictor sampler in run on a fresh output: %v", err)
	}
	if err := build(); err != nil {
		t.Errorf("the tiny settings: %v", err)
	}
	// train alone: the uniform run has no checkpoint yet.
	_, s := beam.NewPipelineWithRoot()
	preOut := tinyOutput(t, dataDir, spaceFile, nil)
	err := buildTrain(ctx, s, parseNASFlags(t, tinyArgs(preOut, spaceFile, "--samplers=bestup-3:predictor")...))
	if err == nil || !strings.Contains(err.Error(), "has no checkpoint") {
		t.Errorf("train with a predictor sampler and no uniform run: %v", err)
	}
}

// TestTrainFlags: dropout and label smoothing default to the recipe's and
// can be set to 0; --change takes only the settings that may change.
func TestTrainFlags(t *testing.T) {
	ctx := context.Background()
	_, spaceFile := tinyInputs(t)
	for _, tc := range []struct {
		args            []string
		dropout, smooth float64
	}{
		{nil, trainer.DefaultDropout, trainer.DefaultLabelSmoothing},
		{[]string{"--dropout=0", "--label_smoothing=0"}, 0, 0},
		{[]string{"--dropout=0.3"}, 0.3, trainer.DefaultLabelSmoothing},
	} {
		f := parseNASFlags(t, tinyArgs(t.TempDir(), spaceFile, tc.args...)...)
		sp, js, err := f.loadSpaceJSON(ctx)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := trainJobs(ctx, f, sp, js, false)
		if err != nil {
			t.Fatal(err)
		}
		if j := jobs[0]; j.Dropout != tc.dropout || j.LabelSmoothing != tc.smooth {
			t.Errorf("%v: dropout %v, label smoothing %v; want %v, %v", tc.args, j.Dropout, j.LabelSmoothing, tc.dropout, tc.smooth)
		}
	}
	f := parseNASFlags(t, tinyArgs(t.TempDir(), spaceFile, "--change=lr, epochs")...)
	if got := f.changes(); len(got) != 2 || got[0] != "lr" || got[1] != "epochs" {
		t.Errorf("--change: %v", got)
	}
	for _, bad := range [][]string{{"--change=batch"}, {"--dropout=1"}, {"--label_smoothing=-0.1"}, {"--latency_box_ms=0"}} {
		g := &nasFlags{}
		fs := flag.NewFlagSet("nas", flag.ContinueOnError)
		g.register(fs)
		if err := fs.Parse(tinyArgs(t.TempDir(), spaceFile, bad...)); err != nil {
			t.Fatal(err)
		}
		if err := g.resolve(); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad[0], "=", 2)[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// TestCheckpointFlag: --checkpoint names one run's checkpoint; search uses
// it (its predictor is fitted on that checkpoint's evaluations and its
// shortlist evaluated there), and without it search takes the newest
// checkpoint and says what to do when that has no evaluations.
func TestCheckpointFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("trains, evaluates and searches")
	}
	ctx := context.Background()
	dataDir, spaceFile := tinyInputs(t)
	out := tinyOutput(t, dataDir, spaceFile, []string{"--epochs=2"}, "train")
	first := stages.CheckpointPath(out, "uniform", 1)
	var log bytes.Buffer
	if err := runEvaluate(ctx, &log, parseNASFlags(t, tinyArgs(out, spaceFile, "--epochs=2", "--checkpoint="+first)...)); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	_, s := beam.NewPipelineWithRoot()
	err := buildSearch(ctx, s, parseNASFlags(t, tinyArgs(out, spaceFile, "--epochs=2")...))
	if err == nil || !strings.Contains(err.Error(), "0 sampled evaluations") || !strings.Contains(err.Error(), "--checkpoint") ||
		!strings.Contains(err.Error(), first) {
		t.Fatalf("search on the newest checkpoint, never evaluated: %v", err)
	}
	if err := runSearch(ctx, &log, parseNASFlags(t, tinyArgs(out, spaceFile, "--epochs=2", "--checkpoint="+first)...)); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	preds, err := stages.ReadPredictors(ctx, out, "uniform")
	if err != nil || preds[0].Checkpoint != first {
		t.Fatalf("predictor of %v, %v; want %s", preds[0].Checkpoint, err, first)
	}
	rows, err := runEvals(ctx, out, "uniform")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Checkpoint != first {
			t.Errorf("%s evaluation of %s on %s", r.Origin, r.Arch, r.Checkpoint)
		}
	}
	// One checkpoint, two runs: which run it belongs to is unclear.
	_, s = beam.NewPipelineWithRoot()
	_, err = buildEvaluate(ctx, s, parseNASFlags(t, tinyArgs(out, spaceFile, "--samplers=uniform,bestup-3", "--checkpoint="+first)...))
	if err == nil || !strings.Contains(err.Error(), "is one run's checkpoint, but the command works on 2 runs") {
		t.Errorf("--checkpoint with two runs: %v", err)
	}
}

// TestSpaceArchKey: `space --arch` takes the arch as the tool prints it.
func TestSpaceArchKey(t *testing.T) {
	sp, err := loadSpace(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	key := sp.Min().Key()
	text, err := runCLI(t, nil, "space", "--arch="+key)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	var info archInfo
	if err := json.Unmarshal([]byte(strings.TrimSpace(text)), &info); err != nil || info.FLOPs != sp.FLOPs(sp.Min()) {
		t.Fatalf("space --arch=%s: %s (%v)", key, text, err)
	}
	if text, err := runCLI(t, nil, "space", "--arch=24-8-x"); err == nil || !strings.Contains(text, "24-8-8-...") {
		t.Errorf("a bad arch: %v\n%s", err, text)
	}
}

// TestJobLogsQuiet: while a job runs, the SDK's and prism's warnings and
// errors are held back; a failed job's are dropped (the command reports the
// failure once), a successful job's warnings are written when it ends.
func TestJobLogsQuiet(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer slog.SetDefault(prev)
	release := quietJobLogs()
	slog.Warn("split aborted")
	slog.Error("bundle failed")
	slog.With("stage", "s1").Warn("another")
	release(false)
	if buf.Len() > 0 {
		t.Fatalf("a failed job's logs leaked:\n%s", buf.String())
	}
	release = quietJobLogs()
	slog.Warn("worth knowing")
	slog.Error("retried bundle")
	if buf.Len() > 0 {
		t.Fatalf("logged while the job ran:\n%s", buf.String())
	}
	release(true)
	if s := buf.String(); !strings.Contains(s, "worth knowing") || strings.Contains(s, "retried bundle") {
		t.Fatalf("a successful job's logs:\n%s", s)
	}
	// A real failing job: nothing reaches the log.
	buf.Reset()
	p, s := beam.NewPipelineWithRoot()
	pqio.ReadGlob[schemas.Eval](s, filepath.Join(t.TempDir(), "none-*.parquet"))
	if _, err := runPipeline(context.Background(), &bytes.Buffer{}, "x", p, ""); err == nil {
		t.Fatal("the job did not fail")
	}
	if buf.Len() > 0 {
		t.Errorf("a failed job logged:\n%s", buf.String())
	}
}

// TestCommandCleansLeftovers: a command that writes an output first removes
// what interrupted writes left there, and says so.
func TestCommandCleansLeftovers(t *testing.T) {
	out := t.TempDir()
	left := []string{"dataset/.stats.parquet.tmp-0123", "runs/u/checkpoints/.epoch-0001.parquet.tmp-4", "evals/u/.pqio-tmp-sample/x.parquet"}
	for _, p := range left {
		os.MkdirAll(filepath.Dir(filepath.Join(out, p)), 0o755)
		if err := os.WriteFile(filepath.Join(out, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ran := false
	cmd := &command{name: "test", output: func() string { return out }, run: func(context.Context) error {
		ran = true
		return nil
	}}
	if err := runCommand(context.Background(), cmd); err != nil || !ran {
		t.Fatalf("ran %v, %v", ran, err)
	}
	for _, p := range left {
		if _, err := os.Stat(filepath.Join(out, p)); !os.IsNotExist(err) {
			t.Errorf("%s left behind", p)
		}
	}
}
