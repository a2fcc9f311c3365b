package trainer

import (
	"compress/gzip"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/nastest"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

func randomBatch(rng *rand.Rand, B, size, classes int) ([]float32, []int) {
	x := nastest.Rand32(rng, B*size, -1.5, 1.5)
	labels := make([]int, B)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

// perturb moves every weight a little, so zero-initialised BN gammas do not
// hide layers from the comparisons below.
func perturb(net *supernet.Supernet, rng *rand.Rand) {
	for _, p := range net.Params {
		for i := range p.W {
			p.W[i] += float32(0.1 * rng.NormFloat64())
		}
	}
}

// TestGraphMatchesInfer: the gorgonia training graph and the plain-Go
// forward of nas/infer (BN in batch-statistics mode on the same batch)
// compute the same logits, for subnets covering every resolution, the
// smallest and largest, and random ones.
func TestGraphMatchesInfer(t *testing.T) {
	sp := referenceSpace(t)
	rng := nastest.NewRand(3)
	net := supernet.New(sp, 1)
	perturb(net, rng)
	const B = 6
	x, labels := randomBatch(rng, B, 28*28, sp.Classes)
	eng := infer.NewEngine(net)
	archs := []space.Arch{sp.Min(), sp.Max()}
	for range 4 {
		archs = append(archs, sp.Random(rng))
	}
	for _, a := range archs {
		g, err := BuildGraph(net, a, B, GraphOptions{})
		if err != nil {
			t.Fatal(err)
		}
		xr := x
		if r := a.Resolution; r != 28 {
			xr = make([]float32, B*r*r)
			kernels.ResizeBilinear(xr, x, B, 28, 28, 1, r, r)
		}
		if _, err := g.Run(xr, labels, 0, nil, 0); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, B*sp.Classes)
		if err := eng.Forward(want, x, B, a, nil); err != nil {
			t.Fatal(err)
		}
		nastest.Close32(t, a.String(), g.Logits(), nastest.To64(want), nastest.Tol32)
		g.Close()
		net.ZeroGrad()
	}
}

// TestStepDeterministic: two trainers from the same seed, fed the same
// batches, end with bit-identical weights, even when the second one's
// arenas and gradient buffers are filled with NaN before every step (no
// layer may read a window before writing it).
func TestStepDeterministic(t *testing.T) {
	sp := referenceSpace(t)
	const B = 16
	run := func(poison bool) []float32 {
		net := supernet.New(sp, 9)
		tr, err := New(net, Config{Batch: B, Dropout: 0.2, LabelSmoothing: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		rng := nastest.NewRand(4)
		for step := range 3 {
			if poison {
				poisonEngine(tr.e)
			}
			x, labels := randomBatch(rng, B, 28*28, sp.Classes)
			mids := []space.Arch{sp.Random(rng), sp.Random(rng)}
			res, err := tr.Step(x, labels, mids, 0.05, uint64(step))
			if err != nil || res.Skipped {
				t.Fatalf("step %d: %+v %v", step, res, err)
			}
		}
		var all []float32
		for _, p := range net.Params {
			all = append(all, p.W...)
		}
		return all
	}
	if a, b := run(false), run(true); !slices.Equal(a, b) {
		t.Fatal("same seed and batches gave different weights")
	}
}

// poisonEngine fills every buffer the engine hands out with NaN.
func poisonEngine(e *engine[float32]) {
	nan := float32(math.NaN())
	fill := func(s []float32) {
		for i := range s {
			s[i] = nan
		}
	}
	fill(e.acts.buf)
	for s := range e.scratch {
		fill(e.scratch[s].buf)
	}
	fill(e.ring[0])
	fill(e.ring[1])
	for _, l := range e.grads {
		for _, g := range l {
			fill(g)
		}
	}
}

// TestStepSkipsNonFinite: a NaN input makes the step report it and leave
// the weights untouched.
func TestStepSkipsNonFinite(t *testing.T) {
	sp := referenceSpace(t)
	net := supernet.New(sp, 2)
	tr, err := New(net, Config{Batch: 4, Dropout: 0.2, LabelSmoothing: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := slices.Clone(net.Params[0].W)
	x, labels := randomBatch(nastest.NewRand(1), 4, 28*28, 10)
	x[7] = float32(math.NaN())
	res, err := tr.Step(x, labels, nil, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Skipped || res.Reason == "" {
		t.Fatalf("NaN batch not reported: %+v", res)
	}
	if !slices.Equal(before, net.Params[0].W) {
		t.Fatal("weights moved on a skipped step")
	}
	for _, p := range net.Params {
		for _, g := range p.G {
			if g != 0 {
				t.Fatalf("gradient of %s left behind", p.Name)
			}
		}
	}
}

func loadFashion(t *testing.T) *data.Dataset {
	t.Helper()
	const dir = "/usr/share/datasets/fashion-mnist/"
	img, err := os.Open(dir + "train-images-idx3-ubyte.gz")
	if err != nil {
		t.Skip("Fashion-MNIST not installed (make data):", err)
	}
	defer img.Close()
	lbl, err := os.Open(dir + "train-labels-idx1-ubyte.gz")
	if err != nil {
		t.Skip(err)
	}
	defer lbl.Close()
	zi, err := gzip.NewReader(img)
	if err != nil {
		t.Fatal(err)
	}
	zl, err := gzip.NewReader(lbl)
	if err != nil {
		t.Fatal(err)
	}
	d, err := data.DecodeIDX(zi, zl, "train-images", "train-labels", 10)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLargestSubnetLearnsFashionMNIST trains the largest subnet alone for
// a few hundred steps on a subset of Fashion-MNIST: its loss falls and,
// after BN recalibration, it is far better than chance on held-out images.
func TestLargestSubnetLearnsFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a while")
	}
	d := loadFashion(t)
	sp := referenceSpace(t)
	var st data.ChannelStats
	for i := range 10000 {
		if err := st.Add(d.Image(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	mean, std := st.Mean(), st.Std()
	norm := func(lo, hi int) ([]float32, []int) {
		x := make([]float32, (hi-lo)*784)
		y := make([]int, hi-lo)
		for i := lo; i < hi; i++ {
			data.Normalize(x[(i-lo)*784:(i-lo+1)*784], d.Image(i), 1, mean, std)
			y[i-lo] = int(d.Labels[i])
		}
		return x, y
	}
	trainX, trainY := norm(0, 8192)
	calibX, _ := norm(50000, 51000)
	valX, valY := norm(51000, 53000)

	net := supernet.New(sp, 1)
	const B, steps = 32, 250
	a := sp.Max()
	a.Resolution = 28 // native size: no resampling
	g, err := BuildGraph(net, a, B, GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sched := supernet.Schedule{Base: 0.1, Warmup: 20, Total: steps}
	var first, last float64
	for s := range steps {
		i := (s * B) % len(trainY)
		loss, err := g.Run(trainX[i*784:(i+B)*784], trainY[i:i+B], 0.1, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		supernet.ClipGrad(net.Params, 1)
		supernet.DefaultSGD.Step(net.Params, float32(sched.At(s)))
		if s < 20 {
			first += loss / 20
		}
		if s >= steps-20 {
			last += loss / 20
		}
	}
	res, _, err := infer.EvaluateSubnet(net, a, calibX, valX, valY, infer.RecalConfig{}, infer.EvalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3f -> %.3f over %d steps of %d; held-out top-1 %.3f on %d images", first, last, steps, B, res.Top1, res.Images)
	if !(last < 0.6*first) {
		t.Errorf("loss did not fall: %.3f -> %.3f", first, last)
	}
	if res.Top1 < 0.6 {
		t.Errorf("held-out top-1 %.3f: expected far above chance (0.1)", res.Top1)
	}
}
