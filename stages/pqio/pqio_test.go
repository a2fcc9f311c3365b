package pqio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn"
	ptest.Main(m)
}

// testRow has the column kinds the pipeline's schemas use: scalars, a string,
// a LIST of int32 and a byte array.
type testRow struct {
	ID     int64   `parquet:"id"`
	Name   string  `parquet:"name"`
	Vector []int32 `parquet:"vector,list"`
	Blob   []byte  `parquet:"blob"`
	Score  float64 `parquet:"score"`
}

func (testRow) SchemaVersion() string { return "pqio.testRow/v1" }

// testRowV2 has testRow's columns but a newer version.
type testRowV2 testRow

func (testRowV2) SchemaVersion() string { return "pqio.testRow/v2" }

// otherRow claims testRow's version with different columns.
type otherRow struct {
	ID    int64  `parquet:"id"`
	Label string `parquet:"label"`
}

func (otherRow) SchemaVersion() string { return "pqio.testRow/v1" }

// dupRow maps two fields to one column, so parquet-go's writer fails.
type dupRow struct {
	A int64 `parquet:"x"`
	B int64 `parquet:"x"`
}

func (dupRow) SchemaVersion() string { return "pqio.dupRow/v1" }

func init() {
	Register[testRow]()
	Register[testRow]() // a second call is a no-op
	Register[otherRow]()
	register.Function1x1(rowKey)
	register.Function1x1(slowFn)
}

// rowKey derives a comparable key from a row; it reads nil and empty slices
// alike, since Parquet does (see the nil-vs-empty pitfall in the notes).
func rowKey(r testRow) string {
	return fmt.Sprintf("%d|%s|%v|%x|%g", r.ID, r.Name, r.Vector, r.Blob, r.Score)
}

// makeRows returns n rows with nil, empty and non-empty lists and blobs.
func makeRows(n int) []testRow {
	rows := make([]testRow, n)
	for i := range rows {
		r := testRow{ID: int64(i), Name: fmt.Sprintf("row-%03d", i), Score: float64(i) / 4}
		switch i % 4 {
		case 0: // nil list, nil blob
		case 1:
			r.Vector, r.Blob = []int32{}, []byte{}
		default:
			for k := range i % 7 {
				r.Vector = append(r.Vector, int32(i*10+k))
			}
			r.Blob = bytes.Repeat([]byte{byte(i)}, i%5+1)
		}
		rows[i] = r
	}
	return rows
}

func keysOf(rows []testRow) []string {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = rowKey(r)
	}
	slices.Sort(keys)
	return keys
}

// dirEntries lists dir (hidden entries included), sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReadFile(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		rows       []testRow
		opts       []Option
		wantGroups int
	}{
		{name: "empty", rows: nil, wantGroups: 0},
		{name: "one row", rows: makeRows(1), wantGroups: 1},
		{name: "default groups", rows: makeRows(300), wantGroups: 1}, // several read batches in one row group
		{name: "row bound", rows: makeRows(10), opts: []Option{RowGroupRows(3)}, wantGroups: 4},
		{name: "byte bound", rows: makeRows(200), opts: []Option{RowGroupBytes(1)}, wantGroups: 200 / writeBatch},
		{name: "metadata", rows: makeRows(5), opts: []Option{Metadata("run", "r1"), Metadata("seed", "7")}, wantGroups: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "rows.parquet") // sub/ does not exist yet
			if err := WriteFile(ctx, path, tc.rows, tc.opts...); err != nil {
				t.Fatal(err)
			}
			got, meta, err := ReadFile[testRow](ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keysOf(got), keysOf(tc.rows)) {
				t.Errorf("rows differ:\ngot  %v\nwant %v", keysOf(got), keysOf(tc.rows))
			}
			for _, r := range got {
				if r.Vector == nil || r.Blob == nil {
					t.Errorf("row %d: nil slice read back (vector %v, blob %v); expected empty", r.ID, r.Vector == nil, r.Blob == nil)
					break
				}
			}
			if meta.NumRowGroups < tc.wantGroups || (tc.name != "byte bound" && meta.NumRowGroups != tc.wantGroups) {
				t.Errorf("NumRowGroups = %d, want %d", meta.NumRowGroups, tc.wantGroups)
			}
			if meta.NumRows != int64(len(tc.rows)) || meta.Path != path || meta.SchemaVersion != "pqio.testRow/v1" {
				t.Errorf("meta = %+v", meta)
			}
			if tc.name == "metadata" && (meta.KeyValue["run"] != "r1" || meta.KeyValue["seed"] != "7") {
				t.Errorf("KeyValue = %v", meta.KeyValue)
			}
			if es := dirEntries(t, filepath.Dir(path)); !slices.Equal(es, []string{"rows.parquet"}) {
				t.Errorf("directory holds %v, want only rows.parquet", es)
			}
		})
	}
}

func TestReaderRowGroups(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rows.parquet")
	rows := makeRows(25)
	if err := WriteFile(ctx, path, rows, RowGroupRows(10)); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader[testRow](ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRowGroups() != 3 {
		t.Fatalf("NumRowGroups = %d, want 3", r.NumRowGroups())
	}
	var all []testRow
	for i, want := range []int64{10, 10, 5} {
		if n := r.RowGroupNumRows(i); n != want {
			t.Errorf("RowGroupNumRows(%d) = %d, want %d", i, n, want)
		}
		g, err := r.ReadRowGroup(i)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, g...)
	}
	// Rows must not share memory: rows decoded later must not overwrite earlier ones.
	if !slices.Equal(keysOf(all), keysOf(rows)) {
		t.Errorf("rows differ:\ngot  %v\nwant %v", keysOf(all), keysOf(rows))
	}
	if _, err := r.ReadRowGroup(3); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadRowGroup(3) error = %v, want an out-of-range error naming the file", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := r.ReadRowGroupFunc(0, func(testRow) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("ReadRowGroupFunc: err = %v after %d rows, want the callback's error after 1", err, n)
	}
}

func TestReadFileErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, fn func(path string) error) string {
		path := filepath.Join(dir, name)
		if err := fn(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.parquet", func(p string) error { return WriteFile(ctx, p, makeRows(20)) })
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		path     string
		wantErr  error    // sentinel, or nil for "any error"
		wantText []string // substrings of the message besides the path
	}{
		{
			name: "newer version",
			path: write("v2.parquet", func(p string) error {
				return WriteFile(ctx, p, []testRowV2{{ID: 1, Name: "a"}})
			}),
			wantErr:  ErrVersionMismatch,
			wantText: []string{`file has "pqio.testRow/v2"`, `want "pqio.testRow/v1"`},
		},
		{
			name: "no version",
			path: write("plain.parquet", func(p string) error {
				var buf bytes.Buffer
				w := parquet.NewGenericWriter[testRow](&buf)
				if _, err := w.Write(makeRows(3)); err != nil {
					return err
				}
				if err := w.Close(); err != nil {
					return err
				}
				return os.WriteFile(p, buf.Bytes(), 0o644)
			}),
			wantErr:  ErrVersionMismatch,
			wantText: []string{`no "attentivenas.schema" metadata`, `want "pqio.testRow/v1"`},
		},
		{
			name:     "other columns",
			path:     write("other.parquet", func(p string) error { return WriteFile(ctx, p, []otherRow{{ID: 1, Label: "x"}}) }),
			wantErr:  ErrSchemaMismatch,
			wantText: []string{"label", "vector"},
		},
		{
			name:     "text file",
			path:     write("notes.parquet", func(p string) error { return os.WriteFile(p, []byte("id,name\n1,a\n"), 0o644) }),
			wantErr:  ErrNotParquet,
			wantText: []string{"magic"},
		},
		{
			name:    "empty file",
			path:    write("empty.parquet", func(p string) error { return os.WriteFile(p, nil, 0o644) }),
			wantErr: ErrNotParquet,
		},
		{
			name:    "truncated",
			path:    write("cut.parquet", func(p string) error { return os.WriteFile(p, goodBytes[:len(goodBytes)-30], 0o644) }),
			wantErr: ErrNotParquet,
		},
		{
			name: "corrupt footer",
			path: write("garbled.parquet", func(p string) error {
				b := slices.Clone(goodBytes)
				for i := len(b) - 60; i < len(b)-8; i++ {
					b[i] ^= 0x5a
				}
				return os.WriteFile(p, b, 0o644)
			}),
			wantErr: ErrNotParquet,
		},
		{
			name:     "missing file",
			path:     filepath.Join(dir, "nope.parquet"),
			wantText: []string{"no such file"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, _, err := ReadFile[testRow](ctx, tc.path)
			if err == nil {
				t.Fatalf("ReadFile succeeded with %d rows, want an error", len(rows))
			}
			if rows != nil {
				t.Errorf("rows = %v alongside the error, want nil", rows)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not wrap %q", err, tc.wantErr)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != tc.path {
				t.Errorf("error %q is not a *FileError for %s", err, tc.path)
			}
			msg := err.Error()
			for _, s := range append([]string{"pqio: ", tc.path}, tc.wantText...) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	cases := []struct {
		name    string
		write   func(path string) error
		wantErr string
	}{
		{
			name: "stream fails",
			write: func(p string) error {
				return WriteStream(ctx, p, func(w io.Writer) error { w.Write([]byte("half")); return boom })
			},
			wantErr: "boom",
		},
		{
			name:    "parquet writer fails",
			write:   func(p string) error { return WriteFile(ctx, p, []dupRow{{A: 1, B: 2}}) },
			wantErr: "same parquet column name",
		},
		{
			name:    "bad option",
			write:   func(p string) error { return WriteFile(ctx, p, makeRows(1), RowGroupRows(0)) },
			wantErr: "RowGroupRows(0)",
		},
		{
			name:    "reserved metadata",
			write:   func(p string) error { return WriteFile(ctx, p, makeRows(1), Metadata(SchemaKey, "x")) },
			wantErr: "reserved",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.parquet")
			if err := WriteFile(ctx, path, makeRows(3)); err != nil { // the previous version
				t.Fatal(err)
			}
			err := tc.write(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v, want one naming %s and containing %q", err, path, tc.wantErr)
			}
			if es := dirEntries(t, dir); !slices.Equal(es, []string{"out.parquet"}) {
				t.Errorf("directory holds %v, want only out.parquet (no temporary file)", es)
			}
			if rows, _, err := ReadFile[testRow](ctx, path); err != nil || len(rows) != 3 {
				t.Errorf("previous file damaged: %d rows, %v", len(rows), err)
			}
		})
	}

	t.Run("open fails", func(t *testing.T) {
		dir := t.TempDir()
		blocker := filepath.Join(dir, "file")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(blocker, "out.parquet") // parent is a regular file
		if err := WriteFile(ctx, path, makeRows(1)); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error = %v, want one naming %s", err, path)
		}
		if es := dirEntries(t, dir); !slices.Equal(es, []string{"file"}) {
			t.Errorf("directory holds %v", es)
		}
	})

	t.Run("stream succeeds", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.bin")
		for _, content := range []string{"first", "second"} {
			err := WriteStream(ctx, path, func(w io.Writer) error { _, err := io.WriteString(w, content); return err })
			if err != nil {
				t.Fatal(err)
			}
			ra, size, c, err := OpenReaderAt(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, size)
			if _, err := ra.ReadAt(b, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if string(b) != content {
				t.Errorf("read %q, want %q", b, content)
			}
		}
		if es := dirEntries(t, dir); !slices.Equal(es, []string{"model.bin"}) {
			t.Errorf("directory holds %v", es)
		}
	})
}

func TestGlob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, n := range []string{"b-1.parquet", "a-2.parquet", "a-1.parquet", "a-1.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Glob(ctx, filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a-1.parquet"), filepath.Join(dir, "a-2.parquet"), filepath.Join(dir, "b-1.parquet")}
	if !slices.Equal(got, want) {
		t.Errorf("Glob = %v, want %v", got, want)
	}
	if got, err := Glob(ctx, filepath.Join(dir, "zzz-*")); err != nil || len(got) != 0 {
		t.Errorf("Glob(no match) = %v, %v; want empty, nil", got, err)
	}
	if _, err := Glob(ctx, "nosuchscheme://bucket/*"); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("Glob(unknown scheme) error = %v", err)
	}
}

// TestFooterFormat checks what standard readers rely on, from the footer: the
// 3-level LIST (group LIST > repeated group "list" > "element"), zstd on every
// column chunk, the version metadata and version-1 data pages.
func TestFooterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.parquet")
	if err := WriteFile(context.Background(), path, makeRows(30), Metadata("k", "v")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	els := md.Schema
	idx := slices.IndexFunc(els, func(e format.SchemaElement) bool { return e.Name == "vector" })
	if idx < 0 || idx+2 >= len(els) {
		t.Fatalf("no vector column in %+v", els)
	}
	vec, list, elem := els[idx], els[idx+1], els[idx+2]
	_, isList := vec.LogicalType.Value.(*format.ListType)
	if ct, _ := vec.ConvertedType.Get(); !isList || ct != deprecated.List || vec.NumChildren.V != 1 || vec.Type.Valid {
		t.Errorf("vector = %+v, want a LIST group with one child", vec)
	}
	if rt, _ := list.RepetitionType.Get(); list.Name != "list" || rt != format.Repeated || list.NumChildren.V != 1 {
		t.Errorf("vector's child = %+v, want repeated group \"list\"", list)
	}
	if rt, _ := elem.RepetitionType.Get(); elem.Name != "element" || elem.Type.V != format.Int32 || !elem.Type.Valid || rt != format.Required {
		t.Errorf("list's child = %+v, want required int32 \"element\"", elem)
	}
	blob := els[slices.IndexFunc(els, func(e format.SchemaElement) bool { return e.Name == "blob" })]
	if typ, ok := blob.Type.Get(); !ok || typ != format.ByteArray {
		t.Errorf("blob = %+v, want BYTE_ARRAY", blob)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.MetaData.Codec != format.Zstd {
				t.Errorf("column %v codec = %v, want ZSTD", cc.MetaData.PathInSchema, cc.MetaData.Codec)
			}
			// The first data page's header says which page version was written.
			var h format.PageHeader
			r := (&thrift.CompactProtocol{}).NewReader(bytes.NewReader(b[cc.MetaData.DataPageOffset:]))
			if err := thrift.NewDecoder(r).Decode(&h); err != nil {
				t.Fatalf("column %v: page header: %v", cc.MetaData.PathInSchema, err)
			}
			if h.Type != format.DataPage {
				t.Errorf("column %v: first data page is %v, want DATA_PAGE (v1)", cc.MetaData.PathInSchema, h.Type)
			}
		}
	}
	if v, ok := f.Lookup(SchemaKey); !ok || v != "pqio.testRow/v1" {
		t.Errorf("Lookup(%q) = %q, %v", SchemaKey, v, ok)
	}
	if v, ok := f.Lookup("k"); !ok || v != "v" {
		t.Errorf("Lookup(k) = %q, %v", v, ok)
	}
}

func TestBlockReaderAt(t *testing.T) {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var calls int
	open := func(off, n int64) (io.ReadCloser, error) {
		calls++
		if off < 0 || off+n > int64(len(data)) {
			return nil, fmt.Errorf("range [%d, %d) outside object", off, off+n)
		}
		return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
	r := newBlockReaderAt(int64(len(data)), open)
	r.blockSize, r.maxBlocks = 1000, 3
	cases := []struct {
		name      string
		off, n    int64
		wantN     int
		wantErr   error
		wantCalls int // ranged requests made by this read
	}{
		{name: "inside block 0", off: 10, n: 100, wantN: 100, wantCalls: 1},
		{name: "cached", off: 200, n: 300, wantN: 300, wantCalls: 0},
		{name: "large read bypasses cache", off: 900, n: 1200, wantN: 1200, wantCalls: 1},
		{name: "tail", off: 9990, n: 10, wantN: 10, wantCalls: 1},
		{name: "past end", off: 9995, n: 10, wantN: 5, wantErr: io.EOF, wantCalls: 0},
		{name: "at end", off: 10_000, n: 1, wantN: 0, wantErr: io.EOF, wantCalls: 0},
		{name: "small across 3-4", off: 3990, n: 20, wantN: 20, wantCalls: 2},
	}
	for _, tc := range cases {
		before := calls
		p := make([]byte, tc.n)
		n, err := r.ReadAt(p, tc.off)
		if n != tc.wantN || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: ReadAt = %d, %v; want %d, %v", tc.name, n, err, tc.wantN, tc.wantErr)
		}
		if !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
			t.Errorf("%s: wrong bytes", tc.name)
		}
		if calls-before != tc.wantCalls {
			t.Errorf("%s: %d ranged requests, want %d", tc.name, calls-before, tc.wantCalls)
		}
	}
	if len(r.blocks) > r.maxBlocks {
		t.Errorf("cache holds %d blocks, max %d", len(r.blocks), r.maxBlocks)
	}
	// A whole Parquet file read through the block reader.
	var buf bytes.Buffer
	rw := newRowWriter[testRow](&buf, config{rowGroupRows: 7, rowGroupBytes: DefaultRowGroupBytes})
	rows := makeRows(40)
	if err := rw.write(rows); err != nil {
		t.Fatal(err)
	}
	if err := rw.close(); err != nil {
		t.Fatal(err)
	}
	data = buf.Bytes()
	pr := newBlockReaderAt(int64(len(data)), open)
	pr.blockSize = 256
	rd, err := newReader[testRow]("mem", pr, int64(len(data)), nopCloser{})
	if err != nil {
		t.Fatal(err)
	}
	var got []testRow
	for i := range rd.NumRowGroups() {
		g, err := rd.ReadRowGroup(i)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, g...)
	}
	if !slices.Equal(keysOf(got), keysOf(rows)) {
		t.Errorf("rows through blockReaderAt differ")
	}
}

// TestCommitIdempotent runs the finalize's commit twice, as a retried
// finalize would, and checks orphans and stale shards are gone.
func TestCommitIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fn := &commitFn[testRow]{Dir: dir, Set: "part", Parts: []PartSpec{{Prefix: "part"}}, RowGroupRows: DefaultRowGroupRows, RowGroupBytes: DefaultRowGroupBytes}
	tmpDir := tmpDirName(dir, "part")
	var tmps []string
	for i := range 3 {
		p := joinPath(tmpDir, fmt.Sprintf("t%d.parquet", i))
		if err := WriteFile(ctx, p, makeRows(i+1)); err != nil {
			t.Fatal(err)
		}
		tmps = append(tmps, p)
	}
	orphan := joinPath(tmpDir, "orphan.parquet") // a failed bundle attempt's file, never emitted
	stale := []string{shardName(dir, "part", 3, 5), shardName(dir, "part", 4, 5)}
	keep := []string{"part-aug-00000-of-00001.parquet", "other-00000-of-00001.parquet", "part-00000-of-00001.txt"}
	for _, p := range append(append([]string{orphan}, stale...), prefixAll(dir, keep)...) {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := newFsys(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	want := []string{shardName(dir, "part", 0, 3), shardName(dir, "part", 1, 3), shardName(dir, "part", 2, 3)}
	for attempt := range 2 {
		finals, err := fn.commit(ctx, fs, map[string][]string{"prefix:part": slices.Clone(tmps)})
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if !slices.Equal(finals, want) {
			t.Errorf("attempt %d: finals = %v, want %v", attempt, finals, want)
		}
		wantDir := append([]string{"_part.manifest.json", "part-00000-of-00003.parquet", "part-00001-of-00003.parquet", "part-00002-of-00003.parquet"}, keep...)
		slices.Sort(wantDir)
		if es := dirEntries(t, dir); !slices.Equal(es, wantDir) {
			t.Errorf("attempt %d: directory holds %v, want %v", attempt, es, wantDir)
		}
	}
	for i, p := range want {
		rows, _, err := ReadFile[testRow](ctx, p)
		if err != nil || len(rows) != i+1 {
			t.Errorf("%s: %d rows, %v; want %d", p, len(rows), err, i+1)
		}
	}
	// A missing temporary shard whose final name does not exist is an error.
	if _, err := fn.commit(ctx, fs, map[string][]string{"prefix:part": {joinPath(tmpDir, "gone.parquet")}}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("commit(missing) error = %v", err)
	}
}

func prefixAll(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

func TestPathHelpers(t *testing.T) {
	cases := []struct{ dir, name, want string }{
		{"gs://b/out", "x.parquet", "gs://b/out/x.parquet"},
		{"gs://b/out/", "x.parquet", "gs://b/out/x.parquet"},
		{"/tmp/a", "x", "/tmp/a/x"},
		{"", "x", "x"},
	}
	for _, tc := range cases {
		if got := joinPath(tc.dir, tc.name); got != tc.want {
			t.Errorf("joinPath(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
	if d, b := splitPath("gs://b/out/x.parquet"); d != "gs://b/out" || b != "x.parquet" {
		t.Errorf("splitPath = %q, %q", d, b)
	}
	if got := tempNameFor("gs://b/out/x.parquet"); !strings.HasPrefix(got, "gs://b/out/.x.parquet.tmp-") {
		t.Errorf("tempNameFor = %q", got)
	}
	pat := shardPattern("train")
	for name, want := range map[string]bool{
		"train-00000-of-00004.parquet":     true,
		"train-00012-of-123456.parquet":    true,
		"train-aug-00000-of-00001.parquet": false,
		"train-00000-of-00004.parquet.tmp": false,
		"xtrain-00000-of-00004.parquet":    false,
	} {
		if got := pat.MatchString(name); got != want {
			t.Errorf("shardPattern(train).Match(%q) = %v", name, got)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	mustPanic := func(name, want string, fn func()) {
		t.Helper()
		defer func() {
			p := recover()
			if p == nil || !strings.Contains(fmt.Sprint(p), want) {
				t.Errorf("%s: panic %v, want one containing %q", name, p, want)
			}
		}()
		fn()
	}
	_, s := beam.NewPipelineWithRoot()
	rows := beam.CreateList(s, makeRows(2))
	mustPanic("unregistered", "pqio.Register[pqio.testRowV2]()", func() { Write[testRowV2](s, t.TempDir(), "p", rows) })
	mustPanic("wrong element type", "rows is a PCollection<pqio.testRow>", func() { Write[otherRow](s, t.TempDir(), "p", rows) })
	mustPanic("bad prefix", "plain file name prefix", func() { Write[testRow](s, t.TempDir(), "a/b", rows) })
	mustPanic("glob prefix", "plain file name prefix", func() { Write[testRow](s, t.TempDir(), "a*", rows) })
	mustPanic("bad option", "RowGroupBytes(-1)", func() { Write[testRow](s, t.TempDir(), "p", rows, RowGroupBytes(-1)) })
	mustPanic("read non-strings", "want PCollection<string>", func() { Read[testRow](s, rows) })
	mustPanic("unknown scheme", "not registered", func() { ReadGlob[testRow](s, "nosuch://x/*.parquet") })
	if !reflect.DeepEqual(versionOf[testRow](), "pqio.testRow/v1") {
		t.Error("versionOf")
	}
}
