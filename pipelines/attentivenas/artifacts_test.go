package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// TestRunArtifacts runs the whole pipeline once on a tiny dataset
// (runTinyPipeline) and checks what it wrote:
//   - every Parquet artifact, read with Apache Arrow's independent Parquet
//     implementation (checkArtifacts): schemas, the 3-level LIST encoding,
//     every value against the project's reader, row counts and values
//     against the run's settings and dataset;
//   - the ONNX model exported for each run, in ONNX Runtime against the
//     engine on the test images (checkRunONNX; skips without ONNX Runtime);
//   - that the Parquet check fails on deliberately broken copies of the
//     output.
func TestRunArtifacts(t *testing.T) {
	ctx := context.Background()
	r := runTinyPipeline(t)

	t.Run("independent Parquet reader", func(t *testing.T) {
		if err := checkArtifacts(ctx, r); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ONNX Runtime", func(t *testing.T) { checkRunONNX(t, r) })

	t.Run("broken copies fail", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			br    func(t *testing.T, out string)
			wants []string // in the error
		}{
			{"truncated evals file", func(t *testing.T, out string) {
				p := firstFile(t, out, "evals/uniform")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			}, []string{"evals: ", "Arrow cannot open it"}},
			{"renamed column", func(t *testing.T, out string) {
				p := filepath.Join(out, "pareto/hypervolume.parquet")
				rows := readRows[schemas.Hypervolume](t, p)
				renamed := make([]renamedHypervolume, len(rows))
				for i, h := range rows {
					renamed[i] = renamedHypervolume(h)
				}
				writeParquet(t, p, renamed, schemas.Hypervolume{}.SchemaVersion())
			}, []string{"hypervolume.parquet", `column 2 is "hyper_volume", expected "hypervolume"`}},
			{"two-level list", func(t *testing.T, out string) {
				p := filepath.Join(out, "dataset/stats.parquet")
				rows := readRows[schemas.DatasetStats](t, p)
				flat := make([]twoLevelStats, len(rows))
				for i, s := range rows {
					flat[i] = twoLevelStats(s)
				}
				writeParquet(t, p, flat, schemas.DatasetStats{}.SchemaVersion())
			}, []string{"stats.parquet", `column "mean"`, "3-level LIST"}},
			{"missing row", func(t *testing.T, out string) {
				p := filepath.Join(out, "pareto/hypervolume.parquet")
				rows := readRows[schemas.Hypervolume](t, p)
				if err := pqio.WriteFile(context.Background(), p, rows[1:]); err != nil {
					t.Fatal(err)
				}
			}, []string{"hypervolumes: 8 rows, expected 9"}},
			{"file of no known kind", func(t *testing.T, out string) {
				p := filepath.Join(out, "pareto/front-old.parquet")
				writeParquet(t, p, readRows[schemas.Hypervolume](t, filepath.Join(out, "pareto/hypervolume.parquet")), schemas.Hypervolume{}.SchemaVersion())
			}, []string{"pareto/front-old.parquet: a Parquet file of no known kind"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				broken := *r
				broken.out = t.TempDir()
				copyTree(t, r.out, broken.out)
				tc.br(t, broken.out)
				err := checkArtifacts(ctx, &broken)
				if err == nil {
					t.Fatal("the check passed a broken output")
				}
				for _, w := range tc.wants {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the error lacks %q:\n%v", w, err)
					}
				}
			})
		}
	})
}

// renamedHypervolume is schemas.Hypervolume with its third column renamed.
type renamedHypervolume struct {
	Scope       string  `parquet:"scope,dict"`
	Axis        string  `parquet:"axis,dict"`
	Hypervolume float64 `parquet:"hyper_volume"`
	FrontPoints int64   `parquet:"front_points"`
	Evaluated   int64   `parquet:"evaluated"`
	CostLo      float64 `parquet:"cost_lo"`
	CostHi      float64 `parquet:"cost_hi"`
	RefValue    float64 `parquet:"ref_value"`
	Reference   string  `parquet:"reference"`
}

// twoLevelStats is schemas.DatasetStats with its lists as bare repeated
// columns (the legacy 2-level encoding), which not every reader takes.
type twoLevelStats struct {
	Split       string    `parquet:"split"`
	Source      string    `parquet:"source"`
	Images      int64     `parquet:"images"`
	Height      int32     `parquet:"height"`
	Width       int32     `parquet:"width"`
	Channels    int32     `parquet:"channels"`
	Classes     int32     `parquet:"classes"`
	Mean        []float64 `parquet:"mean"`
	Std         []float64 `parquet:"std"`
	ClassCounts []int64   `parquet:"class_counts"`
	Seed        int64     `parquet:"seed"`
}

func readRows[T pqio.Schema](t *testing.T, path string) []T {
	t.Helper()
	rows, _, err := pqio.ReadFile[T](context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// writeParquet writes rows to path with parquet-go directly, under the
// schema key version: a file the project's writer would not make.
func writeParquet[T any](t *testing.T, path string, rows []T, version string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.KeyValueMetadata(pqio.SchemaKey, version), parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// firstFile returns the first Parquet file under out/dir.
func firstFile(t *testing.T, out, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(out, dir, "*.parquet"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no Parquet file under %s/%s: %v", out, dir, err)
	}
	return m[0]
}

// copyTree copies the files under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
