package pqio

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/vet"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// counter returns the committed (else attempted) value of a pqio counter,
// summed over steps.
func counter(pr beam.PipelineResult, name string) int64 {
	var sum int64
	res := pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == "pqio" && r.Name() == name })
	for _, c := range res.Counters() {
		sum += c.Result()
	}
	return sum
}

// writeReadPipeline writes rows to dir/prefix and reads them back from the
// emitted paths, asserting the rows' keys and the number of paths.
func writeReadPipeline(dir, prefix string, rows []testRow, opts ...Option) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	in := beam.CreateList(s, rows)
	if len(rows) > 10 {
		// Slow rows make prism split the writer's bundle, so several shards are written.
		in = beam.ParDo(s, slowFn, beam.Reshuffle(s, in))
	}
	files := Write[testRow](s, dir, prefix, in, opts...)
	back := Read[testRow](s, files)
	keys := beam.ParDo(s, rowKey, back)
	if len(rows) == 0 {
		passert.Empty(s, keys)
		passert.Count(s, files, "files", 1)
	} else {
		passert.Equals(s, keys, anySlice(keysOf(rows))...)
	}
	return p
}

// runnerName is the runner ptest uses: -runner, else ptest's default.
func runnerName() string {
	if *ptest.Runner != "" {
		return *ptest.Runner
	}
	return ptest.DefaultRunner()
}

func anySlice[E any](xs []E) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// slowFn sleeps on every 75th row. Prism splits a bundle that shows no
// progress over two 100 ms progress ticks, so each sleep can start a new
// bundle (and a new shard) for the rest of the input.
func slowFn(r testRow) testRow {
	if r.ID%75 == 0 {
		time.Sleep(300 * time.Millisecond)
	}
	return r
}

var shardRE = regexp.MustCompile(`^part-(\d{5})-of-(\d{5})\.parquet$`)

// checkShards asserts dir holds a complete shard set of "part" (plus extra),
// its manifest and nothing else, that the manifest lists exactly the
// shards, and that together the shards hold want; it returns the count.
func checkShards(t *testing.T, dir string, want []testRow, extra ...string) int {
	t.Helper()
	var shards []string
	n := ""
	for _, e := range dirEntries(t, dir) {
		if slices.Contains(extra, e) || e == "_part.manifest.json" {
			continue
		}
		m := shardRE.FindStringSubmatch(e)
		if m == nil {
			t.Errorf("unexpected entry %q in %s", e, dir)
			continue
		}
		if n != "" && m[2] != n {
			t.Errorf("shards of two sets: %q after -of-%s", e, n)
		}
		n = m[2]
		shards = append(shards, e)
	}
	var got []testRow
	for i, sh := range shards {
		if want := shardName(dir, "part", i, len(shards)); filepath.Join(dir, sh) != want {
			t.Errorf("shard %d is %s, want %s", i, sh, want)
		}
		rows, _, err := ReadFile[testRow](context.Background(), filepath.Join(dir, sh))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rows...)
	}
	if !slices.Equal(keysOf(got), keysOf(want)) {
		t.Errorf("shards hold %d rows, want %d", len(got), len(want))
	}
	listed, _, err := SetFiles(context.Background(), dir, "part")
	if err != nil {
		t.Fatal(err)
	}
	for i := range listed {
		listed[i] = filepath.Base(listed[i])
	}
	if !slices.Equal(listed, shards) {
		t.Errorf("the manifest lists %v, the directory holds %v", listed, shards)
	}
	return len(shards)
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	rows := makeRows(300)
	pr, err := ptest.RunWithMetrics(writeReadPipeline(dir, "part", rows, RowGroupRows(16)))
	if err != nil {
		t.Fatal(err)
	}
	n := checkShards(t, dir, rows)
	t.Logf("%s: %d shards", runnerName(), n)
	if runnerName() == "prism" && n < 2 {
		t.Errorf("prism wrote %d shard(s); the slow rows should have split the bundle", n)
	}
	for name, want := range map[string]int64{
		"rows_written":    300,
		"shards_written":  int64(n),
		"files_committed": int64(n),
		"files_listed":    int64(n),
		"rows_read":       300,
	} {
		if got := counter(pr, name); got != want {
			t.Errorf("counter %s = %d, want %d", name, got, want)
		}
	}
	if got := counter(pr, "row_groups_read"); got < 300/16 {
		t.Errorf("row_groups_read = %d, want >= %d", got, 300/16)
	}
}

// TestWriteRerun runs into a directory that holds a larger stale shard set,
// unrelated files and an orphan left by a failed bundle attempt, then runs
// again: each run leaves exactly one shard set and nothing else of its own.
func TestWriteRerun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := range 9 {
		if err := WriteFile(ctx, shardName(dir, "part", i, 9), makeRows(1)); err != nil {
			t.Fatal(err)
		}
	}
	keep := []string{"part-aug-00000-of-00001.parquet", "other-00000-of-00001.parquet", "notes.txt"}
	for _, k := range keep {
		if err := os.WriteFile(filepath.Join(dir, k), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	orphan := joinPath(tmpDirName(dir, "part"), "0123456789abcdef.parquet")
	if err := WriteFile(ctx, orphan, []testRow{{ID: 999, Name: "orphan"}}); err != nil {
		t.Fatal(err)
	}
	rows := makeRows(40)
	for run := range 2 {
		pr, err := ptest.RunWithMetrics(writeReadPipeline(dir, "part", rows))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		n := checkShards(t, dir, rows, keep...)
		wantStale := int64(9) // the old set is "-of-00009": all stale unless the new one has 9 shards too
		if n == 9 {
			wantStale = 0
		}
		if run == 0 && counter(pr, "stale_files_removed") != wantStale {
			t.Errorf("run 0: stale_files_removed = %d with %d new shards", counter(pr, "stale_files_removed"), n)
		}
		for _, k := range keep {
			if b, err := os.ReadFile(filepath.Join(dir, k)); err != nil || string(b) != "keep" {
				t.Errorf("run %d: %s was touched: %q, %v", run, k, b, err)
			}
		}
	}
}

func TestWriteEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := ptest.Run(writeReadPipeline(dir, "part", []testRow{})); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"_part.manifest.json", "part-00000-of-00001.parquet"}) {
		t.Errorf("directory holds %v, want one empty shard and its manifest", got)
	}
	checkShards(t, dir, nil)
}

func TestReadGlob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var all []testRow
	for i, rows := range [][]testRow{makeRows(5), makeRows(12)[5:], nil} {
		if err := WriteFile(ctx, filepath.Join(dir, "f"+string(rune('a'+i))+".parquet"), rows, RowGroupRows(4)); err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
	}
	p, s := beam.NewPipelineWithRoot()
	keys := beam.ParDo(s, rowKey, ReadGlob[testRow](s, filepath.Join(dir, "*.parquet")))
	passert.Equals(s, keys, anySlice(keysOf(all))...)
	ptest.RunAndValidate(t, p)
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v2 := filepath.Join(dir, "v2.parquet")
	if err := WriteFile(ctx, v2, []testRowV2{{ID: 1}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		build func(s beam.Scope)
		want  []string
	}{
		{
			name:  "wrong version",
			build: func(s beam.Scope) { Read[testRow](s, beam.Create(s, v2)) },
			want:  []string{v2, "schema version mismatch", "pqio.testRow/v2"},
		},
		{
			name:  "no match",
			build: func(s beam.Scope) { ReadGlob[testRow](s, filepath.Join(dir, "zzz-*.parquet")) },
			want:  []string{"no file matches", "zzz-*.parquet"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			tc.build(s)
			err := ptest.Run(p)
			if err == nil {
				t.Fatal("pipeline succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRegistered proves every function, DoFn, emitter and iterator that
// Write, Read and ReadGlob use is registered (the vet runner flags anything
// that would fall back to reflection or fail on a remote worker).
func TestRegistered(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	files := Write[testRow](s, t.TempDir(), "part", beam.CreateList(s, makeRows(3)))
	Read[testRow](s, files)
	ReadGlob[otherRow](s, filepath.Join(t.TempDir(), "*.parquet"))
	e, err := vet.Evaluate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Performant() {
		e.Generate("pqio") // writes the diagnostics and the missing registrations
		t.Errorf("unregistered functions or types:\n%s", e.Bytes())
	}
}

// TestWriteAfterIncomplete: with After, a write whose upstream finished
// fewer work items than announced commits nothing and fails the job.
func TestWriteAfterIncomplete(t *testing.T) {
	dir := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	done := beam.Create(s, "item-0", "item-1")
	Write[testRow](s, dir, "part", beam.CreateList(s, makeRows(20)), After(done, 3))
	_, err := ptest.RunWithMetrics(p)
	if err == nil || !strings.Contains(err.Error(), "2 of the 3 upstream work items") {
		t.Fatalf("error %v, want it to say 2 of 3 work items finished", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "part-*")); len(m) != 0 {
		t.Errorf("committed %v", m)
	}

	p, s = beam.NewPipelineWithRoot()
	done = beam.Create(s, "item-0", "item-1", "item-2")
	files := Write[testRow](s, dir, "part", beam.CreateList(s, makeRows(20)), After(done, 3))
	passert.Count(s, files, "files", 1)
	if _, err := ptest.RunWithMetrics(p); err != nil {
		t.Fatal(err)
	}
}

// TestWriteExpectRows: with ExpectRows, a write whose shards hold another
// number of rows commits nothing and fails the job; the right number commits.
func TestWriteExpectRows(t *testing.T) {
	dir := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	Write[testRow](s, dir, "part", beam.CreateList(s, makeRows(20)), ExpectRows(21))
	if _, err := ptest.RunWithMetrics(p); err == nil || !strings.Contains(err.Error(), "hold 20 rows, 21 expected") {
		t.Fatalf("error %v, want it to count 20 of 21 rows", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "part-*")); len(m) != 0 {
		t.Errorf("committed %v", m)
	}
	p, s = beam.NewPipelineWithRoot()
	files := Write[testRow](s, dir, "part", beam.CreateList(s, makeRows(20)), ExpectRows(20))
	passert.Count(s, files, "files", 1)
	if _, err := ptest.RunWithMetrics(p); err != nil {
		t.Fatal(err)
	}
}
