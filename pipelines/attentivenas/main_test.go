package main

import (
	"os"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// TestMain runs the command's pipelines on ptest's runner: prism unless
// -runner says otherwise.
func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn" // before beam.Init: no prism/SDK INFO lines
	ptest.Main(m)
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
