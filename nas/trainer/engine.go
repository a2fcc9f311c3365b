package trainer

import (
	"math"
	"sync"
	"unsafe"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// The training engine under the gorgonia graphs: every layer op runs its
// forward or backward pass as a few phases, each split by images over a
// fixed number of shards that run on their own goroutines; between phases,
// on the caller, the shards' BatchNorm partial sums are combined in shard
// order. Apart from the SGD update, nothing of a step runs on one core,
// and results depend on the shard count (a setting), never on the number
// of cores or on scheduling.
//
// Memory: a run's saved tensors and layer outputs come from one arena that
// is reset when the next graph runs (graphs of one trainer run one after
// another); each shard has a scratch arena reset at every layer call; the
// input gradients of the backward pass alternate between two buffers. Once
// the largest subnet has run, a step allocates nothing large.

// DefaultShards is the number of image groups a step is split into.
const DefaultShards = 2

// bnEps is BatchNorm's epsilon, the reference's bn_param (0, 1e-5).
const bnEps = 1e-5

// arena hands out windows of one buffer, reset as a whole. A cycle that
// needs more than the buffer holds gets fresh slices for the overflow and a
// buffer of the whole size at the next reset. Windows are not zeroed: every
// user writes before it reads.
type arena[T float] struct {
	buf       []T
	off       int
	overflows int // allocations that did not fit, ever (the tests want none)
}

func (a *arena[T]) alloc(n int) []T {
	o := a.off
	a.off += n
	if a.off <= len(a.buf) {
		return a.buf[o:a.off:a.off]
	}
	a.overflows++
	return make([]T, n)
}

// reserve makes the buffer hold at least n elements (only between
// cycles: windows handed out before are not carried over).
func (a *arena[T]) reserve(n int) {
	if n > len(a.buf) {
		a.buf = make([]T, n)
	}
}

func (a *arena[T]) reset() {
	if a.off > len(a.buf) {
		a.buf = make([]T, a.off)
	}
	a.off = 0
}

// engine is what a trainer's graphs share.
type engine[T float] struct {
	prims[T]
	shards  int
	acts    arena[T]   // saved tensors and layer outputs of the running graph
	scratch []arena[T] // per shard, reset at every layer call
	ring    [2][]T     // input gradients of the backward pass, alternately
	part    [][]float64
	team    *team
	grads   map[int][][]T // free per-shard parameter-gradient buffers by length
	mu      sync.Mutex    // guards grads (graphs close from any goroutine)
}

func newEngine[T float](p prims[T], shards int) *engine[T] {
	if shards < 1 {
		shards = DefaultShards
	}
	return &engine[T]{prims: p, shards: shards, scratch: make([]arena[T], shards),
		part: make([][]float64, shards), grads: map[int][][]T{}, team: newTeam(shards)}
}

// images returns the images [i0, i1) of shard s of a batch of B.
func (e *engine[T]) images(s, B int) (i0, i1 int) {
	return B * s / e.shards, B * (s + 1) / e.shards
}

// beginLayer resets the shards' scratch arenas.
func (e *engine[T]) beginLayer() {
	for s := range e.scratch {
		e.scratch[s].reset()
	}
}

// each runs f on every shard of a batch of B images concurrently (shard 0
// on the caller) and waits. A panic in a shard is re-raised on the caller.
func (e *engine[T]) each(B int, f func(s, i0, i1 int)) {
	e.team.run(func(s int) {
		i0, i1 := e.images(s, B)
		f(s, i0, i1)
	})
}

// close stops the engine's workers.
func (e *engine[T]) close() { e.team.stop() }

// partial returns shard s's zeroed float64 sums for C channels: two
// vectors of C.
func (e *engine[T]) partial(s, C int) (s1, s2 []float64) {
	if len(e.part[s]) < 2*C {
		e.part[s] = make([]float64, 2*C)
	}
	p := e.part[s][:2*C]
	clear(p)
	return p[:C], p[C:]
}

// bnState is one BatchNorm's batch statistics in a run.
type bnState[T float] struct {
	mean, invstd, a []T // a = gamma*invstd
}

// bnSumsPart adds shard s's sums of z (its own rows: M x C) for a
// BatchNorm forward, with its first row as the shift.
func (e *engine[T]) bnSumsPart(s int, z []T, M, C int) {
	s1, s2 := e.partial(s, C)
	if M > 0 {
		e.bnSums(s1, s2, z, M, C, z[:C])
	}
}

// bnStats combines the shards' sums of z [B*P, C] (P rows per image) into
// the batch statistics, pairwise in shard order (each shard's shift is its
// first row).
func (e *engine[T]) bnStats(z []T, B, P, C int, gamma []T) bnState[T] {
	st := bnState[T]{mean: e.acts.alloc(C), invstd: e.acts.alloc(C), a: e.acts.alloc(C)}
	for c := 0; c < C; c++ {
		var n, mean, m2 float64
		for s := 0; s < e.shards; s++ {
			i0, i1 := e.images(s, B)
			ns := float64((i1 - i0) * P)
			if ns == 0 {
				continue
			}
			s1, s2 := e.part[s][c], e.part[s][C+c]
			ms := float64(z[i0*P*C+c]) + s1/ns
			m2s := s2 - s1*s1/ns
			if n == 0 {
				n, mean, m2 = ns, ms, m2s
				continue
			}
			d, nt := ms-mean, n+ns
			mean += d * ns / nt
			m2 += m2s + d*d*n*ns/nt
			n = nt
		}
		inv := 1 / math.Sqrt(max(m2/n, 0)+bnEps)
		st.mean[c], st.invstd[c] = T(mean), T(inv)
		st.a[c] = gamma[c] * T(inv)
	}
	return st
}

// bnBackwardSumsPart adds shard s's backward sums over its rows of dy and
// z (M x C); it writes dz to dz when the kernels prefer that and reports
// whether they did.
func (e *engine[T]) bnBackwardSumsPart(s int, dz, dy, z []T, M, C int, st bnState[T], beta []T, act kernels.Act) bool {
	s1, s2 := e.partial(s, C)
	if M == 0 {
		return false
	}
	return e.bnBackwardSums(s1, s2, dz, dy, z, M, C, st.mean, st.a, beta, act)
}

// bnCoeffs are the backward coefficients of one BatchNorm.
type bnCoeffs[T float] struct{ k1, k2 []T }

// bnBackwardFinish adds the shards' backward sums in shard order and
// returns the coefficients; it accumulates dgamma and dbeta.
func (e *engine[T]) bnBackwardFinish(st bnState[T], N, C int, dgamma, dbeta []T) bnCoeffs[T] {
	sdz, sdzx := e.part[0][:C], e.part[0][C:2*C]
	for s := 1; s < e.shards; s++ {
		for c := 0; c < C; c++ {
			sdz[c] += e.part[s][c]
			sdzx[c] += e.part[s][C+c]
		}
	}
	k := bnCoeffs[T]{k1: e.acts.alloc(C), k2: e.acts.alloc(C)}
	e.bnBackwardCoeffs(k.k1, k.k2, dgamma, dbeta, sdz, sdzx, st.a, st.invstd, N)
	return k
}

// ringFor returns the buffer of n elements the backward op whose input
// gradient is dy writes its output gradient to: the ring slot dy is not in.
func (e *engine[T]) ringFor(dy []T, n int) []T {
	slot := 0
	if len(dy) > 0 && len(e.ring[0]) > 0 && &dy[0] == &e.ring[0][0] {
		slot = 1
	}
	if len(e.ring[slot]) < n {
		e.ring[slot] = make([]T, n)
	}
	return e.ring[slot][:n:n]
}

// takeGrads returns shard buffers for a layer's parameter gradients.
func (e *engine[T]) takeGrads(n int) [][]T {
	e.mu.Lock()
	defer e.mu.Unlock()
	free := e.grads[n]
	if len(free) >= e.shards {
		g := free[len(free)-e.shards:]
		e.grads[n] = free[:len(free)-e.shards]
		return g
	}
	g := make([][]T, e.shards)
	for s := range g {
		g[s] = make([]T, n)
	}
	return g
}

func (e *engine[T]) putGrads(g [][]T) {
	if len(g) == 0 {
		return
	}
	e.mu.Lock()
	e.grads[len(g[0])] = append(e.grads[len(g[0])], g...)
	e.mu.Unlock()
}

// reduceGrads adds the shards' gradients into g[0], in shard order, each
// shard summing its own range of elements.
func (e *engine[T]) reduceGrads(g [][]T) {
	n := len(g[0])
	e.each(n, func(_, lo, hi int) {
		dst := g[0][lo:hi]
		for s := 1; s < len(g); s++ {
			e.add(dst, dst, g[s][lo:hi])
		}
	})
}

// memoryBytes is what the engine's arenas and buffers hold.
func (e *engine[T]) memoryBytes() int64 {
	var z T
	n := len(e.acts.buf) + len(e.ring[0]) + len(e.ring[1])
	for s := range e.scratch {
		n += len(e.scratch[s].buf)
	}
	e.mu.Lock()
	for _, l := range e.grads {
		for _, g := range l {
			n += len(g)
		}
	}
	e.mu.Unlock()
	return int64(n) * int64(unsafe.Sizeof(z))
}
