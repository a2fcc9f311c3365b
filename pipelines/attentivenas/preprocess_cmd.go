package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	f := &preprocessFlags{}
	addCommand(&command{
		name:    "preprocess",
		summary: "decode a raw dataset (IDX, CIFAR-10 or an image tree; local or gs://), split it into train/calib/val/test and write <output>/examples/<split>-*.parquet and <output>/dataset/stats.parquet",
		flags:   f.register,
		run: func(ctx context.Context) error {
			if err := errors.Join(checkWorkerPath("data", f.data), checkWorkerPath("output", f.output)); err != nil {
				return err
			}
			return runPreprocess(ctx, os.Stdout, f.config())
		},
		output: func() string { return f.output },
	})
}

// preprocessFlags are the flags of the preprocess command.
type preprocessFlags struct {
	data, format, output     string
	val, calib               int
	seed                     int64
	classes, channels, chunk int
}

func (f *preprocessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.output, "output", "out", "output root, local or gs://")
	fs.Int64Var(&f.seed, "seed", stages.DefaultSplitSeed, "seed of the val/calib draw")
	f.registerInput(fs)
}

// registerInput registers the dataset flags; the run command shares
// --output and --seed with the other stages and names the split seed
// --split_seed.
func (f *preprocessFlags) registerInput(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "dataset directory, local or gs:// (required); see --format for the layouts")
	fs.StringVar(&f.format, "format", stages.FormatAuto, "dataset format: auto (detect), idx (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...), "+
		"cifar10 (data_batch_1..5.bin, test_batch.bin, optionally in cifar-10-batches-bin/), folder (train/<class>/*.png|jpg and test/<class>/...)")
	fs.IntVar(&f.val, "val", stages.DefaultValImages, "images of the train side held out as the val split (subnet evaluation and search)")
	fs.IntVar(&f.calib, "calib", stages.DefaultCalibImages, "images of the train side held out as the calib split (BatchNorm recalibration)")
	fs.IntVar(&f.classes, "classes", 0, "number of classes; 0 = the format's (10 for idx and cifar10, the number of class folders for folder)")
	fs.IntVar(&f.channels, "channels", 0, "folder: image channels, 1 or 3; 0 = 1 if the first train image is grayscale, else 3")
	fs.IntVar(&f.chunk, "chunk", stages.DefaultChunkFiles, "folder: images decoded per work item")
}

func (f *preprocessFlags) config() stages.PreprocessConfig {
	return stages.PreprocessConfig{
		Data: f.data, Format: f.format, Output: f.output,
		Val: f.val, Calib: f.calib, Seed: f.seed,
		Classes: f.classes, Channels: f.channels, ChunkFiles: f.chunk,
	}
}

// buildPreprocess adds the preprocess stage to s. The command and the vet
// test build the pipeline through it.
func buildPreprocess(s beam.Scope, cfg stages.PreprocessConfig) (stages.PreprocessOutputs, error) {
	return stages.TryPreprocess(s, cfg)
}

// runPreprocess builds and runs the preprocess pipeline, reporting to w what
// it found, the run and a summary of what it wrote. A failed job leaves no
// temporary files (pqio.Recover).
func runPreprocess(ctx context.Context, w io.Writer, cfg stages.PreprocessConfig) error {
	p, s := beam.NewPipelineWithRoot()
	out, err := buildPreprocess(s, cfg)
	if err != nil {
		// main already says "attentivenas preprocess: ".
		return errors.New(strings.TrimPrefix(err.Error(), "preprocess: "))
	}
	plan := out.Plan
	fmt.Fprintf(w, "preprocess: %s dataset %s: %d files, %d train-side + %d test images of %dx%dx%d, %d classes\n",
		plan.Format, cfg.Data, plan.Files, plan.TrainSide, plan.TestSide, plan.Height, plan.Width, plan.Channels, plan.Classes)
	if plan.ClassNames != nil {
		fmt.Fprintf(w, "preprocess: labels 0..%d are the class folders %s\n", plan.Classes-1, strings.Join(plan.ClassNames, ", "))
	}
	fmt.Fprintf(w, "preprocess: splits (seed %d):", plan.Seed)
	for _, sc := range plan.Splits() {
		fmt.Fprintf(w, " %s %d", sc.Split, sc.Images)
	}
	fmt.Fprintf(w, "\n")

	pr, err := runPipeline(ctx, w, "preprocess", p, cfg.Output)
	if err != nil {
		return err
	}
	if pr == nil {
		fmt.Fprintf(w, "preprocess: job submitted; its outputs will be under %s\n", cfg.Output)
		return nil
	}
	return summarizePreprocess(ctx, w, cfg.Output)
}

// summarizePreprocess prints the rows and shards of each split and the
// train statistics, read back from the artifacts.
func summarizePreprocess(ctx context.Context, w io.Writer, output string) error {
	rows, _, err := pqio.ReadFile[schemas.DatasetStats](ctx, stages.StatsPath(output))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-6s %8s %7s  %s\n", "split", "images", "shards", "files")
	var total int64
	for _, r := range rows {
		files, err := pqio.Glob(ctx, stages.ExamplesDir(output)+"/"+r.Split+"-*-of-*.parquet")
		if err != nil {
			return err
		}
		first := ""
		if len(files) > 0 {
			first = files[0]
			if len(files) > 1 {
				first += fmt.Sprintf(" ... (%d files)", len(files))
			}
		}
		fmt.Fprintf(w, "%-6s %8d %7d  %s\n", r.Split, r.Images, len(files), first)
		total += r.Images
	}
	fmt.Fprintf(w, "%-6s %8d\n", "total", total)
	for _, r := range rows {
		if r.Split == "train" {
			fmt.Fprintf(w, "stats: %s (one row per split); train mean %s std %s (pixels/255, per channel)\n",
				stages.StatsPath(output), fmtFloats(r.Mean), fmtFloats(r.Std))
		}
	}
	return nil
}

func fmtFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.4f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
