//go:build !unix

package infer

import "time"

// ProcessCPUTime is not available on this platform.
func ProcessCPUTime() (time.Duration, bool) { return 0, false }
