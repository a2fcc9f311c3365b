package evolution

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
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

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xe70)) }

// small is a scaled-down search for tests: 64 + 5 x (32 + 32).
func small() Config {
	c := DefaultConfig()
	c.Population, c.Mutations, c.Crossovers, c.Generations = 64, 32, 32, 5
	return c
}

// linear is a synthetic fitness: a fixed weighted sum of the genes'
// positions among their choices, in [0, 1]. It is monotone in no simple
// way with FLOPs, because some weights are negative.
func linear(sp *space.Space, seed uint64) func(space.Arch) float64 {
	dims := sp.Dimensions()
	rng := seeded(seed)
	w := make([]float64, len(dims))
	for d := range w {
		w[d] = rng.Float64()*2 - 0.7
	}
	return func(a space.Arch) float64 {
		s := 0.0
		for d, v := range a.Vector() {
			n := len(dims[d].Choices)
			if n > 1 {
				s += w[d] * float64(slices.Index(dims[d].Choices, v)) / float64(n-1)
			}
		}
		return s
	}
}

// batched turns a per-arch function into a Fitness.
func batched(f func(space.Arch) float64) Fitness {
	return func(archs []space.Arch) ([]float64, error) {
		out := make([]float64, len(archs))
		for i, a := range archs {
			out[i] = f(a)
		}
		return out, nil
	}
}

// recorder is a Fitness that checks every batch it receives.
type recorder struct {
	t      *testing.T
	sp     *space.Space
	cfg    Config
	f      func(space.Arch) float64
	scored map[string]bool
	calls  int
}

func (r *recorder) fitness(archs []space.Arch) ([]float64, error) {
	r.calls++
	out := make([]float64, len(archs))
	for i, a := range archs {
		if err := r.sp.Validate(a); err != nil {
			r.t.Errorf("fitness got an invalid arch %v: %v", a, err)
		}
		if f, p, ok := r.cfg.Admits(r.sp, a); !ok {
			r.t.Errorf("fitness got arch %v outside the constraints (FLOPs %d, params %d)", a, f, p)
		}
		if r.scored[a.Key()] {
			r.t.Errorf("arch %v scored twice", a)
		}
		r.scored[a.Key()] = true
		out[i] = r.f(a)
	}
	return out, nil
}

// TestSearchRespectsConstraints is a property test over many seeds and
// constraint sets: no arch outside the window, the params budget or the
// extra constraint is ever scored or returned, and none is scored twice.
func TestSearchRespectsConstraints(t *testing.T) {
	sp := reference(t)
	fmin, fmax := sp.FLOPs(sp.Min()), sp.FLOPs(sp.Max())
	pmin, pmax := sp.Params(sp.Min()), sp.Params(sp.Max())
	for seed := range uint64(40) {
		rng := seeded(1000 + seed)
		cfg := small()
		cfg.Generations = 3
		cfg.BucketWidth = 100_000 + rng.Int64N(900_000)
		// A random window covering 10% to 60% of the FLOPs range, a params
		// budget in the upper half, and every other seed an extra constraint.
		span := fmax - fmin
		cfg.MinFLOPs = fmin + rng.Int64N(span/2)
		cfg.MaxFLOPs = cfg.MinFLOPs + span/10 + rng.Int64N(span/2)
		if seed%3 == 0 {
			cfg.MinFLOPs = 0 // open below: the smallest subnet is admitted
		}
		cfg.MaxParams = pmin + (pmax-pmin)/2 + rng.Int64N((pmax-pmin)/2)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			if seed%2 == 1 {
				cfg.Constraint = func(a space.Arch) bool {
					// Search checks the window and the budget first.
					if f, p := sp.FLOPs(a), sp.Params(a); f < cfg.MinFLOPs || f > cfg.MaxFLOPs || p > cfg.MaxParams {
						t.Errorf("constraint called on %v outside the window or budget", a)
					}
					return a.Resolution != 28 && a.Kernels[0] == 3
				}
			}
			rec := &recorder{t: t, sp: sp, cfg: cfg, f: linear(sp, seed), scored: map[string]bool{}}
			res, err := Search(sp, cfg, rec.fitness, seeded(seed))
			if err != nil {
				t.Fatal(err)
			}
			if rec.calls > cfg.Generations+1 {
				t.Errorf("%d fitness calls, want at most one per generation (%d)", rec.calls, cfg.Generations+1)
			}
			if len(res.Evaluated) != len(rec.scored) {
				t.Errorf("%d evaluated candidates, fitness scored %d archs", len(res.Evaluated), len(rec.scored))
			}
			for _, list := range [][]Candidate{res.Evaluated, res.Archive} {
				for _, c := range list {
					f, p, ok := cfg.Admits(sp, c.Arch)
					if !ok || sp.Validate(c.Arch) != nil {
						t.Fatalf("candidate %v violates the constraints", c.Arch)
					}
					if f != c.FLOPs || p != c.Params {
						t.Fatalf("candidate %v: FLOPs/params %d/%d recorded, %d/%d actual", c.Arch, c.FLOPs, c.Params, f, p)
					}
				}
			}
			_, _, smallest := cfg.Admits(sp, sp.Min())
			if cfg.MinFLOPs == 0 && !smallest {
				t.Fatal("test setup: the smallest subnet should pass every constraint when the window is open below")
			}
			if first := res.Evaluated[0]; smallest != (first.Origin == OriginSmallest) || (smallest && !first.Arch.Equal(sp.Min())) {
				t.Errorf("first candidate %v (%s); the smallest subnet is admitted: %v", first.Arch, first.Origin, smallest)
			}
		})
	}
}

// TestMutate: each gene with at least two choices changes with probability
// MutateProb (within 5 standard errors over 20,000 mutations). It always
// changes to a different value, because a resample that could return the
// same value would change binary genes only half as often. Single-choice
// genes never change.
func TestMutate(t *testing.T) {
	sp := reference(t)
	dims := sp.Dimensions()
	const n, prob = 20_000, 0.2
	rng := seeded(3)
	changed := make([]int, len(dims))
	for range n {
		parent := sp.Random(rng)
		child, err := Mutate(sp, parent, prob, rng)
		if err != nil {
			t.Fatal(err)
		}
		pv, cv := parent.Vector(), child.Vector()
		for d := range dims {
			if pv[d] != cv[d] {
				changed[d]++
			}
		}
	}
	se := math.Sqrt(prob * (1 - prob) / n)
	for d, dim := range dims {
		f := float64(changed[d]) / n
		if len(dim.Choices) == 1 {
			if changed[d] != 0 {
				t.Errorf("%s has one choice but changed %d times", dim.Name, changed[d])
			}
			continue
		}
		if math.Abs(f-prob) > 5*se {
			t.Errorf("%s changed in %.4f of mutations, want %.2f +- %.4f", dim.Name, f, prob, 5*se)
		}
	}
}

func TestMutateExtremes(t *testing.T) {
	sp := reference(t)
	dims := sp.Dimensions()
	rng := seeded(4)
	for range 200 {
		a := sp.Random(rng)
		same, err := Mutate(sp, a, 0, rng)
		if err != nil || !same.Equal(a) {
			t.Fatalf("Mutate(prob 0) = %v, %v; want the parent %v", same, err, a)
		}
		all, err := Mutate(sp, a, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		av, bv := a.Vector(), all.Vector()
		for d, dim := range dims {
			if (len(dim.Choices) > 1) != (av[d] != bv[d]) {
				t.Fatalf("Mutate(prob 1): gene %s went %d -> %d with choices %v", dim.Name, av[d], bv[d], dim.Choices)
			}
		}
	}
}

func TestCrossover(t *testing.T) {
	sp := reference(t)
	rng := seeded(5)
	const n, prob = 5000, 0.5
	fromA, differ := 0, 0
	for range n {
		a, b := sp.Random(rng), sp.Random(rng)
		c, err := Crossover(sp, a, b, prob, rng)
		if err != nil {
			t.Fatal(err)
		}
		av, bv, cv := a.Vector(), b.Vector(), c.Vector()
		for d := range cv {
			if cv[d] != av[d] && cv[d] != bv[d] {
				t.Fatalf("gene %d = %d comes from neither parent (%d, %d)", d, cv[d], av[d], bv[d])
			}
			if av[d] != bv[d] {
				differ++
				if cv[d] == av[d] {
					fromA++
				}
			}
		}
		for _, p := range []struct {
			prob float64
			want space.Arch
		}{{1, a}, {0, b}} {
			got, err := Crossover(sp, a, b, p.prob, rng)
			if err != nil || !got.Equal(p.want) {
				t.Fatalf("Crossover(prob %v) = %v, %v; want %v", p.prob, got, err, p.want)
			}
		}
	}
	f := float64(fromA) / float64(differ)
	if se := math.Sqrt(prob * (1 - prob) / float64(differ)); math.Abs(f-prob) > 5*se {
		t.Errorf("%.4f of differing genes came from the first parent, want %.2f +- %.4f", f, prob, 5*se)
	}
}

func TestOperatorErrors(t *testing.T) {
	sp := reference(t)
	good := sp.Min()
	bad := sp.Min()
	bad.Resolution = 29
	rng := seeded(1)
	cases := []struct {
		name string
		call func() (space.Arch, error)
	}{
		{"mutate invalid parent", func() (space.Arch, error) { return Mutate(sp, bad, 0.2, rng) }},
		{"mutate prob above 1", func() (space.Arch, error) { return Mutate(sp, good, 1.5, rng) }},
		{"mutate NaN prob", func() (space.Arch, error) { return Mutate(sp, good, math.NaN(), rng) }},
		{"mutate nil space", func() (space.Arch, error) { return Mutate(nil, good, 0.2, rng) }},
		{"crossover invalid second parent", func() (space.Arch, error) { return Crossover(sp, good, bad, 0.5, rng) }},
		{"crossover negative prob", func() (space.Arch, error) { return Crossover(sp, good, good, -0.1, rng) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.call()
			if err == nil || a.Widths != nil {
				t.Fatalf("got %v, %v; want a zero arch and an error", a, err)
			}
			if !strings.HasPrefix(err.Error(), "evolution: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestArchiveKeepsBestPerBucket checks the archive against every scored
// candidate: one member per non-empty bucket, the best of its bucket (the
// earliest on a tie), in ascending FLOPs order.
func TestArchiveKeepsBestPerBucket(t *testing.T) {
	sp := reference(t)
	cfg := small()
	// A coarse fitness with many ties exercises the tie rule.
	f := linear(sp, 9)
	coarse := func(a space.Arch) float64 { return math.Round(f(a) * 4) }
	res, err := Search(sp, cfg, batched(coarse), seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	best := map[int64]Candidate{}
	for _, c := range res.Evaluated {
		b := c.FLOPs / cfg.BucketWidth
		if cur, ok := best[b]; !ok || c.Fitness > cur.Fitness {
			best[b] = c
		}
	}
	if len(res.Archive) != len(best) {
		t.Fatalf("archive has %d members, evaluated candidates fill %d buckets", len(res.Archive), len(best))
	}
	for i, c := range res.Archive {
		if i > 0 && c.FLOPs <= res.Archive[i-1].FLOPs {
			t.Errorf("archive not in ascending FLOPs: %d after %d", c.FLOPs, res.Archive[i-1].FLOPs)
		}
		want := best[c.FLOPs/cfg.BucketWidth]
		if !reflect.DeepEqual(c, want) {
			t.Errorf("bucket %d: archive holds %v (%.0f, gen %d), want %v (%.0f, gen %d)", c.FLOPs/cfg.BucketWidth,
				c.Arch, c.Fitness, c.Generation, want.Arch, want.Fitness, want.Generation)
		}
	}
	last := res.Generations[len(res.Generations)-1]
	if last.ArchiveSize != len(res.Archive) {
		t.Errorf("last generation's ArchiveSize %d, archive has %d", last.ArchiveSize, len(res.Archive))
	}
}

func TestOffer(t *testing.T) {
	s := &searcher{cfg: Config{BucketWidth: 10}, archive: map[int64]int{}}
	add := func(flops int64, fit float64) {
		s.evaluated = append(s.evaluated, Candidate{FLOPs: flops, Fitness: fit})
		s.offer(len(s.evaluated) - 1)
	}
	add(12, 0.5) // 0: bucket 1
	add(19, 0.5) // 1: bucket 1, tie: 0 stays
	add(15, 0.4) // 2: bucket 1, worse
	add(3, 0.1)  // 3: bucket 0
	add(10, 0.6) // 4: bucket 1, better: replaces 0
	add(9, 0.1)  // 5: bucket 0, tie: 3 stays
	if got, want := s.members(), []int{3, 4}; !slices.Equal(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
}

func TestSearchStats(t *testing.T) {
	sp := reference(t)
	cfg := small()
	res, err := Search(sp, cfg, batched(linear(sp, 2)), seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Generations) != cfg.Generations+1 {
		t.Fatalf("%d generation stats, want %d", len(res.Generations), cfg.Generations+1)
	}
	total := 0
	prevBest := math.Inf(-1)
	for g, st := range res.Generations {
		if st.Generation != g {
			t.Errorf("stats %d has Generation %d", g, st.Generation)
		}
		want := cfg.Mutations + cfg.Crossovers
		if g == 0 {
			want = cfg.Population
		}
		if st.Proposed > want || st.Evaluated > st.Proposed || st.Proposed < 1 {
			t.Errorf("generation %d: proposed %d, evaluated %d; want 1 <= evaluated <= proposed <= %d", g, st.Proposed, st.Evaluated, want)
		}
		if st.BestFitness < prevBest {
			t.Errorf("generation %d: best fitness fell from %v to %v", g, prevBest, st.BestFitness)
		}
		prevBest = st.BestFitness
		total += st.Evaluated
	}
	if total != len(res.Evaluated) {
		t.Errorf("stats count %d evaluations, result holds %d", total, len(res.Evaluated))
	}
	for _, c := range res.Evaluated {
		want := map[Origin]bool{OriginMutation: true, OriginCrossover: true}
		if c.Generation == 0 {
			want = map[Origin]bool{OriginSmallest: true, OriginRandom: true}
		}
		if !want[c.Origin] {
			t.Errorf("candidate of generation %d has origin %q", c.Generation, c.Origin)
		}
	}
}

func TestSearchDeterministic(t *testing.T) {
	sp := reference(t)
	cfg := small()
	cfg.MaxFLOPs = 6_000_000
	fit := batched(linear(sp, 1))
	run := func(seed uint64) *Result {
		res, err := Search(sp, cfg, fit, seeded(seed))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(1), run(1), run(2)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different results")
	}
	if reflect.DeepEqual(a.Evaluated, c.Evaluated) {
		t.Error("different seeds, identical results")
	}
}

func TestSearchErrors(t *testing.T) {
	sp := reference(t)
	fit := batched(linear(sp, 1))
	boom := errors.New("boom")
	with := func(f func(*Config)) Config {
		c := small()
		f(&c)
		return c
	}
	cases := []struct {
		name string
		sp   *space.Space
		cfg  Config
		fit  Fitness
		is   error  // errors.Is target, if any
		says string // part of the message
	}{
		{"nil space", nil, small(), fit, nil, "nil space"},
		{"nil fitness", sp, small(), nil, nil, "nil fitness"},
		{"population 0", sp, with(func(c *Config) { c.Population = 0 }), fit, nil, "population 0"},
		{"negative mutations", sp, with(func(c *Config) { c.Mutations = -1 }), fit, nil, "mutations -1"},
		{"negative crossovers", sp, with(func(c *Config) { c.Crossovers = -1 }), fit, nil, "crossovers -1"},
		{"negative generations", sp, with(func(c *Config) { c.Generations = -1 }), fit, nil, "generations -1"},
		{"mutate prob", sp, with(func(c *Config) { c.MutateProb = 2 }), fit, nil, "mutate_prob 2"},
		{"crossover prob NaN", sp, with(func(c *Config) { c.CrossoverProb = math.NaN() }), fit, nil, "crossover_prob NaN"},
		{"bucket width 0", sp, with(func(c *Config) { c.BucketWidth = 0 }), fit, nil, "bucket_width 0"},
		{"negative min flops", sp, with(func(c *Config) { c.MinFLOPs = -1 }), fit, nil, "min_flops -1"},
		{"negative max flops", sp, with(func(c *Config) { c.MaxFLOPs = -1 }), fit, nil, "max_flops -1"},
		{"inverted window", sp, with(func(c *Config) { c.MinFLOPs, c.MaxFLOPs = 5e6, 4e6 }), fit, nil, "at most max_flops"},
		{"negative params", sp, with(func(c *Config) { c.MaxParams = -5 }), fit, nil, "max_params -5"},
		{"max tries 0", sp, with(func(c *Config) { c.MaxTries = 0 }), fit, nil, "max_tries 0"},
		{"window above the space", sp, with(func(c *Config) { c.MinFLOPs = 1e9 }), fit, ErrInfeasible, "misses the space"},
		{"window below the space", sp, with(func(c *Config) { c.MaxFLOPs = 1000 }), fit, ErrInfeasible, "misses the space"},
		{"constraint never holds", sp, with(func(c *Config) { c.Constraint = func(space.Arch) bool { return false } }), fit, ErrInfeasible, "generation 0"},
		{"params budget below the smallest", sp, with(func(c *Config) { c.MaxParams = 10 }), fit, ErrInfeasible, "params <= 10"},
		{"fitness error", sp, small(), func([]space.Arch) ([]float64, error) { return nil, boom }, boom, "generation 0"},
		{"fitness too short", sp, small(), func(a []space.Arch) ([]float64, error) { return make([]float64, len(a)-1), nil }, nil, "values for"},
		{"fitness NaN", sp, small(), func(a []space.Arch) ([]float64, error) {
			v := make([]float64, len(a))
			v[len(v)-1] = math.NaN()
			return v, nil
		}, nil, "expected a finite value"},
		{"fitness infinite", sp, small(), func(a []space.Arch) ([]float64, error) {
			v := make([]float64, len(a))
			v[0] = math.Inf(1)
			return v, nil
		}, nil, "expected a finite value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Search(c.sp, c.cfg, c.fit, seeded(1))
			if err == nil || res != nil {
				t.Fatalf("Search = %v, %v; want nil and an error", res, err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v, want one wrapping %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.says) || !strings.HasPrefix(err.Error(), "evolution: ") {
				t.Errorf("error %q, want the evolution: prefix and %q", err, c.says)
			}
		})
	}
	if _, err := Search(sp, small(), fit, nil); err == nil {
		t.Error("nil rng: no error")
	}
}

// TestSearchGenerationsZero: with no child generation, the archive is the
// best per bucket of the initial population.
func TestSearchGenerationsZero(t *testing.T) {
	sp := reference(t)
	cfg := small()
	cfg.Generations = 0
	res, err := Search(sp, cfg, batched(linear(sp, 1)), seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Generations) != 1 || res.Evaluated[0].Origin != OriginSmallest {
		t.Errorf("%d generations, first origin %q; want 1 and the smallest subnet first", len(res.Generations), res.Evaluated[0].Origin)
	}
}

func BenchmarkSearch(b *testing.B) {
	sp := reference(b)
	fit := batched(func(a space.Arch) float64 { return float64(a.Resolution) })
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"small", small()}, {"reference", DefaultConfig()}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Search(sp, c.cfg, fit, seeded(1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
