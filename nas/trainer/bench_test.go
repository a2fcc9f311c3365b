package trainer

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

func referenceSpace(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// BenchmarkSandwichStep is one uniform sandwich step (largest, two random
// middle, smallest subnets) at batch 128 on the reference space.
func BenchmarkSandwichStep(b *testing.B) {
	sp := referenceSpace(b)
	net := supernet.New(sp, 1)
	const B = 128
	tr, err := New(net, Config{Batch: B, Dropout: 0.2, LabelSmoothing: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, B*28*28)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, B)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	var build float64
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		mids := []space.Arch{sp.Random(rng), sp.Random(rng)}
		r, err := tr.Step(x, labels, mids, 0.05, uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		build += r.BuildSeconds
	}
	b.ReportMetric(float64(B*b.N)/time.Since(start).Seconds(), "images/s")
	b.ReportMetric(build/float64(b.N)*1e3, "build-ms/step")
}
