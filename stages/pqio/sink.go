package pqio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// Metrics of the sink (namespace "pqio").
var (
	rowsWritten    = beam.NewCounter("pqio", "rows_written")        // rows in temporary shards closed by bundles
	shardsWritten  = beam.NewCounter("pqio", "shards_written")      // temporary shards closed by bundles
	filesCommitted = beam.NewCounter("pqio", "files_committed")     // shards renamed to their final names
	staleRemoved   = beam.NewCounter("pqio", "stale_files_removed") // old shards of the same prefix deleted
)

// tmpDirName is the directory under dir where Write's bundles put their
// temporary shards. It is deterministic, so a later run also removes the
// orphans of a crashed one; the leading dot keeps it out of "dir/*.parquet".
func tmpDirName(dir, prefix string) string { return joinPath(dir, ".pqio-tmp-"+prefix) }

// shardName is the final name of shard i of n.
func shardName(dir, prefix string, i, n int) string {
	return joinPath(dir, fmt.Sprintf("%s-%05d-of-%05d.parquet", prefix, i, n))
}

// shardPattern matches the base names of final shards of prefix, and nothing
// else: prefix "train" must not match "train-aug-00000-of-00001.parquet".
func shardPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `-[0-9]{5,}-of-[0-9]{5,}\.parquet$`)
}

// Write is a sharded Parquet sink. In: PCollection<T> (batch, global window).
// Out: PCollection<string> of the final file paths, emitted once every shard
// is committed, so a downstream Read depends on the files being complete.
//
// Each bundle writes one zstd-compressed Parquet file (opened on its first
// row, committed in FinishBundle) to "<dir>/.pqio-tmp-<prefix>/<random>.parquet"
// and emits its name; a finalize step, run once after all bundles (the names
// are its side input), renames them in sorted order to
// "<dir>/<prefix>-00000-of-00004.parquet", ..., deletes older shards of the
// same prefix that are not in the new set and removes the temporary
// directory, orphans of failed or retried bundles included. The finalize is
// idempotent: a retry skips shards already renamed. Re-running a pipeline thus
// leaves exactly one copy of each shard and no stale shard. No rows give one
// empty shard ("-00000-of-00001"), so the artifact always exists with its
// schema.
//
// Files carry SchemaKey = T's SchemaVersion and the Metadata options, use
// the standard 3-level LIST encoding for `parquet:",list"` slices, and are
// read by Arrow, DuckDB and pandas. Defaults: DefaultRowGroupRows,
// DefaultRowGroupBytes. dir may be local or gs://; prefix must be a plain
// name (no '/', no glob characters, no leading '.'). Bad arguments, an
// unregistered T (see Register) or a PCollection of another type panic while
// the pipeline is built.
//
// The temporary directory is derived from (dir, prefix) only, so that a run
// also clears what a crashed run left there; hence two Writes with the same
// dir and prefix, in one pipeline or in two concurrent jobs, are not
// supported (they would delete each other's shards anyway). Shard count
// follows bundling: one shard per non-empty bundle.
//
// See also Read, WriteFile.
func Write[T Schema](s beam.Scope, dir, prefix string, rows beam.PCollection, opts ...Option) beam.PCollection {
	s = s.Scope("pqio.Write")
	mustBeRegistered[T]("Write")
	c, err := newConfig(opts)
	if err != nil {
		panic(fmt.Sprintf("pqio.Write(%q, %q): %v", dir, prefix, err))
	}
	if dir == "" {
		panic("pqio.Write: empty dir")
	}
	filesystem.ValidateScheme(dir)
	if prefix == "" || strings.HasPrefix(prefix, ".") || strings.ContainsAny(prefix, `/\*?[]{}`) {
		panic(fmt.Sprintf("pqio.Write: prefix %q must be a plain file name prefix", prefix))
	}
	if got, want := rows.Type().Type(), reflect.TypeFor[T](); got != want {
		panic(fmt.Sprintf("pqio.Write[%v]: rows is a PCollection<%v>", want, got))
	}
	tmpDir := tmpDirName(dir, prefix)
	tmps := beam.ParDo(s.Scope("WriteShards"), &writeShardFn[T]{
		TmpDir: tmpDir, Metadata: clone(c.metadata), RowGroupRows: c.rowGroupRows, RowGroupBytes: c.rowGroupBytes,
	}, rows)
	fs := s.Scope("Finalize")
	gate := beam.Create(fs, "")
	if c.after.IsValid() {
		gate = c.after
	}
	return beam.ParDo(fs, &finalizeFn[T]{
		Dir: dir, Prefix: prefix, TmpDir: tmpDir, AfterCount: c.afterCount, ExpectRows: c.expectRows,
		Metadata: clone(c.metadata), RowGroupRows: c.rowGroupRows, RowGroupBytes: c.rowGroupBytes,
	}, beam.Impulse(fs), beam.SideInput{Input: tmps}, beam.SideInput{Input: gate})
}

// writeShardFn writes the rows of one bundle to one temporary Parquet file
// and emits its path in FinishBundle.
type writeShardFn[T Schema] struct {
	TmpDir        string            // directory of the temporary shards
	Metadata      map[string]string // extra key-value metadata
	RowGroupRows  int64             // row-group bound in rows
	RowGroupBytes int64             // row-group bound in bytes

	fs    *fsys
	wc    io.WriteCloser // open temporary file, nil between bundles
	rw    *rowWriter[T]
	name  string
	batch []T
}

func (f *writeShardFn[T]) Setup(ctx context.Context) error {
	fs, err := newFsys(ctx, f.TmpDir)
	f.fs = fs
	return err
}

func (f *writeShardFn[T]) StartBundle(ctx context.Context, _ func(string)) error {
	return f.abort(ctx) // leftovers of a failed bundle on this instance
}

func (f *writeShardFn[T]) ProcessElement(ctx context.Context, row T, _ func(string)) error {
	if f.wc == nil {
		f.name = joinPath(f.TmpDir, randomID()+".parquet")
		wc, err := f.fs.fs.OpenWrite(ctx, f.name)
		if err != nil {
			return fileErr("write", f.name, err)
		}
		f.wc = wc
		f.rw = newRowWriter[T](wc, config{rowGroupRows: f.RowGroupRows, rowGroupBytes: f.RowGroupBytes, metadata: f.Metadata})
	}
	f.batch = append(f.batch, row)
	if len(f.batch) >= writeBatch {
		return f.flushBatch()
	}
	return nil
}

func (f *writeShardFn[T]) flushBatch() error {
	err := f.rw.write(f.batch)
	clear(f.batch)
	f.batch = f.batch[:0]
	return fileErr("write", f.name, err)
}

func (f *writeShardFn[T]) FinishBundle(ctx context.Context, emit func(string)) error {
	if f.wc == nil {
		return nil // empty bundle: no file
	}
	err := f.flushBatch()
	if err == nil {
		err = fileErr("write", f.name, f.rw.close()) // footer
	}
	wc := f.wc
	f.wc = nil
	if err = errors.Join(err, fileErr("write", f.name, wc.Close())); err != nil { // commit on GCS
		return errors.Join(err, f.fs.removeIfExists(ctx, f.name))
	}
	rowsWritten.Inc(ctx, f.rw.rows)
	shardsWritten.Inc(ctx, 1)
	emit(f.name)
	f.rw = nil
	return nil
}

// abort closes and removes a temporary file left open by a failed bundle.
func (f *writeShardFn[T]) abort(ctx context.Context) error {
	clear(f.batch)
	f.batch = f.batch[:0]
	if f.wc == nil {
		return nil
	}
	f.wc.Close() // the file is discarded: its error does not matter
	f.wc, f.rw = nil, nil
	return f.fs.removeIfExists(ctx, f.name)
}

func (f *writeShardFn[T]) Teardown(ctx context.Context) error {
	if f.fs == nil {
		return nil
	}
	return errors.Join(f.abort(ctx), f.fs.Close())
}

// finalizeFn commits the temporary shards named by its side input. It runs on
// the single Impulse element, after every bundle of writeShardFn.
type finalizeFn[T Schema] struct {
	Dir           string            // output directory
	Prefix        string            // shard name prefix
	TmpDir        string            // directory of the temporary shards
	Metadata      map[string]string // for the empty shard
	RowGroupRows  int64             // for the empty shard
	RowGroupBytes int64             // for the empty shard
	AfterCount    int               // > 0: the After gate must hold this many elements
	ExpectRows    int64             // > 0: the temporary shards must hold this many rows
}

// The second side input is the After gate. Counting its elements, rather
// than trusting that a side input is only ready once its producer succeeded,
// matters on prism: after a failed bundle it may still run downstream stages
// before the job stops.
func (f *finalizeFn[T]) ProcessElement(ctx context.Context, _ []byte, tmps, gate func(*string) bool, emit func(string)) error {
	var paths []string
	var p string
	if f.AfterCount > 0 {
		n := 0
		for gate(&p) {
			n++
		}
		if n != f.AfterCount {
			return fmt.Errorf("pqio: %s: not committing: %d of the %d upstream work items finished (the job failed elsewhere)",
				joinPath(f.Dir, f.Prefix+"-*"), n, f.AfterCount)
		}
	}
	for tmps(&p) {
		paths = append(paths, p)
	}
	if f.ExpectRows > 0 {
		if err := f.checkRows(ctx, paths); err != nil {
			return err
		}
	}
	fs, err := newFsys(ctx, f.Dir)
	if err != nil {
		return fileErr("commit", f.Dir, err)
	}
	finals, err := f.commit(ctx, fs, paths)
	if err = errors.Join(err, fs.Close()); err != nil {
		return err
	}
	for _, p := range finals {
		emit(p)
	}
	filesCommitted.Inc(ctx, int64(len(finals)))
	return nil
}

// checkRows counts the rows of the temporary shards from their footers.
func (f *finalizeFn[T]) checkRows(ctx context.Context, tmps []string) error {
	var n int64
	for _, p := range slices.Compact(slices.Sorted(slices.Values(tmps))) {
		r, err := OpenReader[T](ctx, p)
		if err != nil {
			return err
		}
		for i := range r.NumRowGroups() {
			n += r.RowGroupNumRows(i)
		}
		if err := r.Close(); err != nil {
			return err
		}
	}
	if n != f.ExpectRows {
		return fmt.Errorf("pqio: %s: not committing: the shards hold %d rows, %d expected (the job failed elsewhere?)",
			joinPath(f.Dir, f.Prefix+"-*"), n, f.ExpectRows)
	}
	return nil
}

// commit renames tmps (sorted) to their final shard names, deletes stale
// shards of the prefix, removes TmpDir and returns the final paths. Running it
// again with the same tmps after a success (or a partial failure) is safe.
func (f *finalizeFn[T]) commit(ctx context.Context, fs *fsys, tmps []string) ([]string, error) {
	slices.Sort(tmps)
	tmps = slices.Compact(tmps)
	listed, err := fs.list(ctx, joinPath(f.TmpDir, "*"))
	if err != nil {
		return nil, fileErr("commit", f.TmpDir, err)
	}
	present := setOf(listed)
	if len(tmps) == 0 { // no rows at all: commit one empty shard
		empty := joinPath(f.TmpDir, "empty-"+randomID()+".parquet")
		c := config{rowGroupRows: f.RowGroupRows, rowGroupBytes: f.RowGroupBytes, metadata: f.Metadata}
		err := fs.writeAtomic(ctx, empty, func(w io.Writer) error { return newRowWriter[T](w, c).close() })
		if err != nil {
			return nil, err
		}
		tmps, present[empty] = []string{empty}, true
	}
	pat := shardPattern(f.Prefix)
	listed, err = fs.list(ctx, joinPath(f.Dir, f.Prefix+"-*-of-*.parquet"))
	if err != nil {
		return nil, fileErr("commit", f.Dir, err)
	}
	old := setOf(slices.DeleteFunc(listed, func(p string) bool { _, base := splitPath(p); return !pat.MatchString(base) }))

	finals := make([]string, len(tmps))
	for i, tmp := range tmps {
		finals[i] = shardName(f.Dir, f.Prefix, i, len(tmps))
		switch {
		case present[tmp]:
			if err := filesystem.Rename(ctx, fs.fs, tmp, finals[i]); err != nil {
				return nil, fileErr("commit", finals[i], fmt.Errorf("rename %s: %w", tmp, err))
			}
		case old[finals[i]]:
			// Renamed by an earlier attempt of this finalize.
		default:
			return nil, fileErr("commit", finals[i], fmt.Errorf("temporary shard %s is missing", tmp))
		}
	}
	keep := setOf(finals)
	for _, p := range slices.Sorted(maps.Keys(old)) {
		if !keep[p] {
			if err := fs.removeIfExists(ctx, p); err != nil {
				return nil, fileErr("commit", f.Dir, err)
			}
			staleRemoved.Inc(ctx, 1)
		}
	}
	if err := fs.removeDir(ctx, f.TmpDir); err != nil {
		return nil, fileErr("commit", f.TmpDir, err)
	}
	return finals, nil
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
