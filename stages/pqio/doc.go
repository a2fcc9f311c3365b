// Package pqio is the Parquet IO of every AttentiveNAS stage: plain file
// helpers, a sharded Beam sink and a row-group Beam source, all generic over
// the row type T (a parquet-go tagged struct from package schemas that
// implements Schema). Paths go through Beam's filesystem package, so local
// paths and gs:// both work.
//
// Every file is zstd-compressed, uses version-1 data pages and the standard
// 3-level LIST encoding for slices tagged `parquet:",list"` (readable by
// Arrow, DuckDB and pandas), has bounded row groups (DefaultRowGroupRows,
// DefaultRowGroupBytes), and stores T's SchemaVersion in its key-value
// metadata under SchemaKey. Readers check that version and that the file's
// schema equals parquet.SchemaOf(T), and fail with an error naming the file.
//
// # Plain files
//
//	err := pqio.WriteFile(ctx, "out/dataset/stats.parquet", rows)  // atomic: temp name + rename
//	rows, meta, err := pqio.ReadFile[schemas.Stat](ctx, "out/dataset/stats.parquet")
//	r, err := pqio.OpenReader[schemas.Stat](ctx, path)             // row group by row group
//	err = pqio.WriteStream(ctx, "out/runs/a/model.bin", enc.Encode) // any atomic non-Parquet file
//	ra, size, closer, err := pqio.OpenReaderAt(ctx, path)           // random access, gs:// by ranges
//	paths, err := pqio.Glob(ctx, "out/examples/train-*.parquet")    // sorted
//
// # Beam
//
// Register each row type in an init function, then:
//
//	func init() { pqio.Register[schemas.Example]() }
//
//	files := pqio.Write[schemas.Example](s, "out/examples", "train", examples)
//	// files: PCollection<string> = out/examples/train-00000-of-00003.parquet, ...
//	again := pqio.Read[schemas.Example](s, files) // waits for the files above
//	other := pqio.ReadGlob[schemas.Example](s, "old/examples/train-*.parquet")
//
// Write commits one shard per non-empty bundle through a staging directory
// and a commit step, so a retried bundle leaves no trace and a re-run leaves
// exactly one copy of each shard; see Write for the protocol.
//
// # Sets
//
// Files that belong together (a shard set, a checkpoint with its train
// log, a report) commit whole or not at all: they are staged, then the
// set's manifest "<dir>/_<set>.manifest.json" (every file with its row
// count and identity) is written as the commit point, then the files move
// into place. A crash at any step leaves the old set or the new one; readers
// go through the manifest and refuse an incomplete set with an error naming
// the file:
//
//	w, _ := pqio.NewSetWriter(ctx, "out/pareto", "pareto", false, nil)
//	_ = pqio.WriteSetFile(ctx, w, "front.parquet", rows)
//	_ = w.WriteStream(ctx, "report.html", render)
//	_, err := w.Commit(ctx)
//	paths, manifest, err := pqio.SetFiles(ctx, "out/pareto", "pareto")
//
// Commit (Beam) commits several staged shard sets and files as one set.
// Recover finishes interrupted commits and removes temporary files; Lock
// gives one process at a time an output (flock locally, a precondition
// object on gs://). SetFaultHook is the test seam that stops a commit at
// any step.
//
// # Generics and Beam
//
// The DoFns are generic structs (writeShardFn[T], ...). Beam registers them
// by their instantiated type name, e.g.
// "github.com/attentivenas/attentivenas/stages/pqio.writeShardFn[...schemas.Example]",
// which is the same in the launcher and in a worker built from the same
// binary; this was verified on prism (which serialises every DoFn), on the
// direct runner and with the vet runner (every call reflection-free). Register
// must run in init, before beam.Init.
//
// Metrics (namespace "pqio"): rows_written, shards_written, files_committed,
// stale_files_removed, files_listed, row_groups_read, rows_read.
package pqio
