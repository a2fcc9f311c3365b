package pqio

import (
	"errors"
	"fmt"
	"maps"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// Schema is implemented by every row type stored through pqio: a Go struct
// with parquet-go tags (see package schemas) whose value method SchemaVersion
// names the artifact and the version of its columns, e.g.
// "attentivenas.Example/v1". The version is written to each file's key-value
// metadata under SchemaKey and must match exactly when the file is read.
//
// SchemaVersion is called on the zero value of T, so it must use a value
// receiver and return a constant.
type Schema interface {
	SchemaVersion() string
}

// SchemaKey is the Parquet key-value metadata key that holds the row type's
// SchemaVersion in every file pqio writes.
const SchemaKey = "attentivenas.schema"

// Sentinel errors wrapped (inside a *FileError) by the readers; test with
// errors.Is.
var (
	// ErrNotParquet: the file is not a readable Parquet file (bad magic
	// bytes, truncated or corrupt footer).
	ErrNotParquet = errors.New("not a Parquet file")
	// ErrSchemaMismatch: the file's column tree differs from
	// parquet.SchemaOf(T) (names, order, physical or logical types,
	// repetition).
	ErrSchemaMismatch = errors.New("schema mismatch")
	// ErrVersionMismatch: the file's SchemaKey metadata is missing or differs
	// from T's SchemaVersion.
	ErrVersionMismatch = errors.New("schema version mismatch")
)

// FileError records a failed operation on one file. Its message is
// "pqio: <op> <path>: <err>".
type FileError struct {
	Op   string // "read", "write", "open", ...
	Path string
	Err  error
}

// Error returns "pqio: <op> <path>: <err>".
func (e *FileError) Error() string { return "pqio: " + e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

func fileErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FileError
	if errors.As(err, &fe) && fe.Path == path {
		return err // already names the file
	}
	return &FileError{Op: op, Path: path, Err: err}
}

// Meta describes one Parquet file as read from its footer.
type Meta struct {
	Path          string            // the path the file was opened with
	SchemaVersion string            // value of SchemaKey
	NumRows       int64             // rows in the file
	NumRowGroups  int               // row groups in the file
	KeyValue      map[string]string // all key-value metadata, SchemaKey included
}

// versionOf returns T's schema version.
func versionOf[T Schema]() string {
	var zero T
	return zero.SchemaVersion()
}

// schemaOf returns the Parquet schema of T and panics with a pqio: prefix when T
// is not a struct type parquet-go can map.
func schemaOf[T Schema]() *parquet.Schema {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("pqio: row type %v must be a struct, is %v", t, t.Kind()))
	}
	var zero T
	return parquet.SchemaOf(zero)
}

// checkFile validates the footer of an opened file against T and returns its
// metadata.
func checkFile[T Schema](path string, f *parquet.File) (Meta, error) {
	kv := make(map[string]string, len(f.Metadata().KeyValueMetadata))
	for _, e := range f.Metadata().KeyValueMetadata {
		kv[e.Key] = e.Value
	}
	m := Meta{
		Path:          path,
		SchemaVersion: kv[SchemaKey],
		NumRows:       f.NumRows(),
		NumRowGroups:  len(f.RowGroups()),
		KeyValue:      kv,
	}
	want := versionOf[T]()
	if got, ok := kv[SchemaKey]; !ok {
		return m, fmt.Errorf("%w: file has no %q metadata, want %q", ErrVersionMismatch, SchemaKey, want)
	} else if got != want {
		return m, fmt.Errorf("%w: file has %q, want %q", ErrVersionMismatch, got, want)
	}
	if ws := schemaOf[T](); !parquet.EqualNodes(f.Schema(), ws) {
		return m, fmt.Errorf("%w: file has\n%v\nwant (%v)\n%v", ErrSchemaMismatch, f.Schema(), reflect.TypeFor[T](), ws)
	}
	return m, nil
}

// clone returns a copy of m (nil stays nil).
func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
