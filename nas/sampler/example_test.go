package sampler_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
)

// Example builds the FLOPs prior of the reference space, parses a flag
// value into a sampler, and makes one BestUp-3 draw with a stand-in
// predictor that prefers wide stages.
func Example() {
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		panic(err)
	}
	prior, err := sampler.BuildPrior(sp, sampler.PriorConfig{}, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		panic(err)
	}
	widths := func(a space.Arch) float64 { // stand-in for a trained predictor
		s := 0
		for _, w := range a.Widths {
			s += w
		}
		return float64(s)
	}
	est, err := sampler.NewPredictorEstimator(widths)
	if err != nil {
		panic(err)
	}
	spec, err := sampler.Parse("bestup-3:predictor")
	if err != nil {
		panic(err)
	}
	smp, err := sampler.New(spec, sp, prior, est)
	if err != nil {
		panic(err)
	}

	d, err := smp.Sample(rand.New(rand.NewPCG(2, 0)))
	if err != nil {
		panic(err)
	}
	widest := true
	for _, c := range d.Candidates {
		widest = widest && c.Score <= d.Candidates[d.Chosen].Score
	}
	fmt.Println("sampler:", smp.Name())
	fmt.Println("candidates:", len(d.Candidates))
	fmt.Println("chosen is in the target bin:", prior.BinOf(d.FLOPs) == d.Bin)
	fmt.Println("chosen has the highest predicted score:", widest)
	fmt.Println("prior samples:", prior.Samples(), "bin width (MACs):", prior.BinWidth())
	// Output:
	// sampler: bestup-3:predictor
	// candidates: 3
	// chosen is in the target bin: true
	// chosen has the highest predicted score: true
	// prior samples: 10000 bin width (MACs): 500000
}

// ExampleParse shows the flag forms a sampler spec accepts.
func ExampleParse() {
	for _, flag := range []string{"uniform", "bestup-3", "WorstUp-50", "bestup-3:predictor", "bestup-0"} {
		spec, err := sampler.Parse(flag)
		if err != nil {
			fmt.Printf("%-20q error\n", flag)
			continue
		}
		fmt.Printf("%-20q mode=%v k=%d estimator=%q\n", flag, spec.Mode, spec.K, spec.EstimatorName())
	}
	// Output:
	// "uniform"            mode=uniform k=0 estimator=""
	// "bestup-3"           mode=bestup k=3 estimator="minibatch_loss"
	// "WorstUp-50"         mode=worstup k=50 estimator="minibatch_loss"
	// "bestup-3:predictor" mode=bestup k=3 estimator="predictor"
	// "bestup-0"           error
}
