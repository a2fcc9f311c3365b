package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fashionDir holds Debian's dataset-fashion-mnist (make data installs it).
const fashionDir = "/usr/share/datasets/fashion-mnist"

// TestFashionMNIST decodes the real files when they are installed.
func TestFashionMNIST(t *testing.T) {
	for _, tc := range []struct {
		prefix   string
		n        int
		perClass int
	}{
		{"train", 60000, 6000},
		{"t10k", 10000, 1000},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			imagesName := filepath.Join(fashionDir, tc.prefix+"-images-idx3-ubyte.gz")
			labelsName := filepath.Join(fashionDir, tc.prefix+"-labels-idx1-ubyte.gz")
			images, err := os.Open(imagesName)
			if os.IsNotExist(err) {
				t.Skipf("%s not installed", imagesName)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer images.Close()
			labels, err := os.Open(labelsName)
			if err != nil {
				t.Fatal(err)
			}
			defer labels.Close()

			d, err := DecodeIDX(images, labels, imagesName, labelsName, 10)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tc.n || d.Height != 28 || d.Width != 28 || d.Channels != 1 || len(d.Pixels) != tc.n*28*28 {
				t.Fatalf("%d images of %dx%dx%d", d.Len(), d.Height, d.Width, d.Channels)
			}
			var perClass [10]int
			for _, l := range d.Labels {
				perClass[l]++
			}
			for c, n := range perClass {
				if n != tc.perClass {
					t.Errorf("class %d has %d images, want %d", c, n, tc.perClass)
				}
			}
			var s ChannelStats
			if err := s.Add(d.Pixels, 1); err != nil {
				t.Fatal(err)
			}
			// Published train-set statistics: mean 0.2860, std 0.3530.
			if mean, std := s.Mean()[0], s.Std()[0]; tc.prefix == "train" && (math.Abs(float64(mean)-0.2860) > 1e-3 || math.Abs(float64(std)-0.3530) > 1e-3) {
				t.Errorf("mean %.4f std %.4f, want 0.2860 0.3530", mean, std)
			}
		})
	}
}
