package kernels_test

import (
	"fmt"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// A 1x1 convolution of two pixels with 2 input channels to 3 output channels,
// using the leading 2x3 block of a max-shape weight W[CinMax=3, CoutMax=4].
func ExampleGemm() {
	x := []float32{ // [M=2, cin=2]
		1, 2,
		3, 4,
	}
	w := []float32{ // [CinMax=3, CoutMax=4]; the subnet uses w[:2, :3]
		1, 0, 1, 9,
		0, 1, 1, 9,
		9, 9, 9, 9,
	}
	y := make([]float32, 2*3) // [M=2, cout=3]
	kernels.Gemm(false, false, 2, 3, 2, 1, x, 2, w, 4, 0, y, 3)
	fmt.Println(y)
	// Output: [1 2 3 3 4 7]
}

// Training-mode BatchNorm (batch statistics, no activation) over 4 rows of
// one channel.
func ExampleBNTrainForward() {
	x := []float32{1, 2, 3, 4}
	y := make([]float32, 4)
	mean, invstd := make([]float32, 1), make([]float32, 1)
	kernels.BNTrainForward(y, x, 4, 1, []float32{1}, []float32{0}, 0, kernels.ActNone, mean, invstd)
	fmt.Printf("mean %.2f var %.2f y %.3f\n", mean[0], 1/(invstd[0]*invstd[0]), y)
	// Output: mean 2.50 var 1.25 y [-1.342 -0.447 0.447 1.342]
}
