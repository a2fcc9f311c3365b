package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/data"
)

// tinyRunSpaceJSON is a search space for 8x8 grayscale images and 3
// classes whose subnets resize (resolutions 8, 10 and 12), so an exported
// model's graph resamples its input; its stride-2 stages pool odd and even
// maps.
const tinyRunSpaceJSON = `{
  "name": "tiny-run",
  "input": {"channels": 1, "height": 8, "width": 8},
  "classes": 3,
  "resolutions": [8, 10, 12],
  "first_conv": {"c": [8], "k": 3, "s": 1},
  "stages": [
    {"name": "s1", "c": [8, 16], "d": [1, 2], "k": [3, 5], "t": [2, 3], "s": 2, "se": true},
    {"name": "s2", "c": [16, 24], "d": [1], "k": [3], "t": [1], "s": 2, "se": false}
  ],
  "last_conv": {"c": [16, 24], "expand": 2},
  "activation": "hswish"
}`

// tinyRun is what runTinyPipeline ran and where its outputs are.
type tinyRun struct {
	out, data  string
	runs       []string
	epochs     int
	evalImages int // val images per evaluation
	testImages int // test images per evaluation
	sampled    int // subnets evaluated per run before the search (eval_subnets + min and max)
	test       *data.Dataset
	log        string
}

// runTinyPipeline runs the whole pipeline, as `attentivenas run` does, on a
// tiny dataset (writePatchIDX: 8x8 images of 3 classes, 400 train-side and
// 60 test images) and tinyRunSpaceJSON: two samplers, one epoch, 10
// stratified subnets, a short search. It takes about half a minute on 2
// cores. The outputs live in a temporary directory of t.
func runTinyPipeline(t *testing.T) *tinyRun {
	t.Helper()
	ctx := context.Background()
	r := &tinyRun{out: t.TempDir(), data: t.TempDir(), runs: []string{"uniform", "bestup-3"}, epochs: 1, evalImages: 80, testImages: 30, sampled: 12}
	r.test = writePatchIDX(t, r.data, 400, 60)
	spaceFile := filepath.Join(t.TempDir(), "tiny-run.json")
	if err := os.WriteFile(spaceFile, []byte(tinyRunSpaceJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	f := parseNASFlags(t, "--output="+r.out, "--space="+spaceFile, "--samplers=uniform,bestup-3", "--epochs=1", "--batch=16", "--lr=0.2",
		"--eval_subnets=10", "--prior_bin=20000", "--calib_images=40", "--eval_images=80", "--test_images=30", "--latency_runs=2", "--shift=0",
		"--population=16", "--mutations=8", "--crossovers=8", "--generations=2", "--bucket=20000")
	pre := parsePreprocessFlags(t, "--data="+r.data, "--output="+r.out, "--val=96", "--calib=64", "--classes=3")
	var log bytes.Buffer
	start := time.Now()
	if err := runAll(ctx, &log, f, pre); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	r.log = log.String()
	t.Logf("tiny run: %v", time.Since(start).Round(time.Millisecond))
	return r
}
