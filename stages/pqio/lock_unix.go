//go:build unix

package pqio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// acquireLocal implements AcquireLock for local roots with flock(2): the
// kernel drops the lock when the holding process exits, however it exits.
// The lock file is never removed (removing it would let a process that
// opened it just before lock a file nobody else sees); a released lock
// is an empty file.
func acquireLocal(root, path string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			old, _ := parseHolder(b)
			return nil, &LockedError{Root: root, Path: path, Holder: old, Remedy: "wait for it to finish, or write to another --output"}
		}
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	l := &Lock{Path: path, Holder: h}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err == nil {
		if old, ok := parseHolder(b); ok {
			l.Previous = &old // it never released: killed or crashed
		}
		var body []byte
		body, err = json.Marshal(h)
		if err == nil {
			err = f.Truncate(0)
		}
		if err == nil {
			_, err = f.WriteAt(append(body, '\n'), 0)
		}
		if err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		f.Close() // also releases the flock
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	l.release = func(context.Context) error {
		err := f.Truncate(0) // released cleanly: no holder to report
		return errors.Join(err, syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
	}
	return l, nil
}

// pidExists reports whether a process with pid exists on this host.
func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
