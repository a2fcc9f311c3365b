package infer

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/sampler"
	"github.com/attentivenas/attentivenas/nas/space"
)

// MinibatchLoss is the sampler's minibatch-loss estimator.
var _ sampler.Estimator = (*MinibatchLoss)(nil)

func randLabels(n, classes int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 3))
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(classes)
	}
	return y
}

// TestEvaluate checks Evaluate against a direct computation from
// Model.Forward, and that the result is the same for any number of
// goroutines and any kernel thread budget.
func TestEvaluate(t *testing.T) {
	sp := reference(t)
	m := foldedModel(t, sp, sp.Random(rand.New(rand.NewPCG(2, 2))))
	const N = 700
	x, y := randImages(sp, N, 12), randLabels(N, sp.Classes, 1)

	logits := make([]float32, N*sp.Classes)
	m.Forward(logits, x, N)
	correct := kernels.Top1Correct(logits, y, N, sp.Classes)
	var loss float64
	for i := 0; i < N; i++ {
		z := to64(logits[i*sp.Classes : (i+1)*sp.Classes])
		mx := z[0]
		for _, v := range z {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range z {
			s += math.Exp(v - mx)
		}
		loss += mx + math.Log(s) - z[y[i]]
	}
	loss /= N

	base, err := Evaluate(m, x, y, EvalConfig{Goroutines: 1})
	if err != nil {
		t.Fatal(err)
	}
	if base.Images != N || base.Correct != correct || base.Top1 != float64(correct)/N || math.Abs(base.Loss-loss) > tol64*loss {
		t.Fatalf("Evaluate %+v, direct: %d correct, loss %v", base, correct, loss)
	}
	for _, cfg := range []EvalConfig{{Goroutines: 2}, {Goroutines: 3}, {}} {
		r, err := Evaluate(m, x, y, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r != base {
			t.Fatalf("%+v: %+v, with 1 goroutine %+v", cfg, r, base)
		}
	}
	prev := kernels.SetMaxThreads(1)
	r, err := Evaluate(m, x, y, EvalConfig{Goroutines: 2})
	kernels.SetMaxThreads(prev)
	if err != nil {
		t.Fatal(err)
	}
	if r != base {
		t.Fatalf("kernels on 1 thread: %+v, default %+v", r, base)
	}
	// Errors.
	if _, err := Evaluate(m, x, y[:5], EvalConfig{}); err == nil || !strings.Contains(err.Error(), "5 labels") {
		t.Errorf("short labels: %v", err)
	}
	bad := append([]int(nil), y...)
	bad[3] = 10
	if _, err := Evaluate(m, x, bad, EvalConfig{}); err == nil || !strings.Contains(err.Error(), "label 10 of image 3") {
		t.Errorf("bad label: %v", err)
	}
}

// TestEvaluateSubnet checks the one-call evaluation equals its parts.
func TestEvaluateSubnet(t *testing.T) {
	sp := tiny(t, space.Swish)
	sn := randomSupernet(sp, 2)
	a := mustArch(t, sp, tinyArchs[2].vec)
	calib, x, y := randImages(sp, 20, 1), randImages(sp, 30, 2), randLabels(30, sp.Classes, 3)
	r, m, err := EvaluateSubnet(sn, a, calib, x, y, RecalConfig{BatchSize: 8}, EvalConfig{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := Recalibrate(sn, a, calib, RecalConfig{BatchSize: 8})
	m2, _ := Fold(sn, a, st)
	r2, _ := Evaluate(m2, x, y, EvalConfig{BatchSize: 7})
	if r != r2 || !m.Arch.Equal(a) {
		t.Fatalf("EvaluateSubnet %+v, parts %+v", r, r2)
	}
}

// TestMinibatchLoss checks the estimator's interface values, that it equals
// the label-smoothed loss of a batch-statistics forward pass, that it ranks
// a deliberately damaged subnet worse, and that a non-finite loss scores NaN.
func TestMinibatchLoss(t *testing.T) {
	sp := tiny(t, space.HSwish)
	sn := randomSupernet(sp, 6)
	const B = 16
	x := randImages(sp, B, 4)
	good := mustArch(t, sp, tinyArchs[1].vec) // k_a = 3
	damaged := good.Clone()
	damaged.Kernels[0] = 5 // uses the outer ring of the 5x5 depthwise weight

	// Labels: the good subnet's own predictions, made confident by scaling
	// the classifier, so the good subnet's loss is small.
	for i := range sn.Head.ClassifierW.W {
		sn.Head.ClassifierW.W[i] *= 20
	}
	logits := make([]float32, B*sp.Classes)
	if err := NewEngine(sn).Forward(logits, x, B, good, nil); err != nil {
		t.Fatal(err)
	}
	labels := make([]int, B)
	kernels.Argmax(labels, logits, B, sp.Classes)
	// Damage: large noise on the outer ring of block 0's depthwise kernel,
	// which only k = 5 subnets read.
	dw := sn.Block(0, 0).DW.W
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 5; i++ {
		for j := 0; j < 5; j++ {
			if i == 0 || i == 4 || j == 0 || j == 4 {
				for c := 0; c < dw.Shape[2]; c++ {
					dw.W[(i*5+j)*dw.Shape[2]+c] = float32(50 * r.NormFloat64())
				}
			}
		}
	}
	est := NewMinibatchLoss(sn)
	if est.Name() != sampler.EstimatorMinibatchLoss || est.HigherIsBetter() {
		t.Fatalf("Name %q, HigherIsBetter %v", est.Name(), est.HigherIsBetter())
	}
	if _, err := est.Estimate([]space.Arch{good}); err == nil {
		t.Fatal("Estimate before SetBatch: no error")
	}
	est.SetBatch(x, labels, B)
	scores, err := est.Estimate([]space.Arch{good, damaged})
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 2 || !(scores[0] < scores[1]) {
		t.Fatalf("scores %v: the damaged subnet should have the larger loss", scores)
	}
	if err := NewEngine(sn).Forward(logits, x, B, good, nil); err != nil {
		t.Fatal(err)
	}
	if want := kernels.SoftmaxCrossEntropy(nil, logits, labels, B, sp.Classes, 0.1); scores[0] != want {
		t.Fatalf("score %v, label-smoothed CE %v", scores[0], want)
	}
	// Scoring candidates concurrently gives the same scores.
	est.Goroutines = 2
	if again, _ := est.Estimate([]space.Arch{good, damaged, good}); again[0] != scores[0] || again[1] != scores[1] || again[2] != scores[0] {
		t.Fatalf("2 goroutines: %v, 1 goroutine: %v", again, scores)
	}
	// The caller may reuse its slices after SetBatch.
	clear(x)
	if again, _ := est.Estimate([]space.Arch{good}); again[0] != scores[0] {
		t.Fatalf("SetBatch did not copy the batch: %v then %v", scores[0], again[0])
	}

	// Non-finite: an infinite weight in the head columns only w_head = 10
	// reads (the good arch has w_head = 6).
	wide := good.Clone()
	wide.HeadWidth = 10
	sn.Head.MixW.W[8] = float32(math.Inf(1))
	scores, err = est.Estimate([]space.Arch{good, wide})
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(scores[0]) || !math.IsNaN(scores[1]) {
		t.Fatalf("scores %v, want [finite NaN]", scores)
	}

	// Errors.
	bad := good.Clone()
	bad.Depths[0] = 3
	if _, err := est.Estimate([]space.Arch{bad}); err == nil {
		t.Error("invalid arch: no error")
	}
	est.SetBatch(x, []int{0, 1, 7}, 3)
	if _, err := est.Estimate([]space.Arch{good}); err == nil || !strings.Contains(err.Error(), "label 7") {
		t.Errorf("bad label: %v", err)
	}
	est.SetBatch(x[:10], labels, B)
	if _, err := est.Estimate([]space.Arch{good}); err == nil || !strings.Contains(err.Error(), "input values") {
		t.Errorf("short batch: %v", err)
	}
}

// TestLatency checks Latency's contract (not its speed: no timed
// assertions).
func TestLatency(t *testing.T) {
	sp := reference(t)
	m := foldedModel(t, sp, sp.Min())
	d, threads := Latency(m, 7)
	if d <= 0 || d > time.Minute || threads < 1 || threads > kernels.MaxThreads() {
		t.Fatalf("Latency = %v, %d threads", d, threads)
	}
	t.Logf("smallest subnet: %v at batch 1 on %d thread(s)", d, threads)
}
