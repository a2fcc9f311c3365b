package predictor_test

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"github.com/attentivenas/attentivenas/nas/predictor"
	"github.com/attentivenas/attentivenas/nas/space"
)

// The predictor stage in miniature: encode evaluated subnets, compare the
// model kinds on held-out pairs, keep the best, serialise it, and use the
// decoded copy to score an architecture.
func Example() {
	data, err := os.ReadFile("../../configs/fmnist.json")
	if err != nil {
		log.Fatal(err)
	}
	sp, err := space.Parse(data, "configs/fmnist.json")
	if err != nil {
		log.Fatal(err)
	}
	enc, err := predictor.NewEncoder(sp, predictor.DefaultEncoderOptions())
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2)) // seeded from the job config
	var X [][]float64
	var y []float64
	for range 400 {
		a := sp.Random(rng)
		x, err := enc.Encode(a)
		if err != nil {
			log.Fatal(err)
		}
		// Stand-in for a real BN-recalibrated evaluation: accuracy grows
		// with log FLOPs, kernel 5 in the first stage helps, plus noise.
		acc := 0.85 + 0.01*math.Log(float64(sp.FLOPs(a))/1e6) + 0.003*rng.NormFloat64()
		if a.Kernels[0] == 5 {
			acc += 0.004
		}
		X, y = append(X, x), append(y, acc)
	}

	results, err := predictor.EvaluateAll(nil, X, y, predictor.Config{}, 0.25, rng)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Printf("%-13s held-out Kendall tau %.2f (fit %d, held out %d)\n",
			r.Report.Kind, r.Report.KendallTau, r.Report.Fit, r.Report.Holdout)
	}

	best := results[0].Model // refitted on all 400 pairs
	b, err := predictor.Marshal(best)
	if err != nil {
		log.Fatal(err)
	}
	m, err := predictor.Unmarshal(b)
	if err != nil {
		log.Fatal(err)
	}
	small, _ := enc.Encode(sp.Min())
	large, _ := enc.Encode(sp.Max())
	fmt.Println("round trip exact:", m.Predict(large) == best.Predict(large))
	fmt.Println("largest beats smallest:", m.Predict(large) > m.Predict(small))
	// Output:
	// random_forest held-out Kendall tau 0.61 (fit 300, held out 100)
	// gbt           held-out Kendall tau 0.60 (fit 300, held out 100)
	// ridge         held-out Kendall tau 0.59 (fit 300, held out 100)
	// round trip exact: true
	// largest beats smallest: true
}

// KendallTau on the five-element example of the tests: one pair discordant,
// one tied in b.
func ExampleKendallTau() {
	a := []float64{1, 2, 3, 4, 5}
	b := []float64{1, 3, 2, 5, 5}
	fmt.Printf("tau-b %.4f = 7/sqrt(90)\n", predictor.KendallTau(a, b))
	fmt.Printf("rho   %.4f = 8.5/sqrt(95)\n", predictor.Spearman(a, b))
	fmt.Println(predictor.KendallTau(a, a), predictor.KendallTau(a, []float64{5, 4, 3, 2, 1}))
	// Output:
	// tau-b 0.7379 = 7/sqrt(90)
	// rho   0.8721 = 8.5/sqrt(95)
	// 1 -1
}
