package predictor

import (
	"math/rand/v2"
	"testing"
)

// The benchmark data: 1,000 synthetic pairs of the reference space with the
// default features (21), the reference predictor's training-set size.
func benchSet(b *testing.B) synthSet {
	b.Helper()
	return smallSet(b, 1000, 11)
}

// BenchmarkFit fits each kind with its defaults on 1,000 pairs; the forest
// is the reference's 100 trees of depth 15 (on all cores; see also
// BenchmarkFitForestOneWorker).
func BenchmarkFit(b *testing.B) {
	s := benchSet(b)
	for _, kind := range Kinds() {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(kind, s.X, s.y, Config{}, rand.New(rand.NewPCG(1, 1))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFitForestOneWorker(b *testing.B) {
	s := benchSet(b)
	for b.Loop() {
		if _, err := FitForest(s.X, s.y, ForestConfig{Workers: 1}, rand.New(rand.NewPCG(1, 1))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict is the cost of scoring one architecture, features given.
func BenchmarkPredict(b *testing.B) {
	s := benchSet(b)
	for _, kind := range Kinds() {
		m, err := Fit(kind, s.X, s.y, Config{}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			var sink float64
			for b.Loop() {
				sink += m.Predict(s.X[i])
				i = (i + 1) % len(s.X)
			}
			_ = sink
		})
	}
}

// BenchmarkPredictBatch scores the 1,000 training rows in one call; ns/op
// is per row.
func BenchmarkPredictBatch(b *testing.B) {
	s := benchSet(b)
	dst := make([]float64, len(s.X))
	for _, kind := range Kinds() {
		m, err := Fit(kind, s.X, s.y, Config{}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := PredictBatch(m, s.X, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(s.X)), "ns/row")
		})
	}
}

// BenchmarkEncode is the cost of turning an Arch into features: with the
// costs supplied, and with EncodeInto laying out the subnet itself.
func BenchmarkEncode(b *testing.B) {
	s := benchSet(b)
	sp := loadReference(b)
	enc, err := NewEncoder(sp, DefaultEncoderOptions())
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, enc.NumFeatures())
	b.Run("with_costs", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a := s.archs[i]
			_ = enc.EncodeWithCosts(dst, a, 1, 1)
			i = (i + 1) % len(s.archs)
		}
	})
	b.Run("plan", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = enc.EncodeInto(dst, s.archs[i])
			i = (i + 1) % len(s.archs)
		}
	})
}

func BenchmarkKendallTau(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float64, 1000), make([]float64, 1000)
	for i := range x {
		x[i] = rng.Float64()
		y[i] = x[i] + rng.NormFloat64()
	}
	for b.Loop() {
		KendallTau(x, y)
	}
}
