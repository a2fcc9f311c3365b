package stages

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// Artifact layout under the output root (ARCHITECTURE.md).
// joinPath, not path.Join (which turns gs://b into gs:/b), builds them.
func examplesDir(out string) string        { return ExamplesDir(out) }
func statsPath(out string) string          { return StatsPath(out) }
func runDir(out, run string) string        { return joinPath(out, "runs/"+run) }
func checkpointDir(out, run string) string { return joinPath(runDir(out, run), "checkpoints") }
func trainLogPath(out, run string) string  { return joinPath(runDir(out, run), "train_log.parquet") }

// CheckpointPath is where the checkpoint written after epoch (1-based) of a
// run lives: runs/<run>/checkpoints/epoch-NNNN.parquet.
func CheckpointPath(out, run string, epoch int) string {
	return joinPath(checkpointDir(out, run), fmt.Sprintf("epoch-%04d.parquet", epoch))
}

var checkpointName = regexp.MustCompile(`/epoch-(\d{4,})\.parquet$`)

// LatestCheckpoint returns the path and epoch of a run's newest checkpoint,
// or "" and 0 when it has none.
func LatestCheckpoint(ctx context.Context, out, run string) (string, int, error) {
	paths, err := pqio.Glob(ctx, joinPath(checkpointDir(out, run), "epoch-*.parquet"))
	if err != nil {
		return "", 0, err
	}
	best, bestEpoch := "", 0
	for _, p := range paths {
		m := checkpointName.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		if e, _ := strconv.Atoi(m[1]); e > bestEpoch {
			best, bestEpoch = p, e
		}
	}
	return best, bestEpoch, nil
}

// SaveCheckpoint writes the supernet's weights and momentum with its state,
// atomically (a temporary name, then a rename).
func SaveCheckpoint(ctx context.Context, p string, net *supernet.Supernet, st supernet.CheckpointState) error {
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return pqio.WriteFile(ctx, p, net.Tensors(true), pqio.Metadata(supernet.CheckpointMetaKey, string(meta)))
}

// ReadCheckpoint reads a checkpoint's tensors and state.
func ReadCheckpoint(ctx context.Context, p string) ([]schemas.Tensor, supernet.CheckpointState, error) {
	rows, meta, err := pqio.ReadFile[schemas.Tensor](ctx, p)
	if err != nil {
		return nil, supernet.CheckpointState{}, err
	}
	raw, ok := meta.KeyValue[supernet.CheckpointMetaKey]
	if !ok {
		return nil, supernet.CheckpointState{}, fmt.Errorf("%s is not a supernet checkpoint: no %q metadata", p, supernet.CheckpointMetaKey)
	}
	var st supernet.CheckpointState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, st, fmt.Errorf("%s: checkpoint state: %w", p, err)
	}
	return rows, st, nil
}

// LoadSupernet reads a checkpoint into a supernet of sp; a checkpoint of
// another search space is an error that says so. A nil sp takes the space
// embedded in the checkpoint.
func LoadSupernet(ctx context.Context, p string, sp *space.Space) (*supernet.Supernet, supernet.CheckpointState, error) {
	rows, st, err := ReadCheckpoint(ctx, p)
	if err != nil {
		return nil, st, err
	}
	if sp == nil {
		net, err := supernet.FromState(st, rows, p)
		return net, st, err
	}
	if err := st.CheckSpace(sp, p); err != nil {
		return nil, st, err
	}
	net := supernet.New(sp, 0)
	if err := net.LoadTensors(rows); err != nil {
		return nil, st, fmt.Errorf("%s: %w", p, err)
	}
	return net, st, nil
}

// JoinPath appends a relative name to a local or gs:// directory (unlike
// path.Join, it keeps "gs://").
func JoinPath(dir, name string) string { return joinPath(dir, name) }

// TrainLogPath is runs/<run>/train_log.parquet.
func TrainLogPath(out, run string) string { return trainLogPath(out, run) }
