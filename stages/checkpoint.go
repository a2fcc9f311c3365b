package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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

var checkpointName = regexp.MustCompile(`(?:^|/)epoch-(\d{4,})\.parquet$`)

// TrainSet is the set a run's training state is committed as (see
// pqio.SetWriter): its newest checkpoint and its train log, together, in
// runs/<run>/_train.manifest.json. Older checkpoints stay where they are.
const TrainSet = "train"

// TrainState is a run's committed training state.
type TrainState struct {
	Checkpoint string // final path of the newest checkpoint; "" when the run has none
	Epoch      int    // its epoch
	read       string // where to read the checkpoint (its staged copy while a commit rolls forward)
	log        string // where to read the train log
}

// ReadTrainState reads the manifest of a run's training state and checks
// its files (pqio.SetFiles). A run without one has the zero state, unless
// checkpoints exist, which an older version or an interrupted job left
// without a manifest: that is an error saying what to do.
func ReadTrainState(ctx context.Context, out, run string) (TrainState, error) {
	dir := runDir(out, run)
	paths, m, err := pqio.SetFiles(ctx, dir, TrainSet)
	if errors.Is(err, pqio.ErrNoManifest) {
		old, gerr := pqio.Glob(ctx, joinPath(checkpointDir(out, run), "epoch-*.parquet"))
		if gerr != nil {
			return TrainState{}, gerr
		}
		if len(old) > 0 {
			return TrainState{}, fmt.Errorf("run %s has checkpoints (%s...) but no %s: they were written by an older version of attentivenas, or never committed; train into another --output, or delete %s to start over",
				run, old[0], pqio.ManifestPath(dir, TrainSet), dir)
		}
		return TrainState{}, nil
	}
	if err != nil {
		return TrainState{}, err
	}
	var st TrainState
	for i, f := range m.Files {
		switch mm := checkpointName.FindStringSubmatch(f.Name); {
		case f.Name == "train_log.parquet":
			st.log = paths[i]
		case mm != nil && strings.HasPrefix(f.Name, "checkpoints/"):
			st.Checkpoint, st.read = joinPath(dir, f.Name), paths[i]
			st.Epoch, _ = strconv.Atoi(mm[1])
		}
	}
	if st.Checkpoint == "" || st.log == "" {
		return TrainState{}, fmt.Errorf("%s lists %d files, not a checkpoint and a train log", pqio.ManifestPath(dir, TrainSet), len(m.Files))
	}
	return st, nil
}

// Log reads the state's train log. An unreadable log is an error: it holds
// the history of the steps the checkpoint has taken, which no later step
// can restore.
func (st TrainState) Log(ctx context.Context) ([]schemas.TrainStep, error) {
	rows, _, err := pqio.ReadFile[schemas.TrainStep](ctx, st.log)
	if err != nil {
		return nil, fmt.Errorf("the train log of checkpoint %s is unreadable (%w): it holds the history of every step so far; restore it, or delete the run's directory to train again", st.Checkpoint, err)
	}
	return rows, nil
}

// LatestCheckpoint returns the path and epoch of a run's newest committed
// checkpoint, or "" and 0 when it has none (see ReadTrainState).
func LatestCheckpoint(ctx context.Context, out, run string) (string, int, error) {
	st, err := ReadTrainState(ctx, out, run)
	if err != nil {
		return "", 0, err
	}
	if st.read != st.Checkpoint {
		return "", 0, fmt.Errorf("the commit of %s has not finished moving its files into place: run any attentivenas command on %s (it finishes it)", st.Checkpoint, out)
	}
	return st.Checkpoint, st.Epoch, nil
}

// CommitTrainState commits a checkpoint of net after epoch (1-based) and the
// train log up to it as the run's training state, together: after a crash
// at any point the run has the previous checkpoint with its log, or this
// one with its log. It returns the checkpoint's path.
func CommitTrainState(ctx context.Context, out, run string, net *supernet.Supernet, st supernet.CheckpointState, log []schemas.TrainStep) (string, error) {
	meta, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	w, err := pqio.NewSetWriter(ctx, runDir(out, run), TrainSet, true, nil)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("checkpoints/epoch-%04d.parquet", st.Epoch)
	err = pqio.WriteSetFile(ctx, w, name, net.Tensors(true), pqio.Metadata(supernet.CheckpointMetaKey, string(meta)))
	if err == nil {
		err = pqio.WriteSetFile(ctx, w, "train_log.parquet", log)
	}
	if err != nil {
		return "", errors.Join(err, w.Abort(ctx))
	}
	if _, err := w.Commit(ctx); err != nil {
		return "", err
	}
	return joinPath(runDir(out, run), name), nil
}

// SaveCheckpoint writes the supernet's weights and momentum with its state
// to one file, atomically (a temporary name, then a rename), outside any
// run's training state (see CommitTrainState).
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

// ReadTrainLog reads a run's committed train log (see ReadTrainState); a
// run without training state has none.
func ReadTrainLog(ctx context.Context, out, run string) ([]schemas.TrainStep, error) {
	st, err := ReadTrainState(ctx, out, run)
	if err != nil || st.Checkpoint == "" {
		return nil, err
	}
	return st.Log(ctx)
}

// splitLast splits a local or gs:// path at its last '/'.
func splitLast(p string) (dir, base string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}
