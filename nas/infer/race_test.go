//go:build race

package infer

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// the kernels' scratch buffers are reallocated and allocation counts mean
// nothing.
const raceEnabled = true
