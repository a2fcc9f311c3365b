package stages

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/attentivenas/attentivenas/stages/beamreg"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

func init() {
	pqio.Register[schemas.Eval]()
	beam.RegisterType(reflect.TypeFor[EvalJob]())
	beam.RegisterType(reflect.TypeFor[evaluateFn]())
	beamreg.Method7x1((*evaluateFn).ProcessElement)
	register.Emitter1[schemas.Eval]()
	register.Iter1[string]()
}

var (
	evalSubnets         = beam.NewCounter("evaluate", "subnets")
	evalImages          = beam.NewCounter("evaluate", "images")
	evalCheckpointLoads = beam.NewCounter("evaluate", "checkpoint_loads")
	evalDatasetLoads    = beam.NewCounter("evaluate", "dataset_loads")
)

// EvalJob asks for the real evaluation of one subnet of one checkpoint:
// one element of the evaluate stage's input.
type EvalJob struct {
	Run        string
	Checkpoint string
	Vector     []int32 // the Arch
	Origin     string  // schemas.OriginRandom, ...
	Seed       int64
}

// EvaluateConfig configures Evaluate. DoFns get it as exported fields.
type EvaluateConfig struct {
	Space       string // search space, JSON (contents)
	CalibImages int    // calib images used for BN recalibration; 0 = the whole calib split
	EvalImages  int    // val images evaluated; 0 = the whole val split
	Test        bool   // also evaluate the test split
	TestImages  int    // test images evaluated; 0 = the whole test split
	LatencyRuns int    // batch-1 runs of the latency median; 0 = 30
	BatchSize   int    // evaluation batch; 0 = infer's default
}

// EvalSplits are the example shards and stats file an evaluation reads,
// as PCollection<string> of paths (side inputs; they also order the stage
// after the stages that write them).
type EvalSplits struct {
	Calib, Val, Test, Stats beam.PCollection
}

// Evaluate measures subnets for real (ALGORITHM.md section 7): In:
// PCollection<EvalJob>, reshuffled so the subnets spread over the workers.
// Each worker loads a checkpoint once (counter evaluate/checkpoint_loads)
// and the calib/val/test splits once, recalibrates each subnet's BN
// statistics on the calib split (exact cumulative mean and variance), folds
// BN into the weights, and evaluates top-1 and loss on the val split (and
// the test split if asked), measuring batch-1 latency on the way. Out:
// PCollection<schemas.Eval>, one row per job; results are identical for the
// same inputs. ready, when valid, is a side input the stage waits for
// (e.g. the checkpoint paths a train stage emits).
//
// See also: infer.EvaluateSubnet, infer.Latency.
func Evaluate(s beam.Scope, jobs beam.PCollection, splits EvalSplits, ready beam.PCollection, cfg EvaluateConfig) beam.PCollection {
	s = s.Scope("stages.Evaluate")
	if !ready.IsValid() {
		ready = beam.Create(s, "")
	}
	jobs = beam.Reshuffle(s, jobs)
	fn := &evaluateFn{Space: cfg.Space, CalibImages: cfg.CalibImages, EvalImages: cfg.EvalImages,
		Test: cfg.Test, TestImages: cfg.TestImages, LatencyRuns: cfg.LatencyRuns, BatchSize: cfg.BatchSize}
	return beam.ParDo(s, fn, jobs,
		beam.SideInput{Input: splits.Calib}, beam.SideInput{Input: splits.Val},
		beam.SideInput{Input: beam.Flatten(s, splits.Test, splits.Stats)}, beam.SideInput{Input: ready})
}

type evaluateFn struct {
	Space       string
	CalibImages int
	EvalImages  int
	Test        bool
	TestImages  int
	LatencyRuns int
	BatchSize   int

	mu    sync.Mutex
	sp    *space.Space
	nets  map[string]*supernet.Supernet // checkpoints loaded by this worker
	calib []float32
	val   split
	test  split
}

type split struct {
	x      []float32
	labels []int
}

func (f *evaluateFn) ProcessElement(ctx context.Context, job EvalJob, calib, val, testAndStats, _ func(*string) bool, emit func(schemas.Eval)) error {
	start := time.Now()
	f.mu.Lock()
	err := f.load(ctx, collect(calib), collect(val), collect(testAndStats))
	var net *supernet.Supernet
	if err == nil {
		net, err = f.checkpoint(ctx, job.Checkpoint)
	}
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("evaluate %s: %w", job.Run, err)
	}
	arch, err := f.sp.ArchFromVector32(job.Vector)
	if err != nil {
		return fmt.Errorf("evaluate %s: %w", job.Run, err)
	}
	row, err := f.evaluate(job, net, arch)
	if err != nil {
		return err
	}
	row.WallSeconds = time.Since(start).Seconds()
	test := ""
	if row.TestTop1 >= 0 {
		test = fmt.Sprintf(", test %.4f", row.TestTop1)
	}
	fmt.Fprintf(os.Stderr, "evaluate %s: %s subnet %s, %.2f MFLOPs: val top-1 %.4f%s, %.2f ms (%.1fs)\n",
		job.Run, job.Origin, row.Arch, float64(row.FLOPs)/1e6, row.Top1, test, row.LatencyMs, row.WallSeconds)
	evalSubnets.Inc(ctx, 1)
	evalImages.Inc(ctx, row.CalibImages+row.EvalImages+row.TestImages)
	emit(row)
	return nil
}

// evaluate measures one subnet: BN recalibration and evaluation with shared
// CPU access, then latency alone (see cpuGate).
func (f *evaluateFn) evaluate(job EvalJob, net *supernet.Supernet, arch space.Arch) (schemas.Eval, error) {
	row := EvalRow(job, f.sp, arch)
	ec := infer.EvalConfig{BatchSize: f.BatchSize}
	var model *infer.Model
	err := cpu.shared("evaluate", func() error {
		res, m, err := infer.EvaluateSubnet(net, arch, f.calib, f.val.x, f.val.labels, infer.RecalConfig{}, ec)
		if err != nil {
			return fmt.Errorf("evaluate %s %v: %w", job.Run, arch, err)
		}
		model = m
		row.Top1, row.Loss = res.Top1, res.Loss
		size, ch := model.InputShape()
		row.CalibImages = int64(len(f.calib) / (size * size * ch))
		row.EvalImages = int64(res.Images)
		row.TestTop1, row.TestLoss = -1, -1
		if f.Test {
			tr, err := infer.Evaluate(model, f.test.x, f.test.labels, ec)
			if err != nil {
				return fmt.Errorf("evaluate %s %v on test: %w", job.Run, arch, err)
			}
			row.TestTop1, row.TestLoss, row.TestImages = tr.Top1, tr.Loss, int64(tr.Images)
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	runs := f.LatencyRuns
	if runs <= 0 {
		runs = 30
	}
	lat, threads := measureLatency(model, runs)
	row.LatencyMs, row.LatencyThreads = float64(lat)/float64(time.Millisecond), int32(threads)
	return row, nil
}

// EvalRow fills the identity columns of an evaluation row.
func EvalRow(job EvalJob, sp *space.Space, a space.Arch) schemas.Eval {
	i32 := func(v []int) []int32 {
		out := make([]int32, len(v))
		for i, x := range v {
			out[i] = int32(x)
		}
		return out
	}
	return schemas.Eval{
		Run: job.Run, Checkpoint: job.Checkpoint, Arch: a.Key(), Vector: a.Vector32(),
		Resolution: int32(a.Resolution), StemWidth: int32(a.StemWidth), Widths: i32(a.Widths),
		HeadWidth: int32(a.HeadWidth), Depths: i32(a.Depths), Kernels: i32(a.Kernels), Expands: i32(a.Expands),
		FLOPs: sp.FLOPs(a), Params: sp.Params(a), Origin: job.Origin, Seed: job.Seed,
	}
}

// load reads the space and the splits once per DoFn instance.
func (f *evaluateFn) load(ctx context.Context, calib, val, testAndStats []string) error {
	if f.sp != nil {
		return nil
	}
	sp, err := space.Parse([]byte(f.Space), "evaluate search space")
	if err != nil {
		return err
	}
	var test []string
	stats := ""
	for _, p := range testAndStats {
		if p == "" {
			continue
		}
		if pathBase(p) == "stats.parquet" {
			stats = p
		} else {
			test = append(test, p)
		}
	}
	mean, std, err := loadStats(ctx, stats)
	if err != nil {
		return err
	}
	read := func(paths []string, name string, limit int) (split, error) {
		d, err := loadSplit(ctx, paths, name, sp.Classes)
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
	c, err := read(calib, string(data.SplitCalib), f.CalibImages)
	if err != nil {
		return err
	}
	v, err := read(val, string(data.SplitVal), f.EvalImages)
	if err != nil {
		return err
	}
	if f.Test {
		if f.test, err = read(test, string(data.SplitTest), f.TestImages); err != nil {
			return err
		}
	}
	f.sp, f.calib, f.val, f.nets = sp, c.x, v, map[string]*supernet.Supernet{}
	evalDatasetLoads.Inc(ctx, 1)
	return nil
}

// checkpoint returns the supernet of a checkpoint, loading it on first use.
func (f *evaluateFn) checkpoint(ctx context.Context, p string) (*supernet.Supernet, error) {
	if net, ok := f.nets[p]; ok {
		return net, nil
	}
	net, _, err := LoadSupernet(ctx, p, f.sp)
	if err != nil {
		return nil, err
	}
	f.nets[p] = net
	evalCheckpointLoads.Inc(ctx, 1)
	return net, nil
}

func pathBase(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
