package infer

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// TestNaiveReferenceHandValues checks the float64 reference's own building
// blocks against values worked out by hand, so the other tests compare
// against something known to be right.
func TestNaiveReferenceHandValues(t *testing.T) {
	// 2x2 average pool of a 3x3 map [1..9] with padding 1 (odd size) and
	// divisor 4: windows {pad, pad, pad, 1}, {2, 3}, {4, 7}, {5, 6, 8, 9}.
	x := newT64(1, 3, 3, 1)
	for i := range x.v {
		x.v[i] = float64(i + 1)
	}
	got := naivePool(x).v
	want := []float64{0.25, 1.25, 2.75, 7}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol64 {
			t.Fatalf("pool: got %v, want %v", got, want)
		}
	}
	// Bilinear 2 -> 4, align_corners=False: source coordinates
	// -0.25 (clamped to 0), 0.25, 0.75, 1.25 give 0, 0.25, 0.75, 1 on [0, 1].
	x = newT64(1, 2, 2, 1)
	x.v = []float64{0, 1, 0, 1}
	got = naiveResize(x, 4).v
	for r := 0; r < 4; r++ {
		for c, w := range []float64{0, 0.25, 0.75, 1} {
			if math.Abs(got[r*4+c]-w) > tol64 {
				t.Fatalf("resize row %d: got %v", r, got[r*4:r*4+4])
			}
		}
	}
	// Layer sizes of the tiny space's second test arch: 13x13 native,
	// stride 2 twice: 13 -> 7 -> 4 with the padded shortcut pool.
	sp := tiny(t, space.HSwish)
	p := sp.Plan(mustArch(t, sp, tinyArchs[1].vec))
	if b := p.Blocks[0]; b.InSize != 13 || b.OutSize != 7 || !b.ShortcutPool || !b.ShortcutConv || b.Mid != 8 || b.SEMid != 8 {
		t.Fatalf("block 0 plan %+v", b)
	}
	if b := p.Blocks[1]; b.Expand || b.Mid != 8 || b.InSize != 7 || b.OutSize != 4 || !b.ShortcutConv || !b.ShortcutPool {
		t.Fatalf("block 1 plan %+v", b)
	}
	if b := p.Blocks[2]; b.ShortcutConv || b.ShortcutPool || b.Cin != 12 {
		t.Fatalf("block 2 plan %+v", b)
	}
}

// TestForwardMatchesNaive compares the engine's logits with the float64
// reference in batch-statistics mode (a) and given-statistics mode (b), for
// every activation and the tiny space's test archs (resize up and down,
// stride 2 on odd sizes, SE, depth below max, kernel 3 cropped from 5,
// identity and conv shortcuts).
func TestForwardMatchesNaive(t *testing.T) {
	for _, act := range []space.Activation{space.HSwish, space.Swish, space.ReLU} {
		sp := tiny(t, act)
		sn := randomSupernet(sp, 11)
		const B = 4
		x := randImages(sp, B, 5)
		e := NewEngine(sn)
		for _, ta := range tinyArchs {
			a := mustArch(t, sp, ta.vec)
			logits := make([]float32, B*sp.Classes)
			if err := e.Forward(logits, x, B, a, nil); err != nil {
				t.Fatal(err)
			}
			want := naiveForward(sn, a, x, B, &naiveBN{})
			if err := closeTo(logits, want, tol32); err != nil {
				t.Errorf("%s, %s, batch statistics: %v", act, ta.name, err)
			}

			stats := randomStats(t, sn, a, 3)
			if err := e.Forward(logits, x, B, a, stats); err != nil {
				t.Fatal(err)
			}
			want = naiveForward(sn, a, x, B, &naiveBN{given: given(stats)})
			if err := closeTo(logits, want, tol32); err != nil {
				t.Errorf("%s, %s, given statistics: %v", act, ta.name, err)
			}
		}
	}
}

// randomStats returns statistics for a with means in +-0.5 and variances
// in [0.5, 2].
func randomStats(t testing.TB, sn *supernet.Supernet, a space.Arch, seed uint64) *Stats {
	t.Helper()
	n, err := viewNet(sn, a)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	st := &Stats{Arch: a.Clone(), Images: 1}
	for _, b := range n.bn {
		ls := LayerStats{Name: b.name, Mean: make([]float32, b.c), Var: make([]float32, b.c)}
		for c := range ls.Mean {
			ls.Mean[c] = float32(r.Float64() - 0.5)
			ls.Var[c] = float32(0.5 + 1.5*r.Float64())
		}
		st.Layers = append(st.Layers, ls)
	}
	return st
}

func given(st *Stats) [][2][]float64 {
	g := make([][2][]float64, len(st.Layers))
	for i, l := range st.Layers {
		g[i] = [2][]float64{to64(l.Mean), to64(l.Var)}
	}
	return g
}

// TestRecalibrateMatchesNaive checks the recalibrated statistics against the
// mean and two-pass biased variance of every value each BN layer saw in the
// reference's batch-statistics forward passes over the same batches.
func TestRecalibrateMatchesNaive(t *testing.T) {
	sp := tiny(t, space.Swish)
	sn := randomSupernet(sp, 21)
	const N = 10
	x := randImages(sp, N, 8)
	in := 13 * 13 * 3
	// BatchSize 4 cuts 10 images into ceil(10/4) = 3 near-equal batches.
	batches := [][2]int{{0, 3}, {3, 6}, {6, 10}}
	for _, ta := range tinyArchs {
		a := mustArch(t, sp, ta.vec)
		st, err := Recalibrate(sn, a, x, RecalConfig{BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		ref := &naiveBN{seen: [][][]float64{}} // collects across batches
		for _, b := range batches {
			ref.layer = 0
			naiveForward(sn, a, x[b[0]*in:b[1]*in], b[1]-b[0], ref)
		}
		if st.Images != N || len(st.Layers) != len(ref.seen) {
			t.Fatalf("%s: %d images, %d layers; want %d, %d", ta.name, st.Images, len(st.Layers), N, len(ref.seen))
		}
		for i, vals := range ref.seen {
			mean, vr := make([]float64, len(vals)), make([]float64, len(vals))
			for c, v := range vals {
				for _, u := range v {
					mean[c] += u
				}
				mean[c] /= float64(len(v))
				for _, u := range v {
					vr[c] += (u - mean[c]) * (u - mean[c])
				}
				vr[c] /= float64(len(v))
			}
			l := st.Layers[i]
			if err := closeTo(l.Mean, mean, tol32); err != nil {
				t.Errorf("%s: layer %d (%s) mean: %v", ta.name, i, l.Name, err)
			}
			if err := closeTo(l.Var, vr, tol32); err != nil {
				t.Errorf("%s: layer %d (%s) variance: %v", ta.name, i, l.Name, err)
			}
		}
	}
	// Layer names follow the supernet's parameter prefixes.
	st, err := Recalibrate(sn, mustArch(t, sp, tinyArchs[1].vec), x, RecalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range st.Layers {
		names = append(names, l.Name)
	}
	want := "stem.bn blocks.0.expand.bn blocks.0.dw.bn blocks.0.project.bn blocks.2.dw.bn blocks.2.project.bn blocks.3.dw.bn blocks.3.project.bn head.expand.bn"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("layer names\n got %s\nwant %s", got, want)
	}
}

// TestRecalibrateDeterministic runs the reference space's largest subnet
// with 1 and 3 goroutines and with the kernels limited to one thread: the
// statistics must be bit-identical.
func TestRecalibrateDeterministic(t *testing.T) {
	sp := reference(t)
	sn := randomSupernet(sp, 4)
	x := randImages(sp, 300, 2)
	a := sp.Max()
	base, err := Recalibrate(sn, a, x, RecalConfig{BatchSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, st *Stats) {
		for i := range base.Layers {
			for c := range base.Layers[i].Mean {
				if st.Layers[i].Mean[c] != base.Layers[i].Mean[c] || st.Layers[i].Var[c] != base.Layers[i].Var[c] {
					t.Fatalf("%s: layer %d channel %d differs", name, i, c)
				}
			}
		}
	}
	st, err := Recalibrate(sn, a, x, RecalConfig{BatchSize: 128, Goroutines: 3})
	if err != nil {
		t.Fatal(err)
	}
	check("3 goroutines", st)
	prev := kernels.SetMaxThreads(1)
	st, err = Recalibrate(sn, a, x, RecalConfig{BatchSize: 128})
	kernels.SetMaxThreads(prev)
	if err != nil {
		t.Fatal(err)
	}
	check("kernels.SetMaxThreads(1)", st)
}

// TestFoldMatchesGivenStats is style rule 8's twin test: the folded Model
// equals the supernet engine in given-statistics mode with the same
// statistics, on the tiny space and on the reference space's largest and
// smallest subnets.
func TestFoldMatchesGivenStats(t *testing.T) {
	type tc struct {
		name string
		sp   *space.Space
		arch func(sp *space.Space) space.Arch
	}
	var cases []tc
	for _, ta := range tinyArchs {
		cases = append(cases, tc{"tiny " + ta.name, tiny(t, space.Swish), func(sp *space.Space) space.Arch { return mustArch(t, sp, ta.vec) }})
	}
	ref := reference(t)
	cases = append(cases,
		tc{"fmnist max", ref, (*space.Space).Max},
		tc{"fmnist min", ref, (*space.Space).Min},
		tc{"fmnist random", ref, func(sp *space.Space) space.Arch { return sp.Random(rand.New(rand.NewPCG(3, 3))) }},
	)
	for _, c := range cases {
		sn := randomSupernet(c.sp, 31)
		a := c.arch(c.sp)
		const B = 19 // not a multiple of the micro-batch
		calib := randImages(c.sp, 40, 1)
		x := randImages(c.sp, B, 2)
		st, err := Recalibrate(sn, a, calib, RecalConfig{BatchSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, B*c.sp.Classes)
		if err := NewEngine(sn).Forward(want, x, B, a, st); err != nil {
			t.Fatal(err)
		}
		m, err := Fold(sn, a, st)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, B*c.sp.Classes)
		m.Forward(got, x, B)
		if err := closeTo(got, to64(want), tol32); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		// The folded model owns its weights: changing the supernet does not
		// change it.
		for _, p := range sn.Params {
			clear(p.W)
		}
		again := make([]float32, B*c.sp.Classes)
		m.Forward(again, x, B)
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("%s: model shares memory with the supernet", c.name)
			}
		}
	}
}

// TestConcurrentReplay runs several goroutines over one shared supernet
// (each with its own Engine) and one shared Model, and checks every result
// is bit-identical to a sequential run (style rule 13).
func TestConcurrentReplay(t *testing.T) {
	sp := reference(t)
	sn := randomSupernet(sp, 8)
	const B = 6
	x := randImages(sp, B, 3)
	r := rand.New(rand.NewPCG(5, 5))
	archs := []space.Arch{sp.Max(), sp.Min(), sp.Random(r), sp.Random(r)}
	want := make([][]float32, len(archs))
	for i, a := range archs {
		want[i] = make([]float32, B*sp.Classes)
		if err := NewEngine(sn).Forward(want[i], x, B, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Recalibrate(sn, archs[2], randImages(sp, 32, 4), RecalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fold(sn, archs[2], st)
	if err != nil {
		t.Fatal(err)
	}
	mWant := make([]float32, B*sp.Classes)
	m.Forward(mWant, x, B)

	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := NewEngine(sn)
			got := make([]float32, B*sp.Classes)
			for rep := 0; rep < 3; rep++ {
				for k := range archs {
					i := (k + g) % len(archs)
					if err := e.Forward(got, x, B, archs[i], nil); err != nil {
						errs <- err.Error()
						return
					}
					for j := range got {
						if got[j] != want[i][j] {
							errs <- "engine result differs under concurrency"
							return
						}
					}
				}
				m.Forward(got, x, B)
				for j := range got {
					if got[j] != mWant[j] {
						errs <- "model result differs under concurrency"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestNoBufferAllocs checks that warm forward passes reuse their buffers:
// the backing arrays stay the same and the bytes allocated per call stay far
// below one activation buffer. (Calls into nas/kernels still make a few
// small allocations each, see the package doc; with the kernels on one
// thread this package itself allocates nothing.)
func TestNoBufferAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow in -short; allocation counts are meaningless under -race")
	}
	prev := kernels.SetMaxThreads(1)
	defer kernels.SetMaxThreads(prev)
	sp := reference(t)
	sn := randomSupernet(sp, 8)
	const B = 16
	x := randImages(sp, B, 3)
	a := sp.Random(rand.New(rand.NewPCG(1, 2)))
	logits := make([]float32, B*sp.Classes)
	e := NewEngine(sn)
	st := randomStats(t, sn, a, 1)
	bytesPerCall := func(f func()) float64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 5
		for i := 0; i < n; i++ {
			f()
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / n
	}
	for _, mode := range []struct {
		name  string
		stats *Stats
	}{{"batch statistics", nil}, {"given statistics", st}} {
		if err := e.Forward(logits, x, B, a, mode.stats); err != nil {
			t.Fatal(err)
		}
		h, d := &e.ws.h[0], &e.ws.d[0]
		n := bytesPerCall(func() { _ = e.Forward(logits, x, B, a, mode.stats) })
		if &e.ws.h[0] != h || &e.ws.d[0] != d {
			t.Errorf("Engine.Forward (%s) reallocated its buffers", mode.name)
		}
		if limit := float64(e.ws.bytes() / 10); n > limit {
			t.Errorf("Engine.Forward (%s) allocates %.0f bytes per call, more than a tenth of a buffer (%.0f)", mode.name, n, limit)
		}
	}
	m, err := Fold(sn, a, st)
	if err != nil {
		t.Fatal(err)
	}
	m.Forward(logits, x, B)
	n := bytesPerCall(func() { m.Forward(logits, x, B) })
	if len(m.free) != 1 {
		t.Fatalf("model has %d workspaces, want 1", len(m.free))
	}
	if limit := float64(m.free[0].bytes() / 10); n > limit {
		t.Errorf("Model.Forward allocates %.0f bytes per call, more than a tenth of a buffer (%.0f)", n, limit)
	}
	t.Logf("model: %.0f bytes allocated per call (by nas/kernels), workspace %d bytes", n, m.free[0].bytes())
}

// bytes is the size of the workspace's buffers.
func (ws *workspace) bytes() int {
	n := 0
	for _, b := range [][]float32{ws.in, ws.col, ws.io[0], ws.io[1], ws.t, ws.h, ws.d, ws.s, ws.s1, ws.s2, ws.g, ws.m, ws.scale, ws.shift} {
		n += 4 * cap(b)
	}
	return n + 8*cap(ws.sum) + 8*cap(ws.part)
}

// TestForwardErrors covers the engine's and Fold's error paths.
func TestForwardErrors(t *testing.T) {
	sp := tiny(t, space.HSwish)
	sn := randomSupernet(sp, 1)
	a := mustArch(t, sp, tinyArchs[0].vec)
	b := mustArch(t, sp, tinyArchs[1].vec)
	x := randImages(sp, 2, 1)
	logits := make([]float32, 2*sp.Classes)
	e := NewEngine(sn)
	bad := a.Clone()
	bad.Kernels[0] = 7
	stB := randomStats(t, sn, b, 1)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"arch not in space", e.Forward(logits, x, 2, bad, nil), "kernel.a"},
		{"stats of another arch", e.Forward(logits, x, 2, a, stB), "statistics are for subnet"},
		{"short input", e.Forward(logits, x[:10], 2, a, nil), "input has 10 values"},
		{"short logits", e.Forward(logits[:1], x, 2, a, nil), "logits have 1 values"},
		{"negative batch", e.Forward(logits, x, -1, a, nil), "negative batch"},
	}
	_, err := Fold(sn, a, stB)
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"fold with stats of another arch", err, "statistics are for subnet"})
	short := randomStats(t, sn, b, 1)
	short.Layers[2].Var = short.Layers[2].Var[:1]
	_, err = Fold(sn, b, short)
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"fold with a short layer", err, "1 variances"})
	_, err = Recalibrate(sn, a, x[:5], RecalConfig{})
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"recalibrate partial image", err, "not a whole number"})
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || !strings.HasPrefix(c.err.Error(), "infer: ") && !strings.HasPrefix(c.err.Error(), "space: ") {
			t.Errorf("%s: got error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
}
