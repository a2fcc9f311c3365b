//go:build !unix

package pqio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// acquireLocal implements AcquireLock where flock(2) is missing: the lock
// file is created exclusively and removed on release, so a killed process
// leaves it behind and the error says to remove it.
func acquireLocal(root, path string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		b, _ := os.ReadFile(path)
		old, _ := parseHolder(b)
		return nil, &LockedError{Root: root, Path: path, Holder: old,
			Remedy: "wait for it to finish, or write to another --output; if that process is no longer running, delete " + path + " and run again"}
	}
	if err != nil {
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	body, _ := json.Marshal(h)
	_, err = f.Write(body)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	return &Lock{Path: path, Holder: h, release: func(context.Context) error { return os.Remove(path) }}, nil
}

// pidExists cannot tell here: assume the process runs.
func pidExists(int) bool { return true }
