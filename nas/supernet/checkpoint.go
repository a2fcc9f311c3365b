package supernet

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/schemas"
)

// CheckpointMetaKey is the Parquet key-value metadata key holding a
// checkpoint's CheckpointState as JSON.
const CheckpointMetaKey = "attentivenas.checkpoint"

// CheckpointState is the run-level state saved beside the tensors of a
// checkpoint: enough to resume training bit-exactly and to refuse loading
// against a different search space.
type CheckpointState struct {
	Step             int64           `json:"step"`  // optimiser steps taken
	Epoch            int             `json:"epoch"` // epochs completed
	RNG              []byte          `json:"rng"`   // training RNG state (rand.PCG binary form)
	Space            json.RawMessage `json:"space"` // canonical JSON of the search space
	SpaceFingerprint string          `json:"space_fingerprint"`
	Job              json.RawMessage `json:"job,omitempty"` // the training job's configuration
}

// Tensors returns one row per tensor: every weight, and with momentum the
// optimiser's momentum buffers too. The rows share no memory with s.
func (s *Supernet) Tensors(momentum bool) []schemas.Tensor {
	rows := make([]schemas.Tensor, 0, 2*len(s.Params))
	for _, p := range s.Params {
		rows = append(rows, tensorRow(p.Name, schemas.RoleWeight, p.Shape, p.W))
	}
	if momentum {
		for _, p := range s.Params {
			rows = append(rows, tensorRow(p.Name, schemas.RoleMomentum, p.Shape, p.M))
		}
	}
	return rows
}

func tensorRow(name, role string, shape []int, v []float32) schemas.Tensor {
	sh := make([]int32, len(shape))
	for i, d := range shape {
		sh[i] = int32(d)
	}
	return schemas.Tensor{Name: name, Role: role, Shape: sh, Values: slices.Clone(v)}
}

// LoadTensors copies checkpoint rows into s. Every weight must be present
// with the shape s expects; momentum rows are optional (absent means zero).
// The error names the first tensor that does not fit.
func (s *Supernet) LoadTensors(rows []schemas.Tensor) error {
	byName := make(map[string]*Param, len(s.Params))
	for _, p := range s.Params {
		byName[p.Name] = p
	}
	seen := make(map[string]bool, len(s.Params))
	for _, p := range s.Params {
		clear(p.M)
	}
	for _, r := range rows {
		p, ok := byName[r.Name]
		if !ok {
			return fmt.Errorf("supernet: checkpoint tensor %q is not part of this supernet", r.Name)
		}
		if !slices.Equal(r.Shape, int32s(p.Shape)) {
			return fmt.Errorf("supernet: checkpoint tensor %q has shape %v, expected %v", r.Name, r.Shape, p.Shape)
		}
		if len(r.Values) != p.Len() {
			return fmt.Errorf("supernet: checkpoint tensor %q has %d values, expected %d", r.Name, len(r.Values), p.Len())
		}
		switch r.Role {
		case schemas.RoleWeight:
			copy(p.W, r.Values)
			seen[r.Name] = true
		case schemas.RoleMomentum:
			copy(p.M, r.Values)
		default:
			return fmt.Errorf("supernet: checkpoint tensor %q has unknown role %q", r.Name, r.Role)
		}
	}
	for _, p := range s.Params {
		if !seen[p.Name] {
			return fmt.Errorf("supernet: checkpoint has no weights for tensor %q", p.Name)
		}
		clear(p.G)
	}
	return nil
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// NewState fills the space fields of a CheckpointState for s.
func (s *Supernet) NewState(step int64, epoch int, rng []byte, job json.RawMessage) CheckpointState {
	return CheckpointState{Step: step, Epoch: epoch, RNG: rng, Space: s.Space.JSON(),
		SpaceFingerprint: s.Space.Fingerprint(), Job: job}
}

// CheckSpace reports an error when a checkpoint's state was written for a
// different search space than sp. name is the checkpoint's path.
func (st CheckpointState) CheckSpace(sp *space.Space, name string) error {
	other, err := space.Parse(st.Space, name+" (embedded search space)")
	if err != nil {
		return fmt.Errorf("supernet: checkpoint %s: %w", name, err)
	}
	if !other.Equal(sp) {
		return fmt.Errorf("supernet: checkpoint %s was trained on search space %q (fingerprint %s), not on %q (fingerprint %s); pass the space it was trained with (--space)",
			name, other.Name, other.Fingerprint(), sp.Name, sp.Fingerprint())
	}
	return nil
}

// FromState builds the supernet described by a checkpoint's state and rows
// alone (its embedded search space), for commands that only have the file.
func FromState(st CheckpointState, rows []schemas.Tensor, name string) (*Supernet, error) {
	sp, err := space.Parse(st.Space, name+" (embedded search space)")
	if err != nil {
		return nil, fmt.Errorf("supernet: checkpoint %s: %w", name, err)
	}
	s := New(sp, 0)
	if err := s.LoadTensors(rows); err != nil {
		return nil, fmt.Errorf("%w (checkpoint %s)", err, name)
	}
	return s, nil
}
