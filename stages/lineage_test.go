package stages

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// TestPredictorUsesOneCheckpoint: in a staged workflow a run's evaluations
// mix checkpoints and phases. The predictor is fitted on the sampled
// evaluations (min, max, random) of the chosen checkpoint only, one row
// per arch, the rank study scores that checkpoint, and the predictor
// records its lineage; the search evaluates its shortlist on it.
func TestPredictorUsesOneCheckpoint(t *testing.T) {
	_, ckpt, splits := trainedTiny(t)
	sp, archs := tinyArchs(t)
	rows, _ := evalPipeline(t, ckpt, splits, archs)
	older := strings.Replace(ckpt, "epoch-0002", "epoch-0001", 1) // exists, must not be loaded
	missing := strings.Replace(ckpt, "epoch-0002", "epoch-0099", 1)
	var mixed []schemas.Eval
	for i, r := range rows {
		mixed = append(mixed, r)
		o := r
		o.Checkpoint, o.Top1 = missing, 1-r.Top1 // another checkpoint: a different measurement
		mixed = append(mixed, o)
		if i%3 == 0 { // the shortlist of an earlier search, and user archs, on the chosen checkpoint
			s := r
			s.Origin, s.Top1 = schemas.OriginSearch, 0.99
			u := r
			u.Origin, u.Top1 = schemas.OriginUser, 0.01
			mixed = append(mixed, s, u)
		}
	}
	ctx := context.Background()
	out := t.TempDir()
	cfg := PredictorConfig{Output: out, Space: tinySpace, Seed: 1, Kinds: []string{"ridge"}, BinWidth: 20_000, Batch: 32,
		Checkpoints: map[string]string{"uniform": ckpt}}
	if _, err := FitRunPredictors(ctx, "uniform", mixed, []string{splits["calib"]}, splits["stats"], cfg); err != nil {
		t.Fatal(err)
	}
	preds, err := ReadPredictors(ctx, out, "uniform")
	if err != nil {
		t.Fatal(err)
	}
	id, err := pqio.FileID(ctx, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	p := preds[0]
	if p.Fit+p.Holdout != int64(len(archs)) || p.Checkpoint != ckpt || p.CheckpointID != id || p.Origins != "min,max,random" {
		t.Fatalf("predictor fitted on %d+%d rows of %s (%s, origins %q); want the %d sampled rows of %s (%s)",
			p.Fit, p.Holdout, p.Checkpoint, p.CheckpointID, p.Origins, len(archs), ckpt, id)
	}
	rq, err := ReadRankQuality(ctx, out, "uniform")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rq { // bins of fewer than 5 subnets are left out of the pooled count
		if r.Bin == -1 && (r.N < 5 || r.N > int64(len(archs))) {
			t.Errorf("rank study over %d subnets, want at most the %d of the checkpoint", r.N, len(archs))
		}
	}
	// The same rows with another checkpoint chosen: fitted on those.
	cfg.Checkpoints["uniform"] = older
	if _, err := FitRunPredictors(ctx, "uniform", mixed, []string{splits["calib"]}, splits["stats"], cfg); err == nil ||
		!strings.Contains(err.Error(), "0 sampled evaluations") || !strings.Contains(err.Error(), "--checkpoint") {
		t.Fatalf("a checkpoint without evaluations: %v", err)
	}

	// The search evaluates its shortlist on the chosen checkpoint; an arch
	// evaluated only on another checkpoint is not "done".
	sc := SearchConfig{Output: out, Space: tinySpace, Seed: 2, Population: 8, Mutations: 4, Crossovers: 4, Generations: 3,
		BucketWidth: 20_000, Checkpoints: map[string]string{"uniform": ckpt}}
	var onOther []schemas.Eval
	for _, r := range mixed {
		if r.Checkpoint == missing {
			onOther = append(onOther, r)
		}
	}
	onOther = append(onOther, rows[0])
	jobs, err := SearchRun(ctx, "uniform", onOther, sc, discard{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 {
		t.Fatal("empty shortlist: archs evaluated on another checkpoint were taken as done")
	}
	for _, j := range jobs {
		a, _ := sp.ArchFromVector32(j.Vector)
		if j.Checkpoint != ckpt || a.Key() == rows[0].Arch {
			t.Fatalf("shortlist job %+v", j)
		}
	}
}

// TestPredictorEvalsDedup: duplicates of an arch on the chosen checkpoint
// are one measurement; the kept row is the most specific origin's.
func TestPredictorEvalsDedup(t *testing.T) {
	var rows []schemas.Eval
	for i := range 12 {
		rows = append(rows, schemas.Eval{Run: "u", Checkpoint: "c", Arch: string(rune('a' + i)), Origin: schemas.OriginRandom, Top1: 0.5})
	}
	rows = append(rows, schemas.Eval{Run: "u", Checkpoint: "c", Arch: "a", Origin: schemas.OriginMin, Top1: 0.5, Seed: 7},
		schemas.Eval{Run: "u", Checkpoint: "old", Arch: "a", Origin: schemas.OriginMin, Top1: 0.9})
	got, err := PredictorEvals("u", "c", rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || got[0].Arch != "a" || got[0].Origin != schemas.OriginMin || got[0].Seed != 7 {
		t.Fatalf("kept %d rows, first %+v", len(got), got[0])
	}
}

// TestPredictorLineage: a predictor guides training only when it was
// fitted on the evaluations of the checkpoint it is asked for, as that
// file is now; otherwise the error says how to refit it.
func TestPredictorLineage(t *testing.T) {
	out, ckpt, splits := trainedTiny(t)
	sp, archs := tinyArchs(t)
	rows, _ := evalPipeline(t, ckpt, splits, archs)
	ctx := context.Background()
	if _, err := PredictorLineage(ctx, out, "uniform", ckpt, sp); !errors.Is(err, sampler.ErrNoPredictor) ||
		!strings.Contains(err.Error(), "attentivenas search --runs=uniform") {
		t.Fatalf("no predictor yet: %v", err)
	}
	cfg := PredictorConfig{Output: out, Space: tinySpace, Seed: 1, Kinds: []string{"ridge"}, BinWidth: 20_000, Batch: 32,
		Checkpoints: map[string]string{"uniform": ckpt}}
	if _, err := FitRunPredictors(ctx, "uniform", rows, []string{splits["calib"]}, splits["stats"], cfg); err != nil {
		t.Fatal(err)
	}
	if p, err := PredictorLineage(ctx, out, "uniform", ckpt, sp); err != nil || p != PredictorPath(out, "uniform") {
		t.Fatalf("current predictor: %q, %v", p, err)
	}
	other := CheckpointPath(out, "uniform", 1)
	if _, err := PredictorLineage(ctx, out, "uniform", other, sp); err == nil || !strings.Contains(err.Error(), "not of "+other) {
		t.Fatalf("another checkpoint: %v", err)
	}
	ref, err := space.Parse(configs.FMNIST, "fmnist")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PredictorLineage(ctx, out, "uniform", ckpt, ref); err == nil || !strings.Contains(err.Error(), "search space") {
		t.Fatalf("another space: %v", err)
	}
	// The run trained again: a new file at the same path.
	net, st, err := LoadSupernet(ctx, ckpt, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveCheckpoint(ctx, ckpt, net, st); err != nil {
		t.Fatal(err)
	}
	if _, err := PredictorLineage(ctx, out, "uniform", ckpt, sp); err == nil || !strings.Contains(err.Error(), "trained again") {
		t.Fatalf("retrained checkpoint: %v", err)
	}
}

// TestPredictSurfacesEncodeErrors: an arch the predictor cannot encode is
// an error, never a score of 0.
func TestPredictSurfacesEncodeErrors(t *testing.T) {
	out, ckpt, splits := trainedTiny(t)
	sp, archs := tinyArchs(t)
	rows, _ := evalPipeline(t, ckpt, splits, archs)
	ctx := context.Background()
	cfg := PredictorConfig{Output: out, Space: tinySpace, Seed: 1, Kinds: []string{"ridge"}, BinWidth: 20_000, Batch: 32,
		Checkpoints: map[string]string{"uniform": ckpt}}
	if _, err := FitRunPredictors(ctx, "uniform", rows, []string{splits["calib"]}, splits["stats"], cfg); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPredictor(ctx, PredictorPath(out, "uniform"), sp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(archs[0]); err != nil {
		t.Fatal(err)
	}
	ref, _ := space.Parse(configs.FMNIST, "fmnist")
	foreign := ref.Max() // 19 numbers: not an arch of the tiny space
	if v, err := p.Predict(foreign); err == nil {
		t.Fatalf("an arch of another space scored %v without an error", v)
	}
	if _, err := (predictorEstimator{p}).Estimate([]space.Arch{archs[0], foreign}); err == nil {
		t.Fatal("the estimator hid the encode error")
	}
}
