package bench

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/attentivenas/attentivenas/nas/kernels"
)

// Env is the context of a measurement: the build and the machine. Result
// embeds it, so its fields are part of every result's JSON object.
type Env struct {
	Threads       int    `json:"threads"`        // GOMAXPROCS
	KernelThreads int    `json:"kernel_threads"` // kernels.MaxThreads: goroutines per kernel call
	Backend       string `json:"backend"`        // kernels.Backend: "avx512", "avx512-gemm", "avx2-gemm" or "generic"
	SIMD          bool   `json:"simd"`           // built with GOEXPERIMENT=simd (archsimd kernels compiled in)
	GoExperiment  string `json:"goexperiment,omitempty"`
	GoVersion     string `json:"go_version"`
	GOARCH        string `json:"goarch"`
	CPU           string `json:"cpu,omitempty"` // model name from /proc/cpuinfo, where there is one
}

// Environment returns the current Env. The kernel settings are read at the
// call; the rest is fixed for the process.
func Environment() Env {
	e := staticEnv()
	e.Threads = runtime.GOMAXPROCS(0)
	e.KernelThreads = kernels.MaxThreads()
	e.Backend = kernels.Backend()
	return e
}

var staticEnv = sync.OnceValue(func() Env {
	e := Env{SIMD: simdBuild, GoVersion: runtime.Version(), GOARCH: runtime.GOARCH, CPU: cpuModel()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" {
				e.GoExperiment = s.Value
			}
		}
	}
	return e
})

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1-minute load average from /proc/loadavg, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
