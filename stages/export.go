package stages

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/onnxexport"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/beamreg"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.Tensor]()
	beam.RegisterType(reflect.TypeFor[ExportConfig]())
	beam.RegisterType(reflect.TypeFor[exportFn]())
	beamreg.Method3x1((*exportFn).ProcessElement)
	beam.RegisterType(reflect.TypeFor[pickExportFn]())
	beamreg.Method4x1((*pickExportFn).ProcessElement)
	register.Emitter1[ExportConfig]()
	register.Iter1[schemas.Eval]()
	register.Emitter1[string]()
}

var exportModels = beam.NewCounter("export", "models")

// ExportMetaKey is the Parquet key-value metadata key under which an
// exported model file also keeps its ExportDescription (JSON), next to the
// model's own metadata under infer.ModelMetaKey.
const ExportMetaKey = "attentivenas.export"

// ExportFormat names the layout of ExportDescription.
const ExportFormat = "attentivenas.Export/v1"

// ExportConfig is one model to export: a subnet (Arch) of a supernet
// checkpoint. It is both the argument of ExportModel and the element of the
// Export stage's input. ExportFromEval fills it from an evaluation row so
// that the export reproduces that row's numbers.
type ExportConfig struct {
	Output     string  // output root: examples/ and dataset/stats.parquet are read, export/ is written
	Space      string  // search space, JSON (contents); "" = the space embedded in the checkpoint
	Run        string  // the run the subnet comes from: the file is export/<Run>-<Name>.parquet
	Name       string  // letters, digits, '.', '_' and '-' (see Pick.Name)
	Arch       []int32 // the Arch vector
	Checkpoint string  // supernet checkpoint path
	// BN recalibration uses the first CalibImages images of the calib split
	// (ordered by source index), as the evaluate stage does; 0 = all.
	CalibImages int
	EvalImages  int // first val images evaluated; 0 = all
	TestImages  int // first test images evaluated; 0 = all, -1 = no test evaluation
	Seed        int64
	LatencyRuns int // batch-1 forward passes timed (median); 0 = 30
	BatchSize   int // evaluation batch; 0 = infer's default
	Pick        string
	// ONNX also writes the model as standard ONNX, export/<Run>-<Name>.onnx
	// (onnxexport.Export), next to the Parquet model.
	ONNX bool
	// Source is the evaluation row this export reproduces (nil for an arch
	// that was never evaluated); the description says whether the exported
	// model's val and test top-1 match it.
	Source *schemas.Eval
}

// ExportFromEval returns the ExportConfig that reproduces evaluation row e:
// its arch, checkpoint and seed, and the calib, val and test image counts it
// was measured with (no test evaluation if it had none), so the exported
// model's val (and test) top-1 equal the row's.
func ExportFromEval(output, spaceJSON string, e schemas.Eval, name, pick string) ExportConfig {
	test := int(e.TestImages)
	if e.TestTop1 < 0 || test == 0 {
		test = -1
	}
	src := e
	return ExportConfig{
		Output: output, Space: spaceJSON, Run: e.Run, Name: name, Arch: slices.Clone(e.Vector),
		Checkpoint: e.Checkpoint, CalibImages: int(e.CalibImages), EvalImages: int(e.EvalImages),
		TestImages: test, Seed: e.Seed, Pick: pick, Source: &src,
	}
}

// ExportDescription is the JSON description written next to an exported
// model (export/<run>-<name>.json) and stored in the model file under
// ExportMetaKey.
type ExportDescription struct {
	Format          string    `json:"format"`         // ExportFormat
	Model           string    `json:"model"`          // path of the Parquet model file
	ONNX            string    `json:"onnx,omitempty"` // path of the ONNX model file, when one was written
	Run             string    `json:"run"`
	Name            string    `json:"name"`
	Pick            string    `json:"pick,omitempty"` // how the subnet was chosen, e.g. "best", "flops<=300000"
	Arch            []int     `json:"arch"`           // the Arch vector
	ArchKey         string    `json:"arch_key"`
	FLOPs           int64     `json:"flops"`         // MACs per image
	Params          int64     `json:"params"`        // learnable scalars before BN folding
	FoldedParams    int64     `json:"folded_params"` // values stored in the model file
	LatencyMs       float64   `json:"latency_ms"`    // batch-1 median of the exported model, measured by the export
	LatencyThreads  int       `json:"latency_threads"`
	ValTop1         float64   `json:"val_top1"`
	ValLoss         JSONFloat `json:"val_loss"`
	ValImages       int       `json:"val_images"`
	TestTop1        float64   `json:"test_top1"` // -1 when the test split was not evaluated
	TestLoss        JSONFloat `json:"test_loss"`
	TestImages      int       `json:"test_images"`
	CalibImages     int       `json:"calib_images"`
	Seed            int64     `json:"seed"`
	Checkpoint      string    `json:"checkpoint"`
	CheckpointEpoch int       `json:"checkpoint_epoch"`
	CheckpointStep  int64     `json:"checkpoint_step"`
	SpaceName       string    `json:"space_name"`
	InputSize       int       `json:"input_size"` // images are InputSize x InputSize x InputChannels
	InputChannels   int       `json:"input_channels"`
	Classes         int       `json:"classes"`
	Mean            []float64 `json:"mean"` // input normalisation, x = (pixel/255 - mean)/std per channel
	Std             []float64 `json:"std"`
	// Which images the figures above were measured on (and the BN
	// statistics recalibrated on), in words: see splitSelection.
	CalibSet string `json:"calib_set"`
	ValSet   string `json:"val_set"`
	TestSet  string `json:"test_set"`
	// Layout is the model's network op by op over the Parquet file's
	// tensors (onnxexport.Describe): weight layouts, where each activation
	// applies, shortcut rules, resize and normalisation.
	Layout *onnxexport.Layout `json:"layout"`
	// Eval is the evaluation row the export reproduces, with its Parquet
	// column names; MatchesEval says whether the exported model's val top-1
	// (and test top-1, if the row has one) equal the row's, from the same
	// checkpoint on the same numbers of images. Both are absent for an arch never evaluated.
	Eval        map[string]any `json:"eval,omitempty"`
	MatchesEval *bool          `json:"matches_eval,omitempty"`
	WallSeconds float64        `json:"wall_seconds"`
}

// JSONFloat is a float64 that encodes NaN and ±Inf as JSON null (and
// decodes null as NaN): a diverged subnet's loss must not make the
// description unwritable.
type JSONFloat float64

// MarshalJSON implements json.Marshaler.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = JSONFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// ExportDir is where exported models live: <output>/export.
func ExportDir(output string) string { return joinPath(output, "export") }

// ExportPath is the model file of an export: export/<run>-<name>.parquet;
// its description is the same path with .json.
func ExportPath(output, run, name string) string {
	return joinPath(ExportDir(output), run+"-"+name+".parquet")
}

// ONNXPath is the ONNX model next to a Parquet model file.
func ONNXPath(modelPath string) string {
	return strings.TrimSuffix(modelPath, ".parquet") + ".onnx"
}

// DescriptionPath is the JSON description next to a model file.
func DescriptionPath(modelPath string) string {
	return strings.TrimSuffix(modelPath, ".parquet") + ".json"
}

var exportName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Export writes standalone models (ALGORITHM.md section 10: a chosen
// subnet's sliced weights with BN folded). In: PCollection<ExportConfig>,
// reshuffled so the exports spread over the workers. Each element runs
// ExportModel: it loads the checkpoint, recalibrates the subnet's BN
// statistics on the calib split exactly as the evaluate stage did for its
// evaluation row, folds them, evaluates val (and test) top-1, measures
// batch-1 latency and writes export/<run>-<name>.parquet (one
// schemas.Tensor row per tensor, the model's metadata under
// infer.ModelMetaKey, the description under ExportMetaKey),
// export/<run>-<name>.onnx when ExportConfig.ONNX is set (the same network
// as standard ONNX, see onnxexport.Export) and export/<run>-<name>.json
// (ExportDescription), the description last.
// Out: PCollection<string> of the model paths. Counter: export/models.
//
// See also: ExportModel, ExportFromEval, PickEval, ReadModel.
func Export(s beam.Scope, jobs beam.PCollection) beam.PCollection {
	s = s.Scope("stages.Export")
	jobs = beam.Reshuffle(s, jobs)
	return beam.ParDo(s, &exportFn{}, jobs)
}

// ExportPicked exports, for each of runs, the evaluated subnet that pick
// (see ParsePick) chooses among its evaluations: evals is
// PCollection<schemas.Eval>, read as a side input once it is complete. The
// export reproduces the chosen row (ExportFromEval), and with onnx also
// writes the ONNX model. A run without a matching evaluation fails the
// stage. Out: PCollection<string> of the model paths, as Export.
func ExportPicked(s beam.Scope, evals beam.PCollection, output, spaceJSON string, runs []string, pick Pick, onnx bool) beam.PCollection {
	s = s.Scope("stages.ExportPicked")
	jobs := beam.ParDo(s, &pickExportFn{Output: output, Space: spaceJSON, Runs: runs, Pick: pick.String(), ONNX: onnx},
		beam.Impulse(s), beam.SideInput{Input: evals})
	return Export(s, jobs)
}

type pickExportFn struct {
	Output, Space string
	Runs          []string
	Pick          string // Pick.String()
	ONNX          bool
}

func (f *pickExportFn) ProcessElement(ctx context.Context, _ []byte, rows func(*schemas.Eval) bool, emit func(ExportConfig)) error {
	pick, err := ParsePick(f.Pick)
	if err != nil {
		return err
	}
	byRun := map[string][]schemas.Eval{}
	for _, e := range collect(rows) {
		byRun[e.Run] = append(byRun[e.Run], e)
	}
	for _, run := range f.Runs {
		if len(byRun[run]) == 0 {
			return fmt.Errorf("export: run %s has no evaluations", run)
		}
		best, err := PickEval(byRun[run], pick)
		if err != nil {
			return fmt.Errorf("export: run %s: %w", run, err)
		}
		job := ExportFromEval(f.Output, f.Space, best, pick.Name(), pick.String())
		job.ONNX = f.ONNX
		emit(job)
	}
	return nil
}

type exportFn struct{}

func (f *exportFn) ProcessElement(ctx context.Context, cfg ExportConfig, emit func(string)) error {
	d, err := ExportModel(ctx, cfg)
	if err != nil {
		return err
	}
	exportModels.Inc(ctx, 1)
	emit(d.Model)
	return nil
}

// Validate checks the fields of c that need no file: what a command can
// reject before it builds a pipeline.
func (c ExportConfig) Validate() error {
	switch {
	case c.Output == "":
		return errors.New("ExportConfig.Output is empty")
	case !exportName.MatchString(c.Run):
		return fmt.Errorf("ExportConfig.Run %q: expected letters, digits, '.', '_' or '-'", c.Run)
	case !exportName.MatchString(c.Name):
		return fmt.Errorf("ExportConfig.Name %q: expected letters, digits, '.', '_' or '-'", c.Name)
	case c.Checkpoint == "":
		return errors.New("ExportConfig.Checkpoint is empty")
	case len(c.Arch) == 0:
		return errors.New("ExportConfig.Arch is empty")
	case c.CalibImages < 0 || c.EvalImages < 0 || c.TestImages < -1:
		return fmt.Errorf("ExportConfig image counts calib %d, val %d, test %d: expected >= 0 (test may be -1)",
			c.CalibImages, c.EvalImages, c.TestImages)
	}
	return nil
}

// ExportModel exports one subnet (see Export) and returns its description.
// Errors name the run, the arch and the file or field at fault.
func ExportModel(ctx context.Context, cfg ExportConfig) (*ExportDescription, error) {
	start := time.Now()
	fail := func(err error) (*ExportDescription, error) {
		return nil, fmt.Errorf("export %s-%s: %w", cfg.Run, cfg.Name, err)
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	var sp *space.Space
	if cfg.Space != "" {
		var err error
		if sp, err = space.Parse([]byte(cfg.Space), "export search space"); err != nil {
			return fail(err)
		}
	}
	net, st, err := LoadSupernet(ctx, cfg.Checkpoint, sp)
	if err != nil {
		return fail(err)
	}
	sp = net.Space
	arch, err := sp.ArchFromVector32(cfg.Arch)
	if err != nil {
		return fail(fmt.Errorf("ExportConfig.Arch %v: %w", cfg.Arch, err))
	}
	if src := cfg.Source; src != nil && src.Arch != arch.Key() {
		return fail(fmt.Errorf("ExportConfig.Source is the evaluation of arch %s, not of %s", src.Arch, arch.Key()))
	}

	mean, std, err := loadStats(ctx, StatsPath(cfg.Output))
	if err != nil {
		return fail(err)
	}
	calib, err := readExportSplit(ctx, cfg.Output, data.SplitCalib, sp.Classes, cfg.CalibImages, mean, std)
	if err != nil {
		return fail(err)
	}
	val, err := readExportSplit(ctx, cfg.Output, data.SplitVal, sp.Classes, cfg.EvalImages, mean, std)
	if err != nil {
		return fail(err)
	}
	ec := infer.EvalConfig{BatchSize: cfg.BatchSize}
	var res infer.EvalResult
	var model *infer.Model
	err = cpu.shared("export", func() (err error) { // see cpuGate
		res, model, err = infer.EvaluateSubnet(net, arch, calib.x, val.x, val.labels, infer.RecalConfig{}, ec)
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("arch %v: %w", arch, err))
	}
	// widen is exact, so a reader normalising with the stored float64
	// values converted back to float32 gets the evaluation's inputs.
	model.Mean, model.Std = widen(mean), widen(std)
	size, ch := model.InputShape()

	d := &ExportDescription{
		Format: ExportFormat, Model: ExportPath(cfg.Output, cfg.Run, cfg.Name), Run: cfg.Run, Name: cfg.Name, Pick: cfg.Pick,
		Arch: arch.Vector(), ArchKey: arch.Key(), FLOPs: model.FLOPs(), Params: model.Params(),
		ValTop1: res.Top1, ValLoss: JSONFloat(res.Loss), ValImages: res.Images,
		TestTop1: -1, TestLoss: -1, CalibImages: len(calib.x) / (size * size * ch), Seed: cfg.Seed,
		Checkpoint: cfg.Checkpoint, CheckpointEpoch: st.Epoch, CheckpointStep: st.Step, SpaceName: sp.Name,
		InputSize: size, InputChannels: ch, Classes: model.Classes(), Mean: model.Mean, Std: model.Std,
		CalibSet: splitSelection(data.SplitCalib, len(calib.labels)), ValSet: splitSelection(data.SplitVal, len(val.labels)),
		TestSet: "not evaluated",
	}
	if d.Layout, err = onnxexport.Describe(model); err != nil {
		return fail(err)
	}
	for _, t := range model.Tensors() {
		d.FoldedParams += int64(len(t.Values))
	}
	if cfg.TestImages >= 0 {
		test, err := readExportSplit(ctx, cfg.Output, data.SplitTest, sp.Classes, cfg.TestImages, mean, std)
		if err != nil {
			return fail(err)
		}
		var tr infer.EvalResult
		err = cpu.shared("export", func() (err error) { tr, err = infer.Evaluate(model, test.x, test.labels, ec); return err })
		if err != nil {
			return fail(fmt.Errorf("arch %v on test: %w", arch, err))
		}
		d.TestTop1, d.TestLoss, d.TestImages = tr.Top1, JSONFloat(tr.Loss), tr.Images
		d.TestSet = splitSelection(data.SplitTest, tr.Images)
	}
	runs := cfg.LatencyRuns
	if runs <= 0 {
		runs = 30
	}
	lat, threads := measureLatency(model, runs)
	d.LatencyMs, d.LatencyThreads = float64(lat)/float64(time.Millisecond), threads
	if src := cfg.Source; src != nil {
		d.Eval = evalColumns(*src)
		match := src.Checkpoint == cfg.Checkpoint && d.ValTop1 == src.Top1 && int64(d.ValImages) == src.EvalImages && int64(d.CalibImages) == src.CalibImages &&
			(src.TestTop1 < 0 || (d.TestTop1 == src.TestTop1 && int64(d.TestImages) == src.TestImages))
		d.MatchesEval = &match
	}
	var onnxModel []byte
	if cfg.ONNX {
		d.ONNX = ONNXPath(d.Model)
		if onnxModel, err = onnxexport.Export(model, onnxProps(d)); err != nil {
			return fail(err)
		}
	}
	d.WallSeconds = time.Since(start).Seconds()

	desc, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fail(fmt.Errorf("description: %w", err))
	}
	// The model file, its description and its ONNX form commit together.
	w, err := pqio.NewSetWriter(ctx, ExportDir(cfg.Output), "model-"+cfg.Run+"-"+cfg.Name, false, nil)
	if err != nil {
		return fail(err)
	}
	base := cfg.Run + "-" + cfg.Name
	err = pqio.WriteSetFile(ctx, w, base+".parquet", model.Tensors(),
		pqio.Metadata(infer.ModelMetaKey, string(model.MetaJSON())), pqio.Metadata(ExportMetaKey, string(desc)))
	if err == nil {
		err = w.WriteStream(ctx, base+".json", func(w io.Writer) error {
			_, err := w.Write(append(desc, '\n'))
			return err
		})
	}
	if err == nil && onnxModel != nil {
		err = w.WriteStream(ctx, base+".onnx", func(w io.Writer) error {
			_, err := w.Write(onnxModel)
			return err
		})
	}
	if err != nil {
		return fail(errors.Join(err, w.Abort(ctx)))
	}
	if _, err := w.Commit(ctx); err != nil {
		return fail(err)
	}
	return d, nil
}

// splitSelection says which images of a split an export measured: the n
// with the lowest Example.index, the order readExportSplit reads them in.
func splitSelection(sp data.Split, n int) string {
	if sp == data.SplitTest {
		return fmt.Sprintf("the first %d images of the test split (examples/test-*.parquet, Example.index 0 to %d): "+
			"the dataset's own test set in file order (t10k-* for IDX, test_batch.bin for CIFAR-10, test/ in sorted path order for folders)", n, n-1)
	}
	return fmt.Sprintf("the %d images of the %s split (examples/%s-*.parquet) with the lowest Example.index (their position on the train side); "+
		"preprocess holds the split out of the train side by a seeded draw (the seed is in dataset/stats.parquet)", n, sp, sp)
}

// onnxProps are the metadata_props an exported ONNX model carries besides
// onnxexport.ModelProps: where it comes from and how it measured.
func onnxProps(d *ExportDescription) map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return map[string]string{
		"run": d.Run, "name": d.Name, "pick": d.Pick, "checkpoint": d.Checkpoint, "checkpoint_epoch": strconv.Itoa(d.CheckpointEpoch),
		"val_top1": f(d.ValTop1), "val_images": strconv.Itoa(d.ValImages), "val_set": d.ValSet,
		"test_top1": f(d.TestTop1), "test_images": strconv.Itoa(d.TestImages), "test_set": d.TestSet,
		"calib_images": strconv.Itoa(d.CalibImages), "calib_set": d.CalibSet,
		"latency_ms": f(d.LatencyMs), "latency_threads": strconv.Itoa(d.LatencyThreads),
		"seed": strconv.FormatInt(d.Seed, 10), "space_name": d.SpaceName, "format": ExportFormat,
	}
}

// readExportSplit reads the first limit examples (0 = all) of a split under
// output, normalised: the evaluate stage's view of the split.
func readExportSplit(ctx context.Context, output string, sp data.Split, classes, limit int, mean, std []float32) (split, error) {
	pattern := ExamplesDir(output) + "/" + string(sp) + "-*-of-*.parquet"
	paths, err := pqio.Glob(ctx, pattern)
	if err != nil {
		return split{}, err
	}
	if len(paths) == 0 {
		return split{}, fmt.Errorf("no %s examples match %s: run `attentivenas preprocess --output=%s` first", sp, pattern, output)
	}
	d, err := loadSplit(ctx, paths, string(sp), classes)
	if err != nil {
		return split{}, err
	}
	if limit > 0 && limit < d.Len() {
		size := d.Height * d.Width * d.Channels
		d = &data.Dataset{Height: d.Height, Width: d.Width, Channels: d.Channels, Classes: d.Classes,
			Pixels: d.Pixels[:limit*size], Labels: d.Labels[:limit]}
	}
	x, labels := normalized(d, mean, std)
	return split{x, labels}, nil
}

// evalColumns is an evaluation row keyed by its Parquet column names, with
// non-finite floats as nil (JSON null).
func evalColumns(e schemas.Eval) map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(e)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("parquet"), ",")
		x := v.Field(i).Interface()
		if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			x = nil
		}
		m[name] = x
	}
	return m
}

// ReadModel reads an exported model file (local or gs://): its tensors and
// metadata go through infer.LoadModel, and its ExportDescription is
// returned when the file has one (nil for a model written without it).
// Errors name the file and say what it is when it is not a model (a
// supernet checkpoint, another artifact). The description in the file must
// agree with the model's own metadata (input normalisation, shape,
// classes), and a .json description beside the file, if there is one, must
// be the same description: otherwise the error names both files and the
// field that differs.
func ReadModel(ctx context.Context, path string) (*infer.Model, *ExportDescription, error) {
	rows, meta, err := pqio.ReadFile[schemas.Tensor](ctx, path)
	if err != nil {
		if errors.Is(err, pqio.ErrSchemaMismatch) || errors.Is(err, pqio.ErrVersionMismatch) {
			return nil, nil, fmt.Errorf("%w (expected an exported model: rows of schemas.Tensor, written by `attentivenas export`)", err)
		}
		return nil, nil, err
	}
	raw, ok := meta.KeyValue[infer.ModelMetaKey]
	if !ok {
		if _, ck := meta.KeyValue[supernet.CheckpointMetaKey]; ck {
			return nil, nil, fmt.Errorf("%s is a supernet checkpoint, not an exported model: export a subnet of it with `attentivenas export --checkpoint=%s`", path, path)
		}
		return nil, nil, fmt.Errorf("%s is not an exported model: no %q key in its Parquet metadata", path, infer.ModelMetaKey)
	}
	m, err := infer.LoadModel(rows, []byte(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var d *ExportDescription
	if raw, ok := meta.KeyValue[ExportMetaKey]; ok {
		d = new(ExportDescription)
		if err := json.Unmarshal([]byte(raw), d); err != nil {
			return nil, nil, fmt.Errorf("%s: metadata %q: %w", path, ExportMetaKey, err)
		}
		if err := checkDescription(ctx, path, m, d); err != nil {
			return nil, nil, err
		}
	}
	return m, d, nil
}

// checkDescription checks an exported model's description against the
// model's metadata and against the .json beside the file.
func checkDescription(ctx context.Context, path string, m *infer.Model, d *ExportDescription) error {
	size, ch := m.InputShape()
	switch {
	case !slices.Equal(d.Mean, m.Mean) || !slices.Equal(d.Std, m.Std):
		return fmt.Errorf("%s: its description (metadata %q) says input mean %v and std %v, the model's own metadata %v and %v: the file was altered; export the model again",
			path, ExportMetaKey, d.Mean, d.Std, m.Mean, m.Std)
	case d.InputSize != size || d.InputChannels != ch || d.Classes != m.Classes():
		return fmt.Errorf("%s: its description says %dx%dx%d inputs and %d classes, the model %dx%dx%d and %d: the file was altered; export the model again",
			path, d.InputSize, d.InputSize, d.InputChannels, d.Classes, size, size, ch, m.Classes())
	}
	jp := DescriptionPath(path)
	ra, n, c, err := pqio.OpenReaderAt(ctx, jp)
	if err != nil {
		if found, gerr := pqio.Glob(ctx, jp); gerr == nil && len(found) == 0 {
			return nil // a model file on its own is complete
		}
		return fmt.Errorf("%s: %w", jp, err)
	}
	var side ExportDescription
	err = json.NewDecoder(io.NewSectionReader(ra, 0, n)).Decode(&side)
	if err = errors.Join(err, c.Close()); err != nil {
		return fmt.Errorf("%s: not an export description: %w", jp, err)
	}
	a, _ := json.Marshal(side)
	b, _ := json.Marshal(d)
	if string(a) == string(b) {
		return nil
	}
	field := "its contents"
	switch {
	case !slices.Equal(side.Mean, d.Mean) || !slices.Equal(side.Std, d.Std):
		field = fmt.Sprintf("the input normalisation (mean %v, std %v beside; mean %v, std %v in the model file)", side.Mean, side.Std, d.Mean, d.Std)
	case !slices.Equal(side.Arch, d.Arch):
		field = fmt.Sprintf("the arch (%v beside, %v in the model file)", side.Arch, d.Arch)
	case side.Checkpoint != d.Checkpoint:
		field = fmt.Sprintf("the checkpoint (%s beside, %s in the model file)", side.Checkpoint, d.Checkpoint)
	}
	return fmt.Errorf("%s does not describe %s: %s differ(s); the two files come from different exports (or one was edited): export the model again, or remove the .json",
		jp, path, field)
}

// ReadTrainStats reads dataset/stats.parquet (or another DatasetStats file)
// and returns the train split's per-channel mean and std: the input
// normalisation every stage applies.
func ReadTrainStats(ctx context.Context, path string) (mean, std []float32, err error) {
	return loadStats(ctx, path)
}

// Pick kinds.
const (
	PickBest    = "best"    // highest val top-1
	PickFLOPs   = "flops"   // highest val top-1 with FLOPs <= Limit
	PickLatency = "latency" // highest val top-1 with latency <= Limit ms
	PickParams  = "params"  // highest val top-1 with params <= Limit
)

// Pick says which evaluated subnet to export: Kind is one of the Pick...
// constants, Limit the budget of the "<=" kinds.
type Pick struct {
	Kind  string
	Limit float64
}

// ParsePick parses a pick: "best", "flops<=N", "latency<=MS" (an optional
// "ms" suffix), "params<=N", or a bare N as a FLOPs budget. Counts take a k,
// M or G suffix (300k = 300000, 1.5M) or an exponent (3e5). Spaces are
// ignored and the kind is case-insensitive.
func ParsePick(s string) (Pick, error) {
	t := strings.ToLower(strings.ReplaceAll(s, " ", ""))
	bad := func(why string) (Pick, error) {
		return Pick{}, fmt.Errorf("pick %q: %s; expected best, flops<=N, latency<=MS, params<=N or a FLOPs budget N (e.g. flops<=300k, latency<=2.5ms)", s, why)
	}
	if t == PickBest {
		return Pick{Kind: PickBest}, nil
	}
	kind, limit, ok := strings.Cut(t, "<=")
	if !ok {
		kind, limit = PickFLOPs, t
	}
	var v float64
	var err error
	switch kind {
	case PickFLOPs, PickParams:
		v, err = parseCount(limit)
	case PickLatency:
		v, err = strconv.ParseFloat(strings.TrimSuffix(limit, "ms"), 64)
	default:
		return bad(fmt.Sprintf("unknown kind %q", kind))
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return bad(fmt.Sprintf("budget %q is not a positive number", limit))
	}
	return Pick{Kind: kind, Limit: v}, nil
}

// parseCount parses a count with an optional k, M or G suffix.
func parseCount(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1e6, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "g"):
		mult, s = 1e9, strings.TrimSuffix(s, "g")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err
}

// String is the canonical form ParsePick reads back.
func (p Pick) String() string {
	if p.Kind == PickBest {
		return PickBest
	}
	return p.Kind + "<=" + p.limitText()
}

// Name is the pick as a file-name part: "best", "flops-le-300000",
// "latency-le-2.5ms", "params-le-50000".
func (p Pick) Name() string {
	if p.Kind == PickBest {
		return PickBest
	}
	return p.Kind + "-le-" + p.limitText()
}

func (p Pick) limitText() string {
	s := strconv.FormatFloat(p.Limit, 'f', -1, 64)
	if p.Kind == PickLatency {
		s += "ms"
	}
	return s
}

// cost is the row's value on the pick's budget axis.
func (p Pick) cost(e schemas.Eval) float64 {
	switch p.Kind {
	case PickFLOPs:
		return float64(e.FLOPs)
	case PickLatency:
		return e.LatencyMs
	case PickParams:
		return float64(e.Params)
	}
	return 0
}

// PickEval returns the evaluation row p selects: the highest val top-1
// among the rows within p's budget. Ties go to fewer FLOPs, then fewer
// params, lower latency, the later checkpoint (by path), the arch key and
// the origin, so the choice does not depend on the rows' order. When no row
// fits the budget the error names the cheapest row on the budget's axis.
func PickEval(rows []schemas.Eval, p Pick) (schemas.Eval, error) {
	if len(rows) == 0 {
		return schemas.Eval{}, errors.New("no evaluations to pick from")
	}
	switch p.Kind {
	case PickBest, PickFLOPs, PickLatency, PickParams:
	default:
		return schemas.Eval{}, fmt.Errorf("pick kind %q: expected %s, %s, %s or %s", p.Kind, PickBest, PickFLOPs, PickLatency, PickParams)
	}
	better := func(a, b schemas.Eval) int { // < 0: a is the better choice
		return cmp.Or(
			cmp.Compare(b.Top1, a.Top1),
			cmp.Compare(a.FLOPs, b.FLOPs),
			cmp.Compare(a.Params, b.Params),
			cmp.Compare(a.LatencyMs, b.LatencyMs),
			strings.Compare(b.Checkpoint, a.Checkpoint),
			strings.Compare(a.Arch, b.Arch),
			strings.Compare(a.Origin, b.Origin),
		)
	}
	var best *schemas.Eval
	for i := range rows {
		r := &rows[i]
		if p.Kind != PickBest && !(p.cost(*r) <= p.Limit) {
			continue
		}
		if best == nil || better(*r, *best) < 0 {
			best = r
		}
	}
	if best != nil {
		return *best, nil
	}
	cheapest := slices.MinFunc(rows, func(a, b schemas.Eval) int {
		return cmp.Or(cmp.Compare(p.cost(a), p.cost(b)), better(a, b))
	})
	var what string
	switch p.Kind {
	case PickFLOPs:
		what = fmt.Sprintf("the cheapest has %d FLOPs", cheapest.FLOPs)
	case PickLatency:
		what = fmt.Sprintf("the fastest has %.4g ms latency (%d FLOPs)", cheapest.LatencyMs, cheapest.FLOPs)
	case PickParams:
		what = fmt.Sprintf("the smallest has %d params (%d FLOPs)", cheapest.Params, cheapest.FLOPs)
	}
	return schemas.Eval{}, fmt.Errorf("no evaluated subnet fits %s: of the %d evaluated, %s (arch %s, val top-1 %.4f)",
		p, len(rows), what, cheapest.Arch, cheapest.Top1)
}
