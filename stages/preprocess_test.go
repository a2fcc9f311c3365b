package stages

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// tinyDataset returns n images of h x w x c with pseudo-random pixels and
// labels below classes, reproducible from seed.
func tinyDataset(n, h, w, c, classes int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 0))
	d := &data.Dataset{Height: h, Width: w, Channels: c, Classes: classes, Pixels: make([]byte, n*h*w*c), Labels: make([]uint8, n)}
	for i := range d.Pixels {
		d.Pixels[i] = byte(r.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(r.IntN(classes))
	}
	return d
}

// concat returns the images of ds back to back as one dataset.
func concat(ds ...*data.Dataset) *data.Dataset {
	out := *ds[0]
	out.Pixels, out.Labels = nil, nil
	for _, d := range ds {
		out.Pixels = append(out.Pixels, d.Pixels...)
		out.Labels = append(out.Labels, d.Labels...)
	}
	return &out
}

// writeFile writes b to dir/name, gzip-compressed if name ends in ".gz".
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeIDX returns d's IDX image and label files.
func encodeIDX(t *testing.T, d *data.Dataset) (images, labels []byte) {
	t.Helper()
	var im, lb bytes.Buffer
	if err := data.EncodeIDX(&im, &lb, d); err != nil {
		t.Fatal(err)
	}
	return im.Bytes(), lb.Bytes()
}

// writeIDX writes the four IDX files of an MNIST-style dataset to dir,
// named with ext ("" or ".gz").
func writeIDX(t *testing.T, dir string, train, test *data.Dataset, ext string) {
	t.Helper()
	im, lb := encodeIDX(t, train)
	writeFile(t, dir, "train-images-idx3-ubyte"+ext, im)
	writeFile(t, dir, "train-labels-idx1-ubyte"+ext, lb)
	im, lb = encodeIDX(t, test)
	writeFile(t, dir, "t10k-images-idx3-ubyte"+ext, im)
	writeFile(t, dir, "t10k-labels-idx1-ubyte"+ext, lb)
}

// encodeCIFAR returns d as a CIFAR-10 batch file.
func encodeCIFAR(t *testing.T, d *data.Dataset) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := data.EncodeCIFAR10(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writePNG writes the image i of d as a PNG (gray or RGB) to dir/name.
func writePNG(t *testing.T, dir, name string, d *data.Dataset, i int) {
	t.Helper()
	var img image.Image
	px := d.Image(i)
	if d.Channels == 1 {
		g := image.NewGray(image.Rect(0, 0, d.Width, d.Height))
		copy(g.Pix, px)
		img = g
	} else {
		rgba := image.NewNRGBA(image.Rect(0, 0, d.Width, d.Height))
		for p := range d.Width * d.Height {
			rgba.Set(p%d.Width, p/d.Width, color.NRGBA{px[3*p], px[3*p+1], px[3*p+2], 255})
		}
		img = rgba
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, b.Bytes())
}

// want describes what a Preprocess run must produce.
type want struct {
	train, test *data.Dataset // the train side and the test side, in index order
	val, calib  int
	seed        int64
	classes     int
	source      string
}

var shardRE = regexp.MustCompile(`^(train|calib|val|test)-(\d{5})-of-(\d{5})\.parquet$`)

// checkOutput verifies the artifacts under out against w and returns the
// split of every train-side index.
func checkOutput(t *testing.T, out string, w want) []string {
	t.Helper()
	ctx := context.Background()
	// Exactly one complete shard set per split, and nothing else.
	entries, err := os.ReadDir(ExamplesDir(out))
	if err != nil {
		t.Fatal(err)
	}
	shards := map[string][]string{}
	for _, e := range entries {
		m := shardRE.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("unexpected entry %s in %s", e.Name(), ExamplesDir(out))
			continue
		}
		if i, _ := strconv.Atoi(m[2]); i != len(shards[m[1]]) {
			t.Errorf("shard %s out of sequence", e.Name())
		}
		shards[m[1]] = append(shards[m[1]], e.Name())
	}
	for split, names := range shards {
		last := shardRE.FindStringSubmatch(names[len(names)-1])
		if n, _ := strconv.Atoi(last[3]); n != len(names) {
			t.Errorf("split %s: %d shards %q, want %d", split, len(names), names, n)
		}
	}
	entries, err = os.ReadDir(filepath.Join(out, "dataset"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "stats.parquet" {
		t.Errorf("dataset dir holds %v (%v), want only stats.parquet", entries, err)
	}

	// Rows: counts, indices, splits, labels, pixels.
	trainSide := w.train.Len()
	splitter, err := data.NewSplitter(trainSide, w.val, w.calib, w.seed)
	if err != nil {
		t.Fatal(err)
	}
	assigned := make([]string, trainSide)
	testSeen := make([]bool, w.test.Len())
	counts := map[string]int{"train": 0, "calib": 0, "val": 0, "test": 0}
	stats := map[string]*data.ChannelStats{}
	classCounts := map[string][]int64{}
	for _, split := range []string{"train", "calib", "val", "test"} {
		stats[split] = &data.ChannelStats{}
		classCounts[split] = make([]int64, w.classes)
		paths, err := pqio.Glob(ctx, filepath.Join(ExamplesDir(out), split+"-*-of-*.parquet"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("split %s: shards %v, %v", split, paths, err)
		}
		for _, p := range paths {
			rows, _, err := pqio.ReadFile[schemas.Example](ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				counts[split]++
				src := w.test
				if split == "test" {
					if testSeen[r.Index] {
						t.Fatalf("test index %d twice", r.Index)
					}
					testSeen[r.Index] = true
				} else {
					src = w.train
					if assigned[r.Index] != "" {
						t.Fatalf("train-side index %d in %s and %s", r.Index, assigned[r.Index], split)
					}
					assigned[r.Index] = split
					if got := string(splitter.Split(int(r.Index))); got != split {
						t.Errorf("index %d in %s, the Splitter says %s", r.Index, split, got)
					}
				}
				if r.Split != split || r.Label != int32(src.Labels[r.Index]) || !bytes.Equal(r.Pixels, src.Image(int(r.Index))) ||
					r.Height != int32(src.Height) || r.Width != int32(src.Width) || r.Channels != int32(src.Channels) {
					t.Fatalf("%s row %d (split %q, label %d, %dx%dx%d) differs from the source", split, r.Index, r.Split, r.Label, r.Height, r.Width, r.Channels)
				}
				stats[split].Add(r.Pixels, int(r.Channels))
				classCounts[split][r.Label]++
			}
		}
	}
	wantCounts := map[string]int{"train": trainSide - w.val - w.calib, "calib": w.calib, "val": w.val, "test": w.test.Len()}
	if !equalMaps(counts, wantCounts) {
		t.Errorf("rows per split %v, want %v", counts, wantCounts)
	}
	if slices.Contains(assigned, "") || slices.Contains(testSeen, false) {
		t.Errorf("some indices are missing")
	}

	// Statistics against a direct computation.
	rows, _, err := pqio.ReadFile[schemas.DatasetStats](ctx, StatsPath(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d stats rows, want 4", len(rows))
	}
	for i, split := range []string{"train", "calib", "val", "test"} {
		r := rows[i]
		if r.Split != split || r.Images != int64(wantCounts[split]) || r.Source != w.source || r.Seed != w.seed ||
			r.Classes != int32(w.classes) || r.Height != int32(w.train.Height) || r.Width != int32(w.train.Width) || r.Channels != int32(w.train.Channels) {
			t.Errorf("stats row %d: %+v", i, r)
		}
		if !slices.Equal(r.ClassCounts, classCounts[split]) {
			t.Errorf("%s class counts %v, want %v", split, r.ClassCounts, classCounts[split])
		}
		mean, std := stats[split].Mean(), stats[split].Std()
		if wantCounts[split] == 0 {
			mean, std = nil, nil
		}
		if len(r.Mean) != len(mean) || len(r.Std) != len(std) {
			t.Fatalf("%s mean %v std %v, want %v %v", split, r.Mean, r.Std, mean, std)
		}
		for c := range mean {
			if math.Abs(r.Mean[c]-float64(mean[c])) > 1e-6 || math.Abs(r.Std[c]-float64(std[c])) > 1e-6 {
				t.Errorf("%s channel %d: mean %g std %g, want %g %g", split, c, r.Mean[c], r.Std[c], mean[c], std[c])
			}
		}
	}
	return assigned
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// buildChecked builds Preprocess plus in-pipeline checks: the rows read back
// from the emitted shard paths of each split, and the stats rows.
func buildChecked(t *testing.T, cfg PreprocessConfig, counts map[string]int) *beam.Pipeline {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	out, err := TryPreprocess(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for split, files := range map[string]beam.PCollection{"train": out.Train, "calib": out.Calib, "val": out.Val, "test": out.Test} {
		rows := pqio.Read[schemas.Example](s, files)
		passert.Count(s, rows, split, counts[split])
	}
	passert.Count(s, pqio.Read[schemas.DatasetStats](s, out.Stats), "stats", 4)
	passert.Count(s, out.Stats, "stats files", 1)
	return p
}

// counter sums a preprocess counter over steps.
func counter(pr beam.PipelineResult, name string) int64 {
	var sum int64
	q := pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == "preprocess" && r.Name() == name })
	for _, c := range q.Counters() {
		sum += c.Result()
	}
	return sum
}

func TestPreprocessIDX(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	train := tinyDataset(60, 5, 4, 1, 10, 1)
	test := tinyDataset(12, 5, 4, 1, 10, 2)
	writeIDX(t, dir, train, test, ".gz")
	cfg := PreprocessConfig{Data: dir, Output: out, Val: 7, Calib: 5, Seed: 3}
	w := want{train: train, test: test, val: 7, calib: 5, seed: 3, classes: 10, source: "idx:" + dir}
	counts := map[string]int{"train": 48, "calib": 5, "val": 7, "test": 12}

	var first []string
	for run := range 2 { // the second run goes into the same output
		pr, err := ptest.RunWithMetrics(buildChecked(t, cfg, counts))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		assigned := checkOutput(t, out, w)
		if run == 0 {
			first = assigned
		} else if !slices.Equal(first, assigned) {
			t.Errorf("the same seed gave another assignment")
		}
		for split, n := range counts {
			if got := counter(pr, "images_"+split); got != int64(n) {
				t.Errorf("run %d: counter images_%s = %d, want %d", run, split, got, n)
			}
		}
		if got := counter(pr, "work_items"); got != 2 {
			t.Errorf("run %d: counter work_items = %d, want 2", run, got)
		}
	}
}

// TestPreprocessDirect runs the stage on the legacy direct runner, which the
// CLI also supports (--runner=direct).
func TestPreprocessDirect(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	train := tinyDataset(30, 3, 3, 1, 4, 5)
	test := tinyDataset(6, 3, 3, 1, 4, 6)
	writeIDX(t, dir, train, test, "")
	cfg := PreprocessConfig{Data: dir, Format: FormatIDX, Output: out, Val: 4, Calib: 0, Seed: 9, Classes: 4}
	p := buildChecked(t, cfg, map[string]int{"train": 26, "calib": 0, "val": 4, "test": 6})
	if _, err := beam.Run(context.Background(), "direct", p); err != nil {
		t.Fatal(err)
	}
	checkOutput(t, out, want{train: train, test: test, val: 4, calib: 0, seed: 9, classes: 4, source: "idx:" + dir})
}

func TestPreprocessCIFAR(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	var batches []*data.Dataset
	for i := range 5 {
		b := tinyDataset(3+i, 32, 32, 3, 10, uint64(10+i)) // batches of 3..7 records
		batches = append(batches, b)
		name := fmt.Sprintf("data_batch_%d.bin", i+1)
		if i == 2 {
			name += ".gz"
		}
		writeFile(t, sub, name, encodeCIFAR(t, b))
	}
	test := tinyDataset(4, 32, 32, 3, 10, 20)
	writeFile(t, sub, "test_batch.bin", encodeCIFAR(t, test))
	writeFile(t, sub, "batches.meta.txt", []byte("airplane\n")) // ignored

	cfg := DefaultPreprocessConfig(dir, out)
	cfg.Val, cfg.Calib, cfg.Seed = 6, 2, 4
	pr, err := ptest.RunWithMetrics(buildChecked(t, cfg, map[string]int{"train": 17, "calib": 2, "val": 6, "test": 4}))
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, out, want{train: concat(batches...), test: test, val: 6, calib: 2, seed: 4, classes: 10, source: "cifar10:" + dir})
	if got := counter(pr, "work_items"); got != 6 {
		t.Errorf("work_items = %d, want 6 (one per batch file)", got)
	}
}

func TestPreprocessFolder(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	classes := []string{"bag", "coat", "shirt"}
	// The train side in sorted path order: class folder, then file name.
	train := tinyDataset(11, 4, 6, 3, 3, 30)
	test := tinyDataset(5, 4, 6, 3, 3, 31)
	for _, side := range []struct {
		name string
		d    *data.Dataset
	}{{"train", train}, {"test", test}} {
		// Sorting by label keeps index order = sorted path order.
		order := make([]int, side.d.Len())
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return int(side.d.Labels[a]) - int(side.d.Labels[b]) })
		sorted := &data.Dataset{Height: 4, Width: 6, Channels: 3, Classes: 3}
		for k, i := range order {
			sorted.Pixels = append(sorted.Pixels, side.d.Image(i)...)
			sorted.Labels = append(sorted.Labels, side.d.Labels[i])
			writePNG(t, dir, filepath.Join(side.name, classes[side.d.Labels[i]], fmt.Sprintf("img%03d.png", k)), side.d, i)
		}
		*side.d = *sorted
	}
	writeFile(t, dir, "train/coat/.DS_Store", []byte{0}) // hidden: ignored

	cfg := DefaultPreprocessConfig(dir, out)
	cfg.Val, cfg.Calib, cfg.ChunkFiles = 2, 1, 4
	p, s := beam.NewPipelineWithRoot()
	o, err := TryPreprocess(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.Plan.Format != FormatFolder || !slices.Equal(o.Plan.ClassNames, classes) || o.Plan.Channels != 3 || o.Plan.Height != 4 || o.Plan.Width != 6 {
		t.Errorf("plan %+v", o.Plan)
	}
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, out, want{train: train, test: test, val: 2, calib: 1, seed: 1, classes: 3, source: "folder:" + dir})
	if got := counter(pr, "work_items"); got != 5 { // train 4+4+3, test 4+1
		t.Errorf("work_items = %d, want 5", got)
	}
}

// TestPreprocessBadInput feeds broken datasets. Each must fail, at
// construction or at run time, with an error naming the file and the
// problem, and leave no example shard and no stats file; after
// pqio.Recover (what the commands run on failure) nothing at all.
func TestPreprocessBadInput(t *testing.T) {
	train := tinyDataset(20, 3, 3, 1, 10, 40)
	test := tinyDataset(5, 3, 3, 1, 10, 41)
	trainImages, trainLabels := encodeIDX(t, train)
	testImages, testLabels := encodeIDX(t, test)
	// idx writes an IDX dataset whose train files are images and labels.
	idx := func(images, labels []byte, ext string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			writeFile(t, dir, "train-images-idx3-ubyte"+ext, images)
			writeFile(t, dir, "train-labels-idx1-ubyte"+ext, labels)
			writeFile(t, dir, "t10k-images-idx3-ubyte"+ext, testImages)
			writeFile(t, dir, "t10k-labels-idx1-ubyte"+ext, testLabels)
		}
	}
	badLabel := bytes.Clone(trainLabels)
	badLabel[8+13] = 12 // label of image 13
	fewerLabels := append([]byte{0, 0, 8, 1, 0, 0, 0, 19}, trainLabels[8:27]...)
	badMagic := bytes.Clone(trainImages)
	badMagic[3] = 1

	cifar := func(batch1 []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			b := encodeCIFAR(t, tinyDataset(2, 32, 32, 3, 10, 42))
			writeFile(t, dir, "data_batch_1.bin", batch1)
			for i := 2; i <= 5; i++ {
				writeFile(t, dir, fmt.Sprintf("data_batch_%d.bin", i), b)
			}
			writeFile(t, dir, "test_batch.bin", b)
		}
	}
	goodBatch := encodeCIFAR(t, tinyDataset(3, 32, 32, 3, 10, 43))
	badCIFARLabel := bytes.Clone(goodBatch)
	badCIFARLabel[cifarRecordBytes] = 10 // label of record 1

	img := tinyDataset(3, 4, 4, 1, 2, 44)
	folder := func(extra string, content []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			writePNG(t, dir, "train/a/0.png", img, 0)
			writePNG(t, dir, "train/b/1.png", img, 1)
			writePNG(t, dir, "test/a/2.png", img, 2)
			writeFile(t, dir, extra, content)
		}
	}
	big := tinyDataset(1, 5, 4, 1, 2, 45)

	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dir string)
		runtime bool     // fails when the pipeline runs, else while it is built
		msg     []string // substrings of the error, the file name among them
	}{
		{"idx truncated raw", idx(trainImages[:len(trainImages)-5], trainLabels, ""), false, []string{"train-images-idx3-ubyte", "truncated"}},
		{"idx truncated gzip", func(t *testing.T, dir string) {
			idx(nil, trainLabels, ".gz")(t, dir)
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(trainImages)
			zw.Close()
			if err := os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), buf.Bytes()[:buf.Len()-30], 0o644); err != nil {
				t.Fatal(err)
			}
		}, true, []string{"train-images-idx3-ubyte.gz", "truncated"}},
		{"idx header truncated", idx(trainImages[:10], trainLabels, ""), false, []string{"train-images-idx3-ubyte", "truncated"}},
		{"idx wrong magic", idx(badMagic, trainLabels, ".gz"), false, []string{"train-images-idx3-ubyte.gz", "bad magic number"}},
		{"idx count mismatch", idx(trainImages, fewerLabels, ""), false, []string{"train-labels-idx1-ubyte", "19 labels for 20 images"}},
		{"idx label out of range", idx(trainImages, badLabel, ""), true, []string{"train-labels-idx1-ubyte", "record 13", "12 out of range [0,10)"}},
		{"idx missing file", func(t *testing.T, dir string) {
			idx(trainImages, trainLabels, "")(t, dir)
			os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte"))
		}, false, []string{"missing t10k-labels-idx1-ubyte"}},
		{"cifar truncated", cifar(goodBatch[:len(goodBatch)-1]), false, []string{"data_batch_1.bin", "truncated", "3073-byte records"}},
		{"cifar empty", cifar(nil), false, []string{"data_batch_1.bin", "no records"}},
		{"cifar label out of range", cifar(badCIFARLabel), true, []string{"data_batch_1.bin", "record 1", "10 out of range [0,10)"}},
		{"cifar missing batch", func(t *testing.T, dir string) {
			cifar(goodBatch)(t, dir)
			os.Remove(filepath.Join(dir, "data_batch_4.bin"))
		}, false, []string{"missing data_batch_4.bin"}},
		{"folder non-image file", folder("train/b/notes.txt", []byte("hi")), false, []string{"notes.txt", "not a .png, .jpg or .jpeg file"}},
		{"folder not an image", folder("train/b/3.png", []byte("this is not a PNG")), true, []string{"3.png", "not a PNG or JPEG image"}},
		{"folder wrong size", func(t *testing.T, dir string) {
			folder("train/b/3.png", nil)(t, dir)
			writePNG(t, dir, "train/b/3.png", big, 0)
		}, true, []string{"3.png", "image is 5x4", "4x4"}},
		{"folder unknown test class", folder("test/c/9.png", nil), false, []string{"9.png", `class "c" has no folder`}},
		{"empty dir", func(t *testing.T, dir string) {}, false, []string{"is empty or missing"}},
		{"unknown layout", func(t *testing.T, dir string) {
			writeFile(t, dir, "images/a.png", []byte("x"))
		}, false, []string{"cannot detect the dataset format", "pass --format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			tc.setup(t, dir)
			cfg := DefaultPreprocessConfig(dir, out)
			cfg.Val, cfg.Calib = 1, 1
			p, s := beam.NewPipelineWithRoot()
			_, err := TryPreprocess(s, cfg)
			if tc.runtime {
				if err != nil {
					t.Fatalf("construction failed: %v", err)
				}
				_, err = ptest.RunWithMetrics(p)
			} else if err == nil {
				t.Fatal("construction succeeded")
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q:\n%v", m, err)
				}
			}
			if shards, _ := filepath.Glob(filepath.Join(ExamplesDir(out), "*.parquet")); len(shards) > 0 {
				t.Errorf("failed run left shards %v", shards)
			}
			if _, err := os.Stat(StatsPath(out)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed run left a stats file (%v)", err)
			}
			if _, err := pqio.Recover(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			if left := walk(t, out); len(left) > 0 {
				t.Errorf("after pqio.Recover, %s holds %q", out, left)
			}
		})
	}
}

// walk returns the files under root (directories excluded), relative.
func walk(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && (!d.IsDir() || strings.Contains(d.Name(), "tmp")) {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestPreprocessBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, tinyDataset(10, 2, 2, 1, 10, 50), tinyDataset(2, 2, 2, 1, 10, 51), "")
	for _, tc := range []struct {
		name string
		edit func(c *PreprocessConfig)
		msg  string
	}{
		{"no data", func(c *PreprocessConfig) { c.Data = "" }, "no dataset directory"},
		{"no output", func(c *PreprocessConfig) { c.Output = "" }, "no output directory"},
		{"unknown format", func(c *PreprocessConfig) { c.Format = "tfrecord" }, `unknown format "tfrecord"`},
		{"too many held out", func(c *PreprocessConfig) { c.Val, c.Calib = 8, 3 }, "cannot hold out 8 val and 3 calib images: idx:" + dir + " has 10 train-side images"},
		{"negative", func(c *PreprocessConfig) { c.Val = -1 }, "negative split size"},
		{"channels", func(c *PreprocessConfig) { c.Channels = 3 }, "IDX images have 1"},
		{"cifar format on idx", func(c *PreprocessConfig) { c.Format = FormatCIFAR10 }, "missing data_batch_1.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultPreprocessConfig(dir, t.TempDir())
			cfg.Val, cfg.Calib = 1, 1
			tc.edit(&cfg)
			_, s := beam.NewPipelineWithRoot()
			_, err := TryPreprocess(s, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want it to mention %q", err, tc.msg)
			}
		})
	}
	t.Run("Preprocess panics", func(t *testing.T) {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "no output directory") {
				t.Errorf("recovered %v", r)
			}
		}()
		_, s := beam.NewPipelineWithRoot()
		Preprocess(s, DefaultPreprocessConfig(dir, ""))
	})
}

// TestRecoverPreprocessLeftovers: what a failed or killed preprocess run
// leaves (staging directories, temporary stats files, also those of older
// versions under examples/) goes; committed files and others stay.
func TestRecoverPreprocessLeftovers(t *testing.T) {
	out := t.TempDir()
	keep := []string{
		"examples/train-00000-of-00001.parquet",
		"dataset/stats.parquet",
		"examples/other/file", // not ours
	}
	drop := []string{
		".pqio-tmp-dataset/0123456789abcdef.parquet",
		".pqio-tmp-dataset/dataset~stats.parquet",
		"examples/.pqio-tmp-train/0123456789abcdef.parquet",
		"examples/.pqio-tmp-train/fedcba9876543210.parquet",
		"examples/.pqio-tmp-test/0123456789abcdef.parquet",
		"dataset/.stats.parquet.tmp-0123456789abcdef",
	}
	for _, f := range append(slices.Clone(keep), drop...) {
		writeFile(t, out, f, []byte("x"))
	}
	os.MkdirAll(filepath.Join(out, "examples", ".pqio-tmp-val"), 0o755) // empty temp dir
	if _, err := pqio.Recover(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	got := walk(t, out)
	slices.Sort(got)
	want := slices.Sorted(slices.Values(keep))
	if !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
	// Nothing to clean is fine, a missing output too.
	for _, dir := range []string{out, filepath.Join(out, "missing")} {
		if _, err := pqio.Recover(context.Background(), dir); err != nil {
			t.Error(err)
		}
	}
}
