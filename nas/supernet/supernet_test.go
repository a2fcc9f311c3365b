package supernet

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/space"
)

func reference(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestNewShapesAndInit(t *testing.T) {
	sp := reference(t)
	s := New(sp, 7)
	if got, min := int64(s.NumParams()), sp.Params(sp.Max()); got < min {
		t.Fatalf("supernet stores %d scalars, fewer than the largest subnet's %d", got, min)
	}
	names := map[string]bool{}
	for _, p := range s.Params {
		if names[p.Name] {
			t.Fatalf("duplicate tensor name %q", p.Name)
		}
		names[p.Name] = true
	}
	for _, b := range s.Blocks {
		for _, g := range b.Project.Gamma.W {
			if g != 0 {
				t.Fatalf("%s not zero-initialised", b.Project.Gamma.Name)
			}
		}
		if b.DW.Gamma.W[0] != 1 {
			t.Fatalf("%s = %v, want 1", b.DW.Gamma.Name, b.DW.Gamma.W[0])
		}
	}
	// He-normal: the sample std of a large conv is close to sqrt(2/fan_out).
	w := s.Blocks[len(s.Blocks)-1].Expand.W
	var ss float64
	for _, v := range w.W {
		ss += float64(v) * float64(v)
	}
	std, want := math.Sqrt(ss/float64(len(w.W))), math.Sqrt(2/float64(w.Shape[1]))
	if math.Abs(std-want) > 0.05*want {
		t.Errorf("%s std %.4f, want about %.4f", w.Name, std, want)
	}
	// Same seed, same weights; another seed, other weights.
	if !slices.Equal(New(sp, 7).Params[0].W, s.Params[0].W) {
		t.Error("same seed gave different weights")
	}
	if slices.Equal(New(sp, 8).Params[0].W, s.Params[0].W) {
		t.Error("different seeds gave the same weights")
	}
}

func TestTensorsRoundTrip(t *testing.T) {
	sp := reference(t)
	a := New(sp, 1)
	for i := range a.Params[3].M {
		a.Params[3].M[i] = float32(i) * 0.5
	}
	b := New(sp, 2)
	if err := b.LoadTensors(a.Tensors(true)); err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Params {
		if !slices.Equal(p.W, b.Params[i].W) || !slices.Equal(p.M, b.Params[i].M) {
			t.Fatalf("tensor %s differs after round trip", p.Name)
		}
	}
	rows := a.Tensors(false)
	rows[5].Shape = []int32{1}
	if err := b.LoadTensors(rows); err == nil || !strings.Contains(err.Error(), rows[5].Name) {
		t.Fatalf("shape mismatch not reported: %v", err)
	}
	if err := b.LoadTensors(a.Tensors(false)[1:]); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Fatalf("missing tensor not reported: %v", err)
	}
}

func TestCheckSpace(t *testing.T) {
	sp := reference(t)
	s := New(sp, 1)
	st := s.NewState(10, 1, nil, nil)
	if err := st.CheckSpace(sp, "ck.parquet"); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(configs.FMNIST), `"resolutions": [24, 28, 32]`, `"resolutions": [28]`, 1)
	sp2, err := space.Parse([]byte(other), "other.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckSpace(sp2, "ck.parquet"); err == nil || !strings.Contains(err.Error(), "ck.parquet was trained on search space") {
		t.Fatalf("different space not reported: %v", err)
	}
}

func TestSGDNesterov(t *testing.T) {
	p := newParam("w", true, 1)
	p.W[0] = 1
	o := SGD{Momentum: 0.9, WeightDecay: 0.1}
	// step 1: g = 0.5 + 0.1*1 = 0.6; m = 0.6; w = 1 - 0.1*(0.6 + 0.54) = 0.886
	p.G[0] = 0.5
	o.Step([]*Param{p}, 0.1)
	if math.Abs(float64(p.W[0])-0.886) > 1e-6 || p.G[0] != 0 {
		t.Fatalf("after step 1: w=%v g=%v", p.W[0], p.G[0])
	}
	// step 2: g = 0 + 0.0886; m = 0.54 + 0.0886 = 0.6286; w = 0.886 - 0.1*(0.0886 + 0.56574)
	o.Step([]*Param{p}, 0.1)
	if want := 0.886 - 0.1*(0.0886+0.9*0.6286); math.Abs(float64(p.W[0])-want) > 1e-6 {
		t.Fatalf("after step 2: w=%v want %v", p.W[0], want)
	}
	// No decay on BN/bias tensors.
	q := newParam("b", false, 1)
	q.W[0] = 1
	o.Step([]*Param{q}, 0.1)
	if q.W[0] != 1 {
		t.Fatalf("undecayed tensor moved without gradient: %v", q.W[0])
	}
}

func TestClipAndFinite(t *testing.T) {
	p := newParam("w", true, 4)
	copy(p.G, []float32{-3, 0.5, 2, -0.25})
	ClipGrad([]*Param{p}, 1)
	if !slices.Equal(p.G, []float32{-1, 0.5, 1, -0.25}) {
		t.Fatalf("clipped %v", p.G)
	}
	if ok, _ := GradsFinite([]*Param{p}); !ok {
		t.Fatal("finite grads reported non-finite")
	}
	p.G[2] = float32(math.NaN())
	if ok, name := GradsFinite([]*Param{p}); ok || name != "w" {
		t.Fatalf("NaN not found: %v %q", ok, name)
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Base: 0.1, Warmup: 10, Total: 110}
	cases := []struct {
		it   int
		want float64
	}{{0, 0.01}, {4, 0.05}, {9, 0.1}, {10, 0.1}, {60, 0.05}, {110, 0}, {200, 0}}
	for _, c := range cases {
		if got := s.At(c.it); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", c.it, got, c.want)
		}
	}
}

// newParam is a lone tensor in a group of its own.
func newParam(name string, decay bool, shape ...int) *Param {
	p := &Param{Name: name, Shape: shape, Decay: decay}
	newGroup(name, []*Param{p})
	return p
}

// TestGroupsPartitionParams checks that the groups hold every tensor once,
// in order, as windows of one contiguous store per group.
func TestGroupsPartitionParams(t *testing.T) {
	s := New(reference(t), 1)
	if want := 2 + len(s.Blocks); len(s.Groups) != want {
		t.Fatalf("%d groups, want stem + %d blocks + head", len(s.Groups), len(s.Blocks))
	}
	i := 0
	for _, g := range s.Groups {
		n := 0
		for _, p := range g.Params {
			if p != s.Params[i] {
				t.Fatalf("group %s: tensor %s out of order (want %s)", g.Name, p.Name, s.Params[i].Name)
			}
			i++
			if p.Offset != n || &p.W[0] != &g.W[n] || &p.G[0] != &g.G[n] || &p.M[0] != &g.M[n] {
				t.Fatalf("group %s: %s is not the window at %d", g.Name, p.Name, n)
			}
			n += p.Len()
		}
		if n != len(g.W) || n != len(g.G) || n != len(g.M) {
			t.Fatalf("group %s holds %d scalars, its tensors %d", g.Name, len(g.W), n)
		}
	}
	if i != len(s.Params) {
		t.Fatalf("groups hold %d of %d tensors", i, len(s.Params))
	}
}
