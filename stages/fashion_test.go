package stages

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/trainer"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// fashionDir holds Debian's dataset-fashion-mnist (make data installs it).
const fashionDir = "/usr/share/datasets/fashion-mnist"

func loadFashionTrain(t *testing.T) *data.Dataset {
	t.Helper()
	open := func(name string) *gzip.Reader {
		f, err := os.Open(filepath.Join(fashionDir, name))
		if err != nil {
			t.Skip("Fashion-MNIST not installed (make data):", err)
		}
		t.Cleanup(func() { f.Close() })
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		return z
	}
	d, err := data.DecodeIDX(open("train-images-idx3-ubyte.gz"), open("train-labels-idx1-ubyte.gz"), "train-images", "train-labels", 10)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSandwichBestUpLearnsFashionMNIST trains the reference space's
// supernet on real Fashion-MNIST through the train stage's body, with the
// sandwich rule and BestUp-3 attentive sampling (minibatch-loss
// estimator), for 300 steps of 24 images; then, after BN recalibration,
// the largest and the smallest subnets must both be far above chance on
// held-out images, and both losses must have fallen.
func TestSandwichBestUpLearnsFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for about a minute")
	}
	d := loadFashionTrain(t)
	ctx := context.Background()
	out := t.TempDir()
	const nTrain = 7200 // one epoch of 300 steps of 24
	rows := make([]schemas.Example, nTrain)
	var st data.ChannelStats
	for i := range rows {
		if err := st.Add(d.Image(i), 1); err != nil {
			t.Fatal(err)
		}
		rows[i] = schemas.Example{Split: "train", Index: int64(i), Label: int32(d.Labels[i]), Height: 28, Width: 28, Channels: 1, Pixels: d.Image(i)}
	}
	shard := filepath.Join(examplesDir(out), "train-00000-of-00001.parquet")
	if err := pqio.WriteFile(ctx, shard, rows); err != nil {
		t.Fatal(err)
	}
	mean, std := st.Mean(), st.Std()
	stats := []schemas.DatasetStats{{Split: "train", Images: nTrain, Height: 28, Width: 28, Channels: 1, Classes: 10,
		Mean: []float64{float64(mean[0])}, Std: []float64{float64(std[0])}, ClassCounts: []int64{}}}
	if err := pqio.WriteFile(ctx, statsPath(out), stats); err != nil {
		t.Fatal(err)
	}
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	job := TrainJob{Run: "bestup-3", Output: out, Space: string(sp.JSON()), Sampler: "bestup-3", Seed: 1, Epochs: 1, Batch: 24,
		LR: 0.025, Shift: 2, Dropout: trainer.DefaultDropout, LabelSmoothing: trainer.DefaultLabelSmoothing, ProgressSeconds: 3600}
	res, err := RunTrainJob(ctx, job, []string{shard}, statsPath(out), discard{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := ReadTrainLog(ctx, out, job.Run)
	if err != nil || len(log) != 300 {
		t.Fatalf("train log: %d steps, %v", len(log), err)
	}
	mean20 := func(rs []schemas.TrainStep, f func(schemas.TrainStep) float64) float64 {
		var s float64
		for _, r := range rs {
			s += f(r)
		}
		return s / float64(len(rs))
	}
	lmax := func(r schemas.TrainStep) float64 { return r.LossMax }
	lmin := func(r schemas.TrainStep) float64 { return r.LossMin }
	maxFirst, maxLast := mean20(log[:20], lmax), mean20(log[280:], lmax)
	minFirst, minLast := mean20(log[:20], lmin), mean20(log[280:], lmin)
	chosen := 0
	for _, r := range log {
		for _, c := range r.CandidateChosen {
			if c {
				chosen++
			}
		}
	}

	net, _, err := LoadSupernet(ctx, res.Checkpoint, sp)
	if err != nil {
		t.Fatal(err)
	}
	norm := func(lo, hi int) ([]float32, []int) {
		x := make([]float32, (hi-lo)*784)
		y := make([]int, hi-lo)
		for i := lo; i < hi; i++ {
			data.Normalize(x[(i-lo)*784:(i-lo+1)*784], d.Image(i), 1, mean, std)
			y[i-lo] = int(d.Labels[i])
		}
		return x, y
	}
	calib, _ := norm(50000, 51000) // images the job never trained on
	valX, valY := norm(51000, 53000)
	top1 := map[string]float64{}
	for name, a := range map[string]space.Arch{"largest": sp.Max(), "smallest": sp.Min()} {
		r, _, err := infer.EvaluateSubnet(net, a, calib, valX, valY, infer.RecalConfig{}, infer.EvalConfig{})
		if err != nil {
			t.Fatal(err)
		}
		top1[name] = r.Top1
	}
	t.Logf("300 BestUp-3 sandwich steps of 24 (%.0f img/s): largest loss %.3f -> %.3f, val top-1 %.3f; smallest loss %.3f -> %.3f, val top-1 %.3f; %d attentive choices",
		24*300/res.Seconds, maxFirst, maxLast, top1["largest"], minFirst, minLast, top1["smallest"], chosen)
	if chosen != 600 {
		t.Errorf("%d attentive choices logged, want 2 per step", chosen)
	}
	if !(maxLast < 0.7*maxFirst) || !(minLast < 0.7*minFirst) {
		t.Errorf("the losses did not fall: largest %.3f -> %.3f, smallest %.3f -> %.3f", maxFirst, maxLast, minFirst, minLast)
	}
	for name, v := range top1 {
		if v < 0.5 { // 5x chance; this seed gives about 0.65 and 0.59
			t.Errorf("the %s subnet's held-out top-1 is %.3f: expected far above chance (0.1)", name, v)
		}
	}
}
