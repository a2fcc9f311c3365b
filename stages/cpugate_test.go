package stages

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestLatencyMeasuredAlone runs evaluations on two goroutines and a
// training job on a third, as a worker's bundles run in one process, and
// records every section of CPU work as it begins and ends: no latency
// measurement may overlap BN recalibration, evaluation or a training step.
func TestLatencyMeasuredAlone(t *testing.T) {
	out, ckpt, splits := trainedTiny(t)
	_, archs := tinyArchs(t)
	var mu sync.Mutex
	shared, exclusive := 0, 0
	seen := map[string]int{}
	var overlaps []string
	cpu.observe = func(kind string, begin bool) {
		mu.Lock()
		defer mu.Unlock()
		if begin {
			seen[kind]++
		}
		switch {
		case kind == "latency" && begin:
			if shared > 0 || exclusive > 0 {
				overlaps = append(overlaps, fmt.Sprintf("latency began with %d shared sections running", shared))
			}
			exclusive++
		case kind == "latency":
			exclusive--
		case begin:
			if exclusive > 0 {
				overlaps = append(overlaps, kind+" began during a latency measurement")
			}
			shared++
		default:
			shared--
		}
	}
	defer func() { cpu.observe = nil }()

	ctx := context.Background()
	fn := &evaluateFn{Space: tinySpace, Test: true, LatencyRuns: 5}
	if err := fn.load(ctx, []string{splits["calib"]}, []string{splits["val"]}, []string{splits["test"], splits["stats"]}); err != nil {
		t.Fatal(err)
	}
	net, err := fn.checkpoint(ctx, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(archs); i += 2 {
				if _, err := fn.evaluate(EvalJob{Run: "uniform", Checkpoint: ckpt, Vector: archs[i].Vector32()}, net, archs[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		job := tinyJob(out, "other", "uniform")
		job.Epochs = 1
		_, err := RunTrainJob(ctx, job, []string{filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")}, splits["stats"], discard{})
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(overlaps) > 0 {
		t.Fatalf("%d overlaps, e.g. %s", len(overlaps), overlaps[0])
	}
	if seen["latency"] != len(archs) || seen["evaluate"] != len(archs) || seen["train"] < 2 {
		t.Fatalf("sections seen %v: every evaluation, latency and training step must go through the gate", seen)
	}
}
