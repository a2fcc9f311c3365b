package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/kernels"
	"github.com/attentivenas/attentivenas/nas/onnxexport/ortcheck"
	"github.com/attentivenas/attentivenas/stages"
)

// The by-hand check of a real export (README.md, BENCHMARKS.md):
//
//	go test ./pipelines/attentivenas -run TestONNXRuntimeOnExport -v -count=1 -timeout=30m \
//	  -args -onnx.model=out/export/uniform-best.parquet -onnx.data=/usr/share/datasets/fashion-mnist -onnx.bench
var (
	onnxModel = flag.String("onnx.model", "", "TestONNXRuntimeOnExport: an exported model (.parquet, with its .onnx beside it)")
	onnxData  = flag.String("onnx.data", "", "TestONNXRuntimeOnExport: the images to compare on, as predict's --data (required with -onnx.model)")
	onnxBench = flag.Bool("onnx.bench", false, "TestONNXRuntimeOnExport: also time ONNX Runtime and the engine (batch 1 and 256, 1 and 2 threads)")
)

// onnxResult is an exported model's ONNX file run in ONNX Runtime next to
// its Parquet file run by the project's engine, as predict runs it.
type onnxResult struct {
	ortcheck.Comparison
	ORTCorrect, EngineCorrect int // top-1 against the labels
	Desc                      *stages.ExportDescription
}

// compareONNX runs the first n images of d (0 = all) through the export at
// model (its Parquet file in the engine, with predict's normalisation, and
// its .onnx in ONNX Runtime on pixel/255 NCHW) and compares the logits.
func compareONNX(ctx context.Context, rt *ortcheck.Runtime, model string, d *data.Dataset, n int) (*onnxResult, error) {
	m, desc, err := stages.ReadModel(ctx, model)
	if err != nil {
		return nil, err
	}
	if desc == nil || desc.ONNX == "" {
		return nil, fmt.Errorf("%s: its description names no ONNX file (export it with --format=onnx)", model)
	}
	raw, err := os.ReadFile(desc.ONNX)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > d.Len() {
		n = d.Len()
	}
	S, C, K := d.Height, d.Channels, m.Classes()
	px := S * S * C
	mean, std := make([]float32, C), make([]float32, C)
	for c := range C {
		mean[c], std[c] = float32(m.Mean[c]), float32(m.Std[c])
	}
	x := make([]float32, n*px)   // predict's input: normalised NHWC
	pix := make([]float32, n*px) // ONNX input: byte/255, NCHW
	for i := range n {
		img := d.Image(i)
		data.Normalize(x[i*px:(i+1)*px], img, C, mean, std)
		for y := range S {
			for xx := range S {
				for c := range C {
					pix[i*px+(c*S+y)*S+xx] = float32(img[(y*S+xx)*C+c]) / 255
				}
			}
		}
	}
	want := make([]float32, n*K)
	for lo := 0; lo < n; lo += 256 {
		B := min(256, n-lo)
		m.Forward(want[lo*K:(lo+B)*K], x[lo*px:(lo+B)*px], B)
	}
	got, k, err := rt.Run(ctx, raw, pix, []int{n, C, S, S}, 256)
	if err != nil {
		return nil, err
	}
	if k != K {
		return nil, fmt.Errorf("%s: ONNX Runtime gives %d logits per image, the model has %d classes", desc.ONNX, k, K)
	}
	r := &onnxResult{Comparison: ortcheck.Compare(got, want, K), Desc: desc}
	for i := range n {
		l := int(d.Labels[i])
		if argmax(got[i*K:(i+1)*K]) == l {
			r.ORTCorrect++
		}
		if argmax(want[i*K:(i+1)*K]) == l {
			r.EngineCorrect++
		}
	}
	return r, nil
}

func argmax(v []float32) int {
	k := 0
	for j, x := range v {
		if x > v[k] {
			k = j
		}
	}
	return k
}

// findORT returns the ONNX Runtime, skipping t without it.
func findORT(t *testing.T) *ortcheck.Runtime {
	t.Helper()
	rt, err := ortcheck.Find()
	if errors.Is(err, ortcheck.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// checkRunONNX checks the ONNX model `run` exported for each run of the
// tiny run: ONNX Runtime and the engine agree on every test image's argmax,
// their logits within 1e-4, and on the images the export's test top-1 was
// measured on, ONNX Runtime's top-1 is that figure.
func checkRunONNX(t *testing.T, r *tinyRun) {
	rt := findORT(t)
	for _, run := range r.runs {
		model := stages.ExportPath(r.out, run, runExportPick.Name())
		res, err := compareONNX(context.Background(), rt, model, r.test, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: ONNX Runtime %s vs the engine on %d test images: %d agree, max |logit diff| %.3g",
			model, rt.Version, res.Images, res.Agree, res.MaxAbsDiff)
		if res.Agree != res.Images || res.Images != r.test.Len() || !(res.MaxAbsDiff <= 1e-4) {
			t.Errorf("%s: %d of %d argmax agree, max |logit diff| %v: want all, within 1e-4", model, res.Agree, res.Images, res.MaxAbsDiff)
		}
		first, err := compareONNX(context.Background(), rt, model, r.test, res.Desc.TestImages)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(first.ORTCorrect) / float64(first.Images); got != res.Desc.TestTop1 {
			t.Errorf("%s: ONNX Runtime's top-1 on the first %d test images is %v, the export recorded %v", model, first.Images, got, res.Desc.TestTop1)
		}
	}
}

// TestONNXRuntimeOnExport checks a real export by hand (see the flags):
// ONNX Runtime against the engine on every image of -onnx.data, and with
// -onnx.bench their batch-1 latency and batch-256 throughput. It skips
// without -onnx.model; CI checks the same on a tiny run (TestRunArtifacts).
func TestONNXRuntimeOnExport(t *testing.T) {
	if *onnxModel == "" {
		t.Skip("pass -onnx.model=<export .parquet> and -onnx.data=<images> to check an export by hand")
	}
	if *onnxData == "" {
		t.Fatal("-onnx.data is required with -onnx.model")
	}
	rt := findORT(t)
	ctx := context.Background()
	m, desc, err := stages.ReadModel(ctx, *onnxModel)
	if err != nil {
		t.Fatal(err)
	}
	size, ch := m.InputShape()
	in, err := loadPredictInput(ctx, *onnxData, size, ch, m.Classes())
	if err != nil {
		t.Fatal(err)
	}
	res, err := compareONNX(ctx, rt, *onnxModel, in.ds, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(res.Images)
	t.Logf("%s (arch %s, %.2f MFLOPs): %d images of %s", desc.ONNX, desc.ArchKey, float64(desc.FLOPs)/1e6, res.Images, *onnxData)
	t.Logf("argmax agreement ONNX Runtime %s vs engine: %d/%d (%.4f%%), max |logit diff| %.3g", rt.Version, res.Agree, res.Images, 100*res.Fraction(), res.MaxAbsDiff)
	if in.labelled {
		t.Logf("top-1: ONNX Runtime %.4f, engine (predict) %.4f", float64(res.ORTCorrect)/n, float64(res.EngineCorrect)/n)
	}
	if res.Fraction() < 0.999 || !(res.MaxAbsDiff <= 1e-4) {
		t.Errorf("agreement %.4f%%, max |logit diff| %v: want >= 99.9%% and <= 1e-4", 100*res.Fraction(), res.MaxAbsDiff)
	}
	if !*onnxBench {
		return
	}
	raw, err := os.ReadFile(desc.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for _, threads := range []int{1, 2} {
		lat, thr := engineBench(m, threads)
		table = append(table, fmt.Sprintf("| engine (Go)      | %d | %.3f ms | %.0f img/s |", threads, lat, thr))
		b1, err := rt.Bench(ctx, raw, []int{ch, size, size}, []int{1}, 500, 50, threads)
		if err != nil {
			t.Fatal(err)
		}
		b256, err := rt.Bench(ctx, raw, []int{ch, size, size}, []int{256}, 30, 3, threads)
		if err != nil {
			t.Fatal(err)
		}
		table = append(table, fmt.Sprintf("| ONNX Runtime %s | %d | %.3f ms | %.0f img/s |", rt.Version, threads, b1[0].MedianMs, 256/(b256[0].MedianMs/1e3)))
	}
	t.Logf("%s, %s:\n| runtime | threads | batch-1 latency (median of 500) | batch-256 throughput (median of 30) |\n|---|---|---|---|\n%s",
		desc.ONNX, time.Now().Format("2006-01-02"), strings.Join(table, "\n"))
}

// engineBench times m on the engine with threads kernel threads: the
// batch-1 median latency in ms (of 500 warm runs) and the throughput at
// batch 256 in images/s (median of 30 warm runs), on pixel-like inputs.
func engineBench(m *infer.Model, threads int) (latencyMs, imagesPerSec float64) {
	prev := kernels.SetMaxThreads(threads)
	defer kernels.SetMaxThreads(prev)
	size, ch := m.InputShape()
	px := size * size * ch
	x := make([]float32, 256*px)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 2 // normalised-looking values
	}
	logits := make([]float32, 256*m.Classes())
	median := func(B, warmup, runs int) time.Duration {
		for range warmup {
			m.Forward(logits, x[:B*px], B)
		}
		ts := make([]time.Duration, runs)
		for i := range ts {
			t0 := time.Now()
			m.Forward(logits, x[:B*px], B)
			ts[i] = time.Since(t0)
		}
		slices.Sort(ts)
		return (ts[(runs-1)/2] + ts[runs/2]) / 2
	}
	lat := median(1, 50, 500)
	b256 := median(256, 3, 30)
	return float64(lat) / 1e6, 256 / b256.Seconds()
}
