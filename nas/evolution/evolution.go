// Package evolution is the stage-2 search of AttentiveNAS (ALGORITHM.md
// section 9). It is an evolutionary search over a trained supernet's space,
// guided by a cheap fitness (the accuracy predictor), which keeps the best
// subnet of every FLOPs bucket. The kept subnets, sorted by FLOPs, are the
// shortlist that the pipeline evaluates for real (BN recalibration and
// held-out accuracy) before building the final Pareto front.
//
//	cfg := evolution.DefaultConfig() // the reference sizes: 512 + 20 x (128 + 128)
//	cfg.MaxFLOPs = 8_000_000         // optional: FLOPs window, params and latency budgets
//	res, err := evolution.Search(sp, cfg, predictorFitness, rand.New(rand.NewPCG(seed, 0)))
//	for _, c := range res.Archive {
//		fmt.Println(c.FLOPs, c.Fitness, c.Arch) // one line per bucket, ascending FLOPs
//	}
//
// The reference is facebookresearch/AlphaNet (evolutionary search over an
// AttentiveNAS supernet), with the mutate_and_reset and crossover_and_reset
// operators of facebookresearch/AttentiveNAS,
// models/attentive_nas_dynamic_model.py. Unlike the reference, every
// rejection loop here is bounded and returns ErrInfeasible, duplicates are
// scored once, and all randomness comes from the caller's *rand.Rand, so a
// seed fixes the result.
//
// See also: package sampler (stage 1), package pareto (fronts and
// hypervolume of the real evaluations).
package evolution

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
)

// Fitness scores a batch of archs. It returns one value per arch, in order,
// and higher is better: the predictor's estimate of held-out accuracy.
// Search calls it at most once per generation, with only the archs that it
// has never scored before. Every value must be finite.
type Fitness func(archs []space.Arch) ([]float64, error)

// Config holds the sizes and constraints of a search. Start from
// DefaultConfig and scale it down. Search takes every field literally, so a
// zero Mutations means "no mutation children", for example.
type Config struct {
	// Population is the number of archs drawn for generation 0: the
	// smallest subnet (if it is feasible) plus uniform samples inside the
	// constraints. Duplicates are scored once. Reference: 512.
	Population int `json:"population"`
	// Mutations and Crossovers are the number of children made per
	// generation by each operator. Reference: 128 each.
	Mutations  int `json:"mutations"`
	Crossovers int `json:"crossovers"`
	// Generations is the number of child generations after generation 0.
	// Reference: 20.
	Generations int `json:"generations"`
	// MutateProb is the probability that a mutation resamples a gene (to a
	// different value). Reference: 0.2.
	MutateProb float64 `json:"mutate_prob"`
	// CrossoverProb is the probability that a crossover child takes a gene
	// from its first parent rather than its second. Reference: 0.5.
	CrossoverProb float64 `json:"crossover_prob"`
	// BucketWidth is the width of a FLOPs bucket of the archive, in MACs per
	// image. Bucket i holds FLOPs in [i*BucketWidth, (i+1)*BucketWidth).
	// Default: DefaultBucketWidth.
	BucketWidth int64 `json:"bucket_width"`
	// MinFLOPs and MaxFLOPs bound the FLOPs window (MACs, inclusive). A zero
	// field leaves that side of the window open.
	MinFLOPs int64 `json:"min_flops"`
	MaxFLOPs int64 `json:"max_flops"`
	// MaxParams bounds the parameters of a subnet. Zero means no bound.
	MaxParams int64 `json:"max_params"`
	// MaxTries bounds the draws made for one initial sample or one child
	// before Search fails with ErrInfeasible. Default: DefaultMaxTries.
	MaxTries int `json:"max_tries"`
	// Constraint, when not nil, is an extra test every candidate must pass.
	// An example is a latency budget checked with a latency model that the
	// caller owns. Search calls it only on archs that already satisfy the
	// FLOPs window and the params budget. It must be deterministic, and safe
	// to call from the searching goroutine.
	Constraint func(space.Arch) bool `json:"-"`
}

// DefaultBucketWidth is the default Config.BucketWidth: 0.25 MFLOPs (in
// MACs), the lower end of ALGORITHM.md's 0.25 to 0.5 MFLOPs. The archive is
// the shortlist, so the bucket sets the resolution of the final front.
// Over the reference space (0.73 to 14.5 MMACs), this gives up to 56
// buckets, so at most 56 real evaluations. That is a few percent of the
// roughly 1,000 evaluations that train the predictor. The sampler's FLOPs
// bins are twice as wide, because they need many samples per bin, and the
// archive does not.
const DefaultBucketWidth int64 = 250_000

// DefaultMaxTries is the default Config.MaxTries. The reference retries
// forever. Parents are always feasible, and a mutation child equals its
// parent with probability at least 0.8^19 (about 1.4%, at MutateProb 0.2
// with 19 genes). A crossover child equals its parent when both draws pick
// the same member. So even in a window where nothing new is admissible,
// 1,000 tries fail with a probability below 1e-6 per child. In ordinary
// windows, most children are admitted at the first try, and a hopeless loop
// still ends within milliseconds.
const DefaultMaxTries = 1000

// DefaultConfig returns the reference sizes of ALGORITHM.md section 9:
// population 512, 128 mutations and 128 crossovers per generation, 20
// generations, mutation probability 0.2 and crossover probability 0.5.
// It adds BucketWidth DefaultBucketWidth and MaxTries DefaultMaxTries. The
// window, the params budget and the extra constraint are left open.
func DefaultConfig() Config {
	return Config{
		Population:    512,
		Mutations:     128,
		Crossovers:    128,
		Generations:   20,
		MutateProb:    0.2,
		CrossoverProb: 0.5,
		BucketWidth:   DefaultBucketWidth,
		MaxTries:      DefaultMaxTries,
	}
}

// Validate reports the first field of c that Search cannot use.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("evolution: config: %s %v: expected %s", field, v, want)
	}
	prob := func(p float64) bool { return p >= 0 && p <= 1 } // false for NaN
	switch {
	case c.Population < 1:
		return bad("population", c.Population, "at least 1 (reference 512)")
	case c.Mutations < 0:
		return bad("mutations", c.Mutations, "at least 0 (reference 128)")
	case c.Crossovers < 0:
		return bad("crossovers", c.Crossovers, "at least 0 (reference 128)")
	case c.Generations < 0:
		return bad("generations", c.Generations, "at least 0 (reference 20)")
	case !prob(c.MutateProb):
		return bad("mutate_prob", c.MutateProb, "a probability in [0, 1] (reference 0.2)")
	case !prob(c.CrossoverProb):
		return bad("crossover_prob", c.CrossoverProb, "a probability in [0, 1] (reference 0.5)")
	case c.BucketWidth < 1:
		return bad("bucket_width", c.BucketWidth, fmt.Sprintf("at least 1 MAC (default %d)", DefaultBucketWidth))
	case c.MinFLOPs < 0:
		return bad("min_flops", c.MinFLOPs, "at least 0 (0 = no lower bound)")
	case c.MaxFLOPs < 0:
		return bad("max_flops", c.MaxFLOPs, "at least 0 (0 = no upper bound)")
	case c.MaxFLOPs > 0 && c.MinFLOPs > c.MaxFLOPs:
		return bad("min_flops", c.MinFLOPs, fmt.Sprintf("at most max_flops %d", c.MaxFLOPs))
	case c.MaxParams < 0:
		return bad("max_params", c.MaxParams, "at least 0 (0 = no budget)")
	case c.MaxTries < 1:
		return bad("max_tries", c.MaxTries, fmt.Sprintf("at least 1 (default %d)", DefaultMaxTries))
	}
	return nil
}

// Admits reports whether a satisfies the constraints of c: FLOPs inside the
// window, params within the budget, and the extra Constraint. It also
// returns the FLOPs and params of a. The arch must be valid for sp.
func (c Config) Admits(sp *space.Space, a space.Arch) (flops, params int64, ok bool) {
	p := sp.Plan(a)
	flops = p.FLOPs()
	if (c.MinFLOPs > 0 && flops < c.MinFLOPs) || (c.MaxFLOPs > 0 && flops > c.MaxFLOPs) {
		return flops, 0, false
	}
	params = p.Params()
	if c.MaxParams > 0 && params > c.MaxParams {
		return flops, params, false
	}
	if c.Constraint != nil && !c.Constraint(a) {
		return flops, params, false
	}
	return flops, params, true
}

// Origin says how a candidate was proposed.
type Origin string

// Origins of candidates.
const (
	OriginSmallest  Origin = "smallest"  // the space's smallest subnet, in generation 0
	OriginRandom    Origin = "random"    // a uniform sample, in generation 0
	OriginMutation  Origin = "mutation"  // a mutation child
	OriginCrossover Origin = "crossover" // a crossover child
)

// Candidate is one scored arch.
type Candidate struct {
	Arch       space.Arch
	FLOPs      int64   // MACs per image
	Params     int64   // learnable scalars
	Fitness    float64 // Fitness value; higher is better
	Generation int     // when it was first scored; 0 is the initial population
	Origin     Origin  // how it was first proposed
}

// GenerationStats summarises one generation of a search.
type GenerationStats struct {
	Generation int // 0 is the initial population
	// Proposed counts the distinct archs that the generation proposed,
	// including archs scored in earlier generations.
	Proposed int
	// Evaluated counts the archs scored for the first time: the size of the
	// generation's Fitness batch.
	Evaluated int
	// Redraws counts the draws that the constraints rejected.
	Redraws int
	// ArchiveSize is the number of buckets held after the generation.
	ArchiveSize int
	// BestFitness is the best fitness in the archive after the generation.
	BestFitness float64
}

// Result is the outcome of Search.
type Result struct {
	// Archive holds the best candidate of every FLOPs bucket, in ascending
	// FLOPs order. It is the shortlist to evaluate for real.
	Archive []Candidate
	// Generations holds the stats of generation 0 and every child
	// generation, cfg.Generations+1 entries in all.
	Generations []GenerationStats
	// Evaluated holds every scored arch, once each, in scoring order.
	Evaluated []Candidate
}

// ErrInfeasible is wrapped by Search's error when no arch, or no child,
// satisfying the constraints was found within Config.MaxTries draws, or
// when the FLOPs window misses the space entirely.
var ErrInfeasible = errors.New("no architecture satisfies the constraints")

// Search runs the evolutionary search of ALGORITHM.md section 9 and returns
// the archive of the best candidate per FLOPs bucket.
//
// Generation 0 scores the smallest subnet (if it satisfies the constraints)
// and uniform samples inside the constraints, cfg.Population draws in all.
// Each later generation makes cfg.Mutations mutation children and
// cfg.Crossovers crossover children of archive members, drawn uniformly at
// random (see Mutate and Crossover). A child that violates the constraints
// is drawn again, with new parents, up to cfg.MaxTries times. Children are
// deduplicated by Arch key. Fitness scores only archs that it has never
// scored, in one batch per generation. The others reuse their cached
// fitness, and they are already in the archive if they belong there.
//
// In the archive, a candidate replaces its bucket's member only if its
// fitness is strictly higher, so on a tie the earlier candidate stays.
//
// Search returns an error (and no result) when the config is invalid, when
// a draw fails (wrapping ErrInfeasible), or when fit fails, returns the
// wrong number of values, or returns a non-finite value. For a given space,
// config, fitness and rng state, the result is always the same.
func Search(sp *space.Space, cfg Config, fit Fitness, rng *rand.Rand) (*Result, error) {
	switch {
	case sp == nil:
		return nil, errors.New("evolution: nil space")
	case fit == nil:
		return nil, errors.New("evolution: nil fitness")
	case rng == nil:
		return nil, errors.New("evolution: nil rng")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lo, hi := sp.FLOPs(sp.Min()), sp.FLOPs(sp.Max())
	if (cfg.MaxFLOPs > 0 && cfg.MaxFLOPs < lo) || cfg.MinFLOPs > hi {
		return nil, fmt.Errorf("evolution: FLOPs window [%d, %d] misses the space's range [%d, %d]: %w",
			cfg.MinFLOPs, cfg.MaxFLOPs, lo, hi, ErrInfeasible)
	}
	s := &searcher{sp: sp, cfg: cfg, fit: fit, rng: rng, dims: sp.Dimensions(),
		seen: map[string]int{}, archive: map[int64]int{}}
	if err := s.initial(); err != nil {
		return nil, err
	}
	for g := 1; g <= cfg.Generations; g++ {
		if err := s.generation(g); err != nil {
			return nil, err
		}
	}
	res := &Result{Generations: s.stats, Evaluated: s.evaluated}
	for _, i := range s.members() {
		res.Archive = append(res.Archive, s.evaluated[i])
	}
	return res, nil
}

// searcher is the state of one Search call.
type searcher struct {
	sp        *space.Space
	cfg       Config
	fit       Fitness
	rng       *rand.Rand
	dims      []space.Dimension
	evaluated []Candidate
	seen      map[string]int // Arch key -> index in evaluated
	archive   map[int64]int  // bucket -> index in evaluated
	stats     []GenerationStats
}

// proposal is an admitted arch waiting to be scored.
type proposal struct {
	arch          space.Arch
	flops, params int64
	origin        Origin
}

func (s *searcher) initial() error {
	var batch []proposal
	redraws := 0
	if f, p, ok := s.cfg.Admits(s.sp, s.sp.Min()); ok {
		batch = append(batch, proposal{s.sp.Min(), f, p, OriginSmallest})
	}
	for len(batch) < s.cfg.Population {
		pr, r, err := s.draw(OriginRandom, func() (space.Arch, error) { return s.sp.Random(s.rng), nil })
		redraws += r
		if err != nil {
			return fmt.Errorf("evolution: generation 0, sample %d of %d: %w", len(batch)+1, s.cfg.Population, err)
		}
		batch = append(batch, pr)
	}
	return s.score(0, batch, redraws)
}

func (s *searcher) generation(g int) error {
	members := s.members()
	// parent draws an archive member uniformly. Every try of a child draws
	// new parents, as the reference does.
	parent := func() space.Arch { return s.evaluated[members[s.rng.IntN(len(members))]].Arch }
	var batch []proposal
	redraws := 0
	for i := range s.cfg.Mutations {
		pr, r, err := s.draw(OriginMutation, func() (space.Arch, error) {
			return mutate(s.sp, s.dims, parent(), s.cfg.MutateProb, s.rng)
		})
		redraws += r
		if err != nil {
			return fmt.Errorf("evolution: generation %d, mutation %d of %d: %w", g, i+1, s.cfg.Mutations, err)
		}
		batch = append(batch, pr)
	}
	for i := range s.cfg.Crossovers {
		pr, r, err := s.draw(OriginCrossover, func() (space.Arch, error) {
			a, b := parent(), parent()
			return crossover(s.sp, a, b, s.cfg.CrossoverProb, s.rng)
		})
		redraws += r
		if err != nil {
			return fmt.Errorf("evolution: generation %d, crossover %d of %d: %w", g, i+1, s.cfg.Crossovers, err)
		}
		batch = append(batch, pr)
	}
	return s.score(g, batch, redraws)
}

// draw calls next until it returns an admitted arch, at most MaxTries
// times. It returns the arch and the number of rejected draws.
func (s *searcher) draw(origin Origin, next func() (space.Arch, error)) (proposal, int, error) {
	for try := range s.cfg.MaxTries {
		a, err := next()
		if err != nil {
			return proposal{}, try, err
		}
		if f, p, ok := s.cfg.Admits(s.sp, a); ok {
			return proposal{a, f, p, origin}, try, nil
		}
	}
	return proposal{}, s.cfg.MaxTries, fmt.Errorf("no %s draw satisfied FLOPs in [%d, %d] (0 = open), params <= %d (0 = none) and the extra constraint in %d tries: %w",
		origin, s.cfg.MinFLOPs, s.cfg.MaxFLOPs, s.cfg.MaxParams, s.cfg.MaxTries, ErrInfeasible)
}

// score deduplicates batch, scores the archs never scored before in one
// Fitness call, offers them to the archive and records the stats of
// generation g.
func (s *searcher) score(g int, batch []proposal, redraws int) error {
	st := GenerationStats{Generation: g, Redraws: redraws}
	inBatch := map[string]bool{}
	var fresh []proposal
	for _, pr := range batch {
		k := pr.arch.Key()
		if inBatch[k] {
			continue
		}
		inBatch[k] = true
		st.Proposed++
		if _, ok := s.seen[k]; !ok {
			fresh = append(fresh, pr)
		}
	}
	st.Evaluated = len(fresh)
	if len(fresh) > 0 {
		archs := make([]space.Arch, len(fresh))
		for i, pr := range fresh {
			archs[i] = pr.arch
		}
		vals, err := s.fit(archs)
		if err != nil {
			return fmt.Errorf("evolution: generation %d: fitness of %d archs: %w", g, len(archs), err)
		}
		if len(vals) != len(archs) {
			return fmt.Errorf("evolution: generation %d: fitness returned %d values for %d archs", g, len(vals), len(archs))
		}
		for i, pr := range fresh {
			v := vals[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("evolution: generation %d: fitness of arch %v is %v, expected a finite value", g, pr.arch, v)
			}
			idx := len(s.evaluated)
			s.evaluated = append(s.evaluated, Candidate{Arch: pr.arch, FLOPs: pr.flops, Params: pr.params,
				Fitness: v, Generation: g, Origin: pr.origin})
			s.seen[pr.arch.Key()] = idx
			s.offer(idx)
		}
	}
	st.ArchiveSize = len(s.archive)
	st.BestFitness = math.Inf(-1)
	for _, i := range s.archive {
		st.BestFitness = max(st.BestFitness, s.evaluated[i].Fitness)
	}
	s.stats = append(s.stats, st)
	return nil
}

// offer puts evaluated[idx] in its bucket if the bucket is empty or holds a
// strictly worse candidate.
func (s *searcher) offer(idx int) {
	c := s.evaluated[idx]
	b := c.FLOPs / s.cfg.BucketWidth
	if cur, ok := s.archive[b]; !ok || c.Fitness > s.evaluated[cur].Fitness {
		s.archive[b] = idx
	}
}

// members returns the archive's indices into evaluated, by ascending
// bucket (hence ascending FLOPs). The order is deterministic, so parent
// draws depend only on the rng.
func (s *searcher) members() []int {
	buckets := make([]int64, 0, len(s.archive))
	for b := range s.archive {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	out := make([]int, len(buckets))
	for i, b := range buckets {
		out[i] = s.archive[b]
	}
	return out
}
