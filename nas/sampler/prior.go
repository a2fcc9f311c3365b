package sampler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
)

// DefaultBinWidth is the width of a FLOPs bin, in MACs per image: 0.5
// MFLOPs in the reference's unit (ALGORITHM.md section 3).
//
// The reference uses 25 MFLOP bins for an ImageNet space of roughly 200 to
// 2,000 MFLOPs. The project's reference space spans 0.73 to 14.5 MMACs, and
// ALGORITHM.md section 6 asks for 0.25 to 0.5 MFLOPs. 0.5 is the upper end,
// for two reasons measured on 10,000 uniform samples:
//   - The bins stay narrow. There are 25 non-empty bins. Around the mode
//     (about 3.3 MMACs), a bin spans about 15% of the FLOPs. So the
//     candidates of one draw cost about the same, and the estimator ranks
//     architectures rather than sizes.
//   - Each bin holds enough samples to estimate the 19 per-dimension
//     marginals. The bins that hold nearly 90% of the mass have 400 to 1,400
//     samples each. With 0.25 MFLOPs there would be 48 bins, and the tails
//     would be starved.
//
// Scale the width with the space: about 1/30 of its FLOPs range.
const DefaultBinWidth int64 = 500_000

// DefaultPriorSamples is the number of uniform samples behind the prior.
// The reference reads a pre-sampled table instead. 10,000 samples cost about
// 20 ms in the reference space, and they estimate a bin's probability to
// within about 1% of the total mass.
const DefaultPriorSamples = 10_000

// DefaultMaxTries bounds the proposals made for one candidate before
// RandomInBin gives up. The reference's max_trials is 100, but the reference
// then accepts an out-of-bin arch, while RandomInBin returns an error. In
// the reference space with 0.5 MFLOP bins, 8% to 50% of the proposals drawn
// from a bin's marginals land in that bin (about 10 tries on average in the
// middle bins). So with 100 tries, 1 candidate in about 4,000 would fail in
// the worst bins, which is too often over a training run. With 1,000 tries
// the failure rate is below 1e-25, and a failure still costs only a few
// milliseconds.
const DefaultMaxTries = 1000

// ErrInfeasible is wrapped by the errors of RandomInBin and Attentive.Sample
// when no architecture in the target bin was found within the allowed tries,
// or when the bin lies outside the space's FLOPs range.
var ErrInfeasible = errors.New("no architecture found in the FLOPs bin")

// PriorConfig configures BuildPrior. A zero field takes its default.
type PriorConfig struct {
	// BinWidth is the width of a bin in MACs per image. The default is
	// DefaultBinWidth.
	BinWidth int64 `json:"bin_width"`
	// Samples is the number of uniformly sampled archs. The default is
	// DefaultPriorSamples.
	Samples int `json:"samples"`
}

// Bin is one non-empty FLOPs bin of a FLOPsPrior.
type Bin struct {
	// Index is the bin's number: the bin holds the archs whose FLOPs lie in
	// [Index*width, (Index+1)*width). The reference rounds to the nearest
	// multiple of the width instead, which shifts every bin by half a
	// width. Floor bins make "is this arch in the bin" a plain range test.
	Index int
	// Lo and Hi bound the bin in MACs: Lo <= FLOPs < Hi.
	Lo, Hi int64
	// Count is how many of the prior's samples fell in the bin.
	Count int
	// Marginals[d][c] counts the samples in the bin whose gene d (in
	// space.Dimensions order) took the choice Dimensions()[d].Choices[c].
	// Each row sums to Count, and the marginal probability is
	// Marginals[d][c] / Count.
	Marginals [][]int
}

// FLOPsPrior is the distribution of target FLOPs for attentive sampling
// (ALGORITHM.md section 6, step 1). It is the histogram of the FLOPs of
// uniformly sampled archs, and it keeps the per-dimension marginals of the
// genes in every bin (step 2). It is immutable once built, and it is safe
// for concurrent use as long as each goroutine uses its own *rand.Rand.
//
// The reference is facebookresearch/AttentiveNAS,
// sampler/attentive_nas_sampler.py (build_trasition_prob_matrix,
// sample_one_target_flops and sample_archs_according_to_flops).
//
// See also: BuildPrior, Attentive.
type FLOPsPrior struct {
	space   *space.Space
	dims    []space.Dimension
	width   int64
	samples int
	bins    []Bin // non-empty bins, ascending Index
	cum     []int // cum[i] = Count of bins[0..i]
	minBin  int   // bin of the smallest subnet
	maxBin  int   // bin of the largest subnet
}

// BuildPrior samples cfg.Samples archs uniformly with sp.Random, and bins
// their FLOPs by cfg.BinWidth. For a given space, config and rng state, the
// result is always the same.
//
// BuildPrior returns an error when sp is nil, or when cfg has a negative
// field.
func BuildPrior(sp *space.Space, cfg PriorConfig, rng *rand.Rand) (*FLOPsPrior, error) {
	if sp == nil {
		return nil, errors.New("sampler: BuildPrior: nil space")
	}
	if cfg.BinWidth < 0 || cfg.Samples < 0 {
		return nil, fmt.Errorf("sampler: BuildPrior: bin width %d and samples %d must not be negative (0 takes the default)", cfg.BinWidth, cfg.Samples)
	}
	if cfg.BinWidth == 0 {
		cfg.BinWidth = DefaultBinWidth
	}
	if cfg.Samples == 0 {
		cfg.Samples = DefaultPriorSamples
	}
	p := &FLOPsPrior{space: sp, dims: sp.Dimensions(), width: cfg.BinWidth, samples: cfg.Samples}
	p.minBin = p.BinOf(sp.FLOPs(sp.Min()))
	p.maxBin = p.BinOf(sp.FLOPs(sp.Max()))
	byIndex := map[int]*Bin{}
	for range cfg.Samples {
		a := sp.Random(rng)
		i := p.BinOf(sp.FLOPs(a))
		b := byIndex[i]
		if b == nil {
			b = &Bin{Index: i, Lo: int64(i) * p.width, Hi: int64(i+1) * p.width, Marginals: make([][]int, len(p.dims))}
			for d, dim := range p.dims {
				b.Marginals[d] = make([]int, len(dim.Choices))
			}
			byIndex[i] = b
		}
		b.Count++
		for d, v := range a.Vector() {
			b.Marginals[d][slices.Index(p.dims[d].Choices, v)]++
		}
	}
	for _, b := range byIndex {
		p.bins = append(p.bins, *b)
	}
	slices.SortFunc(p.bins, func(x, y Bin) int { return x.Index - y.Index })
	total := 0
	for _, b := range p.bins {
		total += b.Count
		p.cum = append(p.cum, total)
	}
	return p, nil
}

// Space returns the space the prior was built for.
func (p *FLOPsPrior) Space() *space.Space { return p.space }

// BinWidth returns the bin width in MACs per image.
func (p *FLOPsPrior) BinWidth() int64 { return p.width }

// Samples returns the number of uniform samples behind the histogram. It is
// also the sum of every bin's Count.
func (p *FLOPsPrior) Samples() int { return p.samples }

// BinOf returns the index of the bin that holds the given FLOPs:
// floor(flops / BinWidth).
func (p *FLOPsPrior) BinOf(flops int64) int {
	if flops < 0 {
		return int((flops - p.width + 1) / p.width)
	}
	return int(flops / p.width)
}

// Bins returns a copy of the non-empty bins, in ascending Index order.
func (p *FLOPsPrior) Bins() []Bin {
	out := make([]Bin, len(p.bins))
	for i, b := range p.bins {
		out[i] = cloneBin(b)
	}
	return out
}

// Bin returns a copy of the bin with the given index. The result is false
// when no prior sample fell in that bin.
func (p *FLOPsPrior) Bin(index int) (Bin, bool) {
	if b := p.find(index); b != nil {
		return cloneBin(*b), true
	}
	return Bin{}, false
}

func cloneBin(b Bin) Bin {
	b.Marginals = slices.Clone(b.Marginals)
	for d := range b.Marginals {
		b.Marginals[d] = slices.Clone(b.Marginals[d])
	}
	return b
}

func (p *FLOPsPrior) find(index int) *Bin {
	i, ok := slices.BinarySearchFunc(p.bins, index, func(b Bin, t int) int { return b.Index - t })
	if !ok {
		return nil
	}
	return &p.bins[i]
}

// Draw returns the index of a bin, drawn with probability proportional to
// its Count. This is the reference's sample_one_target_flops.
func (p *FLOPsPrior) Draw(rng *rand.Rand) int {
	r := rng.IntN(p.cum[len(p.cum)-1])
	i, _ := slices.BinarySearch(p.cum, r+1) // first i with cum[i] > r
	return p.bins[i].Index
}

// RandomInBin draws an arch whose FLOPs fall in the given bin, by rejection
// sampling. Each proposal draws every gene independently from the bin's
// marginals, as the reference does. A bin inside the space's FLOPs range
// but with no prior sample falls back to uniform proposals (sp.Random).
// RandomInBin returns the arch and its FLOPs.
//
// RandomInBin makes at most maxTries proposals (maxTries <= 0 means
// DefaultMaxTries). When none lands in the bin, it returns an error wrapping
// ErrInfeasible. The reference instead accepts its last, out-of-bin
// proposal. A bin outside [BinOf(FLOPs(Min)), BinOf(FLOPs(Max))] fails at
// once, with no proposals.
func (p *FLOPsPrior) RandomInBin(bin int, rng *rand.Rand, maxTries int) (space.Arch, int64, error) {
	if maxTries <= 0 {
		maxTries = DefaultMaxTries
	}
	lo, hi := int64(bin)*p.width, int64(bin+1)*p.width
	if bin < p.minBin || bin > p.maxBin {
		return space.Arch{}, 0, fmt.Errorf("sampler: bin %d [%d, %d) MACs is outside the space's FLOPs range [%d, %d]: %w",
			bin, lo, hi, p.space.FLOPs(p.space.Min()), p.space.FLOPs(p.space.Max()), ErrInfeasible)
	}
	b := p.find(bin)
	v := make([]int, len(p.dims))
	for range maxTries {
		var a space.Arch
		if b == nil {
			a = p.space.Random(rng)
		} else {
			for d, dim := range p.dims {
				v[d] = dim.Choices[pick(b.Marginals[d], b.Count, rng)]
			}
			var err error
			if a, err = p.space.ArchFromVector(v); err != nil {
				return space.Arch{}, 0, fmt.Errorf("sampler: marginals of bin %d: %w", bin, err) // cannot happen: every choice comes from Dimensions
			}
		}
		if f := p.space.FLOPs(a); f >= lo && f < hi {
			return a, f, nil
		}
	}
	src := "the bin's marginals"
	if b == nil {
		src = "uniform proposals (the prior has no sample in this bin)"
	}
	return space.Arch{}, 0, fmt.Errorf("sampler: bin %d [%d, %d) MACs: %d proposals from %s all missed: %w", bin, lo, hi, maxTries, src, ErrInfeasible)
}

// pick draws an index with probability counts[i]/total.
func pick(counts []int, total int, rng *rand.Rand) int {
	r := rng.IntN(total)
	for i, c := range counts {
		if r < c {
			return i
		}
		r -= c
	}
	return len(counts) - 1 // unreachable when counts sum to total
}
