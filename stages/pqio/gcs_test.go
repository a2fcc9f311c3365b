package pqio

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// TestGCSFiles runs the plain helpers against gs:// paths on an in-memory
// fake of Cloud Storage: no directories, rename = copy + delete, ranged reads.
func TestGCSFiles(t *testing.T) {
	gcs := startFakeGCS(t)
	ctx := context.Background()
	rows := makeRows(100)
	path := "gs://bkt/plain/rows.parquet"
	for range 2 { // the second write replaces the first
		if err := WriteFile(ctx, path, rows, RowGroupRows(10)); err != nil {
			t.Fatal(err)
		}
	}
	if got := gcs.names("bkt", ""); !slices.Equal(got, []string{"plain/rows.parquet"}) {
		t.Errorf("bucket holds %v, want only plain/rows.parquet", got)
	}
	gcs.ranged = 0
	got, meta, err := ReadFile[testRow](ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keysOf(got), keysOf(rows)) || meta.NumRowGroups != 10 {
		t.Errorf("read %d rows in %d row groups", len(got), meta.NumRowGroups)
	}
	if gcs.ranged == 0 {
		t.Error("no ranged read reached the server")
	}
	if _, _, err := ReadFile[testRow](ctx, "gs://bkt/plain/missing.parquet"); err == nil || !strings.Contains(err.Error(), "gs://bkt/plain/missing.parquet") {
		t.Errorf("ReadFile(missing) error = %v", err)
	}

	if err := WriteStream(ctx, "gs://bkt/plain/model.bin", func(w io.Writer) error { _, err := io.WriteString(w, "weights"); return err }); err != nil {
		t.Fatal(err)
	}
	ra, size, c, err := OpenReaderAt(ctx, "gs://bkt/plain/model.bin")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if n, err := ra.ReadAt(b, 0); n != len("weights") || (err != nil && err != io.EOF) || string(b) != "weights" {
		t.Errorf("ReadAt = %d, %v, %q", n, err, b)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	paths, err := Glob(ctx, "gs://bkt/plain/*")
	if err != nil || !slices.Equal(paths, []string{"gs://bkt/plain/model.bin", "gs://bkt/plain/rows.parquet"}) {
		t.Errorf("Glob = %v, %v", paths, err)
	}
}

// TestGCSWriteRead runs the sink and the source on gs:// (prism runs the
// worker in this process, so it sees the fake too), over a stale shard set
// and an orphaned temporary shard.
func TestGCSWriteRead(t *testing.T) {
	gcs := startFakeGCS(t)
	ctx := context.Background()
	for i := range 3 {
		if err := WriteFile(ctx, shardName("gs://bkt/out", "part", i, 3), makeRows(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(ctx, "gs://bkt/out/.pqio-tmp-part/0123456789abcdef.parquet", makeRows(2)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ctx, "gs://bkt/out/part-aug-00000-of-00001.parquet", makeRows(1)); err != nil {
		t.Fatal(err)
	}
	rows := makeRows(150)
	p, s := beam.NewPipelineWithRoot()
	files := Write[testRow](s, "gs://bkt/out", "part", beam.ParDo(s, slowFn, beam.Reshuffle(s, beam.CreateList(s, rows))))
	passert.Equals(s, beam.ParDo(s, rowKey, Read[testRow](s, files)), anySlice(keysOf(rows))...)
	ptest.RunAndValidate(t, p)

	var shards []string
	for _, n := range gcs.names("bkt", "out/") {
		switch {
		case n == "out/part-aug-00000-of-00001.parquet", n == "out/_part.manifest.json":
		case shardRE.MatchString(strings.TrimPrefix(n, "out/")):
			shards = append(shards, "gs://bkt/"+n)
		default:
			t.Errorf("unexpected object %s", n)
		}
	}
	var got []testRow
	for i, sh := range shards {
		if want := shardName("gs://bkt/out", "part", i, len(shards)); sh != want {
			t.Errorf("shard %d is %s, want %s", i, sh, want)
		}
		r, _, err := ReadFile[testRow](ctx, sh)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r...)
	}
	if !slices.Equal(keysOf(got), keysOf(rows)) {
		t.Errorf("shards hold %d rows, want %d", len(got), len(rows))
	}
	if listed, _, err := SetFiles(ctx, "gs://bkt/out", "part"); err != nil || !slices.Equal(listed, shards) {
		t.Errorf("SetFiles = %v, %v; want %v", listed, err, shards)
	}
	t.Logf("%d shards on gs://", len(shards))
}
