package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the Go garbage collector a soft limit of 3/4 of the
// memory this process may use (the cgroup's limit, else the machine's),
// unless GOMEMLIMIT is set. A training job keeps ~2.3 GB of live buffers
// at batch 64; with the default GOGC alone the heap may grow to twice the
// live data, so two jobs side by side peaked at ~9 GB. The limit makes the
// collector work harder instead as memory runs short. It applies to the
// launcher and to workers (it runs before beam.Init).
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if limit := availableMemory(); limit > 0 {
		debug.SetMemoryLimit(limit / 4 * 3)
	}
}

// gcPercent is the collector's GOGC unless the environment sets one. The
// training engine and the evaluation buffers are long-lived and make up
// most of the heap, while a step leaves a few megabytes of garbage; with
// the default 100 the heap grows to twice the engine's buffers between
// collections (a training job at batch 128 peaked at 716 MB RSS, 600 MB of
// it heap), with 50 to one and a half times.
const gcPercent = 50

func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// availableMemory is the cgroup v2 memory limit or MemTotal, in bytes; 0
// when neither can be read.
func availableMemory() int64 {
	total := memTotal()
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			return n
		}
	}
	return total
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
