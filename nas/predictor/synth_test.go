package predictor

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/attentivenas/attentivenas/nas/space"
)

// loadReference parses the project's reference space, configs/fmnist.json.
func loadReference(tb testing.TB) *space.Space {
	tb.Helper()
	data, err := os.ReadFile("../../configs/fmnist.json")
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := space.Parse(data, "configs/fmnist.json")
	if err != nil {
		tb.Fatal(err)
	}
	return sp
}

// synthNoise is the standard deviation of the synthetic evaluation noise:
// top-1 on a 10,000-image held-out split at ~85% has a binomial standard
// error of sqrt(0.85*0.15/10000) = 0.0036, and BN recalibration on a few
// thousand images adds some more.
const synthNoise = 0.003

// synthTruth is the noiseless accuracy of a in the synthetic benchmark: a
// known function of the genes that real supernets resemble.
//
//   - 0.78 + 0.10*u, where u in [0,1] is log FLOPs normalised between the
//     smallest and the largest subnet: accuracy grows with log compute.
//   - Gene effects FLOPs does not explain, of the size of the noise:
//     kernel 5 in mb1 (+0.006, nearly free in FLOPs), expand 6 in mb4
//     (-0.005, costly yet unhelpful), and a narrow-but-deep last stage
//     (width 32 with depth 3 in mb4: -0.008, an interaction).
func synthTruth(sp *space.Space, a space.Arch) float64 {
	lo := math.Log(float64(sp.FLOPs(sp.Min())))
	hi := math.Log(float64(sp.FLOPs(sp.Max())))
	u := (math.Log(float64(sp.FLOPs(a))) - lo) / (hi - lo)
	acc := 0.87 + 0.04*u
	if a.Kernels[0] == 5 {
		acc += 0.004
	}
	if a.Expands[3] == 6 {
		acc -= 0.003
	}
	if a.Widths[3] == 32 && a.Depths[3] == 3 {
		acc -= 0.005
	}
	return acc
}

// synthData draws n uniform archs (as the reference's ~1,000 predictor
// pairs are) and returns their features, noisy accuracies, noiseless
// accuracies and FLOPs.
type synthSet struct {
	archs  []space.Arch
	X      [][]float64
	y      []float64 // measured: truth + N(0, synthNoise)
	truth  []float64
	mflops []float64
}

func synthData(tb testing.TB, enc *Encoder, n int, rng *rand.Rand) synthSet {
	tb.Helper()
	sp := enc.Space()
	var s synthSet
	for range n {
		a := sp.Random(rng)
		x, err := enc.Encode(a)
		if err != nil {
			tb.Fatal(err)
		}
		t := synthTruth(sp, a)
		s.archs = append(s.archs, a)
		s.X = append(s.X, x)
		s.truth = append(s.truth, t)
		s.y = append(s.y, t+synthNoise*rng.NormFloat64())
		s.mflops = append(s.mflops, float64(sp.FLOPs(a))/1e6)
	}
	return s
}
