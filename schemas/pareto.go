package schemas

// Artifacts of the pareto stage (ALGORITHM.md section 10), under pareto/.
//
//	duckdb -c "select scope, run, flops, top1, arch from 'out/pareto/front.parquet' where axis = 'flops' order by scope, rank"

// Pareto front scopes and axes.
const (
	ScopeAll = "all" // the front of every run's evaluations together; otherwise Scope is a run name

	AxisFLOPs   = "flops"      // Eval.FLOPs, MACs per image
	AxisLatency = "latency_ms" // Eval.LatencyMs
	AxisParams  = "params"     // Eval.Params
)

// ParetoPoint is one subnet on a Pareto front of val top-1 against a cost:
// pareto/front.parquet has one row per (scope, axis, front point). Scope is
// ScopeAll or a run name, Axis one of AxisFLOPs, AxisLatency, AxisParams.
// The point's schemas.Eval record follows, column for column.
type ParetoPoint struct {
	Scope string `parquet:"scope,dict"`
	Axis  string `parquet:"axis,dict"`
	Rank  int32  `parquet:"rank"` // 0-based position along the front, by ascending cost (so ascending top1)

	// The columns of Eval, with the same names (see Eval).
	Run            string  `parquet:"run,dict"`
	Checkpoint     string  `parquet:"checkpoint"`
	Arch           string  `parquet:"arch"`
	Vector         []int32 `parquet:"vector,list"`
	Resolution     int32   `parquet:"resolution"`
	StemWidth      int32   `parquet:"stem_width"`
	Widths         []int32 `parquet:"widths,list"`
	HeadWidth      int32   `parquet:"head_width"`
	Depths         []int32 `parquet:"depths,list"`
	Kernels        []int32 `parquet:"kernels,list"`
	Expands        []int32 `parquet:"expands,list"`
	FLOPs          int64   `parquet:"flops"`
	Params         int64   `parquet:"params"`
	LatencyMs      float64 `parquet:"latency_ms"`
	LatencyThreads int32   `parquet:"latency_threads"`
	Top1           float64 `parquet:"top1"`
	Loss           float64 `parquet:"loss"`
	TestTop1       float64 `parquet:"test_top1"`
	TestLoss       float64 `parquet:"test_loss"`
	CalibImages    int64   `parquet:"calib_images"`
	EvalImages     int64   `parquet:"eval_images"`
	TestImages     int64   `parquet:"test_images"`
	Origin         string  `parquet:"origin,dict"`
	Seed           int64   `parquet:"seed"`
	WallSeconds    float64 `parquet:"wall_seconds"`
}

// SchemaVersion implements pqio.Schema.
func (ParetoPoint) SchemaVersion() string { return "attentivenas.ParetoPoint/v1" }

// NewParetoPoint copies e into a front row.
func NewParetoPoint(scope, axis string, rank int32, e Eval) ParetoPoint {
	return ParetoPoint{
		Scope: scope, Axis: axis, Rank: rank,
		Run: e.Run, Checkpoint: e.Checkpoint, Arch: e.Arch, Vector: e.Vector, Resolution: e.Resolution,
		StemWidth: e.StemWidth, Widths: e.Widths, HeadWidth: e.HeadWidth, Depths: e.Depths, Kernels: e.Kernels,
		Expands: e.Expands, FLOPs: e.FLOPs, Params: e.Params, LatencyMs: e.LatencyMs, LatencyThreads: e.LatencyThreads,
		Top1: e.Top1, Loss: e.Loss, TestTop1: e.TestTop1, TestLoss: e.TestLoss, CalibImages: e.CalibImages,
		EvalImages: e.EvalImages, TestImages: e.TestImages, Origin: e.Origin, Seed: e.Seed, WallSeconds: e.WallSeconds,
	}
}

// Eval returns the point's evaluation record (the inverse of NewParetoPoint).
func (p ParetoPoint) Eval() Eval {
	return Eval{
		Run: p.Run, Checkpoint: p.Checkpoint, Arch: p.Arch, Vector: p.Vector, Resolution: p.Resolution,
		StemWidth: p.StemWidth, Widths: p.Widths, HeadWidth: p.HeadWidth, Depths: p.Depths, Kernels: p.Kernels,
		Expands: p.Expands, FLOPs: p.FLOPs, Params: p.Params, LatencyMs: p.LatencyMs, LatencyThreads: p.LatencyThreads,
		Top1: p.Top1, Loss: p.Loss, TestTop1: p.TestTop1, TestLoss: p.TestLoss, CalibImages: p.CalibImages,
		EvalImages: p.EvalImages, TestImages: p.TestImages, Origin: p.Origin, Seed: p.Seed, WallSeconds: p.WallSeconds,
	}
}

// Hypervolume is the hypervolume of one Pareto front:
// pareto/hypervolume.parquet has one row per (scope, axis). Costs are
// normalised to (cost - CostLo) / (CostHi - CostLo) and the reference point
// is (normalised cost 1, top1 RefValue = 0), so the hypervolume is the area
// under the front's accuracy staircase over [0, 1]: in [0, 1], larger is
// better, and comparable between runs of one report (they share the box).
// See nas/pareto.Hypervolume.
type Hypervolume struct {
	Scope       string  `parquet:"scope,dict"`
	Axis        string  `parquet:"axis,dict"`
	Hypervolume float64 `parquet:"hypervolume"`  // -1 when the cost bounds are degenerate (CostLo >= CostHi)
	FrontPoints int64   `parquet:"front_points"` // size of the front
	Evaluated   int64   `parquet:"evaluated"`    // evaluations the front was chosen from
	CostLo      float64 `parquet:"cost_lo"`      // cost normalised to 0, in the axis' unit
	CostHi      float64 `parquet:"cost_hi"`      // cost normalised to 1: the reference point's cost
	RefValue    float64 `parquet:"ref_value"`    // the reference point's top1: 0
	Reference   string  `parquet:"reference"`    // where CostLo and CostHi come from, in words
}

// SchemaVersion implements pqio.Schema.
func (Hypervolume) SchemaVersion() string { return "attentivenas.Hypervolume/v1" }

// Comparison is the best subnet of one run in one FLOPs bucket:
// pareto/comparison.parquet has one row per (bucket, run) for every bucket
// where some run has an evaluation, so runs (uniform, BestUp-3,
// WorstUp-3...) line up side by side:
//
//	duckdb -c "pivot 'out/pareto/comparison.parquet' on run using first(best_top1) group by flops_lo order by flops_lo"
//
// A run with no evaluation in the bucket has Evaluated 0, BestTop1 and
// BestTestTop1 -1, and empty arch strings.
type Comparison struct {
	Bucket       int32   `parquet:"bucket"`   // FLOPs bucket index: [Bucket*width, (Bucket+1)*width)
	FLOPsLo      int64   `parquet:"flops_lo"` // MACs per image, inclusive
	FLOPsHi      int64   `parquet:"flops_hi"` // exclusive
	Run          string  `parquet:"run,dict"`
	Evaluated    int64   `parquet:"evaluated"` // the run's evaluations in the bucket
	BestTop1     float64 `parquet:"best_top1"` // val top-1 of the run's best subnet in the bucket
	BestArch     string  `parquet:"best_arch"`
	BestFLOPs    int64   `parquet:"best_flops"`
	BestTestTop1 float64 `parquet:"best_test_top1"`
	BestOrigin   string  `parquet:"best_origin,dict"`
}

// SchemaVersion implements pqio.Schema.
func (Comparison) SchemaVersion() string { return "attentivenas.Comparison/v1" }
