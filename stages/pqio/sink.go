package pqio

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// Metrics of the sink (namespace "pqio").
var (
	rowsWritten    = beam.NewCounter("pqio", "rows_written")        // rows in temporary shards closed by bundles
	shardsWritten  = beam.NewCounter("pqio", "shards_written")      // temporary shards closed by bundles
	filesCommitted = beam.NewCounter("pqio", "files_committed")     // files of committed sets
	staleRemoved   = beam.NewCounter("pqio", "stale_files_removed") // files of older sets deleted by a commit
)

// tmpDirName is the directory under dir where Write's bundles put their
// temporary shards: the staging directory of the set named prefix.
func tmpDirName(dir, prefix string) string { return stagingDir(dir, prefix) }

// shardName is the final name of shard i of n.
func shardName(dir, prefix string, i, n int) string {
	return joinPath(dir, fmt.Sprintf("%s-%05d-of-%05d.parquet", prefix, i, n))
}

// shardPattern matches the base names of final shards of prefix, and nothing
// else: prefix "train" must not match "train-aug-00000-of-00001.parquet".
func shardPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `-[0-9]{5,}-of-[0-9]{5,}\.parquet$`)
}

// Staged is a file waiting in a set's staging directory to be committed:
// a shard of Prefix (then Name is empty), or the single file Name. Paths
// are relative to the commit's directory, except Path, which is the staged
// file itself.
type Staged struct {
	Prefix string
	Name   string
	Path   string
}

// Write is a sharded Parquet sink. In: PCollection<T> (batch, global window).
// Out: PCollection<string> of the final file paths, emitted once every shard
// is committed, so a downstream Read depends on the files being complete.
//
// The shards form the set named prefix in dir (see SetFiles): each bundle
// writes one zstd-compressed Parquet file (opened on its first row, closed in
// FinishBundle) to "<dir>/.pqio-tmp-<prefix>/<random>.parquet"; a commit step,
// run once after all bundles (the names are its side input), names them
// "<dir>/<prefix>-00000-of-00004.parquet", ... in sorted order, writes the
// manifest "<dir>/_<prefix>.manifest.json" (the commit point), renames the
// shards into place, deletes the shards of the prefix the new set does not
// list and removes the staging directory, orphans of failed or retried
// bundles included. A crash at any step leaves the old set or the new one
// readable through SetFiles, never a mix; a retried commit is idempotent.
// No rows give one empty shard ("-00000-of-00001"), so the artifact always
// exists with its schema.
//
// Files carry SchemaKey = T's SchemaVersion, a random FileIDKey and the
// Metadata options, use the standard 3-level LIST encoding for
// `parquet:",list"` slices, and are read by Arrow, DuckDB and pandas.
// Defaults: DefaultRowGroupRows, DefaultRowGroupBytes. dir may be local or
// gs://; prefix must be a plain name (no '/', no glob characters, no leading
// '.' or '_'). Bad arguments, an unregistered T (see Register) or a
// PCollection of another type panic while the pipeline is built.
//
// Two Writes with the same dir and prefix, in one pipeline or in two
// concurrent jobs, are not supported (they would delete each other's
// shards): an output has one owner at a time (see Lock). Shard count follows
// bundling: one shard per non-empty bundle.
//
// See also Read, SetFiles, Commit (several shard sets and files as one set),
// WriteFile.
func Write[T Schema](s beam.Scope, dir, prefix string, rows beam.PCollection, opts ...Option) beam.PCollection {
	s = s.Scope("pqio.Write")
	c, err := newConfig(opts)
	if err != nil {
		panic(fmt.Sprintf("pqio.Write(%q, %q): %v", dir, prefix, err))
	}
	if err := checkSetName(prefix); err != nil {
		panic(fmt.Sprintf("pqio.Write: prefix %q must be a plain file name prefix: %v", prefix, err))
	}
	staged := Stage[T](s, dir, prefix, prefix, rows, opts...)
	return Commit[T](s, dir, prefix, []Part{{Prefix: prefix, Staged: staged, ExpectRows: c.expectRows}}, opts...)
}

// Stage writes rows as temporary shards of the shard prefix (a path relative
// to dir without glob characters, e.g. "examples/train") of the set named
// set in dir, for Commit. In: PCollection<T>. Out: PCollection<Staged>, one
// per non-empty bundle, emitted when its file is complete.
func Stage[T Schema](s beam.Scope, dir, set, prefix string, rows beam.PCollection, opts ...Option) beam.PCollection {
	s = s.Scope("pqio.Stage")
	mustBeRegistered[T]("Stage")
	c, err := newConfig(opts)
	if err != nil {
		panic(fmt.Sprintf("pqio.Stage(%q, %q): %v", dir, prefix, err))
	}
	if dir == "" {
		panic("pqio.Stage: empty dir")
	}
	filesystem.ValidateScheme(dir)
	if err := errors.Join(checkSetName(set), checkRelName(prefix)); err != nil || strings.ContainsAny(prefix, `\*?[]{}`) {
		panic(fmt.Sprintf("pqio.Stage: set %q, prefix %q: %v", set, prefix, err))
	}
	if got, want := rows.Type().Type(), reflect.TypeFor[T](); got != want {
		panic(fmt.Sprintf("pqio.Stage[%v]: rows is a PCollection<%v>", want, got))
	}
	return beam.ParDo(s, &writeShardFn[T]{
		TmpDir: stagingDir(dir, set), Prefix: prefix, Metadata: clone(c.metadata), RowGroupRows: c.rowGroupRows, RowGroupBytes: c.rowGroupBytes,
	}, rows)
}

// Part is one part of a Commit: the shards of Prefix (written by Stage) or
// the single file Name (staged by the caller's own DoFn, which writes it
// under StagingDir and emits its Staged element). Staged is the
// PCollection<Staged> that delivers them.
type Part struct {
	Prefix     string
	Name       string
	Staged     beam.PCollection
	ExpectRows int64 // > 0: the part's shards must hold exactly this many rows
}

// StagingDir is the directory where the files of a commit of set in dir
// wait: a DoFn that stages a single file for Commit writes it there (under
// a unique name) and emits Staged{Name: ..., Path: ...}.
func StagingDir(dir, set string) string { return stagingDir(dir, set) }

// Commit commits the parts as one set named set in dir (its manifest is
// "<dir>/_<set>.manifest.json"), once every part is staged: all the files or
// none. Shards of every prefix are named "<prefix>-NNNNN-of-MMMMM.parquet"
// (relative to dir); a prefix with no rows gets one empty shard of T. A
// single-file part must deliver exactly one file. Out: PCollection<string>
// of every final path. See Write for the protocol; the After option gates
// the commit as it does Write's.
func Commit[T Schema](s beam.Scope, dir, set string, parts []Part, opts ...Option) beam.PCollection {
	s = s.Scope("pqio.Commit")
	mustBeRegistered[T]("Commit")
	c, err := newConfig(opts)
	if err != nil {
		panic(fmt.Sprintf("pqio.Commit(%q, %q): %v", dir, set, err))
	}
	if err := checkSetName(set); err != nil {
		panic(fmt.Sprintf("pqio.Commit: %v", err))
	}
	if len(parts) == 0 {
		panic("pqio.Commit: no parts")
	}
	fn := &commitFn[T]{Dir: dir, Set: set, AfterCount: c.afterCount,
		Metadata: clone(c.metadata), RowGroupRows: c.rowGroupRows, RowGroupBytes: c.rowGroupBytes}
	var staged []beam.PCollection
	for _, p := range parts {
		if (p.Prefix == "") == (p.Name == "") || !p.Staged.IsValid() || p.Staged.Type().Type() != reflect.TypeFor[Staged]() {
			panic(fmt.Sprintf("pqio.Commit(%q, %q): a part needs a Prefix or a Name (not both) and a PCollection<Staged>", dir, set))
		}
		if err := checkRelName(cmp.Or(p.Prefix, p.Name)); err != nil {
			panic(fmt.Sprintf("pqio.Commit(%q, %q): %v", dir, set, err))
		}
		fn.Parts = append(fn.Parts, PartSpec{Prefix: p.Prefix, Name: p.Name, ExpectRows: p.ExpectRows})
		staged = append(staged, p.Staged)
	}
	gate := beam.Create(s, "")
	if c.after.IsValid() {
		gate = c.after
	}
	return beam.ParDo(s, fn, beam.Impulse(s), beam.SideInput{Input: beam.Flatten(s, staged...)}, beam.SideInput{Input: gate})
}

// PartSpec is the serialisable description of a Part, a commitFn field.
type PartSpec struct {
	Prefix     string
	Name       string
	ExpectRows int64
}

// writeShardFn writes the rows of one bundle to one temporary Parquet file
// and emits its path in FinishBundle.
type writeShardFn[T Schema] struct {
	TmpDir        string            // directory of the temporary shards
	Prefix        string            // shard prefix the files are staged for
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

func (f *writeShardFn[T]) StartBundle(ctx context.Context, _ func(Staged)) error {
	return f.abort(ctx) // leftovers of a failed bundle on this instance
}

func (f *writeShardFn[T]) ProcessElement(ctx context.Context, row T, _ func(Staged)) error {
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

func (f *writeShardFn[T]) FinishBundle(ctx context.Context, emit func(Staged)) error {
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
	emit(Staged{Prefix: f.Prefix, Path: f.name})
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

// commitFn commits the staged files of its side input as one set. It runs
// on the single Impulse element, after every part is staged.
type commitFn[T Schema] struct {
	Dir           string            // the set's directory
	Set           string            // the set's name
	Parts         []PartSpec        // what the set holds
	Metadata      map[string]string // for empty shards
	RowGroupRows  int64             // for empty shards
	RowGroupBytes int64             // for empty shards
	AfterCount    int               // > 0: the After gate must hold this many elements
}

// The second side input is the After gate. Counting its elements, rather
// than trusting that a side input is only ready once its producer succeeded,
// matters on prism: after a failed bundle it may still run downstream stages
// before the job stops.
func (f *commitFn[T]) ProcessElement(ctx context.Context, _ []byte, staged func(*Staged) bool, gate func(*string) bool, emit func(string)) error {
	set := ManifestPath(f.Dir, f.Set)
	if f.AfterCount > 0 {
		n := 0
		var p string
		for gate(&p) {
			n++
		}
		if n != f.AfterCount {
			return fmt.Errorf("pqio: %s: not committing: %d of the %d upstream work items finished (the job failed elsewhere)",
				set, n, f.AfterCount)
		}
	}
	byPart := map[string][]string{}
	var st Staged
	for staged(&st) {
		k := "prefix:" + st.Prefix
		if st.Prefix == "" {
			k = "name:" + st.Name
		}
		byPart[k] = append(byPart[k], st.Path)
	}
	fs, err := newFsys(ctx, f.Dir)
	if err != nil {
		return fileErr("commit", set, err)
	}
	finals, err := f.commit(ctx, fs, byPart)
	if err = errors.Join(err, fs.Close()); err != nil {
		return err
	}
	for _, p := range finals {
		emit(p)
	}
	filesCommitted.Inc(ctx, int64(len(finals)))
	return nil
}

// commit builds the manifest of the staged files (byPart: "prefix:<p>" or
// "name:<n>" to staged paths), commits it and returns the final paths.
// Running it again with the same staged files after a success or a partial
// failure is safe: the commit id is derived from the staged paths, so a
// retry finds its own manifest and only finishes rolling it forward.
func (f *commitFn[T]) commit(ctx context.Context, fs *fsys, byPart map[string][]string) ([]string, error) {
	set := ManifestPath(f.Dir, f.Set)
	var all []string
	for k, paths := range byPart {
		slices.Sort(paths)
		byPart[k] = slices.Compact(paths)
		all = append(all, byPart[k]...)
	}
	slices.Sort(all)
	h := sha256.Sum256([]byte(strings.Join(all, "\n")))
	id := hex.EncodeToString(h[:12])

	var prev *Manifest
	switch pm, err := fs.readManifest(ctx, f.Dir, f.Set); {
	case err == nil && pm.Commit == id:
		// A retry of this commit: the manifest is written, finish it.
		if err := fs.rollForward(ctx, f.Dir, pm, nil, false); err != nil {
			return nil, err
		}
		return finalsOf(f.Dir, pm), nil
	case err == nil:
		prev = &pm
	}

	var files []ManifestFile
	for _, part := range f.Parts {
		if part.Name != "" {
			paths := byPart["name:"+part.Name]
			if len(paths) != 1 {
				return nil, fmt.Errorf("pqio: %s: not committing: %d staged files for %s, want 1 (the job failed elsewhere?)", set, len(paths), part.Name)
			}
			mf, err := fs.describeStaged(ctx, f.Dir, part.Name, paths[0], strings.HasSuffix(part.Name, ".parquet"))
			if err != nil {
				return nil, err
			}
			files = append(files, mf)
			continue
		}
		paths := byPart["prefix:"+part.Prefix]
		if len(paths) == 0 { // no rows at all: commit one empty shard
			empty := joinPath(stagingDir(f.Dir, f.Set), "empty-"+id+"-"+strings.ReplaceAll(part.Prefix, "/", "~")+".parquet")
			c := config{rowGroupRows: f.RowGroupRows, rowGroupBytes: f.RowGroupBytes, metadata: f.Metadata}
			err := fs.writeAtomic(ctx, empty, func(w io.Writer) error { return newRowWriter[T](w, c).close() })
			if err != nil {
				return nil, err
			}
			paths = []string{empty}
		}
		var rows int64
		for i, p := range paths {
			name := fmt.Sprintf("%s-%05d-of-%05d.parquet", part.Prefix, i, len(paths))
			mf, err := fs.describeStaged(ctx, f.Dir, name, p, true)
			if err != nil {
				if isNotExist(err) {
					return nil, fileErr("commit", joinPath(f.Dir, name), fmt.Errorf("%w: its staged shard %s is missing", ErrIncompleteSet, p))
				}
				return nil, err
			}
			rows += mf.Rows
			files = append(files, mf)
		}
		if part.ExpectRows > 0 && rows != part.ExpectRows {
			return nil, fmt.Errorf("pqio: %s: not committing: the %s shards hold %d rows, %d expected (the job failed elsewhere?)",
				set, part.Prefix, rows, part.ExpectRows)
		}
	}
	m := Manifest{Format: ManifestFormat, Set: f.Set, Commit: id, Created: time.Now().UTC().Truncate(time.Second), Files: files}
	if err := fs.commit(ctx, f.Dir, m, prev, false); err != nil {
		return nil, err
	}
	return finalsOf(f.Dir, m), nil
}

func finalsOf(dir string, m Manifest) []string {
	out := make([]string, len(m.Files))
	for i, mf := range m.Files {
		out[i] = joinPath(dir, mf.Name)
	}
	return out
}
