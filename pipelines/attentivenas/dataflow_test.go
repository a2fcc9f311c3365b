package main

import (
	"context"
	"flag"
	"strings"
	"testing"
)

// TestDataflowDryRun submits the whole pipeline to the Dataflow runner with
// --dry_run and fake project, region and bucket: the job graph must
// translate to a Dataflow job (every coder, DoFn and side input encodable),
// offline and without credentials.
func TestDataflowDryRun(t *testing.T) {
	for name, value := range map[string]string{
		"runner": "dataflow", "dry_run": "true", "project": "test-project",
		"region": "us-central1", "staging_location": "gs://test-bucket/staging",
		// The first prism run of the process sets loopback for every later
		// one (its in-process job server stays up), and Dataflow rejects
		// it: the default (the SDK container) is what a user gets. The
		// cleanup restores loopback for the prism runs after this test.
		"environment_type": "",
	} {
		old := flag.Lookup(name)
		if old == nil {
			t.Fatalf("flag --%s is not registered: is the Dataflow runner linked in?", name)
		}
		prev := old.Value.String()
		if err := flag.Set(name, value); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flag.Set(name, prev) })
	}
	dir := t.TempDir()
	writeIDX(t, dir, 28, 40, 8)
	f := parseNASFlags(t, "--output=gs://test-bucket/out")
	pre := parsePreprocessFlags(t, "--data="+dir, "--output="+f.output, "--val=10", "--calib=5")
	var out strings.Builder
	if err := runAll(context.Background(), &out, f, pre); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "run: running on dataflow") || !strings.Contains(out.String(), "job submitted") {
		t.Errorf("output:\n%s", out.String())
	}
}
