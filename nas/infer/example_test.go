package infer_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// images returns n stand-in normalised 28x28x1 images and labels (a real
// job reads the calibration and validation splits of the dataset).
func images(n int, seed uint64) ([]float32, []int) {
	r := rand.New(rand.NewPCG(seed, 0))
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(10)
	}
	return x, y
}

// Example evaluates the smallest subnet of the reference space the way
// ALGORITHM.md section 7 prescribes: recalibrate its BN statistics, fold
// them into a standalone model, evaluate it, export it and load it back.
func Example() {
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		panic(err)
	}
	sn := supernet.New(sp, 1) // a trained checkpoint in real use
	arch := sp.Min()

	calib, _ := images(512, 1)
	stats, err := infer.Recalibrate(sn, arch, calib, infer.RecalConfig{})
	if err != nil {
		panic(err)
	}
	m, err := infer.Fold(sn, arch, stats)
	if err != nil {
		panic(err)
	}
	val, labels := images(1000, 2)
	res, err := infer.Evaluate(m, val, labels, infer.EvalConfig{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(stats.Layers), stats.Layers[0].Name, "BN layers recalibrated over", stats.Images, "images")
	fmt.Println(res.Images, "images evaluated at", m.FLOPs(), "MACs per image")

	rows, meta := m.Tensors(), m.MetaJSON() // a Parquet file's rows and key-value metadata
	back, err := infer.LoadModel(rows, meta)
	if err != nil {
		panic(err)
	}
	again, _ := infer.Evaluate(back, val, labels, infer.EvalConfig{})
	fmt.Println(len(rows), "tensors; the loaded model agrees:", again == res)
	// Output:
	// 13 stem.bn BN layers recalibrated over 512 images
	// 1000 images evaluated at 729248 MACs per image
	// 41 tensors; the loaded model agrees: true
}

// ExampleMinibatchLoss scores attentive-sampling candidates on a training
// minibatch (lower is better).
func ExampleMinibatchLoss() {
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		panic(err)
	}
	sn := supernet.New(sp, 1)
	est := infer.NewMinibatchLoss(sn)
	x, y := images(64, 3)
	est.SetBatch(x, y, 64) // once per training step
	r := rand.New(rand.NewPCG(4, 0))
	scores, err := est.Estimate([]space.Arch{sp.Random(r), sp.Random(r), sp.Random(r)})
	if err != nil {
		panic(err)
	}
	fmt.Println(est.Name(), len(scores), est.HigherIsBetter())
	// Output:
	// minibatch_loss 3 false
}
