package stages

import (
	"context"
	"fmt"
	"slices"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// loadSplit reads the examples of one split from shard files into memory,
// ordered by their source index (so the result does not depend on how the
// shards were cut). classes bounds the labels.
func loadSplit(ctx context.Context, paths []string, split string, classes int) (*data.Dataset, error) {
	var rows []schemas.Example
	for _, p := range slices.Sorted(slices.Values(paths)) {
		r, _, err := pqio.ReadFile[schemas.Example](ctx, p)
		if err != nil {
			return nil, err
		}
		for _, e := range r {
			if e.Split == split {
				rows = append(rows, e)
			}
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no %s examples in %d files %v", split, len(paths), paths)
	}
	slices.SortFunc(rows, func(a, b schemas.Example) int { return int(a.Index - b.Index) })
	first := rows[0]
	d := &data.Dataset{Height: int(first.Height), Width: int(first.Width), Channels: int(first.Channels), Classes: classes}
	size := d.Height * d.Width * d.Channels
	d.Pixels = make([]byte, 0, len(rows)*size)
	d.Labels = make([]uint8, 0, len(rows))
	for _, e := range rows {
		if int(e.Height) != d.Height || int(e.Width) != d.Width || int(e.Channels) != d.Channels || len(e.Pixels) != size {
			return nil, fmt.Errorf("%s example %d is %dx%dx%d with %d bytes, expected %dx%dx%d like the others",
				split, e.Index, e.Height, e.Width, e.Channels, len(e.Pixels), d.Height, d.Width, d.Channels)
		}
		if e.Label < 0 || int(e.Label) >= classes {
			return nil, fmt.Errorf("%s example %d has label %d outside [0,%d)", split, e.Index, e.Label, classes)
		}
		d.Pixels = append(d.Pixels, e.Pixels...)
		d.Labels = append(d.Labels, uint8(e.Label))
	}
	return d, nil
}

// loadStats reads dataset/stats.parquet and returns the train split's
// per-channel mean and std, the normalisation every stage applies.
func loadStats(ctx context.Context, path string) (mean, std []float32, err error) {
	rows, _, err := pqio.ReadFile[schemas.DatasetStats](ctx, path)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rows {
		if r.Split == string(data.SplitTrain) {
			mean, std = make([]float32, len(r.Mean)), make([]float32, len(r.Std))
			for i := range r.Mean {
				mean[i] = float32(r.Mean[i])
				std[i] = float32(max(r.Std[i], 1e-6)) // a constant channel must not divide by zero
			}
			return mean, std, nil
		}
	}
	return nil, nil, fmt.Errorf("%s has no train row", path)
}

// normalized returns every image of d normalised with mean and std, NHWC
// float32, and the labels as ints.
func normalized(d *data.Dataset, mean, std []float32) ([]float32, []int) {
	size := d.Height * d.Width * d.Channels
	x := make([]float32, d.Len()*size)
	labels := make([]int, d.Len())
	for i := range d.Len() {
		data.Normalize(x[i*size:(i+1)*size], d.Image(i), d.Channels, mean, std)
		labels[i] = int(d.Labels[i])
	}
	return x, labels
}
