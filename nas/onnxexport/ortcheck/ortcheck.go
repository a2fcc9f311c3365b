// Package ortcheck runs ONNX models in ONNX Runtime, an implementation
// independent of this project, so tests and benchmarks can hold exported
// models (package onnxexport) against the project's own inference engine.
// The runtime is Node.js's onnxruntime-node package from the npm registry,
// installed outside the repository by `make ort` (npm install
// --ignore-scripts keeps the CPU runtime shipped inside the package and
// skips its install script, which downloads optional GPU binaries); Find
// says where it looks and what is missing.
//
//	rt, err := ortcheck.Find()
//	if errors.Is(err, ortcheck.ErrUnavailable) {
//		t.Skip(err) // no node, or the package is not installed
//	}
//	logits, err := rt.Run(ctx, model, x, []int{N, 1, 28, 28}, 256) // [N, classes]
//
// See also: onnxexport.Export, README.md (running an exported model).
package ortcheck

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Version is the onnxruntime-node release `make ort` installs and Find
// expects.
const Version = "1.30.0"

// DirEnv names the environment variable that overrides DefaultDir.
const DirEnv = "ATTENTIVENAS_ORT_DIR"

// ErrUnavailable reports that node or the onnxruntime-node package is
// missing: callers skip, they do not fail.
var ErrUnavailable = errors.New("ONNX Runtime for Node.js (onnxruntime-node) is not available")

//go:embed ort.js
var script []byte

// DefaultDir is where `make ort` installs onnxruntime-node (its npm
// --prefix): attentivenas/onnxruntime-node under the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "attentivenas", "onnxruntime-node")
}

// Runtime is a located node binary and onnxruntime-node installation.
type Runtime struct {
	Node    string // path of node
	Modules string // the node_modules directory holding onnxruntime-node
	Version string // onnxruntime-node's version
}

// Find locates node on PATH and onnxruntime-node Version under $DirEnv, or
// DefaultDir when it is unset. Errors wrap ErrUnavailable and say what is
// missing and how to install it.
func Find() (*Runtime, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: no node on PATH (install Node.js and npm, then run `make ort`)", ErrUnavailable)
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = DefaultDir()
	}
	modules := filepath.Join(dir, "node_modules")
	raw, err := os.ReadFile(filepath.Join(modules, "onnxruntime-node", "package.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: onnxruntime-node is not installed in %s (`make ort` installs it: npm install --ignore-scripts --prefix %s onnxruntime-node@%s)",
			ErrUnavailable, dir, dir, Version)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version != Version {
		return nil, fmt.Errorf("%w: %s holds onnxruntime-node %q, expected %s (`make ort` reinstalls it)", ErrUnavailable, dir, pkg.Version, Version)
	}
	return &Runtime{Node: node, Modules: modules, Version: pkg.Version}, nil
}

// request is the JSON ort.js reads.
type request struct {
	Mode    string `json:"mode"`
	Model   string `json:"model"`
	Threads int    `json:"threads"`
	Shape   []int  `json:"shape"`
	Input   string `json:"input,omitempty"`
	Output  string `json:"output,omitempty"`
	Batch   int    `json:"batch,omitempty"`
	Batches []int  `json:"batches,omitempty"`
	Runs    int    `json:"runs,omitempty"`
	Warmup  int    `json:"warmup,omitempty"`
}

// answer is the JSON ort.js prints.
type answer struct {
	Version     string        `json:"version"`
	Inputs      []string      `json:"inputs"`
	Outputs     []string      `json:"outputs"`
	OutputShape []int         `json:"output_shape"`
	Results     []BenchResult `json:"results"`
}

// BenchResult is the timing of one batch size: the median and fastest of
// Runs warm session.run calls, timed inside the node process.
type BenchResult struct {
	Batch    int     `json:"batch"`
	MedianMs float64 `json:"median_ms"`
	MinMs    float64 `json:"min_ms"`
	Runs     int     `json:"runs"`
}

// call writes the model and req's files to a temporary directory, runs
// ort.js on them and decodes its answer; prepare fills the request with
// paths inside that directory.
func (r *Runtime) call(ctx context.Context, model []byte, req request, prepare func(dir string, req *request) error) (*answer, string, error) {
	dir, err := os.MkdirTemp("", "ortcheck-")
	if err != nil {
		return nil, "", err
	}
	req.Model = filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(req.Model, model, 0o644); err != nil {
		return nil, dir, err
	}
	if prepare != nil {
		if err := prepare(dir, &req); err != nil {
			return nil, dir, err
		}
	}
	js, reqPath := filepath.Join(dir, "ort.js"), filepath.Join(dir, "request.json")
	rb, _ := json.Marshal(req)
	if err := os.WriteFile(js, script, 0o644); err != nil {
		return nil, dir, err
	}
	if err := os.WriteFile(reqPath, rb, 0o644); err != nil {
		return nil, dir, err
	}
	cmd := exec.CommandContext(ctx, r.Node, js, reqPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+r.Modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, dir, fmt.Errorf("ortcheck: node %s (onnxruntime-node %s in %s): %v\n%s", req.Mode, r.Version, r.Modules, err, strings.TrimSpace(stderr.String()))
	}
	var a answer
	if err := json.Unmarshal(stdout.Bytes(), &a); err != nil {
		return nil, dir, fmt.Errorf("ortcheck: node printed %q: %v", stdout.String(), err)
	}
	return &a, dir, nil
}

// Run runs model (a serialised ONNX model with one float32 input and one
// output [B, K]) on x, shape [N, C, H, W] row-major, batch images per
// session.run with ONNX Runtime's default threads, and returns the
// outputs [N, K] and K.
func (r *Runtime) Run(ctx context.Context, model []byte, x []float32, shape []int, batch int) ([]float32, int, error) {
	if len(shape) != 4 || batch < 1 {
		return nil, 0, fmt.Errorf("ortcheck: Run: shape %v and batch %d: expected [N, C, H, W] and batch >= 1", shape, batch)
	}
	if n := shape[0] * shape[1] * shape[2] * shape[3]; n != len(x) || n == 0 {
		return nil, 0, fmt.Errorf("ortcheck: Run: %d values for shape %v", len(x), shape)
	}
	a, dir, err := r.call(ctx, model, request{Mode: "run", Shape: shape, Batch: batch}, func(dir string, req *request) error {
		req.Input, req.Output = filepath.Join(dir, "input.f32"), filepath.Join(dir, "output.f32")
		return os.WriteFile(req.Input, float32Bytes(x), 0o644)
	})
	defer removeAll(dir)
	if err != nil {
		return nil, 0, err
	}
	if len(a.OutputShape) != 2 || a.OutputShape[0] != shape[0] {
		return nil, 0, fmt.Errorf("ortcheck: output shape %v for %d images", a.OutputShape, shape[0])
	}
	raw, err := os.ReadFile(filepath.Join(dir, "output.f32"))
	if err != nil {
		return nil, 0, err
	}
	K := a.OutputShape[1]
	if len(raw) != 4*shape[0]*K {
		return nil, 0, fmt.Errorf("ortcheck: %d output bytes for shape %v", len(raw), a.OutputShape)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, K, nil
}

// Bench times model in ONNX Runtime with threads intra-op threads (0: its
// default): for each batch size, warmup untimed then runs timed
// session.run calls on a fixed input of shape [batch, C, H, W] (image is
// [C, H, W]).
func (r *Runtime) Bench(ctx context.Context, model []byte, image []int, batches []int, runs, warmup, threads int) ([]BenchResult, error) {
	if len(image) != 3 || runs < 1 || warmup < 0 {
		return nil, fmt.Errorf("ortcheck: Bench: image %v, runs %d, warmup %d", image, runs, warmup)
	}
	req := request{Mode: "bench", Threads: threads, Shape: append([]int{1}, image...), Batches: batches, Runs: runs, Warmup: warmup}
	a, dir, err := r.call(ctx, model, req, nil)
	defer removeAll(dir)
	if err != nil {
		return nil, err
	}
	if len(a.Results) != len(batches) {
		return nil, fmt.Errorf("ortcheck: %d bench results for %d batch sizes", len(a.Results), len(batches))
	}
	return a.Results, nil
}

func float32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func removeAll(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Comparison summarises two sets of logits of the same images.
type Comparison struct {
	Images     int
	Agree      int     // images whose argmax (the first largest logit) is the same
	MaxAbsDiff float64 // largest |a - b| over every logit
}

// Fraction is Agree/Images.
func (c Comparison) Fraction() float64 { return float64(c.Agree) / float64(max(1, c.Images)) }

// Compare compares logits a and b, [N, classes] each.
func Compare(a, b []float32, classes int) Comparison {
	c := Comparison{Images: min(len(a), len(b)) / max(1, classes)}
	for i := range c.Images {
		ra, rb := a[i*classes:(i+1)*classes], b[i*classes:(i+1)*classes]
		if argmax(ra) == argmax(rb) {
			c.Agree++
		}
		for j := range ra {
			d := math.Abs(float64(ra[j]) - float64(rb[j]))
			if d > c.MaxAbsDiff || math.IsNaN(d) {
				c.MaxAbsDiff = d
			}
		}
	}
	return c
}

func argmax(v []float32) int {
	k := 0
	for j, x := range v {
		if x > v[k] {
			k = j
		}
	}
	return k
}
