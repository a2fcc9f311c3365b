package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Act selects an activation function. The zero value is ActNone.
type Act int

// Activations. HSigmoid is used by the squeeze-excite gate; the others follow
// a BatchNorm (ALGORITHM.md section 2).
const (
	ActNone     Act = iota // identity
	ActReLU                // max(x, 0)
	ActHSwish              // x * relu6(x+3) / 6 (MobileNetV3)
	ActSwish               // x * sigmoid(x)
	ActHSigmoid            // relu6(x+3) / 6
)

var actNames = [...]string{"none", "relu", "hswish", "swish", "hsigmoid"}

// String returns the name accepted by ParseAct.
func (a Act) String() string {
	if a >= 0 && int(a) < len(actNames) {
		return actNames[a]
	}
	return fmt.Sprintf("Act(%d)", int(a))
}

// ParseAct maps "none", "relu", "hswish" (or "h_swish"), "swish" and
// "hsigmoid" (or "h_sigmoid") to an Act.
func ParseAct(s string) (Act, error) {
	switch s {
	case "none", "", "identity":
		return ActNone, nil
	case "relu":
		return ActReLU, nil
	case "hswish", "h_swish":
		return ActHSwish, nil
	case "swish", "silu":
		return ActSwish, nil
	case "hsigmoid", "h_sigmoid":
		return ActHSigmoid, nil
	}
	return ActNone, fmt.Errorf("kernels: unknown activation %q", s)
}

func (a Act) check() {
	if a < ActNone || a > ActHSigmoid {
		panic(fmt.Sprintf("kernels: invalid activation %d", int(a)))
	}
}

// maxThreads is the goroutine budget of one kernel call; 0 means GOMAXPROCS.
var maxThreads atomic.Int32

// SetMaxThreads limits the number of goroutines one kernel call may use and
// returns the previous limit. n <= 0 restores the default, GOMAXPROCS.
// Kernels called concurrently from several goroutines each use up to n.
func SetMaxThreads(n int) int {
	prev := MaxThreads()
	if n < 0 {
		n = 0
	}
	maxThreads.Store(int32(n))
	return prev
}

// MaxThreads returns the current goroutine budget of one kernel call.
func MaxThreads() int {
	if n := int(maxThreads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// forceGeneric disables every SIMD path (see SetGeneric).
var forceGeneric atomic.Bool

// SetGeneric(true) makes every kernel use its portable pure-Go path, even
// where assembly or archsimd code is available; SetGeneric(false) restores
// the automatic choice. It exists for tests and benchmarks and must not be
// called while kernels run.
func SetGeneric(on bool) { forceGeneric.Store(on) }

// useGemmAsm reports whether the assembly GEMM micro-kernels are active.
func useGemmAsm() bool { return haveGemmAsm && !forceGeneric.Load() }

// useSIMD reports whether the archsimd (AVX-512) kernels are active.
func useSIMD() bool { return haveSIMD && !forceGeneric.Load() }

// Backend describes the active code paths:
//
//   - "avx512": AVX-512 assembly (GEMM, depthwise, BatchNorm and
//     activations) and archsimd kernels for the rest (GOEXPERIMENT=simd
//     build on an AVX-512 CPU);
//   - "avx512-gemm": the same assembly, pure-Go other kernels (default
//     amd64 build on an AVX-512 CPU);
//   - "avx2-gemm": AVX2/FMA assembly GEMM, pure-Go other kernels;
//   - "generic": pure Go everywhere (other architectures, the purego tag,
//     old CPUs, or SetGeneric(true)).
func Backend() string {
	switch {
	case useGemmAsm() && gemmAVX512 && useSIMD():
		return "avx512"
	case useGemmAsm() && gemmAVX512:
		return "avx512-gemm"
	case useGemmAsm():
		return "avx2-gemm"
	}
	return "generic"
}

// Threads is the goroutine budget of one kernel call: 0 means MaxThreads(),
// 1 runs the call on the calling goroutine. Callers that already split
// their work over goroutines (the sharded training engine, nas/trainer) use
// Threads(1), so that results depend only on their own split and never on
// the machine's core count. The package-level functions are Threads(0).
type Threads int

// threadsFor returns how many goroutines a call doing about work
// floating-point operations should use: one per minWork, at most MaxThreads.
func threadsFor(work, minWork int) int { return Threads(0).limit(work, minWork) }

// limit is threadsFor under the budget t.
func (t Threads) limit(work, minWork int) int {
	nt := int(t)
	if nt <= 0 {
		nt = MaxThreads()
	}
	if minWork < 1 {
		minWork = 1
	}
	if w := work / minWork; w < nt {
		nt = w
	}
	if nt < 1 {
		nt = 1
	}
	return nt
}

// parallel runs fn(0..nw-1) on nw goroutines (the caller's included) and
// waits for all of them.
func parallel(nw int, fn func(w int)) {
	if nw <= 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(nw - 1)
	for w := 1; w < nw; w++ {
		go func() {
			defer wg.Done()
			fn(w)
		}()
	}
	fn(0)
	wg.Wait()
}

// span returns the w-th of nw near-equal parts of [0, n), with part
// boundaries on multiples of align.
func span(n, nw, w, align int) (lo, hi int) {
	units := (n + align - 1) / align
	lo = units * w / nw * align
	hi = units * (w + 1) / nw * align
	if lo > n {
		lo = n
	}
	if hi > n {
		hi = n
	}
	return lo, hi
}

// Scratch buffers. Buffers come from size classes of powers of two so a pool
// hit always fits.
var f32Pools [40]sync.Pool

func getF32(n int) *[]float32 {
	c := 0
	for 1<<c < n {
		c++
	}
	if v := f32Pools[c].Get(); v != nil {
		return v.(*[]float32)
	}
	s := make([]float32, 1<<c)
	return &s
}

func putF32(p *[]float32) {
	c := 0
	for 1<<c < cap(*p) {
		c++
	}
	*p = (*p)[:cap(*p)]
	f32Pools[c].Put(p)
}

var f64Pools [40]sync.Pool

func getF64(n int) *[]float64 {
	c := 0
	for 1<<c < n {
		c++
	}
	if v := f64Pools[c].Get(); v != nil {
		return v.(*[]float64)
	}
	s := make([]float64, 1<<c)
	return &s
}

func putF64(p *[]float64) {
	c := 0
	for 1<<c < cap(*p) {
		c++
	}
	*p = (*p)[:cap(*p)]
	f64Pools[c].Put(p)
}

// need panics unless s holds at least n elements.
func need(name string, s []float32, n int) {
	if n > 0 && len(s) < n {
		panic(fmt.Sprintf("kernels: %s has %d elements, need %d", name, len(s), n))
	}
}

func need64(name string, s []float64, n int) {
	if n > 0 && len(s) < n {
		panic(fmt.Sprintf("kernels: %s has %d elements, need %d", name, len(s), n))
	}
}

func nonneg(vals ...int) {
	for _, v := range vals {
		if v < 0 {
			panic(fmt.Sprintf("kernels: negative dimension %d", v))
		}
	}
}
