package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/vet"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// TestRegistered builds each command's pipeline as the command does and
// runs the SDK's vet evaluation on it: it fails unless every DoFn,
// CombineFn, function, emitter, iterator and type in the graph is
// registered, which remote workers (Dataflow) need and which makes every
// call reflection-free. Add a row per command that runs a pipeline.
func TestRegistered(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, s beam.Scope) error // adds the command's pipeline to s
	}{
		{"preprocess", func(t *testing.T, s beam.Scope) error {
			dir := t.TempDir()
			writeTinyIDX(t, dir)
			cfg := parsePreprocessFlags(t, "--data="+dir, "--output="+t.TempDir(), "--val=2", "--calib=1")
			_, err := buildPreprocess(s, cfg)
			return err
		}},
		{"run", func(t *testing.T, s beam.Scope) error {
			dir := t.TempDir()
			writeIDX(t, dir, 28, 40, 8)
			f := parseNASFlags(t, "--output="+t.TempDir())
			pre := parsePreprocessFlags(t, "--data="+dir, "--output="+f.output, "--val=10", "--calib=5")
			_, err := buildAll(ctx, s, f, pre)
			return err
		}},
		{"train", func(t *testing.T, s beam.Scope) error {
			return buildTrain(ctx, s, parseNASFlags(t, "--output="+fakeOutput(t)))
		}},
		{"evaluate", func(t *testing.T, s beam.Scope) error {
			_, err := buildEvaluate(ctx, s, parseNASFlags(t, "--output="+fakeOutput(t)))
			return err
		}},
		{"search", func(t *testing.T, s beam.Scope) error {
			return buildSearch(ctx, s, parseNASFlags(t, "--output="+fakeOutput(t)))
		}},
		{"pareto", func(t *testing.T, s beam.Scope) error {
			return buildPareto(ctx, s, parseNASFlags(t, "--output="+fakeOutput(t)))
		}},
		{"export", buildExportForVet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			if err := tc.build(t, s); err != nil {
				t.Fatal(err)
			}
			e, err := vet.Evaluate(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Performant() {
				_, err := vet.Execute(context.Background(), p) // the same evaluation, with its diagnostics
				t.Fatalf("%s: unregistered functions or types (RequiresRegistrations %v, UsesDefaultReflectionShims %v):\n%v",
					tc.name, e.RequiresRegistrations(), e.UsesDefaultReflectionShims(), err)
			}
		})
	}
}

// parseNASFlags parses args with the NAS commands' flags and resolves the
// preset, as the commands do.
func parseNASFlags(t *testing.T, args ...string) *nasFlags {
	t.Helper()
	f := &nasFlags{}
	fs := flag.NewFlagSet("nas", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := f.resolve(); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeOutput commits, with almost no rows, the artifacts the disk-reading
// commands check while they build their pipelines: a dataset, the training
// state of two runs, and ten sampled evaluations of each run's checkpoint.
func fakeOutput(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	out := t.TempDir()
	commit := func(dir, set string, stage func(w *pqio.SetWriter) error) {
		t.Helper()
		w, err := pqio.NewSetWriter(ctx, dir, set, true, nil)
		if err == nil {
			err = stage(w)
		}
		if err == nil {
			_, err = w.Commit(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	commit(out, stages.DatasetSet, func(w *pqio.SetWriter) error {
		for _, split := range []string{"train", "calib", "val", "test"} {
			if err := pqio.WriteSetFile(ctx, w, "examples/"+split+"-00000-of-00001.parquet", []schemas.Example{}); err != nil {
				return err
			}
		}
		return pqio.WriteSetFile(ctx, w, "dataset/stats.parquet", []schemas.DatasetStats{})
	})
	for _, run := range []string{"uniform", "bestup-3"} {
		commit(stages.JoinPath(out, "runs/"+run), stages.TrainSet, func(w *pqio.SetWriter) error {
			if err := pqio.WriteSetFile(ctx, w, "checkpoints/epoch-0001.parquet", []schemas.Tensor{}); err != nil {
				return err
			}
			return pqio.WriteSetFile(ctx, w, "train_log.parquet", []schemas.TrainStep{})
		})
		var rows []schemas.Eval
		for i := range stages.MinPredictorEvals {
			rows = append(rows, schemas.Eval{Run: run, Checkpoint: stages.CheckpointPath(out, run, 1), Arch: fmt.Sprint(i), Origin: schemas.OriginRandom})
		}
		commit(evalsDir(out, run), "sample", func(w *pqio.SetWriter) error {
			return pqio.WriteSetFile(ctx, w, "sample-00000-of-00001.parquet", rows)
		})
	}
	return out
}

// writeIDX writes an IDX dataset of ntrain and ntest size x size images.
func writeIDX(t *testing.T, dir string, size, ntrain, ntest int) {
	t.Helper()
	for _, side := range []struct {
		prefix string
		n      int
	}{{"train", ntrain}, {"t10k", ntest}} {
		d := &data.Dataset{Height: size, Width: size, Channels: 1, Classes: 10}
		for i := range side.n {
			for p := range size * size {
				d.Pixels = append(d.Pixels, byte(i*7+p))
			}
			d.Labels = append(d.Labels, uint8(i%10))
		}
		var im, lb bytes.Buffer
		if err := data.EncodeIDX(&im, &lb, d); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{side.prefix + "-images-idx3-ubyte": im.Bytes(), side.prefix + "-labels-idx1-ubyte": lb.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
