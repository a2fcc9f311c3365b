package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/schemas"
)

// ev is a short evaluation constructor.
func ev(run, arch string, flops int64, top1, latency float64) schemas.Eval {
	return schemas.Eval{Run: run, Arch: arch, FLOPs: flops, Params: flops / 20, LatencyMs: latency, Top1: top1,
		TestTop1: -1, Origin: schemas.OriginRandom, Checkpoint: "out/runs/" + run + "/checkpoints/epoch-0003.parquet"}
}

// testData has two runs; the second has a name that needs escaping. Fronts
// are given (the report draws them; the stage computes them).
func testData() *Data {
	u := []schemas.Eval{ev("uniform", "u0", 1e6, 0.80, 0.2), ev("uniform", "u1", 2e6, 0.79, 0.3), ev("uniform", "u2", 3e6, 0.85, 0.4)}
	b := []schemas.Eval{ev("best<up>&3", "b0", 1e6, 0.81, 0.2), ev("best<up>&3", "b1", 2.5e6, 0.86, 0.35), ev("best<up>&3", "b2", 4e6, 0.88, 0.5)}
	hv := func(v float64) schemas.Hypervolume {
		return schemas.Hypervolume{Hypervolume: v, CostLo: 1e6, CostHi: 4e6}
	}
	return &Data{
		Title:       `Ablation "A" <script>alert(1)</script>`,
		Description: "quick preset & 3 epochs",
		Space:       Space{Name: "test-space", MinFLOPs: 1e6, MaxFLOPs: 4e6, MinParams: 5e4, MaxParams: 2e5},
		Runs: []Run{
			{Name: "uniform", Evals: u,
				Fronts:     Fronts{FLOPs: Front{Points: []schemas.Eval{u[0], u[2]}, HV: hv(0.8333)}, Latency: Front{Points: []schemas.Eval{u[0], u[2]}, HV: hv(0.8)}},
				Train:      []TrainPoint{{Step: 0, LossMax: 2.3, LossMin: 2.4}, {Step: 1, LossMax: 2.0, LossMin: 2.2}, {Step: 2, Skipped: true, LossMax: math.NaN()}, {Step: 3, LossMax: 1.5, LossMin: 1.9}},
				TrainLog:   Artifact{Path: "out/runs/uniform/train_log.parquet"},
				Predictors: []schemas.Predictor{{Run: "uniform", Kind: "random_forest", KendallTau: 0.71, Spearman: 0.88, RMSE: 0.004, R2: 0.8, Selected: true, Fit: 90, Holdout: 30}, {Run: "uniform", Kind: "ridge", KendallTau: 0.6}},
				RankQuality: []schemas.RankQuality{
					{Run: "uniform", Estimator: "minibatch_loss", Bin: 2, FLOPsLo: 1e6, FLOPsHi: 1.5e6, N: 12, KendallTau: 0.4},
					{Run: "uniform", Estimator: "predictor:random_forest", Bin: 2, FLOPsLo: 1e6, FLOPsHi: 1.5e6, N: 12, KendallTau: 0.5},
					{Run: "uniform", Estimator: "minibatch_loss", Bin: -1, N: 12, KendallTau: 0.4},
				}},
			{Name: "best<up>&3", Evals: b,
				Fronts:          Fronts{FLOPs: Front{Points: b, HV: hv(0.85)}, Latency: Front{Points: b, HV: hv(0.84)}, Params: Front{Points: b[:1], HV: hv(0.81)}},
				TrainLog:        Artifact{Path: "out/runs/best<up>&3/train_log.parquet", Problem: "not found"},
				PredictorFile:   Artifact{Path: "out/predictors/best<up>&3.parquet", Problem: "not found"},
				RankQualityFile: Artifact{Path: "out/rank_quality/best<up>&3.parquet", Problem: "not found"}},
		},
		Overall:     Fronts{FLOPs: Front{Points: []schemas.Eval{b[0], b[1], b[2]}, HV: hv(0.85)}},
		BucketWidth: 1e6,
		Comparison: []schemas.Comparison{
			{Bucket: 1, FLOPsLo: 1e6, FLOPsHi: 2e6, Run: "uniform", Evaluated: 1, BestTop1: 0.80, BestArch: "u0"},
			{Bucket: 1, FLOPsLo: 1e6, FLOPsHi: 2e6, Run: "best<up>&3", Evaluated: 1, BestTop1: 0.81, BestArch: "b0"},
			{Bucket: 2, FLOPsLo: 2e6, FLOPsHi: 3e6, Run: "uniform", Evaluated: 1, BestTop1: 0.79, BestArch: "u1"},
			{Bucket: 2, FLOPsLo: 2e6, FLOPsHi: 3e6, Run: "best<up>&3", Evaluated: 1, BestTop1: 0.86, BestArch: "b1"},
			{Bucket: 4, FLOPsLo: 4e6, FLOPsHi: 5e6, Run: "uniform", BestTop1: -1, BestTestTop1: -1},
			{Bucket: 4, FLOPsLo: 4e6, FLOPsHi: 5e6, Run: "best<up>&3", Evaluated: 1, BestTop1: 0.88, BestArch: "b2"},
		},
		Files: []File{{Path: "out/pareto/front.parquet", What: "front"}},
		Notes: []string{"run \"best<up>&3\": not found: train log"},
	}
}

// xmlDoc is what checkXML found in a document.
type xmlDoc struct {
	markers map[string]map[string]int // plot id -> run -> front markers
	svgs    int
	text    string // character data, concatenated
}

// checkXML parses b as strict XML (the page is written to be well-formed
// XHTML-compatible HTML) and counts the front markers of each plot.
func checkXML(t *testing.T, b []byte) xmlDoc {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	doc := xmlDoc{markers: map[string]map[string]int{}}
	var plot string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, col := dec.InputPos()
			t.Fatalf("not well-formed at %d:%d: %v", line, col, err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range x.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch {
			case x.Name.Local == "svg" && attr("id") != "":
				plot = attr("id")
				doc.svgs++
			case x.Name.Local == "path" && attr("class") == "front-marker":
				if doc.markers[plot] == nil {
					doc.markers[plot] = map[string]int{}
				}
				doc.markers[plot][attr("data-run")]++
			case x.Name.Local == "script" || x.Name.Local == "link" || x.Name.Local == "img" || x.Name.Local == "iframe":
				t.Errorf("element <%s>: the page must be self-contained and script-free", x.Name.Local)
			}
			for _, a := range x.Attr {
				if a.Name.Local == "src" || a.Name.Local == "href" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("attribute %s=%q on <%s>", a.Name.Local, a.Value, x.Name.Local)
				}
			}
		case xml.CharData:
			text.Write(x)
		}
	}
	doc.text = text.String()
	return doc
}

func TestRender(t *testing.T) {
	d := testData()
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	doc := checkXML(t, buf.Bytes())
	if doc.svgs != 4 {
		t.Errorf("%d plots, want 4 (FLOPs, latency, params, training)", doc.svgs)
	}
	want := map[string]map[string]int{
		"plot-flops":   {"uniform": 2, "best<up>&3": 3},
		"plot-latency": {"uniform": 2, "best<up>&3": 3},
		"plot-params":  {"best<up>&3": 1},
	}
	for id, runs := range want {
		for run, n := range runs {
			if got := doc.markers[id][run]; got != n {
				t.Errorf("%s: %d front markers of %q, want %d", id, got, run, n)
			}
		}
		if len(doc.markers[id]) != len(runs) {
			t.Errorf("%s: markers of %v, want %v", id, doc.markers[id], runs)
		}
	}
	if len(doc.markers["plot-train"]) != 0 {
		t.Errorf("training plot has front markers: %v", doc.markers["plot-train"])
	}
	html := buf.String()
	for _, s := range []string{
		// The title is text, not markup.
		"<title>Ablation &#34;A&#34; &lt;script&gt;alert(1)&lt;/script&gt;</title>",
		"best&lt;up&gt;&amp;3",
		// Tables: overall front, comparison (winner, delta, missing cell), predictor, rank quality.
		"<td class=\"arch\">b1</td>",
		`<td class="best" title="b1">86.00</td>`,
		`<td class="pos">&#43;7.00</td>`, // html/template escapes +
		"<td>0.710</td>",
		"τ minibatch_loss",
		"pooled (pair-weighted mean)",
		"train log not found",
		"predictor not found",
		// The overview.
		"2 supernet training runs (uniform, best&lt;up&gt;&amp;3)",
		"Best val top-1: 88.00 % (best&lt;up&gt;&amp;3, 4.00 MFLOPs)",
	} {
		if !strings.Contains(html, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("unescaped <script> in the report")
	}
	// Deterministic.
	var again bytes.Buffer
	if err := Render(&again, testData()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two renders of the same data differ")
	}
}

func TestRenderFrontSVG(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderFrontSVG(&buf, testData()); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<svg xmlns=\"http://www.w3.org/2000/svg\"")) {
		t.Errorf("not an SVG document: %.120q", buf.String())
	}
	doc := checkXML(t, buf.Bytes())
	if doc.svgs != 1 || doc.markers["plot-flops"]["uniform"] != 2 || doc.markers["plot-flops"]["best<up>&3"] != 3 {
		t.Errorf("svgs %d, markers %v", doc.svgs, doc.markers)
	}
	if !strings.Contains(doc.text, "Val top-1 accuracy vs MFLOPs") || !strings.Contains(doc.text, "MFLOPs (million multiply-accumulates per image)") {
		t.Error("standalone plot lacks its heading or axis label")
	}
}

// TestRenderEmpty: a run with nothing but its name still renders.
func TestRenderEmpty(t *testing.T) {
	d := &Data{Runs: []Run{{Name: "uniform", TrainLog: Artifact{Problem: "not found"}}}}
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	doc := checkXML(t, buf.Bytes())
	for _, s := range []string{"AttentiveNAS report", "no evaluation has this cost measured", "no training log found"} {
		if !strings.Contains(doc.text, s) {
			t.Errorf("empty report lacks %q", s)
		}
	}
}

func TestNiceAxis(t *testing.T) {
	cases := []struct {
		name       string
		lo, hi     float64
		target     int
		wantLo     float64
		wantHi     float64
		wantStep   float64
		wantLabels string
	}{
		{"MFLOPs of fmnist", 0.729, 14.48, 9, 0, 16, 2, "0 2 4 6 8 10 12 14 16"},
		{"accuracy", 78.3, 91.2, 6, 77.5, 92.5, 2.5, "77.5 80.0 82.5 85.0 87.5 90.0 92.5"},
		{"small latency", 0.11, 0.52, 6, 0.1, 0.6, 0.1, "0.1 0.2 0.3 0.4 0.5 0.6"},
		{"quarter steps", 0, 1.1, 5, 0, 1.25, 0.25, "0.00 0.25 0.50 0.75 1.00 1.25"},
		{"degenerate: padded by 0.5", 5, 5, 5, 4.4, 5.6, 0.2, "4.4 4.6 4.8 5.0 5.2 5.4 5.6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := niceAxis(c.lo, c.hi, c.target)
			if math.Abs(a.Lo-c.wantLo) > 1e-9 || math.Abs(a.Hi-c.wantHi) > 1e-9 || math.Abs(a.Step-c.wantStep) > 1e-9 {
				t.Errorf("niceAxis(%v, %v, %d) = [%v, %v] step %v, want [%v, %v] step %v", c.lo, c.hi, c.target, a.Lo, a.Hi, a.Step, c.wantLo, c.wantHi, c.wantStep)
			}
			if c.wantLabels != "" {
				a.P0, a.P1 = 0, 100
				var labels []string
				for _, tk := range a.ticks() {
					labels = append(labels, tk.Label)
				}
				if got := strings.Join(labels, " "); got != c.wantLabels {
					t.Errorf("labels %q, want %q", got, c.wantLabels)
				}
			}
		})
	}
}

func TestSmooth(t *testing.T) {
	nan := math.NaN()
	got := smooth([]float64{1, 2, nan, 4, 5}, 3)
	// Windows: [1,2] [1,2,_] [2,_,4] [_,4,5] [4,5].
	want := []float64{1.5, 1.5, 3, 4.5, 4.5}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("smooth = %v, want %v", got, want)
		}
	}
	if s := smooth([]float64{nan}, 1); !math.IsNaN(s[0]) {
		t.Errorf("smooth of NaN alone = %v, want NaN", s[0])
	}
}

func TestSampleIdx(t *testing.T) {
	if got := sampleIdx(3, 10); len(got) != 3 || got[2] != 2 {
		t.Errorf("sampleIdx(3, 10) = %v", got)
	}
	got := sampleIdx(1000, 5)
	if len(got) != 5 || got[0] != 0 || got[4] != 999 {
		t.Errorf("sampleIdx(1000, 5) = %v", got)
	}
}
