package pqio

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// duckdbScript reads a glob of Parquet files with DuckDB (npm package
// @duckdb/node-api) and prints one key per row, the key-value metadata and
// the column types, as JSON.
const duckdbScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const glob = process.argv[1];
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
  const rows = await q("SELECT concat_ws('|', id, name, '[' || array_to_string(vector, ' ') || ']', lower(hex(blob)), CAST(score * 4 AS BIGINT)) AS k FROM read_parquet('" + glob + "') ORDER BY id");
  const kv = await q("SELECT DISTINCT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('" + glob + "')");
  const types = await q("SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet('" + glob + "'))");
  console.log(JSON.stringify({ keys: rows.map(r => r.k), kv, types }));
})().catch(e => { console.error(String(e)); process.exit(1); });
`

// TestStandardReaders reads files written by WriteFile with DuckDB, when the
// machine has it: set PQIO_DUCKDB_NODE_MODULES to a node_modules directory
// holding @duckdb/node-api (npm install @duckdb/node-api). pyarrow and the
// duckdb CLI are not installable here; TestFooterFormat checks the footer
// properties those readers rely on in every run.
func TestStandardReaders(t *testing.T) {
	mods := os.Getenv("PQIO_DUCKDB_NODE_MODULES")
	if mods == "" {
		t.Skip("PQIO_DUCKDB_NODE_MODULES not set: no standard Parquet reader; see TestFooterFormat")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	ctx := context.Background()
	dir := t.TempDir()
	rows := makeRows(120)
	for i, part := range [][]testRow{rows[:50], rows[50:51], rows[51:]} {
		if err := WriteFile(ctx, shardName(dir, "part", i, 3), part, RowGroupRows(16), Metadata("run", "std")); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(node, "-e", duckdbScript, filepath.Join(dir, "part-*.parquet"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, stderrOf(err))
	}
	var got struct {
		Keys  []string
		KV    []struct{ Key, Value string }
		Types []struct{ Name, Type string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	var want []string
	for _, r := range rows {
		want = append(want, fmt.Sprintf("%d|%s|%v|%x|%d", r.ID, r.Name, r.Vector, r.Blob, int64(r.Score*4)))
	}
	if !slices.Equal(got.Keys, want) {
		t.Errorf("DuckDB rows differ:\ngot  %q\nwant %q", got.Keys, want)
	}
	wantTypes := []struct{ Name, Type string }{{"id", "BIGINT"}, {"name", "VARCHAR"}, {"vector", "INTEGER[]"}, {"blob", "BLOB"}, {"score", "DOUBLE"}}
	if !slices.Equal(got.Types, wantTypes) {
		t.Errorf("DuckDB column types = %v, want %v", got.Types, wantTypes)
	}
	for _, kv := range []struct{ Key, Value string }{{SchemaKey, "pqio.testRow/v1"}, {"run", "std"}} {
		if !slices.Contains(got.KV, kv) {
			t.Errorf("DuckDB key-value metadata %v lacks %v", got.KV, kv)
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
