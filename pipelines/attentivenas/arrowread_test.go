package main

// The independent Parquet reader: every artifact `run` writes is read with
// Apache Arrow's Go Parquet implementation (github.com/apache/arrow-go),
// which shares no code with parquet-go, the writer, and checked against
// the schema its Go struct declares, against the project's own reader, and
// against what the tiny run was asked to do.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	arrowpq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// artifactKind is one kind of Parquet file `run` writes: the paths it
// lives at (relative to the output, as README.md's artifact table lists
// them) and how to check one file, returning its rows as the project reads
// them.
type artifactKind struct {
	name    string
	pattern *regexp.Regexp
	read    func(ctx context.Context, path string) (any, error) // []T
}

func kind[T pqio.Schema](name, pattern string) artifactKind {
	return artifactKind{name: name, pattern: regexp.MustCompile(pattern), read: func(ctx context.Context, path string) (any, error) {
		return readBothWays[T](ctx, path)
	}}
}

// artifactKinds lists every kind of Parquet file `run` writes.
var artifactKinds = []artifactKind{
	kind[schemas.Example]("examples", `^examples/(train|calib|val|test)-\d{5}-of-\d{5}\.parquet$`),
	kind[schemas.DatasetStats]("stats", `^dataset/stats\.parquet$`),
	kind[schemas.Tensor]("checkpoints", `^runs/[^/]+/checkpoints/epoch-\d{4}\.parquet$`),
	kind[schemas.TrainStep]("train logs", `^runs/[^/]+/train_log\.parquet$`),
	kind[schemas.Eval]("evals", `^evals/[^/]+/[^/]+\.parquet$`),
	kind[schemas.Predictor]("predictors", `^predictors/[^/]+\.parquet$`),
	kind[schemas.RankQuality]("rank quality", `^rank_quality/[^/]+\.parquet$`),
	kind[schemas.SearchCandidate]("search", `^search/[^/]+\.parquet$`),
	kind[schemas.ParetoPoint]("fronts", `^pareto/front\.parquet$`),
	kind[schemas.Hypervolume]("hypervolumes", `^pareto/hypervolume\.parquet$`),
	kind[schemas.Comparison]("comparison", `^pareto/comparison\.parquet$`),
	kind[schemas.Tensor]("exports", `^export/[^/]+\.parquet$`),
}

// readBothWays reads path with Arrow (readArrow) and with the project's
// reader (pqio.ReadFile[T]) and compares every column of every row.
func readBothWays[T pqio.Schema](ctx context.Context, path string) ([]T, error) {
	tbl, err := readArrow[T](path)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	rows, _, err := pqio.ReadFile[T](ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: the project's reader: %w", path, err)
	}
	if int64(len(rows)) != tbl.NumRows() {
		return nil, fmt.Errorf("%s: Arrow reads %d rows, the project's reader %d", path, tbl.NumRows(), len(rows))
	}
	rt := reflect.TypeFor[T]()
	for i := range rt.NumField() {
		name := columnName(rt.Field(i))
		col := tbl.Column(tbl.Schema().FieldIndices(name)[0])
		row := 0
		for _, chunk := range col.Data().Chunks() {
			for j := range chunk.Len() {
				got, err := cell(chunk, j)
				if err != nil {
					return nil, fmt.Errorf("%s: column %s, row %d: %w", path, name, row, err)
				}
				want := canonical(reflect.ValueOf(rows[row]).Field(i))
				if got != want {
					return nil, fmt.Errorf("%s: column %s, row %d: Arrow reads %.80s, the project's reader %.80s", path, name, row, got, want)
				}
				row++
			}
		}
	}
	return rows, nil
}

// columnName is the Parquet column of a schemas struct field.
func columnName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
	return name
}

// readArrow opens path with Arrow's Parquet reader, checks its schema
// against T (checkArrowSchema) and its schema key, and reads it into an
// Arrow table.
func readArrow[T pqio.Schema](path string) (arrow.Table, error) {
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("%s: Arrow cannot open it: %w", path, err)
	}
	defer rdr.Close()
	var zero T
	kv := rdr.MetaData().KeyValueMetadata().FindValue(pqio.SchemaKey)
	if kv == nil || *kv != zero.SchemaVersion() {
		got := "none"
		if kv != nil {
			got = strconv.Quote(*kv)
		}
		return nil, fmt.Errorf("%s: key-value metadata %s is %s, expected %q", path, pqio.SchemaKey, got, zero.SchemaVersion())
	}
	if err := checkArrowSchema[T](rdr.MetaData().Schema); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: Arrow: %w", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: Arrow cannot read it: %w", path, err)
	}
	if tbl.NumRows() != rdr.NumRows() {
		tbl.Release()
		return nil, fmt.Errorf("%s: the footer says %d rows, Arrow read %d", path, rdr.NumRows(), tbl.NumRows())
	}
	return tbl, nil
}

// checkArrowSchema checks, as Arrow parsed it, that the file has exactly
// T's columns in order, each required with the physical type of its Go
// field, and that every slice field (tag option "list") uses the standard
// 3-level LIST encoding:
//
//	<required|optional> group <name> (LIST) { repeated group list { <required|optional> <type> element } }
func checkArrowSchema[T pqio.Schema](sc *schema.Schema) error {
	root := sc.Root()
	rt := reflect.TypeFor[T]()
	if root.NumFields() != rt.NumField() {
		var names []string
		for i := range root.NumFields() {
			names = append(names, root.Field(i).Name())
		}
		return fmt.Errorf("columns %v: expected %d columns of %s", names, rt.NumField(), rt.Name())
	}
	for i := range rt.NumField() {
		f := rt.Field(i)
		want, n := columnName(f), root.Field(i)
		if n.Name() != want {
			return fmt.Errorf("column %d is %q, expected %q (%s.%s)", i, n.Name(), want, rt.Name(), f.Name)
		}
		typ := f.Type
		isList := typ.Kind() == reflect.Slice && typ.Elem().Kind() != reflect.Uint8
		if !isList {
			if err := checkLeaf(n, typ, false); err != nil {
				return fmt.Errorf("column %q: %w", want, err)
			}
			continue
		}
		g, ok := n.(*schema.GroupNode)
		if !ok || n.RepetitionType() == arrowpq.Repetitions.Repeated || !isListType(n.LogicalType()) || g.NumFields() != 1 {
			return fmt.Errorf("column %q: %s %s (logical type %v): expected the 3-level LIST encoding, a group annotated LIST holding one repeated group",
				want, n.RepetitionType(), nodeKind(n), n.LogicalType())
		}
		l, ok := g.Field(0).(*schema.GroupNode)
		if !ok || l.Name() != "list" || l.RepetitionType() != arrowpq.Repetitions.Repeated || l.NumFields() != 1 {
			return fmt.Errorf("column %q: its child is %s %s %q: expected `repeated group list` (the 3-level LIST encoding)",
				want, g.Field(0).RepetitionType(), nodeKind(g.Field(0)), g.Field(0).Name())
		}
		e := l.Field(0)
		if e.Name() != "element" {
			return fmt.Errorf("column %q: list element named %q, expected \"element\"", want, e.Name())
		}
		if err := checkLeaf(e, typ.Elem(), true); err != nil {
			return fmt.Errorf("column %q, list element: %w", want, err)
		}
	}
	return nil
}

func isListType(lt schema.LogicalType) bool {
	_, ok := lt.(schema.ListLogicalType)
	return ok
}

func nodeKind(n schema.Node) string {
	if _, ok := n.(*schema.GroupNode); ok {
		return "group"
	}
	return "primitive"
}

// checkLeaf checks a primitive column against its Go type: string ->
// BYTE_ARRAY annotated String, []byte -> BYTE_ARRAY, int32 -> INT32,
// int64 -> INT64, float32 -> FLOAT, float64 -> DOUBLE, bool -> BOOLEAN;
// required, or (a list element) required or optional.
func checkLeaf(n schema.Node, typ reflect.Type, element bool) error {
	p, ok := n.(*schema.PrimitiveNode)
	if !ok {
		return fmt.Errorf("a group, expected a primitive of Go type %s", typ)
	}
	rep := p.RepetitionType()
	if rep == arrowpq.Repetitions.Repeated || (!element && rep != arrowpq.Repetitions.Required) {
		return fmt.Errorf("repetition %s, expected required (a repeated primitive is the legacy 2-level list)", rep)
	}
	var want arrowpq.Type
	switch typ.Kind() {
	case reflect.String:
		want = arrowpq.Types.ByteArray
		if _, ok := p.LogicalType().(schema.StringLogicalType); !ok {
			return fmt.Errorf("logical type %v, expected String", p.LogicalType())
		}
	case reflect.Slice: // []byte
		want = arrowpq.Types.ByteArray
	case reflect.Int32:
		want = arrowpq.Types.Int32
	case reflect.Int64:
		want = arrowpq.Types.Int64
	case reflect.Float32:
		want = arrowpq.Types.Float
	case reflect.Float64:
		want = arrowpq.Types.Double
	case reflect.Bool:
		want = arrowpq.Types.Boolean
	default:
		return fmt.Errorf("Go type %s has no check", typ)
	}
	if p.PhysicalType() != want {
		return fmt.Errorf("physical type %s, expected %s for Go type %s", p.PhysicalType(), want, typ)
	}
	return nil
}

// cell renders value j of an Arrow array as canonical does a Go value.
func cell(a arrow.Array, j int) (string, error) {
	if a.IsNull(j) {
		return "", errors.New("null")
	}
	switch a := a.(type) {
	case *array.String:
		return strconv.Quote(a.Value(j)), nil
	case *array.Binary:
		return fmt.Sprintf("%x", a.Value(j)), nil
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(j)), 10), nil
	case *array.Int64:
		return strconv.FormatInt(a.Value(j), 10), nil
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(j)), 'g', -1, 32), nil
	case *array.Float64:
		return strconv.FormatFloat(a.Value(j), 'g', -1, 64), nil
	case *array.Boolean:
		return strconv.FormatBool(a.Value(j)), nil
	case *array.List:
		lo, hi := a.ValueOffsets(j)
		parts := make([]string, 0, hi-lo)
		for k := lo; k < hi; k++ {
			s, err := cell(a.ListValues(), int(k))
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	}
	return "", fmt.Errorf("Arrow type %s has no check", a.DataType())
}

// canonical renders a Go value of a schemas struct field like cell.
func canonical(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return fmt.Sprintf("%x", v.Bytes())
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = canonical(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("unhandled %s", v.Type())
}

// checkArtifacts reads every Parquet file under r.out with Arrow, as
// readBothWays does, and checks the row counts and some values against
// what the tiny run was asked to do. It returns every problem found.
func checkArtifacts(ctx context.Context, r *tinyRun) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	byKind := map[string]map[string]any{} // kind -> relative path -> rows
	err := filepath.WalkDir(r.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(r.out, p)
		rel = filepath.ToSlash(rel)
		i := slices.IndexFunc(artifactKinds, func(k artifactKind) bool { return k.pattern.MatchString(rel) })
		if i < 0 {
			fail("%s: a Parquet file of no known kind: add its kind to artifactKinds", rel)
			return nil
		}
		k := artifactKinds[i]
		rows, err := k.read(ctx, p)
		if err != nil {
			fail("%s: %w", k.name, err)
			return nil
		}
		if byKind[k.name] == nil {
			byKind[k.name] = map[string]any{}
		}
		byKind[k.name][rel] = rows
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range artifactKinds {
		if len(byKind[k.name]) == 0 {
			fail("no readable %s file (%s) under %s", k.name, k.pattern, r.out)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	all := func(kind string, path string) any { return byKind[kind][path] }

	// examples and stats: per-split counts agree; the test split holds the
	// t10k images in file order with their labels.
	stats := all("stats", "dataset/stats.parquet").([]schemas.DatasetStats)
	perSplit := map[string][]schemas.Example{}
	for _, rows := range byKind["examples"] {
		for _, e := range rows.([]schemas.Example) {
			perSplit[e.Split] = append(perSplit[e.Split], e)
		}
	}
	if len(stats) != 4 {
		fail("stats: %d rows, expected 4 (train, calib, val, test)", len(stats))
	}
	for _, s := range stats {
		if got := len(perSplit[s.Split]); int64(got) != s.Images {
			fail("examples: %d %s rows, stats says %d", got, s.Split, s.Images)
		}
	}
	test := perSplit["test"]
	slices.SortFunc(test, func(a, b schemas.Example) int { return cmp.Compare(a.Index, b.Index) })
	if len(test) != r.test.Len() {
		fail("examples: %d test rows, the dataset has %d test images", len(test), r.test.Len())
	} else {
		for i, e := range test {
			if e.Index != int64(i) || int(e.Label) != int(r.test.Labels[i]) || string(e.Pixels) != string(r.test.Image(i)) {
				fail("examples: test row %d (index %d, label %d) is not test image %d (label %d)", i, e.Index, e.Label, i, r.test.Labels[i])
				break
			}
		}
	}

	for _, run := range r.runs {
		// checkpoints: one per epoch, every tensor holds product(shape) values.
		var ckpts []string
		for p, rows := range byKind["checkpoints"] {
			if !strings.HasPrefix(p, "runs/"+run+"/") {
				continue
			}
			ckpts = append(ckpts, p)
			for _, t := range rows.([]schemas.Tensor) {
				if n := product32(t.Shape); n != len(t.Values) {
					fail("%s: tensor %s has %d values for shape %v", p, t.Name, len(t.Values), t.Shape)
				}
			}
		}
		if len(ckpts) != r.epochs {
			fail("checkpoints of %s: %v, expected %d (one per epoch)", run, ckpts, r.epochs)
		}
		// train log: one row per step, steps 0..n-1 in order.
		log, _ := all("train logs", "runs/"+run+"/train_log.parquet").([]schemas.TrainStep)
		if len(log) == 0 {
			fail("train log of %s: no rows", run)
		}
		for i, s := range log {
			if s.Step != int64(i) || s.Run != run {
				fail("train log of %s: row %d is step %d of run %q", run, i, s.Step, s.Run)
				break
			}
		}
		// evals: the sampled subnets (min, max and the stratified ones) and
		// the search's shortlist, each measured on the configured images.
		origins := map[string]int{}
		top1 := map[string]float64{} // best val top-1 of each arch
		best, vector := 0.0, []int32(nil)
		for p, rows := range byKind["evals"] {
			if !strings.HasPrefix(p, "evals/"+run+"/") {
				continue
			}
			for _, e := range rows.([]schemas.Eval) {
				origins[e.Origin]++
				if e.Run != run || e.EvalImages != int64(r.evalImages) || e.TestImages != int64(r.testImages) || len(e.Vector) == 0 || e.Top1 < 0 || e.Top1 > 1 {
					fail("%s: row of %s: run %q, %d val and %d test images, vector %v, top1 %v", p, e.Arch, e.Run, e.EvalImages, e.TestImages, e.Vector, e.Top1)
				}
				if e.Top1 > best || len(vector) == 0 {
					best, vector = e.Top1, e.Vector
				}
				top1[e.Arch] = max(top1[e.Arch], e.Top1)
			}
		}
		if origins[schemas.OriginMin] != 1 || origins[schemas.OriginMax] != 1 || origins[schemas.OriginMin]+origins[schemas.OriginMax]+origins[schemas.OriginRandom] != r.sampled || origins[schemas.OriginSearch] == 0 {
			fail("evals of %s: origins %v, expected 1 min, 1 max, %d in all before the search, and search rows", run, origins, r.sampled)
		}
		// predictors: the three kinds, one selected.
		preds, _ := all("predictors", "predictors/"+run+".parquet").([]schemas.Predictor)
		selected := 0
		for _, p := range preds {
			if p.Selected {
				selected++
			}
			if p.Run != run || len(p.Model) == 0 || p.Fit+p.Holdout == 0 {
				fail("predictors of %s: row %+v", run, p)
			}
		}
		if len(preds) != 3 || selected != 1 {
			fail("predictors of %s: %d rows with %d selected, expected 3 kinds and 1 selected", run, len(preds), selected)
		}
		// rank quality: a pooled row (bin -1) per estimator.
		rq, _ := all("rank quality", "rank_quality/"+run+".parquet").([]schemas.RankQuality)
		pooled := map[string]bool{}
		for _, q := range rq {
			if q.Bin == -1 {
				pooled[q.Estimator] = true
			}
		}
		if !pooled["minibatch_loss"] || len(pooled) < 2 {
			fail("rank quality of %s: pooled rows for %v, expected minibatch_loss and a predictor", run, pooled)
		}
		// search: candidates of this run inside the space.
		sc, _ := all("search", "search/"+run+".parquet").([]schemas.SearchCandidate)
		if len(sc) == 0 {
			fail("search of %s: no candidates", run)
		}
		for _, c := range sc {
			if c.Run != run || len(c.Vector) != len(vector) || c.FLOPs <= 0 {
				fail("search of %s: candidate %+v", run, c)
				break
			}
		}
		// export: the best subnet's tensors, as many values as its
		// description says, of an arch with the run's best val top-1.
		exp := "export/" + run + "-best.parquet"
		tensors, _ := all("exports", exp).([]schemas.Tensor)
		var d stages.ExportDescription
		raw, err := os.ReadFile(filepath.Join(r.out, strings.TrimSuffix(exp, ".parquet")+".json"))
		if err == nil {
			err = json.Unmarshal(raw, &d)
		}
		if err != nil {
			fail("%s: description: %v", exp, err)
		} else {
			var values int64
			for _, t := range tensors {
				values += int64(len(t.Values))
			}
			if len(tensors) == 0 || values != d.FoldedParams || top1[d.ArchKey] != best || d.ValTop1 != best {
				fail("%s: %d tensors of %d values, arch %s of val top-1 %v (evaluated: %v); the description says %d values, the run's best val top-1 is %v",
					exp, len(tensors), values, d.ArchKey, d.ValTop1, top1[d.ArchKey], d.FoldedParams, best)
			}
		}
	}

	// pareto: fronts of every scope and axis, a hypervolume row each, and
	// the comparison of the runs per FLOPs bucket.
	scopes := append([]string{schemas.ScopeAll}, r.runs...)
	axes := []string{schemas.AxisFLOPs, schemas.AxisLatency, schemas.AxisParams}
	front := all("fronts", "pareto/front.parquet").([]schemas.ParetoPoint)
	hv := all("hypervolumes", "pareto/hypervolume.parquet").([]schemas.Hypervolume)
	if len(hv) != len(scopes)*len(axes) {
		fail("hypervolumes: %d rows, expected %d (scopes %v x axes %v)", len(hv), len(scopes)*len(axes), scopes, axes)
	}
	for _, h := range hv {
		n := 0
		for _, p := range front {
			if p.Scope == h.Scope && p.Axis == h.Axis {
				n++
			}
		}
		if int64(n) != h.FrontPoints || n == 0 || !(h.Hypervolume > 0 && h.Hypervolume <= 1) {
			fail("hypervolume of %s/%s: %d front points and hypervolume %v, the front has %d rows", h.Scope, h.Axis, h.FrontPoints, h.Hypervolume, n)
		}
	}
	comp := all("comparison", "pareto/comparison.parquet").([]schemas.Comparison)
	buckets := map[int32][]string{}
	for _, c := range comp {
		buckets[c.Bucket] = append(buckets[c.Bucket], c.Run)
	}
	for b, runs := range buckets {
		slices.Sort(runs)
		if want := slices.Sorted(slices.Values(r.runs)); !slices.Equal(runs, want) {
			fail("comparison: bucket %d has rows for %v, expected one per run %v", b, runs, want)
		}
	}
	if len(comp) == 0 {
		fail("comparison: no rows")
	}
	return errors.Join(errs...)
}

func product32(shape []int32) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}
