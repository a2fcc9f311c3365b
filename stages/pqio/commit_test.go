package pqio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// errCrash is what the fault hook returns: a commit stopped by it leaves
// the files as a crash at that step would.
var errCrash = errors.New("injected crash")

// failAt installs a fault hook that fails the n-th commit step (1-based)
// and records every step it sees; it returns the recorder and a restore
// function.
func failAt(n int) (*[]CommitEvent, func()) {
	var seen []CommitEvent
	prev := SetFaultHook(func(ev CommitEvent) error {
		seen = append(seen, ev)
		if len(seen) == n {
			return errCrash
		}
		return nil
	})
	return &seen, func() { SetFaultHook(prev) }
}

// setState reads the set through its manifest and returns a description of
// every file's contents: rows of Parquet files, text of the others.
func setState(t *testing.T, dir, set string) (string, error) {
	t.Helper()
	ctx := context.Background()
	paths, m, err := SetFiles(ctx, dir, set)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, p := range paths {
		name := m.Files[i].Name
		if strings.HasSuffix(name, ".parquet") {
			rows, _, err := ReadFile[testRow](ctx, p)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%s: %v\n", name, keysOf(rows))
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s: %q\n", name, raw)
	}
	return b.String(), nil
}

// writeTestSet commits generation g of a three-file set (two Parquet files,
// one of them in a subdirectory, and a text file).
func writeTestSet(ctx context.Context, dir string, g int) error {
	w, err := NewSetWriter(ctx, dir, "report", false, map[string]string{"generation": fmt.Sprint(g)})
	if err != nil {
		return err
	}
	if err := WriteSetFile(ctx, w, "front.parquet", makeRows(3+g)); err != nil {
		return err
	}
	if err := WriteSetFile(ctx, w, "sub/curve.parquet", makeRows(10*g+1)); err != nil {
		return err
	}
	err = w.WriteStream(ctx, "report.html", func(wr io.Writer) error {
		_, err := fmt.Fprintf(wr, "<p>generation %d</p>", g)
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.Commit(ctx)
	return err
}

// TestSetCommitFaults stops a commit that replaces a complete set at every
// one of its steps (manifest, each rename, each removal, the cleanup), as a
// crash would: readers then see the old complete set (before the manifest)
// or the new one (after it), never a mix; Recover finishes the commit; and
// committing again gives what an uninterrupted commit gives.
func TestSetCommitFaults(t *testing.T) {
	ctx := context.Background()
	want := map[int]string{}
	for g := 1; g <= 2; g++ {
		dir := t.TempDir()
		if err := writeTestSet(ctx, dir, g); err != nil {
			t.Fatal(err)
		}
		s, err := setState(t, dir, "report")
		if err != nil {
			t.Fatal(err)
		}
		want[g] = s
	}
	for step := 1; ; step++ {
		dir := t.TempDir()
		if err := writeTestSet(ctx, dir, 1); err != nil {
			t.Fatal(err)
		}
		seen, restore := failAt(step)
		err := writeTestSet(ctx, dir, 2)
		restore()
		if err == nil {
			if step < 4 {
				t.Fatalf("only %d commit steps seen: %v", step-1, *seen)
			}
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("step %d: %v", step, err)
		}
		ev := (*seen)[step-1]
		got, err := setState(t, dir, "report")
		if err != nil {
			t.Fatalf("after a crash before %v: the set is unreadable: %v", ev, err)
		}
		wantGen := 2
		if ev.Step == "manifest" {
			wantGen = 1
		}
		if got != want[wantGen] {
			t.Fatalf("after a crash before %v: readers see\n%s\nwant generation %d:\n%s", ev, got, wantGen, want[wantGen])
		}
		if _, err := Recover(ctx, dir); err != nil {
			t.Fatalf("recover after %v: %v", ev, err)
		}
		if got, err := setState(t, dir, "report"); err != nil || got != want[wantGen] {
			t.Fatalf("after recovering from %v: %v\n%s", ev, err, got)
		}
		if es := dirEntries(t, dir); slices.ContainsFunc(es, func(e string) bool { return strings.HasPrefix(e, ".") }) {
			t.Errorf("after recovering from %v: hidden leftovers %v", ev, es)
		}
		if err := writeTestSet(ctx, dir, 2); err != nil {
			t.Fatalf("commit again after %v: %v", ev, err)
		}
		if got, err := setState(t, dir, "report"); err != nil || got != want[2] {
			t.Fatalf("committed again after %v: %v\n%s", ev, err, got)
		}
		t.Logf("crash before %v: readers saw generation %d", ev, wantGen)
	}
}

// TestSetFilesRefusesIncomplete: a file replaced outside a commit, or
// missing, with no staged copy, makes readers refuse with an error naming
// the file, what the manifest expects and what is there.
func TestSetFilesRefusesIncomplete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, _, err := SetFiles(ctx, dir, "report"); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("no manifest: %v", err)
	}
	if err := writeTestSet(ctx, dir, 1); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ctx, filepath.Join(dir, "front.parquet"), makeRows(4)); err != nil { // same name, other file
		t.Fatal(err)
	}
	_, _, err := SetFiles(ctx, dir, "report")
	if !errors.Is(err, ErrIncompleteSet) || !strings.Contains(err.Error(), "front.parquet") || !strings.Contains(err.Error(), "4 rows") {
		t.Fatalf("replaced file: %v", err)
	}
	if err := writeTestSet(ctx, dir, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.html"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := SetFiles(ctx, dir, "report"); !errors.Is(err, ErrIncompleteSet) || !strings.Contains(err.Error(), "report.html") {
		t.Fatalf("edited file: %v", err)
	}
	if err := writeTestSet(ctx, dir, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "sub", "curve.parquet")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := SetFiles(ctx, dir, "report"); !errors.Is(err, ErrIncompleteSet) || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestWriteCommitFaults stops the sink's commit of a shard set that
// replaces a complete one (of another shard count) at each of its steps:
// readers see the old set or the new one, and running the pipeline again
// commits the new set.
func TestWriteCommitFaults(t *testing.T) {
	ctx := context.Background()
	old := makeRows(7)
	rows := makeRows(9) // one bundle, one shard
	for step := 1; ; step++ {
		dir := t.TempDir()
		for i := range 5 { // an old set of 5 shards, committed
			if err := writeOldShard(ctx, dir, i, old); err != nil {
				t.Fatal(err)
			}
		}
		seen, restore := failAt(step)
		p, s := beam.NewPipelineWithRoot()
		Write[testRow](s, dir, "part", beam.CreateList(s, rows))
		_, err := ptest.RunWithMetrics(p)
		restore()
		if err == nil {
			if step < 8 { // manifest, 1 rename, 5 removals, clean
				t.Fatalf("only %d commit steps seen: %v", step-1, *seen)
			}
			checkShards(t, dir, rows)
			break
		}
		ev := (*seen)[step-1]
		paths, _, err := SetFiles(ctx, dir, "part")
		if err != nil {
			t.Fatalf("after a crash before %v: %v", ev, err)
		}
		var got []testRow
		for _, p := range paths {
			r, _, err := ReadFile[testRow](ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r...)
		}
		want := rows
		if ev.Step == "manifest" {
			want = old
		}
		if !slices.Equal(keysOf(got), keysOf(want)) {
			t.Fatalf("after a crash before %v: readers see %d rows, want %d", ev, len(got), len(want))
		}
		if _, err := ptest.RunWithMetrics(writeReadPipeline(dir, "part", rows)); err != nil {
			t.Fatalf("rerun after %v: %v", ev, err)
		}
		checkShards(t, dir, rows)
	}
}

// writeOldShard commits shard i of a 5-shard set holding rows (each shard
// a slice of them), through the set machinery so it has a manifest.
func writeOldShard(ctx context.Context, dir string, i int, rows []testRow) error {
	if i < 4 {
		return WriteFile(ctx, joinPath(stagingDir(dir, "part"), fmt.Sprintf("old-%d.parquet", i)), rows[i:i+1])
	}
	if err := WriteFile(ctx, joinPath(stagingDir(dir, "part"), "old-4.parquet"), rows[4:]); err != nil {
		return err
	}
	fs, err := newFsys(ctx, dir)
	if err != nil {
		return err
	}
	defer fs.Close()
	fn := &commitFn[testRow]{Dir: dir, Set: "part", Parts: []PartSpec{{Prefix: "part"}}, RowGroupRows: DefaultRowGroupRows, RowGroupBytes: DefaultRowGroupBytes}
	var staged []string
	for k := range 5 {
		staged = append(staged, joinPath(stagingDir(dir, "part"), fmt.Sprintf("old-%d.parquet", k)))
	}
	_, err = fn.commit(ctx, fs, map[string][]string{"prefix:part": staged})
	return err
}

// TestRecoverRemovesOrphans: temporary files of interrupted writes and
// staging directories of commits that never reached their commit point are
// removed at every depth; committed files and other files stay.
func TestRecoverRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := writeTestSet(ctx, filepath.Join(root, "pareto"), 1); err != nil {
		t.Fatal(err)
	}
	orphans := []string{
		".x.parquet.tmp-0123", "dataset/.stats.parquet.tmp-1", "runs/u/.train_log.parquet.tmp-2",
		"runs/u/checkpoints/.epoch-0001.parquet.tmp-3", "evals/u/.pqio-tmp-sample/abc.parquet",
		"pareto/.pqio-tmp-report/0-front.parquet", ".pqio-tmp-dataset/x.parquet",
	}
	keep := []string{"notes.txt", "evals/u/sample-00000-of-00001.parquet", "runs/u/checkpoints/epoch-0001.parquet", LockName}
	for _, p := range append(slices.Clone(orphans), keep...) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done, err := Recover(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || !strings.Contains(done[0], "removed 7 ") {
		t.Errorf("Recover reported %q", done)
	}
	for _, p := range orphans {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left behind", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	for _, d := range []string{"evals/u/.pqio-tmp-sample", ".pqio-tmp-dataset"} {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Errorf("directory %s left behind", d)
		}
	}
	if _, err := setState(t, filepath.Join(root, "pareto"), "report"); err != nil {
		t.Errorf("the committed set is damaged: %v", err)
	}
	if done, err := Recover(ctx, root); err != nil || len(done) != 0 {
		t.Errorf("second Recover: %q, %v", done, err)
	}
}
