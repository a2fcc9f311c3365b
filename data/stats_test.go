package data

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestChannelStats(t *testing.T) {
	for _, tc := range []struct {
		name      string
		images    [][]byte // each added with Add
		channels  int
		mean, std []float32
	}{
		// Channel 0 sees 0 and 255 (mean 0.5, std 0.5); channel 1 sees 255 twice.
		{"two channels", [][]byte{{0, 255}, {255, 255}}, 2, []float32{0.5, 1}, []float32{0.5, 0}},
		// 51 is 0.2: values 0, 0.2, 0.4, 0.6 have mean 0.3 and variance 0.05.
		{"gray", [][]byte{{0, 51}, {102, 153}}, 1, []float32{0.3}, []float32{float32(math.Sqrt(0.05))}},
		{"RGB", [][]byte{{255, 0, 51, 255, 0, 51}}, 3, []float32{1, 0, 0.2}, []float32{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all, merged ChannelStats
			for _, img := range tc.images {
				if err := all.Add(img, tc.channels); err != nil {
					t.Fatal(err)
				}
				var one ChannelStats
				if err := one.Add(img, tc.channels); err != nil {
					t.Fatal(err)
				}
				if err := merged.Merge(one); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range []ChannelStats{all, merged} {
				if !near(s.Mean(), tc.mean) || !near(s.Std(), tc.std) {
					t.Errorf("mean %v std %v, want %v %v", s.Mean(), s.Std(), tc.mean, tc.std)
				}
			}
			js, err := json.Marshal(all)
			if err != nil {
				t.Fatal(err)
			}
			var back ChannelStats
			if err := json.Unmarshal(js, &back); err != nil || !reflect.DeepEqual(back, all) {
				t.Errorf("JSON round trip: %v, %+v", err, back)
			}
		})
	}
}

// near reports whether a and b agree within 1e-6.
func near(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Abs(float64(x-y)) < 1e-6 })
}

func TestChannelStatsErrors(t *testing.T) {
	gray := func() ChannelStats {
		var s ChannelStats
		s.Add([]byte{1}, 1)
		return s
	}
	for _, tc := range []struct {
		name string
		op   func(s *ChannelStats) error
	}{
		{"partial pixel", func(s *ChannelStats) error { return s.Add([]byte{1, 2}, 3) }},
		{"zero channels", func(s *ChannelStats) error { return s.Add(nil, 0) }},
		{"channels change", func(s *ChannelStats) error { return s.Add([]byte{1, 2, 3}, 3) }},
		{"merge other channels", func(s *ChannelStats) error {
			var rgb ChannelStats
			rgb.Add([]byte{1, 2, 3}, 3)
			return s.Merge(rgb)
		}},
		{"merge ragged", func(s *ChannelStats) error { return s.Merge(ChannelStats{Count: []int64{1}}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gray()
			if err := tc.op(&s); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pixels    []byte
		channels  int
		mean, std []float32
		want      []float32
	}{
		{"identity", []byte{0, 51, 255}, 1, []float32{0}, []float32{1}, []float32{0, 0.2, 1}},
		{"gray", []byte{0, 255}, 1, []float32{0.5}, []float32{0.25}, []float32{-2, 2}},
		// Per channel: (p/255 - mean[c]) / std[c], channels interleaved.
		{"two channels", []byte{0, 0, 255, 255}, 2, []float32{0, 1}, []float32{0.5, 2}, []float32{0, -0.5, 2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, len(tc.pixels))
			Normalize(dst, tc.pixels, tc.channels, tc.mean, tc.std)
			if !near(dst, tc.want) {
				t.Errorf("got %v, want %v", dst, tc.want)
			}
		})
	}
}

func TestNormalizePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a missing std")
		}
	}()
	Normalize(make([]float32, 2), []byte{1, 2}, 2, []float32{0, 0}, []float32{1})
}
