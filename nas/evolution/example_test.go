package evolution_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/evolution"
	"github.com/attentivenas/attentivenas/nas/space"
)

// Example runs a scaled-down search of the reference space under a FLOPs
// window and a params budget. The fitness is a stand-in for the accuracy
// predictor that rewards resolution and depth: its maximum, 2.1 (r 32 and
// depths 2, 3, 3, 3), is reached in every bucket that can hold it.
func Example() {
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		panic(err)
	}
	cfg := evolution.DefaultConfig()
	cfg.Population, cfg.Mutations, cfg.Crossovers, cfg.Generations = 64, 16, 16, 4
	cfg.MinFLOPs, cfg.MaxFLOPs = 2_000_000, 6_000_000 // MACs per image
	cfg.MaxParams = 200_000
	cfg.BucketWidth = 1_000_000

	predictor := func(archs []space.Arch) ([]float64, error) {
		out := make([]float64, len(archs))
		for i, a := range archs {
			out[i] = float64(a.Resolution) / 32
			for _, d := range a.Depths {
				out[i] += float64(d) / 10
			}
		}
		return out, nil
	}
	res, err := evolution.Search(sp, cfg, predictor, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		panic(err)
	}
	inside := true
	for _, c := range res.Evaluated {
		inside = inside && c.FLOPs >= cfg.MinFLOPs && c.FLOPs <= cfg.MaxFLOPs && c.Params <= cfg.MaxParams
	}
	fmt.Println("generations:", len(res.Generations))
	fmt.Println("every scored arch inside the constraints:", inside)
	for _, c := range res.Archive {
		fmt.Printf("bucket %d MMACs: fitness %.3f\n", c.FLOPs/cfg.BucketWidth, c.Fitness)
	}
	// Output:
	// generations: 5
	// every scored arch inside the constraints: true
	// bucket 2 MMACs: fitness 1.900
	// bucket 3 MMACs: fitness 2.100
	// bucket 4 MMACs: fitness 2.100
	// bucket 5 MMACs: fitness 2.100
}
