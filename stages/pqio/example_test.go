package pqio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// Stat is a row type as package schemas defines them.
type Stat struct {
	Name string  `parquet:"name"`
	Mean float64 `parquet:"mean"`
	Hist []int32 `parquet:"hist,list"`
}

// SchemaVersion names the artifact and its column version.
func (Stat) SchemaVersion() string { return "example.Stat/v1" }

func init() {
	pqio.Register[Stat]() // every package using pqio.Write/Read[Stat] does this
	register.Function1x1(statName)
}

func statName(s Stat) string { return s.Name }

func ExampleWriteFile() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "pqio-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "stats.parquet")

	stats := []Stat{{Name: "pixel", Mean: 0.25, Hist: []int32{3, 1}}, {Name: "label", Mean: 4.5}}
	if err := pqio.WriteFile(ctx, path, stats, pqio.Metadata("dataset", "fashion-mnist")); err != nil {
		fmt.Println(err)
		return
	}
	rows, meta, err := pqio.ReadFile[Stat](ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rows)
	fmt.Println(meta.SchemaVersion, meta.NumRows, meta.KeyValue["dataset"])
	// Output:
	// [{pixel 0.25 [3 1]} {label 4.5 []}]
	// example.Stat/v1 2 fashion-mnist
}

func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "pqio-example")
	defer os.RemoveAll(dir)

	p, s := beam.NewPipelineWithRoot()
	stats := beam.Create(s, Stat{Name: "pixel", Mean: 0.25}, Stat{Name: "label", Mean: 4.5})
	files := pqio.Write[Stat](s, dir, "stats", stats) // PCollection<string>: the committed shards
	back := pqio.Read[Stat](s, files)                 // reads them once they are committed
	beam.ParDo(s, statName, back)
	if err := ptest.Run(p); err != nil {
		fmt.Println(err)
		return
	}
	// The shards are the set "stats" of dir: its manifest lists them, with
	// their row counts, and readers go through it.
	names, _ := pqio.Glob(context.Background(), filepath.Join(dir, "*"))
	for _, n := range names {
		fmt.Println(filepath.Base(n))
	}
	paths, m, _ := pqio.SetFiles(context.Background(), dir, "stats")
	fmt.Println(len(paths), "file(s),", m.Files[0].Rows, "rows")
	// Output:
	// _stats.manifest.json
	// stats-00000-of-00001.parquet
	// 1 file(s), 2 rows
}
