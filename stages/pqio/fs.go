package pqio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // registers gs://
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // registers local paths
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
)

// WriteStream writes a non-Parquet file (a checkpoint, a model, a report)
// atomically: write receives a buffered writer on ".<base>.tmp-<random>" in
// path's directory; if write and every Flush/Close succeed, the temporary file
// is renamed over path (atomic locally; copy+delete on gs://). Otherwise the
// temporary file is removed, path is untouched and the error names path.
//
// See also WriteFile, OpenReaderAt.
func WriteStream(ctx context.Context, path string, write func(w io.Writer) error) error {
	f, err := newFsys(ctx, path)
	if err != nil {
		return fileErr("write", path, err)
	}
	return errors.Join(f.writeAtomic(ctx, path, write), f.Close())
}

// OpenReaderAt opens path (local or gs://) for random access and returns the
// reader, the file size and the closer that releases it. Local files are the
// *os.File itself; gs:// objects are read with ranged requests through a small
// block cache, pinned to the object generation seen at open; other schemes
// (e.g. memfs://) are read into memory.
func OpenReaderAt(ctx context.Context, path string) (io.ReaderAt, int64, io.Closer, error) {
	f, err := newFsys(ctx, path)
	if err != nil {
		return nil, 0, nil, fileErr("open", path, err)
	}
	ra, size, c, err := f.openReaderAt(ctx, path)
	if err != nil {
		return nil, 0, nil, errors.Join(err, f.Close())
	}
	return ra, size, closers{c, f}, nil
}

// Glob returns the files matching pattern (local or gs://; '*' does not cross
// '/'), sorted. No match is not an error: the result is empty.
func Glob(ctx context.Context, pattern string) ([]string, error) {
	f, err := newFsys(ctx, pattern)
	if err != nil {
		return nil, fileErr("glob", pattern, err)
	}
	paths, err := f.list(ctx, pattern)
	return paths, errors.Join(err, f.Close())
}

// fsys wraps a Beam filesystem and, for gs://, a storage client for ranged
// reads (Beam's filesystem has no ReaderAt).
type fsys struct {
	scheme string
	fs     filesystem.Interface
	gcs    *storage.Client // created on first ranged read
}

func schemeOf(path string) string {
	if i := strings.Index(path, "://"); i > 0 {
		return path[:i]
	}
	return ""
}

func newFsys(ctx context.Context, path string) (*fsys, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	return &fsys{scheme: schemeOf(path), fs: fs}, nil
}

// Close releases the filesystem and the storage client.
func (f *fsys) Close() error {
	err := f.fs.Close()
	if f.gcs != nil {
		err = errors.Join(err, f.gcs.Close())
	}
	return err
}

// fsCache keeps one fsys per scheme for a DoFn instance.
type fsCache map[string]*fsys

func (c *fsCache) get(ctx context.Context, path string) (*fsys, error) {
	if *c == nil {
		*c = fsCache{}
	}
	s := schemeOf(path)
	if f, ok := (*c)[s]; ok {
		return f, nil
	}
	f, err := newFsys(ctx, path)
	if err != nil {
		return nil, err
	}
	(*c)[s] = f
	return f, nil
}

func (c *fsCache) close() error {
	var err error
	for _, f := range *c {
		err = errors.Join(err, f.Close())
	}
	*c = nil
	return err
}

// joinPath joins a directory (local, or "scheme://bucket/dir") and a name with
// '/', without path.Clean, which would turn "gs://" into "gs:/".
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// splitPath splits p at its last '/'.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func randomID() string { return fmt.Sprintf("%016x", rand.Uint64()) }

// tempNameFor returns ".<base>.tmp-<random>" in path's directory.
func tempNameFor(path string) string {
	dir, base := splitPath(path)
	return joinPath(dir, "."+base+".tmp-"+randomID())
}

func (f *fsys) writeAtomic(ctx context.Context, path string, write func(io.Writer) error) error {
	tmp := tempNameFor(path)
	wc, err := f.fs.OpenWrite(ctx, tmp)
	if err != nil {
		return fileErr("write", path, err)
	}
	bw := bufio.NewWriterSize(wc, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	// Close commits the object on GCS, so its error matters as much as write's.
	if err = errors.Join(err, wc.Close()); err != nil {
		return fileErr("write", path, errors.Join(err, f.removeIfExists(ctx, tmp)))
	}
	if err := filesystem.Rename(ctx, f.fs, tmp, path); err != nil {
		return fileErr("write", path, errors.Join(err, f.removeIfExists(ctx, tmp)))
	}
	return nil
}

// list returns the sorted matches of pattern.
func (f *fsys) list(ctx context.Context, pattern string) ([]string, error) {
	paths, err := f.fs.List(ctx, pattern)
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, storage.ErrObjectNotExist)
}

// removeIfExists removes a file; a missing file is not an error.
func (f *fsys) removeIfExists(ctx context.Context, path string) error {
	rm, ok := f.fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("filesystem %T cannot remove %s", f.fs, path)
	}
	if err := rm.Remove(ctx, path); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// removeDir removes every file directly inside dir, then dir itself where
// directories exist (local paths; object stores have none).
func (f *fsys) removeDir(ctx context.Context, dir string) error {
	paths, err := f.list(ctx, joinPath(dir, "*"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := f.removeIfExists(ctx, p); err != nil {
			return err
		}
	}
	if f.scheme == "" {
		if err := os.Remove(dir); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

func (f *fsys) openReaderAt(ctx context.Context, path string) (io.ReaderAt, int64, io.Closer, error) {
	if f.scheme == "gs" {
		return f.openGCS(ctx, path)
	}
	rc, err := f.fs.OpenRead(ctx, path)
	if err != nil {
		return nil, 0, nil, fileErr("open", path, err)
	}
	if file, ok := rc.(*os.File); ok {
		st, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, 0, nil, fileErr("open", path, err)
		}
		return file, st.Size(), file, nil
	}
	b, err := io.ReadAll(rc)
	if err = errors.Join(err, rc.Close()); err != nil {
		return nil, 0, nil, fileErr("open", path, err)
	}
	return bytes.NewReader(b), int64(len(b)), nopCloser{}, nil
}

func (f *fsys) openGCS(ctx context.Context, path string) (io.ReaderAt, int64, io.Closer, error) {
	if f.gcs == nil {
		c, err := gcsx.NewClient(ctx, storage.ScopeReadOnly)
		if err != nil {
			// Same fallback as Beam's gcs filesystem: public buckets still work.
			if c, err = gcsx.NewUnauthenticatedClient(ctx); err != nil {
				return nil, 0, nil, fileErr("open", path, err)
			}
		}
		f.gcs = c
	}
	bucket, object, err := gcsx.ParseObject(path)
	if err != nil {
		return nil, 0, nil, fileErr("open", path, err)
	}
	obj := f.gcs.Bucket(bucket).Object(object)
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return nil, 0, nil, fileErr("open", path, err)
	}
	obj = obj.Generation(attrs.Generation) // an overwrite mid-read must not mix two versions
	ra := newBlockReaderAt(attrs.Size, func(off, n int64) (io.ReadCloser, error) {
		return obj.NewRangeReader(ctx, off, n)
	})
	return ra, attrs.Size, nopCloser{}, nil
}

// closers closes each in order and joins the errors.
type closers []io.Closer

func (cs closers) Close() error {
	var err error
	for _, c := range cs {
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	}
	return err
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
