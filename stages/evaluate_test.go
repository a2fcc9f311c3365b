package stages

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// writeSplit writes n examples of the tiny problem (see
// writeTrainArtifacts) as the given split's only shard.
func writeSplit(t *testing.T, out, split string, n int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([]schemas.Example, n)
	for i := range rows {
		label := rng.IntN(3)
		px := make([]byte, 64)
		for j := range px {
			px[j] = byte(rng.IntN(60))
		}
		for dy := range 3 {
			for dx := range 3 {
				px[(2+dy)*8+3*label+dx-min(label, 1)] = 230
			}
		}
		rows[i] = schemas.Example{Split: split, Index: int64(i), Label: int32(label), Height: 8, Width: 8, Channels: 1, Pixels: px}
	}
	p := filepath.Join(examplesDir(out), split+"-00000-of-00001.parquet")
	if err := pqio.WriteFile(context.Background(), p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

// trainedTiny trains a tiny supernet for the evaluation tests and returns
// its output root, checkpoint and splits.
func trainedTiny(t *testing.T) (out, ckpt string, splits map[string]string) {
	t.Helper()
	out = t.TempDir()
	shards, stats := writeTrainArtifacts(t, out, 320)
	job := tinyJob(out, "uniform", "uniform")
	res, err := RunTrainJob(context.Background(), job, shards, stats, discard{})
	if err != nil {
		t.Fatal(err)
	}
	splits = map[string]string{
		"calib": writeSplit(t, out, "calib", 64, 11),
		"val":   writeSplit(t, out, "val", 96, 12),
		"test":  writeSplit(t, out, "test", 48, 13),
		"stats": stats,
	}
	return out, res.Checkpoint, splits
}

func tinyArchs(t *testing.T) (*space.Space, []space.Arch) {
	t.Helper()
	sp, err := space.Parse([]byte(tinySpace), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	// Every arch of the tiny space: 2 widths x 2 depths x 2 expands x 2 heads.
	var archs []space.Arch
	for _, w := range []int{8, 16} {
		for _, d := range []int{1, 2} {
			for _, e := range []int{2, 3} {
				for _, h := range []int{16, 24} {
					a, err := sp.ArchFromVector([]int{8, 8, w, h, d, 3, e})
					if err != nil {
						t.Fatal(err)
					}
					archs = append(archs, a)
				}
			}
		}
	}
	return sp, archs
}

func evalPipeline(t *testing.T, ckpt string, splits map[string]string, archs []space.Arch) ([]schemas.Eval, int64) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	var jobs []EvalJob
	for _, a := range archs {
		jobs = append(jobs, EvalJob{Run: "uniform", Checkpoint: ckpt, Vector: a.Vector32(), Origin: schemas.OriginRandom, Seed: 1})
	}
	rows := Evaluate(s, beam.CreateList(s, jobs), EvalSplits{
		Calib: beam.Create(s, splits["calib"]), Val: beam.Create(s, splits["val"]),
		Test: beam.Create(s, splits["test"]), Stats: beam.Create(s, splits["stats"]),
	}, beam.PCollection{}, EvaluateConfig{Space: tinySpace, Test: true, LatencyRuns: 3})
	out := t.TempDir()
	pqio.Write[schemas.Eval](s, out, "evals", rows)
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := pqio.ReadFile[schemas.Eval](context.Background(), filepath.Join(out, "evals-00000-of-00001.parquet"))
	if err != nil {
		// several shards
		paths, _ := pqio.Glob(context.Background(), filepath.Join(out, "evals-*.parquet"))
		got = nil
		for _, p := range paths {
			r, _, err := pqio.ReadFile[schemas.Eval](context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r...)
		}
	}
	slices.SortFunc(got, func(a, b schemas.Eval) int { return int(a.FLOPs-b.FLOPs)*1000 + cmpKey(a.Arch, b.Arch) })
	return got, nsCounter(pr, "evaluate", "checkpoint_loads")
}

func nsCounter(pr beam.PipelineResult, ns, name string) int64 {
	var sum int64
	q := pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == ns && r.Name() == name })
	for _, c := range q.Counters() {
		sum += c.Result()
	}
	return sum
}

func cmpKey(a, b string) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// TestEvaluateStage evaluates every subnet of the tiny space: one row per
// subnet, identical on a re-run, the checkpoint loaded once per worker.
func TestEvaluateStage(t *testing.T) {
	_, ckpt, splits := trainedTiny(t)
	sp, archs := tinyArchs(t)
	rows, loads := evalPipeline(t, ckpt, splits, archs)
	if len(rows) != len(archs) {
		t.Fatalf("%d rows for %d archs", len(rows), len(archs))
	}
	if loads < 1 || loads >= int64(len(archs))/2 {
		t.Fatalf("checkpoint loaded %d times for %d subnets: expected once per worker", loads, len(archs))
	}
	better := 0
	for _, r := range rows {
		a, err := sp.ArchFromVector32(r.Vector)
		if err != nil {
			t.Fatal(err)
		}
		if r.FLOPs != sp.FLOPs(a) || r.Params != sp.Params(a) || r.Arch != a.Key() || r.Checkpoint != ckpt {
			t.Fatalf("identity columns wrong: %+v", r)
		}
		if r.EvalImages != 96 || r.CalibImages != 64 || r.TestImages != 48 || r.Top1 < 0 || r.Top1 > 1 ||
			math.IsNaN(r.Loss) || r.LatencyMs <= 0 || r.LatencyThreads < 1 {
			t.Fatalf("measurements wrong: %+v", r)
		}
		if r.Top1 > 0.5 {
			better++
		}
	}
	if better < len(rows)/2 {
		t.Errorf("only %d of %d subnets beat 50%% on a 3-class problem the supernet learned", better, len(rows))
	}
	again, _ := evalPipeline(t, ckpt, splits, archs)
	for i := range rows {
		a, b := rows[i], again[i]
		if a.Arch != b.Arch || a.Top1 != b.Top1 || a.Loss != b.Loss || a.TestTop1 != b.TestTop1 {
			t.Fatalf("re-run differs:\n%+v\n%+v", a, b)
		}
	}

	// Predictor and search on these evaluations.
	out := t.TempDir()
	ctx := context.Background()
	cfg := PredictorConfig{Output: out, Space: tinySpace, Seed: 1, Kinds: []string{"ridge", "gbt"}, BinWidth: 20_000, Batch: 32,
		Checkpoints: map[string]string{"uniform": ckpt}}
	pp, err := FitRunPredictors(ctx, "uniform", rows, []string{splits["calib"]}, splits["stats"], cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pp != PredictorPath(out, "uniform") {
		t.Fatalf("predictor file %s", pp)
	}
	prows, err := ReadPredictors(ctx, out, "uniform")
	if err != nil || len(prows) != 2 {
		t.Fatalf("predictor rows %d, %v", len(prows), err)
	}
	selected := 0
	for _, r := range prows {
		if r.Selected {
			selected++
		}
		if r.Holdout < 1 || r.Fit < 1 || math.IsNaN(r.RMSE) {
			t.Fatalf("predictor metrics %+v", r)
		}
	}
	if selected != 1 {
		t.Fatalf("%d selected predictors", selected)
	}
	rq, err := ReadRankQuality(ctx, out, "uniform")
	if err != nil || len(rq) < 2 {
		t.Fatalf("rank quality: %d rows, %v", len(rq), err)
	}
	for _, maxParams := range []int64{0, sp.Params(archs[len(archs)/2])} {
		sc := SearchConfig{Output: out, Space: tinySpace, Seed: 2, Population: 8, Mutations: 4, Crossovers: 4,
			Generations: 3, BucketWidth: 20_000, MaxParams: maxParams, Checkpoints: map[string]string{"uniform": ckpt}}
		// One subnet evaluated: the shortlist's jobs are the archs not
		// evaluated yet (the whole space evaluated gives none; below).
		half := rows[:1]
		evaluated := map[string]bool{}
		for _, r := range half {
			evaluated[r.Arch] = true
		}
		jobs, err := SearchRun(ctx, "uniform", half, sc, discard{})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			t.Fatal("empty shortlist")
		}
		for _, j := range jobs {
			a, err := sp.ArchFromVector32(j.Vector)
			if err != nil {
				t.Fatalf("search proposed an invalid arch: %v", err)
			}
			if evaluated[a.Key()] {
				t.Fatalf("search asked to evaluate %v again", a)
			}
			if maxParams > 0 && sp.Params(a) > maxParams {
				t.Fatalf("search proposed %v with %d params over the budget %d", a, sp.Params(a), maxParams)
			}
			if j.Origin != schemas.OriginSearch || j.Checkpoint != ckpt {
				t.Fatalf("job %+v", j)
			}
		}
		if jobs, err := SearchRun(ctx, "uniform", rows, sc, discard{}); err != nil || len(jobs) != 0 {
			t.Fatalf("every subnet evaluated: %d jobs, %v", len(jobs), err)
		}
	}
}
