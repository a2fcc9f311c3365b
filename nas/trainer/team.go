package trainer

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// team runs a function on n shards at once: shard 0 on the caller, the
// others on long-lived workers. A step runs a few hundred such phases,
// each a millisecond or two; between them a worker spins for a while
// before it sleeps, because waking a sleeping thread (and, on a virtual
// machine, its halted vCPU) took a third of a millisecond a phase when
// every phase started fresh goroutines. Spinning yields to other
// goroutines (runtime.Gosched), so jobs that share the cores still run.
type team struct {
	n       int
	gen     atomic.Uint64 // bumped once per phase; ^0 stops the workers
	job     func(s int)
	pending atomic.Int32 // workers still running the current phase
	wake    []chan struct{}
	asleep  []atomic.Bool
	mu      sync.Mutex
	failure any // a panic of a worker, re-raised on the caller
	started bool
}

// spinFor is how long an idle worker spins before it sleeps: longer than
// the serial work between two phases of a step (graph builds and the SGD
// update take a millisecond or two), short against a step. With 0.3 ms
// the workers slept several times a step and some wake-ups took 2 ms.
const spinFor = 2 * time.Millisecond

const stopGen = ^uint64(0)

func newTeam(n int) *team {
	t := &team{n: n, wake: make([]chan struct{}, n), asleep: make([]atomic.Bool, n)}
	for s := range t.wake {
		t.wake[s] = make(chan struct{}, 1)
	}
	return t
}

// run runs f(0..n-1) concurrently and waits; a panic in any shard is
// re-raised on the caller.
func (t *team) run(f func(s int)) {
	if t.n == 1 {
		f(0)
		return
	}
	if !t.started {
		t.started = true
		for s := 1; s < t.n; s++ {
			go t.worker(s)
		}
	}
	t.job = f
	t.pending.Store(int32(t.n - 1))
	t.gen.Add(1)
	for s := 1; s < t.n; s++ {
		if t.asleep[s].Load() {
			select {
			case t.wake[s] <- struct{}{}:
			default:
			}
		}
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.fail(r)
			}
		}()
		f(0)
	}()
	for spins := 0; t.pending.Load() > 0; spins++ {
		runtime.Gosched()
	}
	t.job = nil
	if t.failure != nil {
		r := t.failure
		t.failure = nil
		panic(r)
	}
}

func (t *team) fail(r any) {
	t.mu.Lock()
	if t.failure == nil {
		t.failure = r
	}
	t.mu.Unlock()
}

func (t *team) worker(s int) {
	seen := uint64(0)
	for {
		g := t.gen.Load()
		start := time.Now()
		for i := 0; g == seen; i++ {
			if i&255 != 255 { // a phase is usually microseconds away
				g = t.gen.Load()
				continue
			}
			if time.Since(start) < spinFor {
				runtime.Gosched()
				g = t.gen.Load()
				continue
			}
			t.asleep[s].Store(true)
			if g = t.gen.Load(); g == seen {
				<-t.wake[s]
				g = t.gen.Load()
			}
			t.asleep[s].Store(false)
			start = time.Now()
		}
		seen = g
		if g == stopGen {
			return
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.fail(r)
				}
			}()
			t.job(s)
		}()
		t.pending.Add(-1)
	}
}

// stop ends the workers.
func (t *team) stop() {
	if !t.started {
		return
	}
	t.started = false
	t.gen.Store(stopGen)
	for s := 1; s < t.n; s++ {
		select {
		case t.wake[s] <- struct{}{}:
		default:
		}
	}
}
