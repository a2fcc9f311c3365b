package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// tinySpaceJSON is a search space for 8x8 grayscale images and 3 classes,
// small enough to train in a test.
const tinySpaceJSON = `{
  "name": "tiny",
  "input": {"channels": 1, "height": 8, "width": 8},
  "classes": 3,
  "resolutions": [8],
  "first_conv": {"c": [8], "k": 3, "s": 1},
  "stages": [
    {"name": "s1", "c": [8, 16], "d": [1, 2], "k": [3], "t": [2, 3], "s": 2, "se": true}
  ],
  "last_conv": {"c": [16, 24], "expand": 2},
  "activation": "hswish"
}`

// writePatchIDX writes an IDX dataset of a learnable 3-class problem (a
// bright 3x3 patch whose column is the class, on noise, with 1 label in
// 8 redrawn at random) of 8x8 images:
// ntrain train and ntest t10k images.
func writePatchIDX(t *testing.T, dir string, ntrain, ntest int) *data.Dataset {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var test *data.Dataset
	for _, side := range []struct {
		prefix string
		n      int
	}{{"train", ntrain}, {"t10k", ntest}} {
		d := &data.Dataset{Height: 8, Width: 8, Channels: 1, Classes: 3}
		for range side.n {
			label := rng.IntN(3)
			px := make([]byte, 64)
			for j := range px {
				px[j] = byte(rng.IntN(60))
			}
			for dy := range 3 {
				for dx := range 3 {
					px[(2+dy)*8+3*label+dx-min(label, 1)] = 230
				}
			}
			if rng.IntN(8) == 0 { // label noise, so no subnet is perfect
				label = rng.IntN(3)
			}
			d.Pixels = append(d.Pixels, px...)
			d.Labels = append(d.Labels, uint8(label))
		}
		var im, lb bytes.Buffer
		if err := data.EncodeIDX(&im, &lb, d); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{side.prefix + "-images-idx3-ubyte": im.Bytes(), side.prefix + "-labels-idx1-ubyte": lb.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		test = d
	}
	return test
}

func parseExportFlags(t *testing.T, args ...string) *exportFlags {
	t.Helper()
	f := &exportFlags{}
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := f.resolve(); err != nil {
		t.Fatal(err)
	}
	return f
}

func readDescription(t *testing.T, path string) stages.ExportDescription {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d stages.ExportDescription
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestExportCommand runs preprocess, train, evaluate, export and predict
// through the commands on a tiny dataset and space: the exported model
// reproduces the evaluation it was picked from, and predict's accuracy on
// the same test images equals the exported test top-1.
func TestExportCommand(t *testing.T) {
	ctx := context.Background()
	dir, out := t.TempDir(), t.TempDir()
	test := writePatchIDX(t, dir, 400, 60)
	spaceFile := filepath.Join(t.TempDir(), "tiny.json")
	if err := os.WriteFile(spaceFile, []byte(tinySpaceJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := runPreprocess(ctx, &log, parsePreprocessFlags(t, "--data="+dir, "--output="+out, "--val=96", "--calib=64", "--classes=3")); err != nil {
		t.Fatalf("preprocess: %v\n%s", err, log.String())
	}
	nas := []string{"--output=" + out, "--space=" + spaceFile, "--samplers=uniform", "--epochs=1", "--batch=16", "--lr=0.2",
		"--eval_subnets=4", "--prior_bin=20000", "--calib_images=40", "--eval_images=80", "--test_images=30", "--latency_runs=2", "--shift=0"}
	if err := runTrain(ctx, &log, parseNASFlags(t, nas...)); err != nil {
		t.Fatalf("train: %v\n%s", err, log.String())
	}
	if err := runEvaluate(ctx, &log, parseNASFlags(t, nas...)); err != nil {
		t.Fatalf("evaluate: %v\n%s", err, log.String())
	}
	evals, err := runEvals(ctx, out, "uniform")
	if err != nil || len(evals) < 3 {
		t.Fatalf("%d evaluations, %v", len(evals), err)
	}
	best := evals[0]
	for _, e := range evals {
		if e.Top1 > best.Top1 || e.Top1 == best.Top1 && e.FLOPs < best.FLOPs {
			best = e
		}
	}

	// --pick=best, then the max arch by --arch (it was evaluated: origin max).
	var max schemas.Eval
	for _, e := range evals {
		if e.Origin == schemas.OriginMax {
			max = e
		}
	}
	vec, _ := json.Marshal(max.Vector)
	for _, tc := range []struct {
		args []string
		name string
		want schemas.Eval
	}{
		{[]string{"--pick=best", "--format=onnx"}, "best", best},
		{[]string{"--arch=" + string(vec), "--name=max"}, "max", max},
	} {
		var buf bytes.Buffer
		if err := runExport(ctx, &buf, parseExportFlags(t, append(nas, tc.args...)...)); err != nil {
			t.Fatalf("export %v: %v\n%s", tc.args, err, buf.String())
		}
		t.Logf("export %v:\n%s", tc.args, buf.String())
		model := stages.ExportPath(out, "uniform", tc.name)
		for _, want := range []string{"exported uniform-" + tc.name + ": " + model, "reproduces its evaluation row", "val top-1"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("export %v output lacks %q:\n%s", tc.args, want, buf.String())
			}
		}
		d := readDescription(t, stages.DescriptionPath(model))
		if d.ArchKey != tc.want.Arch || d.ValTop1 != tc.want.Top1 || d.TestTop1 != tc.want.TestTop1 || d.MatchesEval == nil || !*d.MatchesEval ||
			d.CalibImages != 40 || d.ValImages != 80 || d.TestImages != 30 {
			t.Fatalf("export %v: description %+v, evaluation %+v", tc.args, d, tc.want)
		}
	}

	// predict on the t10k images the test split holds: the first 30 are
	// the ones the export evaluated.
	d := readDescription(t, stages.DescriptionPath(stages.ExportPath(out, "uniform", "best")))
	if _, err := os.Stat(d.ONNX); d.ONNX != stages.ONNXPath(d.Model) || err != nil {
		t.Errorf("--format=onnx: description names ONNX file %q (stat: %v)", d.ONNX, err)
	}
	if max := readDescription(t, stages.DescriptionPath(stages.ExportPath(out, "uniform", "max"))); max.ONNX != "" {
		t.Errorf("--format=parquet (the default) wrote ONNX file %q", max.ONNX)
	}
	var buf bytes.Buffer
	pf := &predictFlags{model: d.Model, data: dir, limit: 30, batch: 7}
	if err := runPredict(ctx, &buf, pf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 31 {
		t.Fatalf("%d output lines, want 30 predictions and the accuracy:\n%s", len(lines), buf.String())
	}
	var sum predictSummary
	if err := json.Unmarshal([]byte(lines[30]), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("exported %s: val top-1 %.4f, test top-1 %.4f; predict: %+v", d.ArchKey, d.ValTop1, d.TestTop1, sum)
	if sum.Images != 30 || sum.Accuracy != d.TestTop1 {
		t.Errorf("predict: %+v, the export's test top-1 is %v", sum, d.TestTop1)
	}
	var p prediction
	if err := json.Unmarshal([]byte(lines[3]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Index != 3 || p.Label == nil || *p.Label != int(test.Labels[3]) || p.Probability <= 0 || p.Probability > 1 {
		t.Errorf("line 4: %+v", p)
	}

	// The same images as an unlabelled IDX file and as a PNG tree.
	unl := t.TempDir()
	im, _ := os.ReadFile(filepath.Join(dir, "t10k-images-idx3-ubyte"))
	os.WriteFile(filepath.Join(unl, "t10k-images-idx3-ubyte"), im, 0o644)
	tree := t.TempDir()
	for i := range 6 {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		for y := range 8 {
			for x := range 8 {
				img.Set(x, y, color.Gray{test.Image(i)[y*8+x]})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		cls := filepath.Join(tree, []string{"a", "b", "c"}[test.Labels[i]])
		os.MkdirAll(cls, 0o755)
		os.WriteFile(filepath.Join(cls, string(rune('0'+i))+".png"), b.Bytes(), 0o644)
	}
	loose := 0
	for _, l := range test.Labels[:6] {
		if l == 0 {
			loose++
		}
	}
	for _, tc := range []struct {
		data        string
		predictions int
		labelled    bool
	}{
		{filepath.Join(unl, "t10k-images-idx3-ubyte"), 5, false},
		{tree, 5, true},
		{filepath.Join(tree, "a"), min(loose, 5), false},
	} {
		var buf bytes.Buffer
		if err := runPredict(ctx, &buf, &predictFlags{model: d.Model, data: tc.data, limit: 5, batch: 256}); err != nil {
			t.Fatalf("predict %s: %v", tc.data, err)
		}
		sc := bufio.NewScanner(&buf)
		n, summaries := 0, 0
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"accuracy"`) {
				summaries++
				continue
			}
			var p prediction
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if (p.Label != nil) != tc.labelled || (tc.data != filepath.Join(unl, "t10k-images-idx3-ubyte")) != (p.File != "") {
				t.Errorf("predict %s: line %q", tc.data, sc.Text())
			}
			n++
		}
		if n != tc.predictions || (summaries == 1) != tc.labelled {
			t.Errorf("predict %s: %d predictions and %d accuracy lines:\n%s", tc.data, n, summaries, buf.String())
		}
	}

	// Errors: a budget nothing fits names the cheapest FLOPs; a checkpoint
	// is not a model; images of another size.
	_, err = exportJobs(ctx, parseExportFlags(t, append(nas, "--pick=flops<=1000")...))
	if err == nil || !strings.Contains(err.Error(), "no evaluated subnet fits flops<=1000") || !strings.Contains(err.Error(), "the cheapest has") {
		t.Errorf("flops<=1000: %v", err)
	}
	_, err = exportJobs(ctx, parseExportFlags(t, append(nas, "--format=tflite")...))
	if err == nil || !strings.Contains(err.Error(), `--format="tflite": expected parquet or onnx`) {
		t.Errorf("--format=tflite: %v", err)
	}
	_, err = exportJobs(ctx, parseExportFlags(t, append(nas, "--pick=best", "--arch=[1]")...))
	if err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("--pick with --arch: %v", err)
	}
	ckpt, _, _ := stages.LatestCheckpoint(ctx, out, "uniform")
	if err := runPredict(ctx, &buf, &predictFlags{model: ckpt, data: dir, batch: 1}); err == nil || !strings.Contains(err.Error(), "is a supernet checkpoint") {
		t.Errorf("predict on a checkpoint: %v", err)
	}
	big := t.TempDir()
	writeIDX(t, big, 4, 3, 3)
	if err := runPredict(ctx, &buf, &predictFlags{model: d.Model, data: big, batch: 1}); err == nil || !strings.Contains(err.Error(), "images are 4x4x1") {
		t.Errorf("predict on 4x4 images: %v", err)
	}
	if _, _, err := pqio.ReadFile[schemas.Tensor](ctx, d.Model); err != nil {
		t.Errorf("the model is not a plain Tensor Parquet file: %v", err)
	}
}

// buildExportForVet builds the export command's pipeline for TestRegistered:
// --arch (the default space's smallest subnet) on an empty checkpoint file,
// so no evaluation has to exist.
func buildExportForVet(t *testing.T, s beam.Scope) error {
	ctx := context.Background()
	out := t.TempDir()
	ckpt := filepath.Join(out, "epoch-0001.parquet")
	if err := os.WriteFile(ckpt, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := loadSpace(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	vec, _ := json.Marshal(sp.Min().Vector())
	jobs, err := buildExport(ctx, s, parseExportFlags(t, "--output="+out, "--runs=uniform", "--checkpoint="+ckpt, "--arch="+string(vec)))
	if err == nil && len(jobs) != 1 {
		t.Fatalf("%d export jobs for 1 run", len(jobs))
	}
	return err
}
