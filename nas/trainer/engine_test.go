package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/kernels/ref"
	"github.com/attentivenas/attentivenas/nas/nastest"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// tinySpace is small enough for finite differences through whole subnets
// and still has every kind of layer: a stage without expand conv, a
// stride-2 stage with squeeze-excite whose first block's shortcut is a
// 2x2 average pool (padded at odd sizes) plus a 1x1 conv or the pool alone,
// identity shortcuts, and the head.
const tinySpace = `{
  "name": "tiny", "input": {"channels": 1, "height": 8, "width": 8}, "classes": 3,
  "resolutions": [8, 9],
  "first_conv": {"c": [4, 8], "k": 3, "s": 1},
  "stages": [
    {"name": "a", "c": [4, 8], "d": [1, 2], "k": [3], "t": [1], "s": 1, "se": false},
    {"name": "b", "c": [8, 16], "d": [1, 2], "k": [3, 5], "t": [2, 3], "s": 2, "se": true}
  ],
  "last_conv": {"c": [8, 16], "expand": 2},
  "activation": "swish"
}`

func tiny(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.Parse([]byte(tinySpace), "tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// tinyArchs: pool + conv shortcut at an odd size (resolution 9), pool-only
// shortcut, and the smallest and largest subnets.
func tinyArchs(t testing.TB, sp *space.Space) map[string]space.Arch {
	t.Helper()
	v := func(vec ...int) space.Arch {
		a, err := sp.ArchFromVector(vec)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// [r, stem, w_a, w_b, head, d_a, d_b, k_a, k_b, t_a, t_b]
	return map[string]space.Arch{
		"pool+conv": v(9, 8, 4, 8, 16, 2, 2, 3, 5, 1, 3),
		"pool only": v(8, 4, 8, 8, 8, 1, 2, 3, 3, 1, 2),
		"min":       sp.Min(),
		"max":       sp.Max(),
	}
}

// groups64 is a float64 copy of the supernet's weights (moved away from
// the zero-initialised gammas) with zeroed gradients.
func groups64(net *supernet.Supernet, rng *rand.Rand) groups[float64] {
	var gs groups[float64]
	for _, g := range net.Groups {
		w := make([]float64, len(g.W))
		for i, v := range g.W {
			w[i] = float64(v) + 0.2*rng.NormFloat64()
		}
		gs.w = append(gs.w, w)
		gs.g = append(gs.g, make([]float64, len(g.W)))
	}
	return gs
}

// fdCheck compares analytic gradients with central differences of loss at
// n random coordinates of every group (used or not by the subnet: outside
// its slices both must be zero).
func fdCheck(t *testing.T, name string, gs groups[float64], analytic [][]float64, net *supernet.Supernet, rng *rand.Rand, n int, loss func() float64) {
	t.Helper()
	for gi, w := range gs.w {
		var got, want []float64
		for range n {
			i := rng.IntN(len(w))
			orig := w[i]
			w[i] = orig + nastest.FDStep
			lp := loss()
			w[i] = orig - nastest.FDStep
			lm := loss()
			w[i] = orig
			got = append(got, analytic[gi][i])
			want = append(want, (lp-lm)/(2*nastest.FDStep))
		}
		var ss float64
		for _, v := range want {
			ss += v * v
		}
		scale := math.Sqrt(ss / float64(len(want)))
		for k := range got {
			if d := math.Abs(got[k] - want[k]); d > 1e-7+1e-5*math.Max(math.Abs(want[k]), scale) {
				t.Errorf("%s, group %s, coordinate %d: analytic %.9g, finite differences %.9g", name, net.Groups[gi].Name, k, got[k], want[k])
			}
		}
	}
}

// TestSubnetGradientFiniteDifferences checks the whole training graph of
// complete subnets in float64 against finite differences: every layer
// kind, both losses (label-smoothed cross-entropy with dropout, and
// distillation against soft targets), the batch split over several shards
// unevenly.
func TestSubnetGradientFiniteDifferences(t *testing.T) {
	sp := tiny(t)
	net := supernet.New(sp, 3)
	const B = 5
	for name, a := range tinyArchs(t, sp) {
		for _, c := range []struct {
			shards int
			soft   bool
		}{{1, false}, {3, true}} {
			shards, soft := c.shards, c.soft
			t.Run(fmt.Sprintf("%s/shards%d/soft%v", name, shards, soft), func(t *testing.T) {
				rng := nastest.NewRand(uint64(7 + shards))
				gs := groups64(net, rng)
				dropout := 0.0
				if !soft {
					dropout = 0.3
				}
				g, err := buildGraph(newEngine(prims64, shards), net, gs, a, B, dropout)
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				r := a.Resolution
				x := nastest.Rand(rng, B*r*r, -1.5, 1.5)
				labels := make([]int, B)
				for i := range labels {
					labels[i] = rng.IntN(sp.Classes)
				}
				var target []float64
				if soft {
					target = make([]float64, B*sp.Classes)
					ref.Softmax(target, nastest.Rand(rng, B*sp.Classes, -2, 2), B, sp.Classes)
				}
				loss := func() float64 {
					l, err := g.Run(x, labels, 0.1, target, 42)
					if err != nil {
						t.Fatal(err)
					}
					return l
				}
				loss()
				analytic := make([][]float64, len(gs.g))
				for i, gg := range gs.g {
					analytic[i] = append([]float64(nil), gg...)
				}
				fdCheck(t, "subnet "+a.String(), gs, analytic, net, rng, 10, loss)
			})
		}
	}
}

// TestSandwichGradientSum checks the gradient a sandwich step leaves in the
// shared buffers (float32, before clipping and the update) against central
// differences in float64 of the step's total loss: the largest subnet's
// label-smoothed cross-entropy (with its dropout) plus the distillation
// losses of the two middle subnets and the smallest against the largest's
// softmax at the current weights, held fixed.
func TestSandwichGradientSum(t *testing.T) {
	sp := tiny(t)
	net := supernet.New(sp, 5)
	rng := nastest.NewRand(21)
	perturb(net, rng)
	const B, seed = 6, 99
	tr, err := New(net, Config{Batch: B, Dropout: 0.2, LabelSmoothing: 0.1, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	archs := tinyArchs(t, sp)
	mids := []space.Arch{archs["pool+conv"], archs["pool only"]}
	x32 := nastest.Rand32(rng, B*8*8, -1.5, 1.5)
	labels := make([]int, B)
	for i := range labels {
		labels[i] = rng.IntN(sp.Classes)
	}
	if res, err := tr.gradients(x32, labels, mids, seed, 0); err != nil || res.Skipped {
		t.Fatalf("%+v %v", res, err)
	}
	analytic := make([][]float64, len(net.Groups))
	for i, g := range net.Groups {
		analytic[i] = nastest.To64(g.G)
	}

	// The same step in float64, from the loss alone.
	var gs groups[float64]
	for _, g := range net.Groups {
		gs.w = append(gs.w, nastest.To64(g.W))
		gs.g = append(gs.g, make([]float64, len(g.W)))
	}
	e := newEngine(prims64, 1)
	build := func(a space.Arch, dropout float64) *graph[float64] {
		g, err := buildGraph(e, net, gs, a, B, dropout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		return g
	}
	x := nastest.To64(x32)
	at := func(r int) []float64 {
		if r == 8 {
			return x
		}
		y := make([]float64, B*r*r)
		ref.ResizeBilinear(y, x, B, 8, 8, 1, r, r)
		return y
	}
	run := func(g *graph[float64], smoothing float64, soft []float64, seed uint64) float64 {
		l, err := g.Run(at(g.Arch.Resolution), labels, smoothing, soft, seed)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	gmax := build(sp.Max(), 0.2)
	students := []*graph[float64]{build(mids[0], 0), build(mids[1], 0), build(sp.Min(), 0)}
	run(gmax, 0.1, nil, seed)
	teacher := make([]float64, B*sp.Classes)
	ref.Softmax(teacher, gmax.Logits(), B, sp.Classes)
	loss := func() float64 {
		l := run(gmax, 0.1, nil, seed)
		for _, g := range students {
			l += run(g, 0, teacher, 0)
		}
		return l
	}
	checkClose := func(name string, gi int, got, want []float64) {
		var ss float64
		for _, v := range want {
			ss += v * v
		}
		scale := math.Sqrt(ss / float64(len(want)))
		for k := range got {
			if d := math.Abs(got[k] - want[k]); d > 1e-6+3e-3*math.Max(math.Abs(want[k]), scale) {
				t.Errorf("%s, group %s, coordinate %d: step's gradient %.7g, finite differences %.7g", name, net.Groups[gi].Name, k, got[k], want[k])
			}
		}
	}
	for gi, w := range gs.w {
		var got, want []float64
		for range 16 {
			i := rng.IntN(len(w))
			orig := w[i]
			w[i] = orig + nastest.FDStep
			lp := loss()
			w[i] = orig - nastest.FDStep
			lm := loss()
			w[i] = orig
			got = append(got, analytic[gi][i])
			want = append(want, (lp-lm)/(2*nastest.FDStep))
		}
		checkClose("sandwich sum", gi, got, want)
	}
}

// TestArenasSizedByPlan: the arenas reserved from the layers' needs hold
// everything a run of the graph takes (no allocation overflows), for
// uneven shard splits and every kind of subnet.
func TestArenasSizedByPlan(t *testing.T) {
	for _, name := range []string{"reference", "tiny"} {
		sp := tiny(t)
		if name == "reference" {
			sp = referenceSpace(t)
		}
		net := supernet.New(sp, 1)
		rng := nastest.NewRand(5)
		archs := []space.Arch{sp.Max(), sp.Min()}
		for range 6 {
			archs = append(archs, sp.Random(rng))
		}
		for _, shards := range []int{1, 2, 3} {
			for _, a := range archs {
				const B = 7
				e := newEngine(prims32, shards)
				g, err := buildGraph(e, net, groupsOf(net), a, B, 0.2)
				if err != nil {
					t.Fatal(err)
				}
				r, in := a.Resolution, sp.Input.Channels
				x, labels := randomBatch(rng, B, r*r*in, sp.Classes)
				if _, err := g.Run(x, labels, 0.1, nil, 1); err != nil {
					t.Fatal(err)
				}
				g.Close()
				n := e.acts.overflows
				for s := range e.scratch {
					n += e.scratch[s].overflows
				}
				if n > 0 {
					t.Errorf("%s, %d shards, %v: %d allocations outgrew the reserved arenas", name, shards, a, n)
				}
				net.ZeroGrad()
			}
		}
	}
}

// TestMinibatchLossMatchesInfer: the trainer's minibatch-loss estimator
// scores candidates as nas/infer's does (the same function, to float32
// rounding), so attentive sampling picks the same candidates; and a step
// after scoring trains on the same resampled batch.
func TestMinibatchLossMatchesInfer(t *testing.T) {
	sp := referenceSpace(t)
	net := supernet.New(sp, 4)
	rng := nastest.NewRand(8)
	perturb(net, rng)
	const B = 16
	twin := supernet.New(sp, 4)
	for i, g := range net.Groups {
		copy(twin.Groups[i].W, g.W)
	}
	tr, err := New(net, Config{Batch: B})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	plain, err := New(twin, Config{Batch: B})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ours, ref := tr.MinibatchLoss(), infer.NewMinibatchLoss(net)
	agree := 0
	for range 4 {
		x, labels := randomBatch(rng, B, 28*28, sp.Classes)
		ours.SetBatch(x, labels, B)
		ref.SetBatch(x, labels, B)
		archs := []space.Arch{sp.Max(), sp.Min()}
		for range 7 {
			archs = append(archs, sp.Random(rng))
		}
		got, err := ours.Estimate(archs)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Estimate(archs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range archs {
			if d := math.Abs(got[i] - want[i]); d > 1e-4*math.Abs(want[i]) {
				t.Errorf("%v: score %.7g, nas/infer %.7g", archs[i], got[i], want[i])
			}
		}
		for i := 0; i+3 <= len(archs); i += 3 {
			if argmin(got[i:i+3]) == argmin(want[i:i+3]) {
				agree++
			}
		}
		if _, err := tr.Step(x, labels, archs[2:4], 0.01, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := plain.Step(x, labels, archs[2:4], 0.01, 1); err != nil {
			t.Fatal(err)
		}
	}
	if agree != 12 {
		t.Errorf("best of three agreed with nas/infer's in %d of 12 triples", agree)
	}
	for i, g := range net.Groups {
		if !slices.Equal(g.W, twin.Groups[i].W) {
			t.Fatalf("group %s: scoring before the step changed what the step trained", g.Name)
		}
	}
}

func argmin(v []float64) int {
	b := 0
	for i, x := range v {
		if x < v[b] {
			b = i
		}
	}
	return b
}

// TestDistillWarmup: the labels' share of the students' targets falls
// linearly from 1 to 0 over the warm-up fraction of the run, and the
// targets are that mix of the smoothed labels and the teacher's output.
func TestDistillWarmup(t *testing.T) {
	c := JobConfig{DistillWarmup: 0.5}
	for _, w := range []struct {
		step int64
		want float64
	}{{0, 1}, {25, 0.5}, {50, 0}, {99, 0}} {
		if got := c.labelWeight(w.step, 100); math.Abs(got-w.want) > 1e-12 {
			t.Errorf("step %d of 100: label weight %v, want %v", w.step, got, w.want)
		}
	}
	if got := (JobConfig{}).labelWeight(0, 100); got != 0 {
		t.Errorf("no warm-up: label weight %v at step 0, want 0 (pure distillation)", got)
	}
	sp := tiny(t)
	tr, err := New(supernet.New(sp, 1), Config{Batch: 2, LabelSmoothing: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	copy(tr.teacher, []float32{0.2, 0.3, 0.5, 0.6, 0.3, 0.1})
	got := tr.mixTargets([]int{2, 0}, 0.5)
	// smoothed labels: 0.1/3 off the label, 0.9 + 0.1/3 on it
	lo, hi := 0.1/3, 0.9+0.1/3
	want := []float64{(lo + 0.2) / 2, (lo + 0.3) / 2, (hi + 0.5) / 2, (hi + 0.6) / 2, (lo + 0.3) / 2, (lo + 0.1) / 2}
	nastest.Close32(t, "mixed targets", got, want, nastest.Tol32)
}
