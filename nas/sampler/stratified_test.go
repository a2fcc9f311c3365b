package sampler

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/space"
)

func TestStratifiedCoversBins(t *testing.T) {
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	prior, err := BuildPrior(sp, PriorConfig{}, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	n := 3 * len(prior.Bins())
	archs, err := Stratified(prior, n, rand.New(rand.NewPCG(2, 0)), 0)
	if err != nil {
		t.Fatal(err)
	}
	perBin := map[int]int{}
	seen := map[string]bool{}
	for _, a := range archs {
		if err := sp.Validate(a); err != nil {
			t.Fatal(err)
		}
		if seen[a.Key()] {
			t.Fatalf("duplicate arch %v", a)
		}
		seen[a.Key()] = true
		perBin[prior.BinOf(sp.FLOPs(a))]++
	}
	// Every bin with enough distinct archs gets its share: the lowest and
	// highest bins are covered although uniform sampling rarely hits them.
	for _, b := range prior.Bins() {
		if perBin[b.Index] == 0 {
			t.Errorf("bin %d [%d,%d) has no arch", b.Index, b.Lo, b.Hi)
		}
	}
	again, _ := Stratified(prior, n, rand.New(rand.NewPCG(2, 0)), 0)
	for i := range archs {
		if !archs[i].Equal(again[i]) {
			t.Fatal("not deterministic for a seed")
		}
	}
}

func TestStratifiedInfeasible(t *testing.T) {
	// A space of two archs, one bin: three distinct archs cannot exist.
	tiny, err := space.Parse([]byte(`{"name":"t","input":{"channels":1,"height":8,"width":8},"classes":2,"resolutions":[8],
	  "first_conv":{"c":[8],"k":3,"s":1},"stages":[{"name":"s","c":[8],"d":[1],"k":[3],"t":[1, 2],"s":1,"se":false}],
	  "last_conv":{"c":[8],"expand":1},"activation":"relu"}`), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := BuildPrior(tiny, PriorConfig{BinWidth: 1 << 40, Samples: 20}, rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Stratified(tp, 3, rand.New(rand.NewPCG(1, 0)), 50); !errors.Is(err, ErrInfeasible) || len(got) != 2 {
		t.Fatalf("got %d archs, %v; want the 2 that exist and ErrInfeasible", len(got), err)
	}
}
