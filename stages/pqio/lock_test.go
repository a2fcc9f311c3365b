package pqio

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockLocal: a second claim on a held output fails naming the holder;
// after a release the output is free; a holder that died without releasing
// (its details left in the file, no flock held) does not block the next
// process, which is told about it.
func TestLockLocal(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "out")
	a := ThisProcess("attentivenas train --seed=1")
	l, err := AcquireLock(ctx, root, a)
	if err != nil {
		t.Fatal(err)
	}
	if l.Previous != nil {
		t.Errorf("fresh lock: previous holder %+v", l.Previous)
	}
	b := ThisProcess("attentivenas train --seed=2")
	_, err = AcquireLock(ctx, root, b)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second claim: %v", err)
	}
	for _, s := range []string{root, "attentivenas train --seed=1", "process " + itoa(os.Getpid()), "wait for it to finish"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("second claim's error %q does not say %q", err, s)
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(ctx, root, b)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if l2.Previous != nil {
		t.Errorf("a released lock reported a previous holder %+v", l2.Previous)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// A holder killed with the lock held: the kernel dropped its flock, its
	// details stay in the file.
	dead := Holder{PID: 999999, Host: a.Host, Command: "attentivenas run", Started: a.Started}
	body, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(root, LockName), body, 0o644); err != nil {
		t.Fatal(err)
	}
	l3, err := AcquireLock(ctx, root, b)
	if err != nil {
		t.Fatalf("after a killed holder: %v", err)
	}
	if l3.Previous == nil || l3.Previous.PID != 999999 {
		t.Errorf("previous holder %+v, want pid 999999", l3.Previous)
	}
	l3.Release(ctx)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestLockGCS: on gs:// the lock is an object created only if absent; a
// second claim is refused; a lock of a dead process on this host is taken
// over; one of another host is refused with the command that removes it.
func TestLockGCS(t *testing.T) {
	gcs := startFakeGCS(t)
	ctx := context.Background()
	root := "gs://bkt/run1"
	a := ThisProcess("attentivenas run")
	l, err := AcquireLock(ctx, root, a)
	if err != nil {
		t.Fatal(err)
	}
	if names := gcs.names("bkt", "run1/"); len(names) != 1 || names[0] != "run1/"+LockName {
		t.Fatalf("objects %v", names)
	}
	_, err = AcquireLock(ctx, root, ThisProcess("attentivenas train"))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "attentivenas run") {
		t.Fatalf("second claim: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if names := gcs.names("bkt", "run1/"); len(names) != 0 {
		t.Fatalf("after release: %v", names)
	}

	put := func(h Holder) {
		body, _ := json.Marshal(h)
		gcs.mu.Lock()
		gcs.put("bkt", "run1/"+LockName, body)
		gcs.mu.Unlock()
	}
	put(Holder{PID: 999999, Host: a.Host, Command: "attentivenas run --seed=1", Started: a.Started})
	l, err = AcquireLock(ctx, root, a)
	if err != nil {
		t.Fatalf("stale lock of this host: %v", err)
	}
	if l.Previous == nil || l.Previous.PID != 999999 {
		t.Errorf("previous %+v", l.Previous)
	}
	l.Release(ctx)

	put(Holder{PID: 4242, Host: "elsewhere", Command: "attentivenas run --seed=1", Started: a.Started})
	_, err = AcquireLock(ctx, root, a)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "host elsewhere") || !strings.Contains(err.Error(), "gcloud storage rm gs://bkt/run1/"+LockName) {
		t.Fatalf("lock of another host: %v", err)
	}
}
