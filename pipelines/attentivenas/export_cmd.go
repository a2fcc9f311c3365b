package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/nas/onnxexport"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
)

func init() {
	f := &exportFlags{}
	addCommand(&command{
		name: "export",
		summary: "export a chosen subnet of each run as a standalone model (sliced weights, BN folded, recalibrated exactly as its evaluation): " +
			"--pick=best|flops<=N|latency<=MS|params<=N among the run's evaluations, or --arch; writes <output>/export/<run>-<name>.parquet and .json, " +
			"and with --format=onnx also <run>-<name>.onnx",
		flags: f.register,
		run: func(ctx context.Context) error {
			if err := f.resolve(); err != nil {
				return err
			}
			return runExport(ctx, os.Stdout, f)
		},
		output: func() string { return f.output },
	})
}

// exportFlags are the NAS flags plus the export command's own.
type exportFlags struct {
	nasFlags
	pick, arch, name, format string
}

func (f *exportFlags) register(fs *flag.FlagSet) {
	f.nasFlags.register(fs)
	fs.StringVar(&f.pick, "pick", "", "which evaluated subnet of each run to export: best (highest val top-1; the default), flops<=N, latency<=MS or params<=N "+
		"(the best within the budget; N takes k/M suffixes, e.g. flops<=300k), or a bare N as a FLOPs budget")
	fs.StringVar(&f.arch, "arch", "", "export this Arch vector (JSON, e.g. '[28,8,...]') instead of picking; recalibrated like its evaluation if the checkpoint has one, "+
		"else with --calib_images, --eval_images and --test_images")
	fs.StringVar(&f.name, "name", "", "file name part: <output>/export/<run>-<name>.parquet (default: the pick, e.g. best or flops-le-300000, or arch-<key>)")
	fs.StringVar(&f.format, "format", "parquet", "parquet, or onnx to also write <output>/export/<run>-<name>.onnx: standard ONNX (opset 13), "+
		"input float32 [N, C, S, S] pixels in [0, 1] at the dataset's size (resize and normalisation inside), output logits [N, classes]; "+
		"the Parquet model, which predict reads, is always written")
}

// onnx reports whether --format asks for the ONNX model.
func (f *exportFlags) onnx() (bool, error) {
	switch f.format {
	case "", "parquet":
		return false, nil
	case "onnx", "parquet,onnx", "onnx,parquet":
		return true, nil
	}
	return false, fmt.Errorf("--format=%q: expected parquet or onnx", f.format)
}

// buildExport resolves the flags into one export per run (reading the
// runs' evaluations) and adds the export stage to s.
func buildExport(ctx context.Context, s beam.Scope, f *exportFlags) ([]stages.ExportConfig, error) {
	jobs, err := exportJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	stages.Export(s, beam.CreateList(s, jobs))
	return jobs, nil
}

// exportJobs picks each run's subnet and pairs it with the evaluation it
// reproduces.
func exportJobs(ctx context.Context, f *exportFlags) ([]stages.ExportConfig, error) {
	if f.pick != "" && f.arch != "" {
		return nil, errors.New("--pick and --arch exclude each other: pick among the evaluations, or name the arch")
	}
	onnx, err := f.onnx()
	if err != nil {
		return nil, err
	}
	sp, spaceJSON, err := f.loadSpaceJSON(ctx)
	if err != nil {
		return nil, err
	}
	runs, err := f.runNames()
	if err != nil {
		return nil, err
	}
	var pick stages.Pick
	var arch space.Arch
	if f.arch != "" {
		if arch, err = parseArch(sp, f.arch); err != nil {
			return nil, err
		}
	} else if pick, err = stages.ParsePick(cmp.Or(f.pick, stages.PickBest)); err != nil {
		return nil, fmt.Errorf("--pick: %w", err)
	}
	var jobs []stages.ExportConfig
	for _, run := range runs {
		rows, err := runEvals(ctx, f.output, run)
		if err != nil {
			return nil, err
		}
		var job stages.ExportConfig
		if f.arch == "" {
			if f.checkpoint != "" {
				rows = ofCheckpoint(rows, f.checkpoint)
			}
			if len(rows) == 0 {
				of := ""
				if f.checkpoint != "" {
					of = " of checkpoint " + f.checkpoint
				}
				return nil, fmt.Errorf("run %s has no evaluations%s under %s: run `attentivenas evaluate --runs=%s` first, or pass --arch",
					run, of, evalsDir(f.output, run), run)
			}
			e, err := stages.PickEval(rows, pick)
			if err != nil {
				return nil, fmt.Errorf("run %s: --pick: %w", run, err)
			}
			job = stages.ExportFromEval(f.output, spaceJSON, e, cmp.Or(f.name, pick.Name()), pick.String())
		} else {
			ckpt, err := f.runCheckpoint(ctx, run)
			if err != nil {
				return nil, err
			}
			name := cmp.Or(f.name, "arch-"+arch.Key())
			var same []schemas.Eval
			for _, r := range ofCheckpoint(rows, ckpt) {
				if r.Arch == arch.Key() {
					same = append(same, r)
				}
			}
			if len(same) > 0 {
				e, _ := stages.PickEval(same, stages.Pick{Kind: stages.PickBest})
				job = stages.ExportFromEval(f.output, spaceJSON, e, name, "arch")
			} else {
				test := -1
				if f.p.Test {
					test = f.p.TestImages
				}
				job = stages.ExportConfig{Output: f.output, Space: spaceJSON, Run: run, Name: name, Arch: arch.Vector32(),
					Checkpoint: ckpt, CalibImages: f.p.CalibImages, EvalImages: f.p.EvalImages, TestImages: test, Seed: f.seed, Pick: "arch"}
			}
		}
		job.LatencyRuns, job.ONNX = f.p.LatencyRuns, onnx
		if err := job.Validate(); err != nil {
			return nil, fmt.Errorf("run %s: %w (--name=%q)", run, err, f.name)
		}
		if err := mustExist(ctx, job.Checkpoint); err != nil {
			return nil, fmt.Errorf("run %s: the checkpoint of arch %s is missing: %w", run, archKey(sp, job.Arch), err)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

func ofCheckpoint(rows []schemas.Eval, ckpt string) []schemas.Eval {
	var out []schemas.Eval
	for _, r := range rows {
		if r.Checkpoint == ckpt {
			out = append(out, r)
		}
	}
	return out
}

func archKey(sp *space.Space, v []int32) string {
	if a, err := sp.ArchFromVector32(v); err == nil {
		return a.Key()
	}
	return fmt.Sprint(v)
}

func runExport(ctx context.Context, w io.Writer, f *exportFlags) error {
	p, s := beam.NewPipelineWithRoot()
	jobs, err := buildExport(ctx, s, f)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		src := "never evaluated"
		if j.Source != nil {
			src = fmt.Sprintf("evaluated: val top-1 %.4f", j.Source.Top1)
		}
		fmt.Fprintf(w, "export: %s-%s: arch %v (%s) from %s\n", j.Run, j.Name, j.Arch, src, j.Checkpoint)
	}
	pr, err := runPipeline(ctx, w, "export", p, f.output)
	if err != nil || pr == nil {
		return err
	}
	for _, j := range jobs {
		path := stages.ExportPath(j.Output, j.Run, j.Name)
		raw, err := readFile(ctx, stages.DescriptionPath(path))
		if err != nil {
			return err
		}
		var d stages.ExportDescription
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("%s: %w", stages.DescriptionPath(path), err)
		}
		printExport(w, &d)
	}
	return nil
}

// printExport summarises one exported model.
func printExport(w io.Writer, d *stages.ExportDescription) {
	fmt.Fprintf(w, "exported %s-%s: %s (description: %s)\n", d.Run, d.Name, d.Model, stages.DescriptionPath(d.Model))
	if d.ONNX != "" {
		fmt.Fprintf(w, "  ONNX: %s (input %q float32 [N, %d, %d, %d] in [0, 1], output %q [N, %d])\n",
			d.ONNX, onnxexport.InputName, d.InputChannels, d.InputSize, d.InputSize, onnxexport.OutputName, d.Classes)
	}
	fmt.Fprintf(w, "  arch %v  %.3f MFLOPs  %d params (%d after BN folding)  latency %.3f ms\n",
		d.Arch, float64(d.FLOPs)/1e6, d.Params, d.FoldedParams, d.LatencyMs)
	test := "not evaluated"
	if d.TestTop1 >= 0 {
		test = fmt.Sprintf("%.4f (%d images)", d.TestTop1, d.TestImages)
	}
	fmt.Fprintf(w, "  val top-1 %.4f (%d images)  test top-1 %s  BN recalibrated on %d calib images\n", d.ValTop1, d.ValImages, test, d.CalibImages)
	switch {
	case d.MatchesEval == nil:
		fmt.Fprintf(w, "  checkpoint %s (epoch %d); no evaluation row to compare with\n", d.Checkpoint, d.CheckpointEpoch)
	case *d.MatchesEval:
		fmt.Fprintf(w, "  checkpoint %s (epoch %d); reproduces its evaluation row\n", d.Checkpoint, d.CheckpointEpoch)
	default:
		fmt.Fprintf(w, "  WARNING: the evaluation row it was picked from says val top-1 %v on %v images (test %v on %v), calib %v images: "+
			"the examples or the checkpoint changed since that evaluation\n",
			d.Eval["top1"], d.Eval["eval_images"], d.Eval["test_top1"], d.Eval["test_images"], d.Eval["calib_images"])
	}
}
