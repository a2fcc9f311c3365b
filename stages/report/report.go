// Package report renders the pareto stage's human-readable outputs: a
// self-contained HTML page (pareto/report.html: inline SVG plots and CSS,
// no JavaScript, no external assets) and the accuracy-vs-FLOPs plot as a
// standalone SVG (pareto/front.svg). It does no NAS math: the pareto stage
// (stages.ParetoReport) computes the fronts, hypervolumes and bucket
// comparison and hands them over as a Data value; this package only lays
// them out. It has no Beam import.
//
//	d := &report.Data{Title: "Fashion-MNIST ablation", Space: sp, Runs: runs, ...}
//	err := report.Render(w, d)        // the page
//	err = report.RenderFrontSVG(w, d) // the plot alone
//
// The page shows, top to bottom: a summary paragraph; a table of runs
// (evaluations, front sizes, hypervolumes, best/smallest/largest subnet
// accuracy); val top-1 against MFLOPs for every run (every evaluation
// faint, each run's front as a bold staircase with markers, one marker
// shape per run); the same against measured latency and parameters; the
// overall front's subnets; the per-FLOPs-bucket comparison of runs side by
// side; training curves (smoothed loss of the largest and smallest subnet
// per step); the predictors' held-out quality and the rank quality within
// FLOPs bins; notes (missing inputs) and the files written.
//
// Output is deterministic: the same Data renders to the same bytes. Every
// string from Data is escaped by html/template.
//
// See also: stages.Pareto (the Beam stage), nas/pareto (fronts and
// hypervolume), schemas.ParetoPoint, schemas.Hypervolume, schemas.Comparison.
package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"

	"github.com/attentivenas/attentivenas/schemas"
)

// Data is everything the report shows. Slices are read only.
type Data struct {
	Title       string // page title; "" = "AttentiveNAS report"
	Description string // optional free text under the title: what was run (preset, data, epochs...)
	Space       Space
	// Runs in display order: colours and marker shapes follow it, and the
	// first run is the baseline of the bucket comparison's differences.
	Runs []Run
	// Overall holds the fronts of every run's evaluations together.
	Overall Fronts
	// BucketWidth is the FLOPs bucket width of Comparison, MACs per image.
	BucketWidth int64
	Comparison  []schemas.Comparison // one row per (bucket, run), as the stage writes it
	Files       []File               // artifacts written, listed at the end
	Notes       []string             // warnings for the reader (ignored rows, unreadable files...)
}

// Space describes the search space: its name and the cost of its smallest
// and largest subnets, the bounds the FLOPs and params hypervolumes are
// normalised with.
type Space struct {
	Name                 string
	MinFLOPs, MaxFLOPs   int64 // MACs per image
	MinParams, MaxParams int64
}

// Run is one training run (sampler) and what was measured about it.
type Run struct {
	Name   string
	Evals  []schemas.Eval // every evaluation (deduplicated), any order
	Fronts Fronts
	// Train is the run's training log reduced to what the curves need, in
	// step order; nil when TrainLog has a Problem.
	Train       []TrainPoint
	Predictors  []schemas.Predictor   // predictors/<run>.parquet rows
	RankQuality []schemas.RankQuality // rank_quality/<run>.parquet rows
	// Where each optional input came from, and why it is absent.
	TrainLog, PredictorFile, RankQualityFile Artifact
}

// Fronts are the Pareto fronts of val top-1 against each cost.
type Fronts struct {
	FLOPs, Latency, Params Front
}

// Front is one Pareto front with its hypervolume.
type Front struct {
	Points []schemas.Eval      // by ascending cost
	HV     schemas.Hypervolume // HV.Hypervolume is -1 when unavailable
}

// TrainPoint is one training step of a run's log (schemas.TrainStep).
type TrainPoint struct {
	Step         int64
	Epoch        int32
	LossMax      float64 // largest subnet
	LossMin      float64 // smallest subnet
	ImagesPerSec float64
	Skipped      bool
}

// Artifact is an optional input file.
type Artifact struct {
	Path    string
	Problem string // "" when it was read; otherwise why not, e.g. "not found"
}

// File is an output artifact listed at the end of the page.
type File struct {
	Path, What string
}

//go:embed report.html.tmpl
var templates embed.FS

var pageTmpl = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"add": func(a, b int) int { return a + b },
}).ParseFS(templates, "report.html.tmpl"))

// Render writes the HTML report of d to w.
func Render(w io.Writer, d *Data) error {
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "page", newPage(d)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// RenderFrontSVG writes the accuracy-vs-FLOPs plot of the page as a
// standalone SVG document.
func RenderFrontSVG(w io.Writer, d *Data) error {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if err := pageTmpl.ExecuteTemplate(&buf, "plot", flopsPlot(d, styleFor(d), true)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	buf.WriteString("\n")
	_, err := w.Write(buf.Bytes())
	return err
}
