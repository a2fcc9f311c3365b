package report_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/report"
)

// Example renders the accuracy-vs-FLOPs plot of two runs whose fronts
// (computed by the pareto stage) have two and three subnets: one marker
// per front point.
func Example() {
	ev := func(run string, mflops, top1 float64) schemas.Eval {
		return schemas.Eval{Run: run, Arch: fmt.Sprint(mflops), FLOPs: int64(mflops * 1e6), Top1: top1, TestTop1: -1}
	}
	u := []schemas.Eval{ev("uniform", 1, 0.80), ev("uniform", 2, 0.79), ev("uniform", 3, 0.85)}
	b := []schemas.Eval{ev("bestup-3", 1, 0.81), ev("bestup-3", 2.5, 0.86), ev("bestup-3", 4, 0.88)}
	d := &report.Data{
		Space: report.Space{Name: "demo", MinFLOPs: 1e6, MaxFLOPs: 4e6},
		Runs: []report.Run{
			{Name: "uniform", Evals: u, Fronts: report.Fronts{FLOPs: report.Front{Points: []schemas.Eval{u[0], u[2]}}}},
			{Name: "bestup-3", Evals: b, Fronts: report.Fronts{FLOPs: report.Front{Points: b}}},
		},
	}
	var svg bytes.Buffer
	if err := report.RenderFrontSVG(&svg, d); err != nil {
		panic(err)
	}
	fmt.Println(strings.Count(svg.String(), `class="front-marker" data-run="uniform"`), strings.Count(svg.String(), `class="front-marker" data-run="bestup-3"`))
	// Output: 2 3
}
