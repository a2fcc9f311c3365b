package main

import (
	"context"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/vet"
)

// TestRegistered builds each command's pipeline as the command does and
// runs the SDK's vet evaluation on it: it fails unless every DoFn,
// CombineFn, function, emitter, iterator and type in the graph is
// registered, which remote workers (Dataflow) need and which makes every
// call reflection-free. Add a row per command that runs a pipeline.
func TestRegistered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, s beam.Scope) error // adds the command's pipeline to s
	}{
		{"preprocess", func(t *testing.T, s beam.Scope) error {
			dir := t.TempDir()
			writeTinyIDX(t, dir)
			cfg := parsePreprocessFlags(t, "--data="+dir, "--output="+t.TempDir(), "--val=2", "--calib=1")
			_, err := buildPreprocess(s, cfg)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			if err := tc.build(t, s); err != nil {
				t.Fatal(err)
			}
			e, err := vet.Evaluate(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Performant() {
				_, err := vet.Execute(context.Background(), p) // the same evaluation, with its diagnostics
				t.Fatalf("%s: unregistered functions or types (RequiresRegistrations %v, UsesDefaultReflectionShims %v):\n%v",
					tc.name, e.RequiresRegistrations(), e.UsesDefaultReflectionShims(), err)
			}
		})
	}
}
