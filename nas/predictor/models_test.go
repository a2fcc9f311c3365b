package predictor

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// predictAll returns m's predictions for the rows of X.
func predictAll(m Model, X [][]float64) []float64 {
	p := make([]float64, len(X))
	for i, x := range X {
		p[i] = m.Predict(x)
	}
	return p
}

// Held-out Kendall tau bounds on the synthetic benchmark (seed 1, 1,000 fit
// pairs, 2,000 fresh test pairs, default features and configs). Measured:
// random_forest 0.682, gbt 0.706, ridge 0.692; predicting the FLOPs rank
// alone gives 0.572 and the noiseless truth 0.719 (the ceiling the noise
// leaves). The bounds sit about 0.03 below the measurements.
var synthTauBounds = map[string]float64{KindForest: 0.65, KindGBT: 0.67, KindRidge: 0.66}

func TestModelsOnSyntheticData(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test; skipped with -short")
	}
	sp := loadReference(t)
	enc, err := NewEncoder(sp, DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 0))
	train := synthData(t, enc, 1000, rng)
	test := synthData(t, enc, 2000, rng)
	oracle := KendallTau(test.truth, test.y)
	flopsOnly := KendallTau(test.mflops, test.y)
	t.Logf("test set: noiseless truth tau %.3f, FLOPs-rank tau %.3f", oracle, flopsOnly)
	for _, kind := range Kinds() {
		m, err := Fit(kind, train.X, train.y, Config{}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		p := predictAll(m, test.X)
		tau := KendallTau(p, test.y)
		t.Logf("%-13s tau %.3f rho %.3f rmse %.4f r2 %.3f", kind, tau, Spearman(p, test.y), RMSE(test.y, p), R2(test.y, p))
		if tau < synthTauBounds[kind] {
			t.Errorf("%s: held-out tau %.3f, want >= %.2f", kind, tau, synthTauBounds[kind])
		}
		if tau < flopsOnly+0.05 {
			t.Errorf("%s: held-out tau %.3f is not clearly above the FLOPs rank's %.3f", kind, tau, flopsOnly)
		}
		if tau > oracle+0.02 {
			t.Errorf("%s: held-out tau %.3f beats the noiseless truth's %.3f: leak?", kind, tau, oracle)
		}
	}
}

// TestDerivedFeatures is the measurement behind DefaultEncoderOptions: the
// mean held-out tau of each kind over three seeds, per feature set.
func TestDerivedFeatures(t *testing.T) {
	if testing.Short() {
		t.Skip("convergence test; skipped with -short")
	}
	sp := loadReference(t)
	opts := []EncoderOptions{{}, {FLOPs: true}, {FLOPs: true, Params: true}}
	tau := map[EncoderOptions]map[string]float64{}
	for _, opt := range opts {
		enc, err := NewEncoder(sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		tau[opt] = map[string]float64{}
		for seed := uint64(1); seed <= 3; seed++ {
			rng := rand.New(rand.NewPCG(seed, 0)) // same archs and noise for every option
			train := synthData(t, enc, 1000, rng)
			test := synthData(t, enc, 2000, rng)
			for _, kind := range Kinds() {
				m, err := Fit(kind, train.X, train.y, Config{}, rand.New(rand.NewPCG(seed, 1)))
				if err != nil {
					t.Fatal(err)
				}
				tau[opt][kind] += KendallTau(predictAll(m, test.X), test.y) / 3
			}
		}
		t.Logf("%-20s forest %.3f  gbt %.3f  ridge %.3f", optString(opt),
			tau[opt][KindForest], tau[opt][KindGBT], tau[opt][KindRidge])
	}
	if gain := tau[opts[1]][KindForest] - tau[opts[0]][KindForest]; gain < 0.02 {
		t.Errorf("MFLOPs raises the forest's tau by %.3f only; revisit DefaultEncoderOptions", gain)
	}
}

func optString(o EncoderOptions) string {
	s := "genes"
	if o.FLOPs {
		s += "+mflops"
	}
	if o.Params {
		s += "+mparams"
	}
	return s
}

// smallSet is a quick synthetic training set for the non-convergence tests.
func smallSet(t testing.TB, n int, seed uint64) synthSet {
	sp := loadReference(t)
	enc, err := NewEncoder(sp, DefaultEncoderOptions())
	if err != nil {
		t.Fatal(err)
	}
	return synthData(t, enc, n, rand.New(rand.NewPCG(seed, 0)))
}

func TestFitDeterministic(t *testing.T) {
	s := smallSet(t, 300, 4)
	cfg := Config{Forest: ForestConfig{Trees: 20, MaxFeatures: 0.5}, GBT: GBTConfig{Rounds: 50}}
	fit := func(kind string, seed uint64, workers int) []byte {
		c := cfg
		c.Forest.Workers = workers
		m, err := Fit(kind, s.X, s.y, c, rand.New(rand.NewPCG(seed, 3)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, kind := range Kinds() {
		if !bytes.Equal(fit(kind, 1, 0), fit(kind, 1, 0)) {
			t.Errorf("%s: two fits with one seed differ", kind)
		}
	}
	ref := fit(KindForest, 1, 1)
	for _, w := range []int{2, 3, 8, 64} {
		if !bytes.Equal(ref, fit(KindForest, 1, w)) {
			t.Errorf("forest with %d workers differs from 1 worker", w)
		}
	}
	for _, kind := range []string{KindForest, KindGBT} {
		if bytes.Equal(fit(kind, 1, 0), fit(kind, 2, 0)) {
			t.Errorf("%s: seeds 1 and 2 give the same model", kind)
		}
	}
}

// TestRidgeRecoversAdditiveEffects: with no noise, no interactions and a tiny
// penalty, ridge on one-hot genes reproduces an additive target exactly.
func TestRidgeRecoversAdditiveEffects(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	effect := [][]float64{{0.1, -0.2, 0.05}, {0, 0.3}, {0.02, 0.01, -0.04}}
	levels := [][]float64{{24, 28, 32}, {3, 5}, {3, 4, 6}}
	draw := func() ([]float64, float64) {
		x := make([]float64, 4)
		yv := 0.8
		for j := range effect {
			k := rng.IntN(len(levels[j]))
			x[j] = levels[j][k]
			yv += effect[j][k]
		}
		x[3] = rng.Float64() * 10 // a continuous feature with a linear effect
		return x, yv + 0.003*x[3]
	}
	var X [][]float64
	var y []float64
	for range 200 {
		x, v := draw()
		X, y = append(X, x), append(y, v)
	}
	m, err := FitRidge(X, y, RidgeConfig{Lambda: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		x, v := draw()
		if got := m.Predict(x); math.Abs(got-v) > 1e-6 {
			t.Fatalf("Predict(%v) = %v, want %v", x, got, v)
		}
	}
	// Unseen values use the nearest seen level: 26 is nearer 24 (tie-free), 30 a tie (lower wins).
	a, b := m.Predict([]float64{24, 3, 3, 0}), m.Predict([]float64{25.9, 3, 3, 0})
	c, d := m.Predict([]float64{28, 3, 3, 0}), m.Predict([]float64{30, 3, 3, 0})
	if a != b || c != d {
		t.Errorf("nearest-level lookup: %v != %v or %v != %v", a, b, c, d)
	}
	// Leave-one-out picks the smallest penalty on noiseless data.
	auto, err := FitRidge(X, y, RidgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if auto.Lambda() != ridgeLambdas[0] {
		t.Errorf("leave-one-out chose lambda %v on noiseless data, want %v", auto.Lambda(), ridgeLambdas[0])
	}
}

// TestGBTFitsTrainingData: boosting drives the training error of a noiseless
// step function towards zero geometrically.
func TestGBTFitsTrainingData(t *testing.T) {
	X := column(1, 2, 3, 4, 5, 6, 7, 8)
	y := []float64{0, 0, 0, 1, 1, 1, 5, 5}
	m, err := FitGBT(X, y, GBTConfig{Rounds: 200, LearningRate: 0.1, Subsample: 1, MinSamplesLeaf: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r := RMSE(y, predictAll(m, X)); r > 1e-6 {
		t.Errorf("training RMSE %v after 200 rounds at 0.1", r)
	}
	if m.NumTrees() != 200 {
		t.Errorf("NumTrees = %d", m.NumTrees())
	}
}

func TestFitErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	X2 := [][]float64{{1, 2}, {3, 4}}
	cases := []struct {
		name string
		kind string
		X    [][]float64
		y    []float64
		cfg  Config
		want string
	}{
		{name: "unknown kind", kind: "mlp", X: X2, y: []float64{1, 2}, want: `unknown model kind "mlp"`},
		{name: "length mismatch", kind: KindForest, X: X2, y: []float64{1}, want: "2 feature rows but 1 targets"},
		{name: "one pair", kind: KindGBT, X: X2[:1], y: []float64{1}, want: "need at least 2"},
		{name: "no features", kind: KindRidge, X: [][]float64{{}, {}}, y: []float64{1, 2}, want: "0 features per row"},
		{name: "ragged", kind: KindForest, X: [][]float64{{1, 2}, {3}}, y: []float64{1, 2}, want: "row 1 has 1 features"},
		{name: "NaN feature", kind: KindForest, X: [][]float64{{1, 2}, {3, math.NaN()}}, y: []float64{1, 2}, want: "X[1][1] = NaN"},
		{name: "infinite target", kind: KindGBT, X: X2, y: []float64{1, math.Inf(1)}, want: "y[1] = +Inf"},
		{name: "negative trees", kind: KindForest, X: X2, y: []float64{1, 2}, cfg: Config{Forest: ForestConfig{Trees: -1}}, want: "Trees = -1"},
		{name: "fractional count", kind: KindForest, X: X2, y: []float64{1, 2}, cfg: Config{Forest: ForestConfig{MaxFeatures: 2.5}}, want: "MaxFeatures = 2.5"},
		{name: "NaN max features", kind: KindForest, X: X2, y: []float64{1, 2}, cfg: Config{Forest: ForestConfig{MaxFeatures: math.NaN()}}, want: "MaxFeatures = NaN"},
		{name: "learning rate", kind: KindGBT, X: X2, y: []float64{1, 2}, cfg: Config{GBT: GBTConfig{LearningRate: 2}}, want: "LearningRate = 2"},
		{name: "subsample", kind: KindGBT, X: X2, y: []float64{1, 2}, cfg: Config{GBT: GBTConfig{Subsample: -0.5}}, want: "Subsample = -0.5"},
		{name: "negative lambda", kind: KindRidge, X: X2, y: []float64{1, 2}, cfg: Config{Ridge: RidgeConfig{Lambda: -1}}, want: "Lambda = -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Fit(c.kind, c.X, c.y, c.cfg, rng)
			if err == nil || m != nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Fit = %v, %v; want nil and an error containing %q", m, err, c.want)
			}
		})
	}
}

// fittedModels fits one small model of each kind.
func fittedModels(t testing.TB) (synthSet, []Model) {
	s := smallSet(t, 200, 6)
	var ms []Model
	for _, kind := range Kinds() {
		m, err := Fit(kind, s.X, s.y, Config{Forest: ForestConfig{Trees: 10}, GBT: GBTConfig{Rounds: 30}}, rand.New(rand.NewPCG(6, 6)))
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind() != kind || m.NumFeatures() != 21 {
			t.Fatalf("Fit(%s) gave a %s of %d features", kind, m.Kind(), m.NumFeatures())
		}
		ms = append(ms, m)
	}
	return s, ms
}

func TestPredictContract(t *testing.T) {
	s, ms := fittedModels(t)
	for _, m := range ms {
		t.Run(m.Kind(), func(t *testing.T) {
			x := s.X[0]
			if n := testing.AllocsPerRun(100, func() { m.Predict(x) }); n != 0 {
				t.Errorf("Predict: %v allocations", n)
			}
			func() {
				defer func() {
					if r := recover(); r == nil || !strings.Contains(r.(string), "20 features, model expects 21") {
						t.Errorf("Predict with 20 features: recover() = %v", r)
					}
				}()
				m.Predict(x[:20])
			}()
			// PredictBatch gives the same bits, without allocating.
			batch := make([]float64, len(s.X))
			if err := PredictBatch(m, s.X, batch); err != nil {
				t.Fatal(err)
			}
			for i, x := range s.X {
				if got, want := batch[i], m.Predict(x); math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("PredictBatch row %d = %v, Predict %v", i, got, want)
				}
			}
			if n := testing.AllocsPerRun(10, func() { _ = PredictBatch(m, s.X, batch) }); n != 0 {
				t.Errorf("PredictBatch: %v allocations", n)
			}
			if err := PredictBatch(m, s.X, batch[1:]); err == nil {
				t.Error("PredictBatch with a short dst: no error")
			}
			if err := PredictBatch(m, [][]float64{x[:20]}, batch[:1]); err == nil || !strings.Contains(err.Error(), "row 0 has 20 features") {
				t.Errorf("PredictBatch with a short row: %v", err)
			}
			// Concurrent use gives the sequential answers (run with -race).
			want := predictAll(m, s.X)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for i, x := range s.X {
						if got := m.Predict(x); got != want[i] {
							t.Errorf("concurrent Predict(row %d) = %v, want %v", i, got, want[i])
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
