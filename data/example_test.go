package data_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/attentivenas/attentivenas/data"
)

// Decode an IDX pair, split it, compute statistics over the train split and
// turn an image into an augmented network input.
func Example() {
	// Two 2x2 images with labels 3 and 1, written with EncodeIDX (the
	// preprocess stage reads train-images-idx3-ubyte.gz and friends instead).
	var images, labels bytes.Buffer
	err := data.EncodeIDX(&images, &labels, &data.Dataset{
		Height: 2, Width: 2, Channels: 1, Classes: 10,
		Pixels: []byte{0, 51, 102, 153, 204, 255, 255, 255},
		Labels: []uint8{3, 1},
	})
	if err != nil {
		panic(err)
	}
	ds, err := data.DecodeIDX(&images, &labels, "images.idx", "labels.idx", 10)
	if err != nil {
		panic(err)
	}
	fmt.Println(ds.Len(), "images of", ds.Height, "x", ds.Width, "labels", ds.Labels)

	splitter, err := data.NewSplitter(ds.Len(), 1, 0, 42)
	if err != nil {
		panic(err)
	}
	var stats data.ChannelStats
	for i := range ds.Len() {
		split := splitter.Split(i)
		fmt.Println("image", i, "is", split)
		if split == data.SplitTrain {
			if err := stats.Add(ds.Image(i), ds.Channels); err != nil {
				panic(err)
			}
		}
	}
	fmt.Printf("mean %.3f std %.3f\n", stats.Mean()[0], stats.Std()[0])

	x := make([]float32, 4)
	data.Normalize(x, ds.Image(0), 1, []float32{0.5}, []float32{0.25})
	fmt.Printf("normalised %.1f\n", x)
	aug := make([]float32, 4)
	data.Augment(aug, x, 2, 2, 1, rand.New(rand.NewPCG(2, 2)), data.AugmentConfig{Flip: true})
	fmt.Printf("augmented  %.1f\n", aug)
	// Output:
	// 2 images of 2 x 2 labels [3 1]
	// image 0 is train
	// image 1 is val
	// mean 0.300 std 0.224
	// normalised [-2.0 -1.2 -0.4 0.4]
	// augmented  [-1.2 -2.0 0.4 -0.4]
}

// Errors name the file, the record and the field.
func ExampleFormatError() {
	labels := []byte{
		0, 0, 8, 1, // IDX magic: uint8, 1 dimension
		0, 0, 0, 2, // 2 labels
		3, 57, // the second is not a Fashion-MNIST class
	}
	images := []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}
	_, err := data.DecodeIDX(bytes.NewReader(images), bytes.NewReader(labels), "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 10)
	fmt.Println(err)
	// Output:
	// data: train-labels-idx1-ubyte.gz: label at record 1: 57 out of range [0,10)
}
