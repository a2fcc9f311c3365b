package main

import (
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
