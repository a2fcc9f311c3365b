// Package schemas holds one Go struct per Parquet artifact of the pipeline:
// the only place a column name is written. Every type reports its schema
// version, which the Parquet IO (stages/pqio) stores in the file's key-value
// metadata under "attentivenas.schema" and checks when reading.
//
// Conventions: snake_case column names, plain Parquet types (int32, int64,
// double, float, string, boolean, binary), slices as standard 3-level LIST
// columns (tag option "list") so Arrow, DuckDB and pandas read them, and
// zstd compression set by the writer.
//
//	duckdb -c "select split, count(*) from 'out/examples/*.parquet' group by split"
package schemas

// Example is one labelled image: examples/<split>-NNNNN-of-MMMMM.parquet.
type Example struct {
	Split    string `parquet:"split,dict"` // train, calib, val or test
	Index    int64  `parquet:"index"`      // position in the source dataset (train side and test side count separately)
	Label    int32  `parquet:"label"`      // class in [0, classes)
	Height   int32  `parquet:"height"`
	Width    int32  `parquet:"width"`
	Channels int32  `parquet:"channels"`
	Pixels   []byte `parquet:"pixels"` // Height*Width*Channels bytes, HWC order, 0-255
}

// SchemaVersion implements pqio.Schema.
func (Example) SchemaVersion() string { return "attentivenas.Example/v1" }

// DatasetStats summarises one split: dataset/stats.parquet has one row per
// split. Training normalises every split with the train row's Mean and Std.
type DatasetStats struct {
	Split       string    `parquet:"split"`
	Source      string    `parquet:"source"` // dataset format and location, e.g. "idx:/usr/share/datasets/fashion-mnist"
	Images      int64     `parquet:"images"`
	Height      int32     `parquet:"height"`
	Width       int32     `parquet:"width"`
	Channels    int32     `parquet:"channels"`
	Classes     int32     `parquet:"classes"`
	Mean        []float64 `parquet:"mean,list"`         // per channel, pixel values scaled to [0,1]
	Std         []float64 `parquet:"std,list"`          // per channel, population standard deviation
	ClassCounts []int64   `parquet:"class_counts,list"` // images per class
	Seed        int64     `parquet:"seed"`              // split seed
}

// SchemaVersion implements pqio.Schema.
func (DatasetStats) SchemaVersion() string { return "attentivenas.DatasetStats/v1" }

// Tensor is one named tensor: a supernet checkpoint
// (runs/<run>/checkpoints/epoch-NNNN.parquet) or an exported subnet model
// has one row per tensor. Run-level state (step, epoch, RNG, search space)
// is JSON in the file's key-value metadata; see nas/supernet.CheckpointState.
type Tensor struct {
	Name   string    `parquet:"name"`
	Role   string    `parquet:"role,dict"`   // "weight" or "momentum" (optimiser state)
	Shape  []int32   `parquet:"shape,list"`  // row-major
	Values []float32 `parquet:"values,list"` // product(Shape) values
}

// SchemaVersion implements pqio.Schema.
func (Tensor) SchemaVersion() string { return "attentivenas.Tensor/v1" }

// Tensor roles.
const (
	RoleWeight   = "weight"
	RoleMomentum = "momentum"
)

// TrainStep is one optimiser step of a training job:
// runs/<run>/train_log.parquet has one row per step, in step order.
type TrainStep struct {
	Run     string  `parquet:"run,dict"`
	Step    int64   `parquet:"step"`  // 0-based optimiser step
	Epoch   int32   `parquet:"epoch"` // 0-based epoch the step belongs to
	LR      float64 `parquet:"lr"`
	LossMax float64 `parquet:"loss_max"` // label-smoothed CE of the largest subnet
	LossMin float64 `parquet:"loss_min"` // distillation loss of the smallest subnet
	// LabelWeight is the share of the labels in the students' targets
	// (the rest is the largest subnet's output): 0 is the method's in-place
	// distillation; above 0 during a distillation warm-up.
	LabelWeight float64 `parquet:"label_weight"`
	// The sampled middle subnets, one entry per sandwich slot.
	MidArchs  []string  `parquet:"mid_archs,list"` // Arch keys, e.g. "28-8-12-..."
	MidFLOPs  []int64   `parquet:"mid_flops,list"`
	MidLosses []float64 `parquet:"mid_losses,list"` // their distillation losses
	// Attentive sampling: every candidate scored for the middle slots.
	CandidateSlots  []int32   `parquet:"candidate_slots,list"` // which middle slot (0-based)
	CandidateArchs  []string  `parquet:"candidate_archs,list"`
	CandidateFLOPs  []int64   `parquet:"candidate_flops,list"`
	CandidateScores []float64 `parquet:"candidate_scores,list"` // estimator output (loss or predicted accuracy)
	CandidateChosen []bool    `parquet:"candidate_chosen,list"`
	ImagesPerSec    float64   `parquet:"images_per_sec"` // images of the minibatch / step wall time
	StepSeconds     float64   `parquet:"step_seconds"`
	SampleSeconds   float64   `parquet:"sample_seconds"` // part of the step spent choosing subnets
	Skipped         bool      `parquet:"skipped"`        // non-finite loss or gradient: the update was not applied
}

// SchemaVersion implements pqio.Schema.
func (TrainStep) SchemaVersion() string { return "attentivenas.TrainStep/v2" }

// Eval is the real evaluation of one subnet from one checkpoint:
// evals/<run>/*.parquet has one row per (checkpoint, Arch, origin).
type Eval struct {
	Run        string  `parquet:"run,dict"`
	Checkpoint string  `parquet:"checkpoint"` // path of the supernet checkpoint
	Arch       string  `parquet:"arch"`       // Arch key, e.g. "28-8-12-..."
	Vector     []int32 `parquet:"vector,list"`
	Resolution int32   `parquet:"resolution"`
	StemWidth  int32   `parquet:"stem_width"`
	Widths     []int32 `parquet:"widths,list"`
	HeadWidth  int32   `parquet:"head_width"`
	Depths     []int32 `parquet:"depths,list"`
	Kernels    []int32 `parquet:"kernels,list"`
	Expands    []int32 `parquet:"expands,list"`
	FLOPs      int64   `parquet:"flops"` // MACs per image
	Params     int64   `parquet:"params"`
	// Measured CPU latency per image at batch 1 (median of warm runs).
	LatencyMs      float64 `parquet:"latency_ms"`
	LatencyThreads int32   `parquet:"latency_threads"`
	Top1           float64 `parquet:"top1"` // accuracy on the val split, in [0,1]
	Loss           float64 `parquet:"loss"` // mean cross-entropy on val
	// Optional test-split figures (-1 when not evaluated).
	TestTop1    float64 `parquet:"test_top1"`
	TestLoss    float64 `parquet:"test_loss"`
	CalibImages int64   `parquet:"calib_images"` // images used for BN recalibration
	EvalImages  int64   `parquet:"eval_images"`  // val images evaluated
	TestImages  int64   `parquet:"test_images"`
	Origin      string  `parquet:"origin,dict"` // random, min, max, search, user
	Seed        int64   `parquet:"seed"`
	WallSeconds float64 `parquet:"wall_seconds"`
}

// SchemaVersion implements pqio.Schema.
func (Eval) SchemaVersion() string { return "attentivenas.Eval/v1" }

// Origins of evaluated archs.
const (
	OriginRandom = "random"
	OriginMin    = "min"
	OriginMax    = "max"
	OriginSearch = "search"
	OriginUser   = "user"
)

// Predictor is one fitted accuracy predictor of a run:
// predictors/<run>.parquet has one row per model kind, the Selected one
// (best held-out Kendall tau) being the one search and samplers use. Its
// lineage is the checkpoint whose evaluations it was fitted on: the path
// and the checkpoint file's id (pqio.FileIDKey), so a predictor of an
// earlier training of the run is told apart from a current one.
type Predictor struct {
	Run              string  `parquet:"run,dict"`
	Kind             string  `parquet:"kind,dict"` // random_forest, gbt, ridge
	Model            []byte  `parquet:"model"`     // nas/predictor.Marshal bytes, refitted on every pair
	Encoder          string  `parquet:"encoder"`   // feature encoder options, JSON
	SpaceFingerprint string  `parquet:"space_fingerprint"`
	Checkpoint       string  `parquet:"checkpoint"`    // the checkpoint whose evaluations fitted it
	CheckpointID     string  `parquet:"checkpoint_id"` // that file's id
	Origins          string  `parquet:"origins"`       // origins of the evaluations used, e.g. "min,max,random"
	Fit              int64   `parquet:"fit"`           // pairs the held-out metrics were fitted on
	Holdout          int64   `parquet:"holdout"`       // held-out pairs
	KendallTau       float64 `parquet:"kendall_tau"`
	Spearman         float64 `parquet:"spearman"`
	RMSE             float64 `parquet:"rmse"`
	R2               float64 `parquet:"r2"`
	Selected         bool    `parquet:"selected"`
}

// SchemaVersion implements pqio.Schema.
func (Predictor) SchemaVersion() string { return "attentivenas.Predictor/v2" }

// RankQuality says how well an estimator ranks subnets of similar cost:
// rank_quality/<run>.parquet has one row per (estimator, FLOPs bin), plus a
// Bin -1 row per estimator pooling every bin (the mean of the per-bin taus
// weighted by their pair counts). It answers the paper's question: does the
// minibatch loss rank candidates of the same FLOPs as well as a predictor?
type RankQuality struct {
	Run        string  `parquet:"run,dict"`
	Estimator  string  `parquet:"estimator,dict"` // minibatch_loss or predictor:<kind> (out-of-fold)
	Bin        int32   `parquet:"bin"`            // FLOPs bin index, -1 for all bins pooled
	FLOPsLo    int64   `parquet:"flops_lo"`
	FLOPsHi    int64   `parquet:"flops_hi"`
	N          int64   `parquet:"n"`           // subnets in the bin
	KendallTau float64 `parquet:"kendall_tau"` // of the estimate (higher = better) against val top-1
}

// SchemaVersion implements pqio.Schema.
func (RankQuality) SchemaVersion() string { return "attentivenas.RankQuality/v1" }

// SearchCandidate is one subnet of the evolutionary search's final archive
// (the best predicted accuracy per FLOPs bucket): search/<run>.parquet. The
// shortlist is then evaluated for real (evals with origin "search").
type SearchCandidate struct {
	Run       string  `parquet:"run,dict"`
	Arch      string  `parquet:"arch"`
	Vector    []int32 `parquet:"vector,list"`
	FLOPs     int64   `parquet:"flops"`
	Params    int64   `parquet:"params"`
	Predicted float64 `parquet:"predicted"` // predicted val top-1
	// Estimated latency from a linear model fitted on the run's measured
	// latencies (ms; 0 when no model was fitted).
	LatencyMs  float64 `parquet:"latency_ms"`
	Bucket     int32   `parquet:"bucket"`
	Generation int32   `parquet:"generation"` // when it was found
	Origin     string  `parquet:"origin,dict"`
}

// SchemaVersion implements pqio.Schema.
func (SearchCandidate) SchemaVersion() string { return "attentivenas.SearchCandidate/v1" }
