package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/stages/pqio"
)

// Environment of the test binary run as the attentivenas command (see
// cliCommand): cliEnv makes it the command; holdEnv names a directory
// where the command, once it holds its output's lock, writes held-<pid> and
// waits for a file "release"; killEnv ("N" or "N:substring") makes it kill
// itself (SIGKILL: no cleanup runs) before the N-th commit step (counting
// only steps whose path contains substring).
const (
	cliEnv  = "ATTENTIVENAS_TEST_CLI"
	holdEnv = "ATTENTIVENAS_TEST_HOLD"
	killEnv = "ATTENTIVENAS_TEST_KILL_AT"
)

// TestMain runs the command's pipelines on ptest's runner: prism unless
// -runner says otherwise. With cliEnv set, the test binary is the
// attentivenas command instead, with the test seams the environment asks
// for.
func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		installTestSeams()
		main()
		os.Exit(0)
	}
	beamlog.LogLevel = "warn" // before beam.Init: no prism/SDK INFO lines
	ptest.Main(m)
}

func installTestSeams() {
	if dir := os.Getenv(holdEnv); dir != "" {
		lockHeld = func(string) {
			held := filepath.Join(dir, fmt.Sprintf("held-%d", os.Getpid()))
			if err := os.WriteFile(held, nil, 0o644); err != nil {
				panic(err)
			}
			for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
					return
				}
			}
			panic("never released")
		}
	}
	if spec := os.Getenv(killEnv); spec != "" {
		nStr, sub, _ := strings.Cut(spec, ":")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			panic(err)
		}
		seen := 0
		pqio.SetFaultHook(func(ev pqio.CommitEvent) error {
			if !strings.Contains(ev.Path, sub) {
				return nil
			}
			if seen++; seen == n {
				fmt.Fprintf(os.Stderr, "test: killed before %s\n", ev)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			}
			return nil
		})
	}
}

func TestAvailableMemory(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	n := availableMemory()
	if n < 64<<20 || n > memTotal() {
		t.Errorf("available memory %d bytes; MemTotal %d", n, memTotal())
	}
}
