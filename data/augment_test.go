package data

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// img23 is a 2x3 image with two channels: pixel (y, x) holds 10*(3y+x)+1 and
// 10*(3y+x)+2, so every value shows where it came from.
var img23 = []float32{
	1, 2, 11, 12, 21, 22,
	31, 32, 41, 42, 51, 52,
}

func TestFlipShift(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flip   bool
		dx, dy int
		want   []float32
	}{
		{"identity", false, 0, 0, img23},
		{"flip", true, 0, 0, []float32{21, 22, 11, 12, 1, 2, 51, 52, 41, 42, 31, 32}},
		// dx = 1: dst(y, x) = src(y, x+1), the right column is filled with 0.
		{"shift x", false, 1, 0, []float32{11, 12, 21, 22, 0, 0, 41, 42, 51, 52, 0, 0}},
		{"shift -x", false, -1, 0, []float32{0, 0, 1, 2, 11, 12, 0, 0, 31, 32, 41, 42}},
		{"shift y", false, 0, 1, []float32{31, 32, 41, 42, 51, 52, 0, 0, 0, 0, 0, 0}},
		{"shift -y", false, 0, -1, []float32{0, 0, 0, 0, 0, 0, 1, 2, 11, 12, 21, 22}},
		// Flip, then shift the flipped image by dx = 1.
		{"flip and shift", true, 1, 0, []float32{11, 12, 1, 2, 0, 0, 41, 42, 31, 32, 0, 0}},
		{"shifted out", false, 3, 0, make([]float32, 12)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := slices.Repeat([]float32{-1}, 12)
			flipShift(dst, img23, 2, 3, 2, tc.flip, tc.dx, tc.dy)
			if !slices.Equal(dst, tc.want) {
				t.Errorf("got %v, want %v", dst, tc.want)
			}
		})
	}
}

func TestAugment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       AugmentConfig
		outcomes  int // distinct results over many draws
		identical bool
	}{
		{"off", AugmentConfig{}, 1, true},
		{"negative shift is off", AugmentConfig{MaxShift: -2}, 1, true},
		{"flip", AugmentConfig{Flip: true}, 2, false},
		{"shift 1", AugmentConfig{MaxShift: 1}, 9, false},
		{"flip and shift 1", AugmentConfig{Flip: true, MaxShift: 1}, 18, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			replay := rand.New(rand.NewPCG(1, 2))
			seen := map[[12]float32]bool{}
			for range 500 {
				dst := make([]float32, 12)
				Augment(dst, img23, 2, 3, 2, rng, tc.cfg)
				seen[[12]float32(dst)] = true
				again := make([]float32, 12)
				Augment(again, img23, 2, 3, 2, replay, tc.cfg)
				if !slices.Equal(dst, again) {
					t.Fatal("same rng state, different result")
				}
				if tc.identical && !slices.Equal(dst, img23) {
					t.Fatalf("got %v, want a copy", dst)
				}
			}
			if len(seen) != tc.outcomes {
				t.Errorf("%d distinct results, want %d", len(seen), tc.outcomes)
			}
		})
	}
}

func TestAugmentPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a short dst")
		}
	}()
	Augment(make([]float32, 11), img23, 2, 3, 2, rand.New(rand.NewPCG(1, 2)), AugmentConfig{})
}
