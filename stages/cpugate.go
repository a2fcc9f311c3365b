package stages

import (
	"sync"
	"time"

	"github.com/attentivenas/attentivenas/nas/infer"
)

// cpuGate keeps latency measurements apart from the process's own heavy
// work: batch-1 latency is a Pareto axis and calibrates the search's latency
// model, so it must not carry the noise of another bundle's BN
// recalibration on the other core. Heavy work (training steps, BN
// recalibration and evaluation, predictor fitting and scoring, search)
// takes shared access; a latency measurement takes exclusive access, so it
// runs alone, and heavy work waits for it (only for one measurement: a
// few milliseconds).
//
// One gate per process, because Beam runs a worker's bundles as goroutines
// of one process. Go's RWMutex lets a waiting writer in before new readers,
// so a measurement never starves; code must not take shared access twice
// in one goroutine (a waiting writer would deadlock it).
type cpuGate struct {
	mu sync.RWMutex
	// observe, when set (tests only), is called inside each section as it
	// begins and ends, with the section's kind.
	observe func(kind string, begin bool)
}

var cpu cpuGate

// shared runs f with shared access: other heavy work may run alongside, a
// latency measurement may not.
func (g *cpuGate) shared(kind string, f func() error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.observe != nil {
		g.observe(kind, true)
		defer g.observe(kind, false)
	}
	return f()
}

// exclusive runs f alone.
func (g *cpuGate) exclusive(kind string, f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.observe != nil {
		g.observe(kind, true)
		defer g.observe(kind, false)
	}
	f()
}

// heldShared is shared access held across many steps of a long job (a
// training job), released between steps so that a latency measurement
// waits for at most one step.
type heldShared struct {
	g    *cpuGate
	kind string
	held bool
}

func (g *cpuGate) hold(kind string) *heldShared {
	h := &heldShared{g: g, kind: kind}
	h.acquire()
	return h
}

func (h *heldShared) acquire() {
	h.g.mu.RLock()
	h.held = true
	if h.g.observe != nil {
		h.g.observe(h.kind, true)
	}
}

// yield lets a waiting latency measurement run, then takes access again.
func (h *heldShared) yield() {
	h.release()
	h.acquire()
}

func (h *heldShared) release() {
	if !h.held {
		return
	}
	if h.g.observe != nil {
		h.g.observe(h.kind, false)
	}
	h.held = false
	h.g.mu.RUnlock()
}

// measureLatency is infer.Latency run alone in the process (see cpuGate).
func measureLatency(m *infer.Model, runs int) (time.Duration, int) {
	var lat time.Duration
	var threads int
	cpu.exclusive("latency", func() { lat, threads = infer.Latency(m, runs) })
	return lat, threads
}
