package predictor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRankByBin(t *testing.T) {
	// Bin 0 (flops < 10): estimate agrees with truth on all 3 pairs (tau 1).
	// Bin 1: estimate reverses truth (tau -1) on 1 pair... n=2, 1 pair.
	// Bin 2: a single item, below minN, skipped.
	flops := []int64{1, 5, 9, 12, 15, 25}
	est := []float64{0.1, 0.2, 0.3, 0.9, 0.1, 0.5}
	truth := []float64{0.5, 0.6, 0.7, 0.1, 0.8, 0.9}
	bins, pooled := RankByBin(flops, 10, est, truth, 2)
	if len(bins) != 2 || bins[0].Tau != 1 || bins[1].Tau != -1 || bins[0].N != 3 || bins[1].Lo != 10 {
		t.Fatalf("bins %+v", bins)
	}
	// weights 3 and 1 pairs: (3*1 + 1*(-1))/4 = 0.5
	if pooled != 0.5 {
		t.Fatalf("pooled %v, want 0.5", pooled)
	}
	if _, p := RankByBin(flops, 100, est, truth, 10); !math.IsNaN(p) {
		t.Fatalf("no qualifying bin: pooled %v, want NaN", p)
	}
}

func TestOutOfFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	X := make([][]float64, 60)
	y := make([]float64, 60)
	for i := range X {
		X[i] = []float64{float64(i), float64(i % 3)}
		y[i] = 2*float64(i) + 1
	}
	oof, err := OutOfFold(KindRidge, X, y, 5, Config{}, rng)
	if err != nil {
		t.Fatal(err)
	}
	// A linear truth is predicted well even for unseen pairs.
	if tau := KendallTau(oof, y); tau < 0.95 {
		t.Fatalf("out-of-fold tau %v", tau)
	}
	if _, err := OutOfFold(KindRidge, X, y, 1, Config{}, rng); err == nil {
		t.Fatal("1 fold accepted")
	}
}

func TestFitLatencyModel(t *testing.T) {
	flops := []int64{1e6, 2e6, 3e6, 5e6, 8e6}
	params := []int64{1e5, 4e5, 2e5, 3e5, 9e5}
	lat := make([]float64, len(flops))
	for i := range lat {
		lat[i] = 0.5 + 0.2*float64(flops[i])/1e6 + 3*float64(params[i])/1e6
	}
	m, err := FitLatencyModel(flops, params, lat)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.A-0.5) > 1e-9 || math.Abs(m.B-0.2) > 1e-9 || math.Abs(m.C-3) > 1e-9 {
		t.Fatalf("fitted %+v, want {0.5 0.2 3}", m)
	}
	if _, err := FitLatencyModel(flops[:2], params[:2], lat[:2]); err == nil {
		t.Fatal("2 points accepted")
	}
}

func TestAutoBinWidth(t *testing.T) {
	flops := make([]int64, 60)
	for i := range flops {
		flops[i] = 1_000_000 + int64(i)*200_000 // 1.0 .. 12.8 M
	}
	w := AutoBinWidth(flops, 10, 250_000)
	if w%250_000 != 0 || w < 1_750_000 || w > 2_250_000 {
		t.Fatalf("width %d, want a multiple of 250k near 11.8M/6", w)
	}
	bins, _ := RankByBin(flops, w, make([]float64, 60), make([]float64, 60), 5)
	n := 0
	for _, b := range bins {
		n += b.N
	}
	if len(bins) < 5 || n < 50 {
		t.Errorf("%d bins holding %d of 60 items with width %d", len(bins), n, w)
	}
	if got := AutoBinWidth(nil, 10, 250_000); got != 250_000 {
		t.Errorf("no items: width %d, want the step", got)
	}
	if got := AutoBinWidth([]int64{5, 5, 5}, 10, 1000); got != 1000 {
		t.Errorf("one value: width %d, want the step", got)
	}
}
