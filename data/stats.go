package data

import (
	"fmt"
	"math"
)

// ChannelStats accumulates per-channel pixel statistics over values scaled
// to [0, 1] (byte/255). The zero value is empty; the first Add or Merge fixes
// the number of channels. Its exported fields make it a JSON-serialisable
// Beam CombineFn accumulator: Add is AddInput, Merge is MergeAccumulators,
// Mean and Std are the output.
//
// See also [Normalize].
type ChannelStats struct {
	Count []int64   // pixels seen, per channel
	Sum   []float64 // sum of p/255, per channel
	SumSq []float64 // sum of (p/255)^2, per channel
}

// Add accumulates the pixels of images in interleaved (HWC) order with
// channels values per pixel. It fails if len(pixels) is not a multiple of
// channels or channels differs from earlier calls.
func (s *ChannelStats) Add(pixels []byte, channels int) error {
	if channels < 1 || len(pixels)%channels != 0 {
		return fmt.Errorf("data: ChannelStats.Add: %d bytes are not pixels of %d channels", len(pixels), channels)
	}
	if err := s.init(channels); err != nil {
		return err
	}
	// Integer sums are exact (and fast); uint64 holds 255^2 * 2^47.
	for c := range channels {
		var sum, sumSq uint64
		for i := c; i < len(pixels); i += channels {
			p := uint64(pixels[i])
			sum += p
			sumSq += p * p
		}
		s.Count[c] += int64(len(pixels) / channels)
		s.Sum[c] += float64(sum) / 255
		s.SumSq[c] += float64(sumSq) / (255 * 255)
	}
	return nil
}

// Merge adds the statistics of o to s. It fails if both are non-empty with
// different numbers of channels.
func (s *ChannelStats) Merge(o ChannelStats) error {
	if len(o.Count) == 0 {
		return nil
	}
	if len(o.Sum) != len(o.Count) || len(o.SumSq) != len(o.Count) {
		return fmt.Errorf("data: ChannelStats.Merge: %d counts, %d sums, %d sums of squares", len(o.Count), len(o.Sum), len(o.SumSq))
	}
	if err := s.init(len(o.Count)); err != nil {
		return err
	}
	for c := range s.Count {
		s.Count[c] += o.Count[c]
		s.Sum[c] += o.Sum[c]
		s.SumSq[c] += o.SumSq[c]
	}
	return nil
}

// init sizes an empty s for channels, or checks that s has that many.
func (s *ChannelStats) init(channels int) error {
	if len(s.Count) == 0 {
		s.Count, s.Sum, s.SumSq = make([]int64, channels), make([]float64, channels), make([]float64, channels)
	}
	if len(s.Count) != channels {
		return fmt.Errorf("data: ChannelStats: %d channels, earlier data had %d", channels, len(s.Count))
	}
	return nil
}

// Mean returns the per-channel mean in [0, 1] (NaN for a channel without pixels).
func (s *ChannelStats) Mean() []float32 {
	mean := make([]float32, len(s.Count))
	for c, n := range s.Count {
		mean[c] = float32(s.Sum[c] / float64(n))
	}
	return mean
}

// Std returns the per-channel population standard deviation, 0 for a
// constant channel (callers of [Normalize] must then substitute a positive value).
func (s *ChannelStats) Std() []float32 {
	std := make([]float32, len(s.Count))
	for c, n := range s.Count {
		mean := s.Sum[c] / float64(n)
		std[c] = float32(math.Sqrt(max(0, s.SumSq[c]/float64(n)-mean*mean)))
	}
	return std
}

// Normalize writes (p/255 - mean[c]) / std[c] for each byte p of pixels (HWC
// order, channels values per pixel, c the channel of p) to dst. mean and std
// are typically a [ChannelStats]' Mean and Std over the train split. It panics
// if len(dst) != len(pixels), len(pixels) is not a multiple of channels, or
// len(mean) or len(std) is not channels.
//
// See also [Augment], which takes its output.
func Normalize(dst []float32, pixels []byte, channels int, mean, std []float32) {
	if channels < 1 || len(dst) != len(pixels) || len(pixels)%channels != 0 || len(mean) != channels || len(std) != channels {
		panic(fmt.Sprintf("data: Normalize: %d outputs, %d pixels, %d channels, %d means, %d stds",
			len(dst), len(pixels), channels, len(mean), len(std)))
	}
	for i, p := range pixels {
		c := i % channels
		dst[i] = (float32(p)/255 - mean[c]) / std[c]
	}
}
