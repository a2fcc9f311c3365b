package pqio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// rowWriter writes rows of T to one Parquet stream with zstd compression,
// version-1 data pages and bounded row groups. It does not own the
// io.Writer: close writes the footer only.
type rowWriter[T Schema] struct {
	pw         *parquet.GenericWriter[T]
	maxRows    int64
	maxBytes   int64
	groupRows  int64 // rows in the open row group
	groupStart int64 // pw.Size() when the open row group started
	rows       int64 // rows written in total
	closed     bool
}

// writeBatch is how many rows WriteFile and the sink hand to parquet-go at
// once; small enough that the row-group byte bound is checked often.
const writeBatch = 64

func newRowWriter[T Schema](w io.Writer, c config) *rowWriter[T] {
	opts := []parquet.WriterOption{
		parquet.Compression(&parquet.Zstd),
		// Version-1 data pages are what parquet-mr, Arrow and DuckDB write by
		// default, so every reader handles them.
		parquet.DataPageVersion(1),
		parquet.MaxRowsPerRowGroup(c.rowGroupRows),
		parquet.KeyValueMetadata(SchemaKey, versionOf[T]()),
		// A random identity, so that a set's manifest can tell this file
		// from an earlier one at the same path.
		parquet.KeyValueMetadata(FileIDKey, randomID()+randomID()),
	}
	for _, k := range slices.Sorted(maps.Keys(c.metadata)) {
		opts = append(opts, parquet.KeyValueMetadata(k, c.metadata[k]))
	}
	return &rowWriter[T]{
		pw:       parquet.NewGenericWriter[T](w, opts...),
		maxRows:  c.rowGroupRows,
		maxBytes: c.rowGroupBytes,
	}
}

// write appends rows, closing row groups at maxRows rows or maxBytes bytes.
func (w *rowWriter[T]) write(rows []T) error {
	for len(rows) > 0 {
		n := int(min(int64(len(rows)), w.maxRows-w.groupRows, writeBatch))
		m, err := w.pw.Write(rows[:n])
		w.groupRows += int64(m)
		w.rows += int64(m)
		if err != nil {
			return err
		}
		rows = rows[n:]
		if w.groupRows >= w.maxRows || w.pw.Size()-w.groupStart >= w.maxBytes {
			if err := w.pw.Flush(); err != nil {
				return err
			}
			w.groupRows, w.groupStart = 0, w.pw.Size()
		}
	}
	return nil
}

// close flushes the last row group and writes the footer.
func (w *rowWriter[T]) close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.pw.Close()
}

// WriteFile writes rows to one zstd-compressed Parquet file at path (local or
// gs://) atomically: it writes ".<base>.tmp-<random>" in the same directory,
// checks every Flush/Close error, then renames it over path. On any error the
// temporary file is removed and path is left as it was.
//
// The file's key-value metadata holds SchemaKey = T's SchemaVersion plus any
// Metadata options. Zero rows give a valid file with the schema and no row
// group. Defaults: DefaultRowGroupRows, DefaultRowGroupBytes.
//
// See also ReadFile, Write (the sharded Beam sink).
func WriteFile[T Schema](ctx context.Context, path string, rows []T, opts ...Option) error {
	c, err := newConfig(opts)
	if err != nil {
		return fileErr("write", path, err)
	}
	return WriteStream(ctx, path, func(w io.Writer) error {
		rw := newRowWriter[T](w, c)
		if err := rw.write(rows); err != nil {
			return err
		}
		return rw.close()
	})
}

// ReadFile reads every row of the Parquet file at path (local or gs://) after
// checking that its schema equals parquet.SchemaOf(T) and that its SchemaKey
// metadata equals T's SchemaVersion. Errors are *FileError values naming the
// file and wrapping ErrNotParquet, ErrSchemaMismatch or ErrVersionMismatch
// where those apply. Lists read back as empty (non-nil) slices whether they
// were written nil or empty.
//
// See also OpenReader (row group by row group), WriteFile.
func ReadFile[T Schema](ctx context.Context, path string) ([]T, Meta, error) {
	r, err := OpenReader[T](ctx, path)
	if err != nil {
		return nil, Meta{}, err
	}
	rows := make([]T, 0, r.meta.NumRows)
	for i := range r.NumRowGroups() {
		if err := r.ReadRowGroupFunc(i, func(row T) error { rows = append(rows, row); return nil }); err != nil {
			r.Close()
			return nil, r.meta, err
		}
	}
	return rows, r.meta, r.Close()
}

// Reader reads one validated Parquet file of rows of T, row group by row
// group. It is not safe for concurrent use. Close it when done.
type Reader[T Schema] struct {
	path   string
	file   *parquet.File
	closer io.Closer
	meta   Meta
}

// OpenReader opens the Parquet file at path (local or gs://), reading only its
// footer, and validates schema and version as ReadFile does. Local files are
// read through the *os.File; gs:// objects with ranged reads, so a row group
// costs only its own bytes.
func OpenReader[T Schema](ctx context.Context, path string) (*Reader[T], error) {
	ra, size, closer, err := OpenReaderAt(ctx, path)
	if err != nil {
		return nil, fileErr("open", path, err)
	}
	r, err := newReader[T](path, ra, size, closer)
	if err != nil {
		closer.Close()
		return nil, err
	}
	return r, nil
}

// newReader opens and validates a Parquet file from ra. closer is kept, not
// closed, on success.
func newReader[T Schema](path string, ra io.ReaderAt, size int64, closer io.Closer) (r *Reader[T], err error) {
	defer func() { // parquet-go may panic on corrupt input
		if p := recover(); p != nil {
			r, err = nil, fileErr("open", path, fmt.Errorf("%w: %v", ErrNotParquet, p))
		}
	}()
	f, err := parquet.OpenFile(ra, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fileErr("open", path, fmt.Errorf("%w: %w", ErrNotParquet, err))
	}
	m, err := checkFile[T](path, f)
	if err != nil {
		return nil, fileErr("open", path, err)
	}
	return &Reader[T]{path: path, file: f, closer: closer, meta: m}, nil
}

// Meta returns the file's metadata.
func (r *Reader[T]) Meta() Meta { return r.meta }

// NumRowGroups returns the number of row groups in the file.
func (r *Reader[T]) NumRowGroups() int { return len(r.file.RowGroups()) }

// RowGroupNumRows returns the number of rows in row group i; it panics unless
// 0 <= i < NumRowGroups.
func (r *Reader[T]) RowGroupNumRows(i int) int64 { return r.file.RowGroups()[i].NumRows() }

// ReadRowGroup returns the rows of row group i (0 <= i < NumRowGroups).
func (r *Reader[T]) ReadRowGroup(i int) ([]T, error) {
	var rows []T
	if i >= 0 && i < r.NumRowGroups() {
		rows = make([]T, 0, r.RowGroupNumRows(i))
	}
	if err := r.ReadRowGroupFunc(i, func(row T) error { rows = append(rows, row); return nil }); err != nil {
		return nil, err
	}
	return rows, nil
}

// readBatch is the number of rows decoded at once by ReadRowGroupFunc.
const readBatch = 64

// ReadRowGroupFunc streams the rows of row group i to fn, decoding readBatch
// rows at a time, and stops at the first error fn returns. Each row handed to
// fn owns its slices; fn may keep it.
func (r *Reader[T]) ReadRowGroupFunc(i int, fn func(T) error) (err error) {
	if i < 0 || i >= r.NumRowGroups() {
		return fileErr("read", r.path, fmt.Errorf("row group %d out of range [0, %d)", i, r.NumRowGroups()))
	}
	rg := r.file.RowGroups()[i]
	gr, err := newRowGroupReader[T](rg)
	if err != nil {
		return fileErr("read", r.path, fmt.Errorf("row group %d: %w", i, err))
	}
	defer func() {
		if cerr := gr.Close(); err == nil && cerr != nil {
			err = fileErr("read", r.path, cerr)
		}
	}()
	batch := make([]T, min(readBatch, max(rg.NumRows(), 1)))
	var seen int64
	for {
		clear(batch) // fresh slices for every row: emitted rows must not share memory
		n, rerr := readRows(gr, batch)
		for _, row := range batch[:n] {
			if err := fn(row); err != nil {
				return err
			}
		}
		seen += int64(n)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fileErr("read", r.path, fmt.Errorf("row group %d: %w", i, rerr))
		}
		if n == 0 {
			return fileErr("read", r.path, fmt.Errorf("row group %d: reader made no progress", i))
		}
	}
	if seen != rg.NumRows() {
		return fileErr("read", r.path, fmt.Errorf("row group %d: read %d rows, footer says %d", i, seen, rg.NumRows()))
	}
	return nil
}

// Close releases the file.
func (r *Reader[T]) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return fileErr("close", r.path, c.Close())
}

// newRowGroupReader wraps parquet.NewGenericRowGroupReader, turning its panics
// into errors.
func newRowGroupReader[T Schema](rg parquet.RowGroup) (gr *parquet.GenericReader[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			gr, err = nil, fmt.Errorf("%w: %v", ErrNotParquet, p)
		}
	}()
	return parquet.NewGenericRowGroupReader[T](rg), nil
}

// readRows wraps GenericReader.Read, turning panics on corrupt pages into
// errors.
func readRows[T Schema](gr *parquet.GenericReader[T], batch []T) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("%w: %v", ErrNotParquet, p)
		}
	}()
	return gr.Read(batch)
}
