package stages

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // DecodeConfig of the first image of a folder tree
	_ "image/png"
	"io"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// datasets and outputs
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.Example]()
	pqio.Register[schemas.DatasetStats]()
	beam.RegisterType(reflect.TypeFor[preprocessWork]())
	beam.RegisterType(reflect.TypeFor[statsAccum]())
	beam.RegisterType(reflect.TypeFor[data.ChannelStats]())
	beam.RegisterType(reflect.TypeFor[decodeFn]())
	beamreg.Method0x1((*decodeFn).Setup)
	beamreg.Method7x1((*decodeFn).ProcessElement)
	beamreg.Method0x1((*decodeFn).Teardown)
	register.Function1x2(keyBySplit)
	register.Combiner3[statsAccum, schemas.Example, schemas.DatasetStats](&statsCombineFn{})
	beam.RegisterType(reflect.TypeFor[writeStatsFn]())
	beamreg.Method4x1((*writeStatsFn).ProcessElement)
	beam.RegisterType(reflect.TypeFor[pathsUnderFn]())
	register.DoFn2x0[string, func(string)](&pathsUnderFn{})
	register.Iter2[string, schemas.DatasetStats]()
	register.Iter1[string]()
	register.Emitter1[string]()
}

// Dataset formats accepted by PreprocessConfig.Format.
const (
	FormatAuto    = "auto"    // detect idx, cifar10 or folder from the files in Data
	FormatIDX     = "idx"     // MNIST / Fashion-MNIST IDX files
	FormatCIFAR10 = "cifar10" // CIFAR-10 binary batches
	FormatFolder  = "folder"  // class-per-folder PNG/JPEG tree
)

// Defaults of PreprocessConfig (see DefaultPreprocessConfig).
const (
	// DefaultValImages is the size of the val split: 5,000 of Fashion-MNIST's
	// 60,000 train images (500 per class on average) to rank subnets during
	// search, held out of training.
	DefaultValImages = 5000
	// DefaultCalibImages is the size of the calib split, used to recalibrate
	// a subnet's BatchNorm statistics; 2,000 images as in Once-for-All's
	// set_running_statistics (mit-han-lab/once-for-all), which AttentiveNAS
	// follows.
	DefaultCalibImages = 2000
	// DefaultSplitSeed seeds the val/calib draw (data.NewSplitter).
	DefaultSplitSeed = 1
	// DefaultChunkFiles is how many images of a folder tree one work item
	// decodes: large enough to amortise a work item, small enough to spread
	// a 60k-image tree over many workers.
	DefaultChunkFiles = 256
	// idxClasses is the label bound of IDX datasets when Classes is 0: 10 for
	// MNIST and Fashion-MNIST.
	idxClasses = 10
	// cifarRecordBytes is the size of one CIFAR-10 record: a label byte and
	// 3x32x32 pixels (https://www.cs.toronto.edu/~kriz/cifar.html).
	cifarRecordBytes = 1 + 3*32*32
)

// PreprocessConfig configures Preprocess. Start from DefaultPreprocessConfig:
// every field is taken as given (Val 0 means no val split), except those
// documented as "0 = ...".
type PreprocessConfig struct {
	// Data is the dataset directory, local or gs://. Required. Its layout
	// depends on Format:
	//   idx:     train-images-idx3-ubyte, train-labels-idx1-ubyte,
	//            t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each
	//            optionally gzipped (.gz; the raw file wins if both exist);
	//   cifar10: data_batch_1.bin ... data_batch_5.bin and test_batch.bin
	//            (each optionally .gz), directly in Data or in
	//            Data/cifar-10-batches-bin/;
	//   folder:  Data/train/<class>/<image> and Data/test/<class>/<image>,
	//            images .png, .jpg or .jpeg, all of one size; the class
	//            names are the train folder names sorted in byte order
	//            (label i = i-th name); every test class must have a train
	//            folder; files starting with '.' are ignored, any other
	//            non-image file is an error.
	Data string
	// Format is one of FormatAuto (also ""), FormatIDX, FormatCIFAR10,
	// FormatFolder.
	Format string
	// Output is the root of the artifacts, local or gs://. Required.
	Output string
	// Val and Calib are the sizes of the val and calib splits, drawn from
	// the train side; the rest of the train side is the train split.
	Val, Calib int
	// Seed seeds the val/calib draw.
	Seed int64
	// Classes bounds the labels. 0 = the format's: 10 for idx and cifar10,
	// the number of class folders for folder (which must match if set).
	Classes int
	// Channels is the number of channels of folder images (1 or 3). 0 = 1 if
	// the first train image is grayscale, else 3. idx is 1, cifar10 3.
	Channels int
	// ChunkFiles is the number of folder images per work item. 0 =
	// DefaultChunkFiles.
	ChunkFiles int
}

// DefaultPreprocessConfig returns the defaults for dataset dir and output
// root out: FormatAuto, DefaultValImages, DefaultCalibImages,
// DefaultSplitSeed, the format's classes and channels, DefaultChunkFiles.
func DefaultPreprocessConfig(dir, out string) PreprocessConfig {
	return PreprocessConfig{
		Data: dir, Format: FormatAuto, Output: out,
		Val: DefaultValImages, Calib: DefaultCalibImages, Seed: DefaultSplitSeed,
	}
}

// PreprocessPlan is what Preprocess found while the pipeline was built: the
// resolved format, the input files and the image counts they promise.
type PreprocessPlan struct {
	Format string // FormatIDX, FormatCIFAR10 or FormatFolder
	Source string // "<format>:<data dir>", as in schemas.DatasetStats.Source
	Files  int    // input files

	Height, Width, Channels int // size of every image
	Classes                 int
	ClassNames              []string // folder: label i is ClassNames[i]; nil otherwise

	TrainSide, TestSide     int64 // images on the dataset's train and test sides
	Train, Calib, Val, Test int64 // images per split (Train+Calib+Val = TrainSide)
	Seed                    int64 // the split seed

	work []preprocessWork
}

// Splits returns the split names with their image counts, in the order
// train, calib, val, test.
func (p *PreprocessPlan) Splits() []SplitCount {
	return []SplitCount{
		{string(data.SplitTrain), p.Train}, {string(data.SplitCalib), p.Calib},
		{string(data.SplitVal), p.Val}, {string(data.SplitTest), p.Test},
	}
}

// SplitCount is a split name and its number of images.
type SplitCount struct {
	Split  string
	Images int64
}

// PreprocessOutputs are the results of Preprocess.
type PreprocessOutputs struct {
	// Train, Calib, Val and Test are PCollection<string>s of the final shard
	// paths of each split, <output>/examples/<split>-NNNNN-of-MMMMM.parquet,
	// and Stats holds <output>/dataset/stats.parquet; all are emitted once
	// the whole dataset (DatasetSet) is committed, so a stage that depends
	// on any of them sees a complete preprocess output. Read the shards with
	// pqio.Read[schemas.Example].
	Train, Calib, Val, Test beam.PCollection
	Stats                   beam.PCollection
	// Plan describes the input as found while the pipeline was built.
	Plan *PreprocessPlan
}

// ExamplesDir returns the directory of the example shards under output.
func ExamplesDir(output string) string { return joinPath(output, "examples") }

// StatsPath returns the path of the dataset statistics file under output.
func StatsPath(output string) string { return joinPath(output, "dataset/stats.parquet") }

// Preprocess turns a raw image-classification dataset into the examples
// and statistics artifacts every later stage reads. In: the files of
// cfg.Data (no PCollection). Out: PreprocessOutputs (PCollection<string>s of
// committed file paths):
//
//	<output>/examples/{train,calib,val,test}-NNNNN-of-MMMMM.parquet  schemas.Example rows
//	<output>/dataset/stats.parquet                                    schemas.DatasetStats, one row per split
//
// While the pipeline is built, Preprocess lists cfg.Data through Beam's
// filesystem (local or gs://), detects the format (FormatAuto), checks what
// is cheap to check (files present, IDX headers and counts, CIFAR sizes,
// folder classes and the image size) and plans one work item per IDX pair,
// per CIFAR batch file and per cfg.ChunkFiles folder images. At run time the
// work items are reshuffled, so they decode in parallel, and decoded with
// package data's decoders, which reject truncated files, bad magic numbers,
// count mismatches, out-of-range labels and non-image files with an error
// naming the file; the job then fails before anything is committed (see
// pqio.Recover for the temporary files it leaves).
//
// The splits are deterministic: the train side (IDX train pair; CIFAR
// batches 1-5 in order, record j of a batch at index offset+j; folder images
// in sorted path order) is divided by data.NewSplitter(trainSide, cfg.Val,
// cfg.Calib, cfg.Seed) into val, calib and train, and the dataset's own test
// set is the test split. Example.Index is the position on its side.
//
// Statistics are a Beam combine keyed by split (per-channel mean and std of
// pixels scaled to [0,1], class counts); downstream stages normalise every
// split with the train row's mean and std. The stats file is staged by one
// step, which fails if a split's count differs from the plan, and the
// shards of every split and the stats file commit together as the set
// DatasetSet (<output>/_dataset.manifest.json): readers use DatasetFiles.
//
// AttentiveNAS (Wang et al., CVPR 2021), like Once-for-All before it, ranks
// subnets on images held out of the training set and recalibrates each
// subnet's BatchNorm statistics on training images before evaluating it; the
// val and calib splits are those two sets, and test stays untouched for the
// final report.
//
// Counters (namespace "preprocess"): images_train, images_calib, images_val,
// images_test, work_items. Defaults: see DefaultPreprocessConfig. A bad
// config or dataset makes Preprocess panic with an error naming the problem;
// TryPreprocess returns it instead.
//
// See also pqio.Write (the sink and its exactly-once commit), data.Splitter,
// data.ChannelStats.
func Preprocess(s beam.Scope, cfg PreprocessConfig) PreprocessOutputs {
	out, err := TryPreprocess(s, cfg)
	if err != nil {
		panic(err)
	}
	return out
}

// TryPreprocess is Preprocess returning construction errors (bad config,
// missing or inconsistent files) instead of panicking. After an error the
// pipeline may hold part of the stage and must not be run.
func TryPreprocess(s beam.Scope, cfg PreprocessConfig) (out PreprocessOutputs, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = PreprocessOutputs{}, fmt.Errorf("stages.Preprocess: %v", r)
		}
	}()
	plan, err := planPreprocess(context.Background(), cfg)
	if err != nil {
		return PreprocessOutputs{}, err
	}
	s = s.Scope("stages.Preprocess")

	work := beam.Reshuffle(s, beam.CreateList(s, plan.work))
	decoded := beam.ParDoN(s.Scope("Decode"), &decodeFn{
		Format: plan.Format, Classes: plan.Classes,
		Height: plan.Height, Width: plan.Width, Channels: plan.Channels,
		TrainSide: plan.TrainSide, Val: cfg.Val, Calib: cfg.Calib, Seed: cfg.Seed,
	}, work)
	train, calib, val, test, done := decoded[0], decoded[1], decoded[2], decoded[3], decoded[4]

	// A bad file fails its work item; After keeps the dataset uncommitted
	// unless all work items succeeded, so a failed run leaves no output
	// behind, and the splits and stats commit as one set.
	out = PreprocessOutputs{Plan: plan}
	expected := map[string]int64{}
	for _, sc := range plan.Splits() {
		expected[sc.Split] = sc.Images
	}
	var parts []pqio.Part
	for _, x := range []struct {
		split data.Split
		rows  beam.PCollection
	}{{data.SplitTrain, train}, {data.SplitCalib, calib}, {data.SplitVal, val}, {data.SplitTest, test}} {
		prefix := "examples/" + string(x.split)
		parts = append(parts, pqio.Part{Prefix: prefix, ExpectRows: expected[string(x.split)],
			Staged: pqio.Stage[schemas.Example](s, cfg.Output, DatasetSet, prefix, x.rows)})
	}

	// One combine per split, applied to the decoder's outputs directly, so
	// that its partial combine fuses with decoding and only accumulators are
	// shuffled (a combine after a Flatten of the four outputs made prism
	// ship every example to a separate stage).
	ss := s.Scope("Stats")
	var perSplit []beam.PCollection
	for _, col := range []beam.PCollection{train, calib, val, test} {
		keyed := beam.ParDo(ss, keyBySplit, col)
		perSplit = append(perSplit, beam.CombinePerKey(ss, &statsCombineFn{Classes: plan.Classes}, keyed))
	}
	stats := beam.Flatten(ss, perSplit...)
	stagedStats := beam.ParDo(ss.Scope("WriteStats"), &writeStatsFn{
		Path: joinPath(pqio.StagingDir(cfg.Output, DatasetSet), "dataset~stats.parquet"), Expected: expected, Source: plan.Source, Seed: plan.Seed,
		Classes: plan.Classes, Height: plan.Height, Width: plan.Width, Channels: plan.Channels,
	}, beam.Impulse(ss), beam.SideInput{Input: stats})
	parts = append(parts, pqio.Part{Name: "dataset/stats.parquet", Staged: stagedStats})

	files := pqio.Commit[schemas.Example](s, cfg.Output, DatasetSet, parts, pqio.After(done, len(plan.work)))
	under := func(p string) beam.PCollection {
		return beam.ParDo(s, &pathsUnderFn{Prefix: joinPath(cfg.Output, p)}, files)
	}
	out.Train, out.Calib, out.Val, out.Test = under("examples/train-"), under("examples/calib-"), under("examples/val-"), under("examples/test-")
	out.Stats = under("dataset/stats.parquet")
	return out, nil
}

// DatasetSet is the set a preprocess run's outputs are committed as, under
// the output root: every example shard of every split and
// dataset/stats.parquet, listed by <output>/_dataset.manifest.json. A
// failed or interrupted run leaves the previous dataset whole.
const DatasetSet = "dataset"

// DatasetFiles returns the committed dataset of an output (see DatasetSet):
// the paths of each split's example shards and of the stats file. A missing
// or incomplete dataset is an error saying what to run.
func DatasetFiles(ctx context.Context, out string) (map[data.Split][]string, string, error) {
	paths, m, err := pqio.SetFiles(ctx, out, DatasetSet)
	if errors.Is(err, pqio.ErrNoManifest) {
		return nil, "", fmt.Errorf("no preprocessed dataset under %s (%s is missing): run `attentivenas preprocess --output=%s` first", out, pqio.ManifestPath(out, DatasetSet), out)
	}
	if err != nil {
		return nil, "", err
	}
	splits := map[data.Split][]string{}
	stats := ""
	for i, f := range m.Files {
		if f.Name == "dataset/stats.parquet" {
			stats = paths[i]
			continue
		}
		for _, sp := range []data.Split{data.SplitTrain, data.SplitCalib, data.SplitVal, data.SplitTest} {
			if strings.HasPrefix(f.Name, "examples/"+string(sp)+"-") {
				splits[sp] = append(splits[sp], paths[i])
			}
		}
	}
	if stats == "" {
		return nil, "", fmt.Errorf("%s lists no dataset/stats.parquet", pqio.ManifestPath(out, DatasetSet))
	}
	return splits, stats, nil
}

// pathsUnderFn keeps the paths under Prefix (a path prefix).
type pathsUnderFn struct{ Prefix string }

func (f *pathsUnderFn) ProcessElement(p string, emit func(string)) {
	if strings.HasPrefix(p, f.Prefix) {
		emit(p)
	}
}

// ---------------------------------------------------------------------------
// Planning (pipeline construction time).

// preprocessWork is one unit of decoding: an IDX pair, a CIFAR batch or a
// chunk of folder images.
type preprocessWork struct {
	Side   string   // "train" (divided by the Splitter) or "test"
	Paths  []string // idx: images, labels; cifar10: one batch; folder: images
	Labels []byte   // folder: the label of each path
	Offset int64    // index on its side of the first image
	Count  int64    // images it must hold
}

const (
	sideTrain = "train"
	sideTest  = "test"
)

// planPreprocess checks cfg, lists cfg.Data and plans the work items.
func planPreprocess(ctx context.Context, cfg PreprocessConfig) (*PreprocessPlan, error) {
	switch {
	case cfg.Data == "":
		return nil, errors.New("preprocess: no dataset directory (--data)")
	case cfg.Output == "":
		return nil, errors.New("preprocess: no output directory (--output)")
	case cfg.Val < 0 || cfg.Calib < 0:
		return nil, fmt.Errorf("preprocess: negative split size: val %d, calib %d", cfg.Val, cfg.Calib)
	case cfg.Classes < 0 || cfg.Classes > 256:
		return nil, fmt.Errorf("preprocess: %d classes, want 0 (the format's) to 256", cfg.Classes)
	case cfg.Channels != 0 && cfg.Channels != 1 && cfg.Channels != 3:
		return nil, fmt.Errorf("preprocess: %d channels, want 0 (auto), 1 or 3", cfg.Channels)
	case cfg.ChunkFiles < 0:
		return nil, fmt.Errorf("preprocess: %d files per chunk, want 0 (default) or more", cfg.ChunkFiles)
	}
	dir := strings.TrimSuffix(cfg.Data, "/")
	fs, err := filesystem.New(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("preprocess: dataset %s: %w", dir, err)
	}
	defer fs.Close()
	l := &lister{ctx: ctx, fs: fs, dir: dir}

	format := cfg.Format
	if format == "" || format == FormatAuto {
		if format, err = l.detect(); err != nil {
			return nil, err
		}
	}
	var p *PreprocessPlan
	switch format {
	case FormatIDX:
		p, err = l.planIDX(cfg)
	case FormatCIFAR10:
		p, err = l.planCIFAR(cfg)
	case FormatFolder:
		p, err = l.planFolder(cfg)
	default:
		return nil, fmt.Errorf("preprocess: unknown format %q, want auto, idx, cifar10 or folder", cfg.Format)
	}
	if err != nil {
		return nil, err
	}
	p.Format, p.Source, p.Seed = format, format+":"+dir, cfg.Seed
	if int64(cfg.Val)+int64(cfg.Calib) > p.TrainSide {
		return nil, fmt.Errorf("preprocess: cannot hold out %d val and %d calib images: %s has %d train-side images", cfg.Val, cfg.Calib, p.Source, p.TrainSide)
	}
	p.Val, p.Calib = int64(cfg.Val), int64(cfg.Calib)
	p.Train = p.TrainSide - p.Val - p.Calib
	p.Test = p.TestSide
	return p, nil
}

// lister lists and probes the files of a dataset directory.
type lister struct {
	ctx context.Context
	fs  filesystem.Interface
	dir string
}

// files returns the base names of the files matching dir/pattern (a glob
// without '/'), mapped to their full paths.
func (l *lister) files(sub, pattern string) (map[string]string, error) {
	d := l.dir
	if sub != "" {
		d = joinPath(d, sub)
	}
	paths, err := l.fs.List(l.ctx, joinPath(d, pattern))
	if err != nil {
		return nil, fmt.Errorf("preprocess: list %s: %w", d, err)
	}
	m := make(map[string]string, len(paths))
	for _, p := range paths {
		m[path.Base(p)] = p
	}
	return m, nil
}

// pick returns the path of name, or else of name.gz, in files, or "".
func pick(files map[string]string, name string) string {
	if p, ok := files[name]; ok {
		return p
	}
	return files[name+".gz"]
}

var (
	idxFiles   = []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
	cifarFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}
)

// cifarSubdir is where the CIFAR-10 binary tarball puts its batches.
const cifarSubdir = "cifar-10-batches-bin"

// detect returns the format of the dataset directory.
func (l *lister) detect() (string, error) {
	top, err := l.files("", "*")
	if err != nil {
		return "", err
	}
	if pick(top, idxFiles[0]) != "" {
		return FormatIDX, nil
	}
	if pick(top, cifarFiles[0]) != "" {
		return FormatCIFAR10, nil
	}
	sub, err := l.files(cifarSubdir, "*")
	if err != nil {
		return "", err
	}
	if pick(sub, cifarFiles[0]) != "" {
		return FormatCIFAR10, nil
	}
	tree, err := l.fs.List(l.ctx, joinPath(l.dir, "train/*/*"))
	if err != nil {
		return "", fmt.Errorf("preprocess: list %s: %w", l.dir, err)
	}
	if slices.ContainsFunc(tree, data.IsImagePath) {
		return FormatFolder, nil
	}
	if len(top) == 0 {
		return "", fmt.Errorf("preprocess: dataset directory %s is empty or missing", l.dir)
	}
	return "", fmt.Errorf("preprocess: cannot detect the dataset format of %s: it holds none of "+
		"IDX files (%s[.gz], ...), CIFAR-10 batches (%s ... test_batch.bin, optionally in %s/), "+
		"an image tree (train/<class>/*.png|jpg, test/<class>/...); pass --format to say which",
		l.dir, idxFiles[0], cifarFiles[0], cifarSubdir)
}

// planIDX reads the four IDX headers: one work item per pair.
func (l *lister) planIDX(cfg PreprocessConfig) (*PreprocessPlan, error) {
	if cfg.Channels > 1 {
		return nil, fmt.Errorf("preprocess: %d channels requested, IDX images have 1", cfg.Channels)
	}
	files, err := l.files("", "*")
	if err != nil {
		return nil, err
	}
	var paths []string
	var missing []string
	for _, name := range idxFiles {
		p := pick(files, name)
		if p == "" {
			missing = append(missing, name+"[.gz]")
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("preprocess: IDX dataset %s: missing %s", l.dir, strings.Join(missing, ", "))
	}
	classes := cmp0(cfg.Classes, idxClasses)
	p := &PreprocessPlan{Channels: 1, Classes: classes, Files: 4}
	for i, side := range []string{sideTrain, sideTest} {
		images, labels := paths[2*i], paths[2*i+1]
		dims, err := l.idxHeader(images, 3)
		if err != nil {
			return nil, err
		}
		ldims, err := l.idxHeader(labels, 1)
		if err != nil {
			return nil, err
		}
		if ldims[0] != dims[0] {
			err := fmt.Errorf("%w: %d labels for %d images in %s", data.ErrMismatch, ldims[0], dims[0], images)
			return nil, preprocessErr(&data.FormatError{File: labels, Record: -1, Field: "count", Err: err})
		}
		n := int64(dims[0])
		if side == sideTrain {
			p.Height, p.Width, p.TrainSide = dims[1], dims[2], n
		} else {
			if dims[1] != p.Height || dims[2] != p.Width {
				err := fmt.Errorf("%w: images are %dx%d, the train images (%s) %dx%d", data.ErrMismatch, dims[1], dims[2], paths[0], p.Height, p.Width)
				return nil, preprocessErr(&data.FormatError{File: images, Record: -1, Field: "dimensions", Err: err})
			}
			p.TestSide = n
		}
		p.work = append(p.work, preprocessWork{Side: side, Paths: []string{images, labels}, Count: n})
	}
	return p, nil
}

// idxHeader reads the header of an IDX file of unsigned bytes with ndims
// dimensions (gzip detected from the first bytes) and, for an uncompressed
// file, checks its size against the dimensions.
func (l *lister) idxHeader(p string, ndims int) (dims []int, err error) {
	rc, err := l.fs.OpenRead(l.ctx, p)
	if err != nil {
		return nil, fmt.Errorf("preprocess: open %s: %w", p, err)
	}
	defer rc.Close()
	r, gz, err := maybeGunzip(rc, p)
	if err != nil {
		return nil, err
	}
	header := make([]byte, 4+4*ndims)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, preprocessErr(readErr(p, "header", err))
	}
	if got, want := binary.BigEndian.Uint32(header), uint32(0x0800|ndims); got != want {
		err := fmt.Errorf("%w 0x%08x, want 0x%08x (IDX uint8, %d dimensions)", data.ErrMagic, got, want, ndims)
		return nil, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "magic", Err: err})
	}
	product := uint64(1)
	for i := range ndims {
		d := binary.BigEndian.Uint32(header[4+4*i:])
		product *= uint64(d)
		switch {
		case d == 0:
			return nil, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "dimensions", Err: fmt.Errorf("%w: dimension %d is 0", data.ErrShape, i)})
		case product > data.MaxDatasetBytes:
			return nil, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "dimensions", Err: fmt.Errorf("%w: more than %d bytes", data.ErrTooLarge, data.MaxDatasetBytes)})
		}
		dims = append(dims, int(d))
	}
	if gz {
		return dims, nil // the size is known only after decompression: checked when decoded
	}
	size, err := l.fs.Size(l.ctx, p)
	if err != nil {
		return nil, fmt.Errorf("preprocess: size of %s: %w", p, err)
	}
	if want := int64(len(header)) + int64(product); size != want {
		sentinel := data.ErrTruncated
		if size > want {
			sentinel = data.ErrTrailing
		}
		err := fmt.Errorf("%w: %d bytes, the header promises %d", sentinel, size, want)
		return nil, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "size", Err: err})
	}
	return dims, nil
}

// planCIFAR checks the six batch files: one work item per file.
func (l *lister) planCIFAR(cfg PreprocessConfig) (*PreprocessPlan, error) {
	if cfg.Channels == 1 {
		return nil, errors.New("preprocess: 1 channel requested, CIFAR-10 images have 3")
	}
	if cfg.Classes != 0 && cfg.Classes != 10 {
		return nil, fmt.Errorf("preprocess: %d classes requested, CIFAR-10 has 10", cfg.Classes)
	}
	files, err := l.files("", "*")
	if err != nil {
		return nil, err
	}
	where := l.dir
	if pick(files, cifarFiles[0]) == "" {
		if files, err = l.files(cifarSubdir, "*"); err != nil {
			return nil, err
		}
		where = joinPath(l.dir, cifarSubdir)
	}
	var missing []string
	for _, name := range cifarFiles {
		if pick(files, name) == "" {
			missing = append(missing, name+"[.gz]")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("preprocess: CIFAR-10 dataset %s: missing %s", where, strings.Join(missing, ", "))
	}
	p := &PreprocessPlan{Height: 32, Width: 32, Channels: 3, Classes: 10, Files: len(cifarFiles)}
	for _, name := range cifarFiles {
		f := pick(files, name)
		n, err := l.cifarRecords(f)
		if err != nil {
			return nil, err
		}
		w := preprocessWork{Side: sideTrain, Paths: []string{f}, Offset: p.TrainSide, Count: n}
		if name == "test_batch.bin" {
			w.Side, w.Offset = sideTest, 0
			p.TestSide = n
		} else {
			p.TrainSide += n
		}
		p.work = append(p.work, w)
	}
	return p, nil
}

// cifarRecords returns the number of records of a CIFAR-10 batch: its size
// over 3073 bytes; a gzipped batch is decompressed to count.
func (l *lister) cifarRecords(p string) (int64, error) {
	var size int64
	if strings.HasSuffix(p, ".gz") {
		rc, err := l.fs.OpenRead(l.ctx, p)
		if err != nil {
			return 0, fmt.Errorf("preprocess: open %s: %w", p, err)
		}
		defer rc.Close()
		r, _, err := maybeGunzip(rc, p)
		if err == nil {
			size, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			return 0, preprocessErr(readErr(p, "record", err))
		}
	} else {
		var err error
		if size, err = l.fs.Size(l.ctx, p); err != nil {
			return 0, fmt.Errorf("preprocess: size of %s: %w", p, err)
		}
	}
	switch {
	case size == 0:
		return 0, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "size", Err: data.ErrEmpty})
	case size%cifarRecordBytes != 0:
		err := fmt.Errorf("%w: %d bytes is not a whole number of %d-byte records", data.ErrTruncated, size, cifarRecordBytes)
		return 0, preprocessErr(&data.FormatError{File: p, Record: int(size / cifarRecordBytes), Field: "size", Err: err})
	}
	return size / cifarRecordBytes, nil
}

// planFolder lists root/train/<class>/* and root/test/<class>/*, labels
// them and reads the size of the first image: one work item per chunk.
func (l *lister) planFolder(cfg PreprocessConfig) (*PreprocessPlan, error) {
	sides := map[string][]string{}
	for _, side := range []string{sideTrain, sideTest} {
		paths, err := l.fs.List(l.ctx, joinPath(l.dir, side+"/*/*"))
		if err != nil {
			return nil, fmt.Errorf("preprocess: list %s: %w", joinPath(l.dir, side), err)
		}
		slices.Sort(paths)
		images := paths[:0]
		for _, p := range paths {
			switch {
			case strings.HasPrefix(path.Base(p), "."):
				continue
			case !data.IsImagePath(p):
				return nil, fmt.Errorf("preprocess: %s is not a .png, .jpg or .jpeg file (image trees are %s/{train,test}/<class>/<image>)", p, l.dir)
			}
			images = append(images, p)
		}
		if len(images) == 0 {
			return nil, fmt.Errorf("preprocess: image tree %s: no images in %s/<class>/", l.dir, joinPath(l.dir, side))
		}
		sides[side] = images
	}
	classes, trainLabels, err := data.FolderClasses(sides[sideTrain])
	if err != nil {
		return nil, preprocessErr(err)
	}
	if cfg.Classes != 0 && cfg.Classes != len(classes) {
		return nil, fmt.Errorf("preprocess: %d classes requested, %s has %d class folders %q", cfg.Classes, joinPath(l.dir, sideTrain), len(classes), classes)
	}
	testLabels := make([]byte, len(sides[sideTest]))
	for i, p := range sides[sideTest] {
		name := path.Base(path.Dir(p))
		c, ok := slices.BinarySearch(classes, name)
		if !ok {
			return nil, fmt.Errorf("preprocess: %s: class %q has no folder in %s", p, name, joinPath(l.dir, sideTrain))
		}
		testLabels[i] = byte(c)
	}
	first := sides[sideTrain][0]
	h, w, gray, err := l.imageConfig(first)
	if err != nil {
		return nil, err
	}
	channels := cfg.Channels
	if channels == 0 {
		channels = 3
		if gray {
			channels = 1
		}
	}
	p := &PreprocessPlan{
		Height: h, Width: w, Channels: channels, Classes: len(classes), ClassNames: classes,
		TrainSide: int64(len(sides[sideTrain])), TestSide: int64(len(sides[sideTest])),
		Files: len(sides[sideTrain]) + len(sides[sideTest]),
	}
	chunk := cmp0(cfg.ChunkFiles, DefaultChunkFiles)
	for _, side := range []string{sideTrain, sideTest} {
		paths, labels := sides[side], trainLabels
		if side == sideTest {
			labels = testLabels
		}
		for lo := 0; lo < len(paths); lo += chunk {
			hi := min(lo+chunk, len(paths))
			p.work = append(p.work, preprocessWork{
				Side: side, Paths: paths[lo:hi], Labels: labels[lo:hi], Offset: int64(lo), Count: int64(hi - lo),
			})
		}
	}
	return p, nil
}

// imageConfig reads the header of an image: its size and whether it is
// grayscale.
func (l *lister) imageConfig(p string) (h, w int, gray bool, err error) {
	rc, err := l.fs.OpenRead(l.ctx, p)
	if err != nil {
		return 0, 0, false, fmt.Errorf("preprocess: open %s: %w", p, err)
	}
	defer rc.Close()
	c, _, err := image.DecodeConfig(bufio.NewReader(rc))
	if err != nil {
		return 0, 0, false, preprocessErr(&data.FormatError{File: p, Record: -1, Field: "image", Err: fmt.Errorf("%w: %v", data.ErrNotImage, err)})
	}
	return c.Height, c.Width, c.ColorModel == color.GrayModel || c.ColorModel == color.Gray16Model, nil
}

// maybeGunzip returns r decompressed if it starts with the gzip magic.
func maybeGunzip(r io.Reader, name string) (io.Reader, bool, error) {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(2); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return br, false, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, true, preprocessErr(readErr(name, "gzip header", err))
	}
	return zr, true, nil
}

// readErr classifies an error met reading field of file, as package data
// does: an early EOF is data.ErrTruncated.
func readErr(file, field string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = data.ErrTruncated
	}
	return &data.FormatError{File: file, Record: -1, Field: field, Err: err}
}

func preprocessErr(err error) error { return fmt.Errorf("preprocess: %w", err) }

// cmp0 returns v, or def if v is 0.
func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// joinPath joins a directory (local or "scheme://bucket/dir") and a
// relative name with '/', without path.Clean, which would turn "gs://" into
// "gs:/".
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// ---------------------------------------------------------------------------
// Decoding (run time).

// Counters of decoded images per split, and of work items.
var (
	imagesDecoded = map[string]beam.Counter{
		string(data.SplitTrain): beam.NewCounter("preprocess", "images_train"),
		string(data.SplitCalib): beam.NewCounter("preprocess", "images_calib"),
		string(data.SplitVal):   beam.NewCounter("preprocess", "images_val"),
		string(data.SplitTest):  beam.NewCounter("preprocess", "images_test"),
	}
	workItems = beam.NewCounter("preprocess", "work_items")
)

// decodeFn decodes one work item, validates it against the plan and emits
// its examples to the train, calib, val and test outputs.
type decodeFn struct {
	Format                  string // FormatIDX, FormatCIFAR10 or FormatFolder
	Classes                 int    // label bound
	Height, Width, Channels int    // size every image must have
	TrainSide               int64  // images on the train side, for the Splitter
	Val, Calib              int    // split sizes
	Seed                    int64  // split seed

	splitter *data.Splitter
	fs       map[string]filesystem.Interface // by scheme
}

func (f *decodeFn) Setup() error {
	var err error
	f.splitter, err = data.NewSplitter(int(f.TrainSide), f.Val, f.Calib, f.Seed)
	f.fs = map[string]filesystem.Interface{}
	return err
}

func (f *decodeFn) Teardown() error {
	var errs []error
	for _, fs := range f.fs {
		errs = append(errs, fs.Close())
	}
	f.fs = nil
	return errors.Join(errs...)
}

// open opens p for reading through a filesystem cached by scheme.
func (f *decodeFn) open(ctx context.Context, p string) (io.ReadCloser, error) {
	scheme := ""
	if i := strings.Index(p, "://"); i > 0 {
		scheme = p[:i]
	}
	fs, ok := f.fs[scheme]
	if !ok {
		var err error
		if fs, err = filesystem.New(ctx, p); err != nil {
			return nil, fmt.Errorf("preprocess: open %s: %w", p, err)
		}
		f.fs[scheme] = fs
	}
	rc, err := fs.OpenRead(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("preprocess: open %s: %w", p, err)
	}
	return rc, nil
}

// ProcessElement emits the work item's examples by split, then one element
// on done: the writers commit only once every work item got that far.
func (f *decodeFn) ProcessElement(ctx context.Context, w preprocessWork, train, calib, val, test func(schemas.Example), done func(string)) error {
	emits := map[string]func(schemas.Example){
		string(data.SplitTrain): train, string(data.SplitCalib): calib,
		string(data.SplitVal): val, string(data.SplitTest): test,
	}
	counts := map[string]int64{}
	n := int64(0)
	emit := func(label byte, pixels []byte) {
		index := w.Offset + n
		split := string(data.SplitTest)
		if w.Side == sideTrain {
			split = string(f.splitter.Split(int(index)))
		}
		emits[split](schemas.Example{
			Split: split, Index: index, Label: int32(label),
			Height: int32(f.Height), Width: int32(f.Width), Channels: int32(f.Channels), Pixels: pixels,
		})
		counts[split]++
		n++
	}
	var err error
	switch f.Format {
	case FormatIDX, FormatCIFAR10:
		var ds *data.Dataset
		if ds, err = f.decodeFile(ctx, w); err == nil {
			if err = f.check(w, ds); err == nil {
				for i := range ds.Len() {
					emit(ds.Labels[i], ds.Image(i))
				}
			}
		}
	case FormatFolder:
		for i, p := range w.Paths {
			var pixels []byte
			if pixels, err = f.decodeImage(ctx, p); err != nil {
				break
			}
			emit(w.Labels[i], pixels)
		}
	default:
		err = fmt.Errorf("preprocess: unknown format %q", f.Format)
	}
	if err != nil {
		return err
	}
	for split, c := range counts {
		imagesDecoded[split].Inc(ctx, c)
	}
	workItems.Inc(ctx, 1)
	done(strconv.FormatInt(w.Offset, 10))
	return nil
}

// decodeFile decodes an IDX pair or a CIFAR batch.
func (f *decodeFn) decodeFile(ctx context.Context, w preprocessWork) (*data.Dataset, error) {
	var rcs []io.ReadCloser
	defer func() {
		for _, rc := range rcs {
			rc.Close()
		}
	}()
	for _, p := range w.Paths {
		rc, err := f.open(ctx, p)
		if err != nil {
			return nil, err
		}
		rcs = append(rcs, rc)
	}
	var ds *data.Dataset
	var err error
	if f.Format == FormatIDX {
		if len(rcs) != 2 {
			return nil, fmt.Errorf("preprocess: IDX work item with %d files %q", len(rcs), w.Paths)
		}
		ds, err = data.DecodeIDX(rcs[0], rcs[1], w.Paths[0], w.Paths[1], f.Classes)
	} else {
		if len(rcs) != 1 {
			return nil, fmt.Errorf("preprocess: CIFAR-10 work item with %d files %q", len(rcs), w.Paths)
		}
		ds, err = data.DecodeCIFAR10(rcs[0], w.Paths[0])
	}
	if err != nil {
		return nil, preprocessErr(err)
	}
	return ds, nil
}

// check compares a decoded file with what the plan read from its header or
// size; they differ only if the file changed after the pipeline was built.
func (f *decodeFn) check(w preprocessWork, ds *data.Dataset) error {
	if int64(ds.Len()) != w.Count || ds.Height != f.Height || ds.Width != f.Width || ds.Channels != f.Channels {
		return fmt.Errorf("preprocess: %s: decoded %d images of %dx%dx%d, planned %d of %dx%dx%d: did the file change after the pipeline was built?",
			w.Paths[0], ds.Len(), ds.Height, ds.Width, ds.Channels, w.Count, f.Height, f.Width, f.Channels)
	}
	return nil
}

// decodeImage decodes one image of a folder tree.
func (f *decodeFn) decodeImage(ctx context.Context, p string) ([]byte, error) {
	rc, err := f.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	pixels, err := data.DecodeImage(bufio.NewReader(rc), p, f.Channels, f.Height, f.Width)
	if err != nil {
		return nil, preprocessErr(err)
	}
	return pixels, nil
}

// ---------------------------------------------------------------------------
// Statistics.

// keyBySplit keys an example by its split for the statistics combine.
func keyBySplit(e schemas.Example) (string, schemas.Example) { return e.Split, e }

// statsAccum accumulates the statistics of one split.
type statsAccum struct {
	Split                   string
	Height, Width, Channels int32
	Pixels                  data.ChannelStats
	ClassCounts             []int64
}

// statsCombineFn computes a split's schemas.DatasetStats: image count and
// size, per-channel mean and std, images per class. Source and Seed are
// filled in by writeStatsFn.
type statsCombineFn struct {
	Classes int // length of ClassCounts; labels are below it
}

func (f *statsCombineFn) CreateAccumulator() statsAccum { return statsAccum{} }

func (f *statsCombineFn) AddInput(a statsAccum, e schemas.Example) (statsAccum, error) {
	if a.ClassCounts == nil {
		a.ClassCounts = make([]int64, f.Classes)
		a.Split, a.Height, a.Width, a.Channels = e.Split, e.Height, e.Width, e.Channels
	}
	if e.Height != a.Height || e.Width != a.Width || e.Channels != a.Channels {
		return a, fmt.Errorf("preprocess: stats of %s: image %d is %dx%dx%d, earlier ones %dx%dx%d",
			e.Split, e.Index, e.Height, e.Width, e.Channels, a.Height, a.Width, a.Channels)
	}
	if e.Label < 0 || int(e.Label) >= len(a.ClassCounts) {
		return a, fmt.Errorf("preprocess: stats of %s: image %d has label %d, want [0,%d)", e.Split, e.Index, e.Label, len(a.ClassCounts))
	}
	a.ClassCounts[e.Label]++
	if err := a.Pixels.Add(e.Pixels, int(e.Channels)); err != nil {
		return a, fmt.Errorf("preprocess: stats of %s: image %d: %w", e.Split, e.Index, err)
	}
	return a, nil
}

func (f *statsCombineFn) MergeAccumulators(a, b statsAccum) (statsAccum, error) {
	switch {
	case b.ClassCounts == nil:
		return a, nil
	case a.ClassCounts == nil:
		return b, nil
	case a.Height != b.Height || a.Width != b.Width || a.Channels != b.Channels || len(a.ClassCounts) != len(b.ClassCounts):
		return a, fmt.Errorf("preprocess: stats of %s: merging images of %dx%dx%d and %dx%dx%d", a.Split, a.Height, a.Width, a.Channels, b.Height, b.Width, b.Channels)
	}
	for i, c := range b.ClassCounts {
		a.ClassCounts[i] += c
	}
	if err := a.Pixels.Merge(b.Pixels); err != nil {
		return a, fmt.Errorf("preprocess: stats of %s: %w", a.Split, err)
	}
	return a, nil
}

func (f *statsCombineFn) ExtractOutput(a statsAccum) schemas.DatasetStats {
	var images int64
	for _, c := range a.ClassCounts {
		images += c
	}
	return schemas.DatasetStats{
		Split: a.Split, Images: images, Height: a.Height, Width: a.Width, Channels: a.Channels,
		Classes: int32(len(a.ClassCounts)), Mean: widen(a.Pixels.Mean()), Std: widen(a.Pixels.Std()),
		ClassCounts: a.ClassCounts,
	}
}

func widen(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// writeStatsFn writes the stats file once, after every split's shards are
// committed (its side input), with one row per split in the order train,
// calib, val, test. A split without images gets a row with Images 0 and no
// mean or std. It fails, writing nothing, if a split's count is not the
// planned one.
type writeStatsFn struct {
	Path                    string           // the staged stats file (a fixed name: a retry replaces it)
	Expected                map[string]int64 // planned images per split
	Source                  string           // DatasetStats.Source
	Seed                    int64            // DatasetStats.Seed
	Classes                 int              // for empty splits
	Height, Width, Channels int              // for empty splits
}

func (f *writeStatsFn) ProcessElement(ctx context.Context, _ []byte, stats func(*string, *schemas.DatasetStats) bool, emit func(pqio.Staged)) error {
	bySplit := map[string]schemas.DatasetStats{}
	var split string
	var row schemas.DatasetStats
	for stats(&split, &row) {
		bySplit[split] = row
	}
	var rows []schemas.DatasetStats
	for _, name := range []data.Split{data.SplitTrain, data.SplitCalib, data.SplitVal, data.SplitTest} {
		r, ok := bySplit[string(name)]
		if !ok {
			r = schemas.DatasetStats{
				Split: string(name), Height: int32(f.Height), Width: int32(f.Width), Channels: int32(f.Channels),
				Classes: int32(f.Classes), Mean: []float64{}, Std: []float64{}, ClassCounts: make([]int64, f.Classes),
			}
		}
		if want := f.Expected[string(name)]; r.Images != want {
			return fmt.Errorf("preprocess: split %s has %d images, planned %d: did the input change after the pipeline was built?", name, r.Images, want)
		}
		r.Source, r.Seed = f.Source, f.Seed
		rows = append(rows, r)
	}
	if err := pqio.WriteFile(ctx, f.Path, rows); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	emit(pqio.Staged{Name: "dataset/stats.parquet", Path: f.Path})
	return nil
}
