package pqio

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// Metrics of the source (namespace "pqio").
var (
	filesOpened   = beam.NewCounter("pqio", "files_listed")    // footers read to plan row groups
	rowGroupsRead = beam.NewCounter("pqio", "row_groups_read") // row groups decoded
	rowsRead      = beam.NewCounter("pqio", "rows_read")       // rows emitted
)

// rowGroupRef names one non-empty row group of one file: Read's unit of work.
type rowGroupRef struct {
	Path    string
	Index   int
	NumRows int64
}

// Read is a Parquet source. In: PCollection<string> of file paths (local or
// gs://), e.g. the output of Write, so reading waits for files written earlier
// in the same pipeline. Out: PCollection<T>, in no particular order.
//
// A first step opens each file's footer only, validates its schema and
// version against T (a mismatch fails the pipeline with an error naming the
// file) and emits one element per row group; after a Reshuffle, so row groups
// spread over workers, a second step decodes each row group and emits its
// rows. gs:// objects are read with ranged requests. Lists read back as empty
// non-nil slices, whether they were written nil or empty. T must be
// registered (see Register); paths of another type panic at construction.
//
// See also ReadGlob, ReadFile, Write.
func Read[T Schema](s beam.Scope, paths beam.PCollection) beam.PCollection {
	s = s.Scope("pqio.Read")
	mustBeRegistered[T]("Read")
	if got := paths.Type().Type(); got != reflect.TypeFor[string]() {
		panic(fmt.Sprintf("pqio.Read[%v]: paths is a PCollection<%v>, want PCollection<string>", reflect.TypeFor[T](), got))
	}
	refs := beam.ParDo(s.Scope("ListRowGroups"), &listRowGroupsFn[T]{}, paths)
	refs = beam.Reshuffle(s, refs)
	return beam.ParDo(s.Scope("ReadRowGroups"), &readRowGroupFn[T]{}, refs)
}

// ReadGlob reads every file matching pattern (local or gs://; '*' does not
// cross '/'), matched when the pipeline runs, so it cannot wait for files
// written by the same pipeline: use Read on Write's output for that. A pattern
// that matches nothing fails the pipeline. Out: PCollection<T>.
//
// Example: pqio.ReadGlob[schemas.Example](s, "out/examples/train-*.parquet").
func ReadGlob[T Schema](s beam.Scope, pattern string) beam.PCollection {
	s = s.Scope("pqio.ReadGlob")
	if pattern == "" {
		panic("pqio.ReadGlob: empty pattern")
	}
	filesystem.ValidateScheme(pattern)
	gs := s.Scope("Glob")
	paths := beam.ParDo(gs, &globFn{Pattern: pattern}, beam.Impulse(gs))
	return Read[T](s, paths)
}

// globFn emits the sorted matches of Pattern.
type globFn struct {
	Pattern string // glob to match at run time
}

func (f *globFn) ProcessElement(ctx context.Context, _ []byte, emit func(string)) error {
	paths, err := Glob(ctx, f.Pattern)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("pqio: no file matches %q", f.Pattern)
	}
	for _, p := range paths {
		emit(p)
	}
	return nil
}

// listRowGroupsFn validates each file's footer against T and emits its
// non-empty row groups.
type listRowGroupsFn[T Schema] struct {
	fs fsCache
}

func (f *listRowGroupsFn[T]) ProcessElement(ctx context.Context, path string, emit func(rowGroupRef)) error {
	r, err := openCached[T](ctx, &f.fs, path)
	if err != nil {
		return err
	}
	for i := range r.NumRowGroups() {
		if n := r.RowGroupNumRows(i); n > 0 {
			emit(rowGroupRef{Path: path, Index: i, NumRows: n})
		}
	}
	filesOpened.Inc(ctx, 1)
	return r.Close()
}

func (f *listRowGroupsFn[T]) Teardown() error { return f.fs.close() }

// readRowGroupFn decodes one row group per element. It keeps the last file
// open within a bundle, since consecutive row groups often share a file.
type readRowGroupFn[T Schema] struct {
	fs  fsCache
	cur *Reader[T]
}

func (f *readRowGroupFn[T]) StartBundle(ctx context.Context, _ func(T)) error { return f.closeCur() }

func (f *readRowGroupFn[T]) ProcessElement(ctx context.Context, ref rowGroupRef, emit func(T)) error {
	if f.cur == nil || f.cur.path != ref.Path {
		if err := f.closeCur(); err != nil {
			return err
		}
		r, err := openCached[T](ctx, &f.fs, ref.Path)
		if err != nil {
			return err
		}
		f.cur = r
	}
	if ref.Index >= f.cur.NumRowGroups() || f.cur.RowGroupNumRows(ref.Index) != ref.NumRows {
		return fileErr("read", ref.Path, fmt.Errorf("row group %d (%d rows) not found: the file changed since it was listed", ref.Index, ref.NumRows))
	}
	err := f.cur.ReadRowGroupFunc(ref.Index, func(row T) error { emit(row); return nil })
	if err != nil {
		return err
	}
	rowGroupsRead.Inc(ctx, 1)
	rowsRead.Inc(ctx, ref.NumRows)
	return nil
}

func (f *readRowGroupFn[T]) FinishBundle(ctx context.Context, _ func(T)) error { return f.closeCur() }

func (f *readRowGroupFn[T]) Teardown() error { return errors.Join(f.closeCur(), f.fs.close()) }

func (f *readRowGroupFn[T]) closeCur() error {
	if f.cur == nil {
		return nil
	}
	err := f.cur.Close()
	f.cur = nil
	return err
}

// openCached opens and validates path with a filesystem from c.
func openCached[T Schema](ctx context.Context, c *fsCache, path string) (*Reader[T], error) {
	fs, err := c.get(ctx, path)
	if err != nil {
		return nil, fileErr("open", path, err)
	}
	ra, size, closer, err := fs.openReaderAt(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := newReader[T](path, ra, size, closer)
	if err != nil {
		closer.Close()
		return nil, err
	}
	return r, nil
}
