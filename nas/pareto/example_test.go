package pareto_test

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/pareto"
)

// Example compares two runs on the same space: their fronts, their
// hypervolumes against the space-normalised reference, and their best
// accuracy per FLOPs bucket. Costs are MACs per image; the space's smallest
// and largest subnets cost 1 and 5 MMACs. For uniform, the normalised front
// is (0, 0.80), (0.375, 0.84), (1, 0.88), so its hypervolume is
// 0.375*0.80 + 0.625*0.84 = 0.825.
func Example() {
	const minFLOPs, maxFLOPs = 1e6, 5e6
	runs := []struct {
		name  string
		evals []pareto.Point // (FLOPs, top-1, row)
	}{
		{"uniform", []pareto.Point{{Cost: 1e6, Value: 0.80, ID: 0}, {Cost: 2.5e6, Value: 0.84, ID: 1}, {Cost: 3e6, Value: 0.83, ID: 2}, {Cost: 5e6, Value: 0.88, ID: 3}}},
		{"bestup-3", []pareto.Point{{Cost: 1e6, Value: 0.81, ID: 0}, {Cost: 2.5e6, Value: 0.86, ID: 1}, {Cost: 3.5e6, Value: 0.87, ID: 2}, {Cost: 5e6, Value: 0.89, ID: 3}}},
	}
	for _, r := range runs {
		front := pareto.Front(r.evals)
		norm, err := pareto.NormalizeCost(front, minFLOPs, maxFLOPs)
		if err != nil {
			panic(err)
		}
		buckets, err := pareto.BestPerBucket(r.evals, 2e6)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-8s front rows %v, hypervolume %.4f, best per 2-MMAC bucket:", r.name, ids(front), pareto.Hypervolume(norm, pareto.UnitRef()))
		for _, b := range buckets {
			fmt.Printf(" [%.0fM,%.0fM) %.2f", b.Lo/1e6, b.Hi/1e6, b.Best.Value)
		}
		fmt.Println()
	}
	// Output:
	// uniform  front rows [0 1 3], hypervolume 0.8250, best per 2-MMAC bucket: [0M,2M) 0.80 [2M,4M) 0.84 [4M,6M) 0.88
	// bestup-3 front rows [0 1 2 3], hypervolume 0.8450, best per 2-MMAC bucket: [0M,2M) 0.81 [2M,4M) 0.87 [4M,6M) 0.89
}

func ids(ps []pareto.Point) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}
