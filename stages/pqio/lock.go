package pqio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
	"google.golang.org/api/googleapi"
)

// LockName is the lock file of an output root: "<root>/.attentivenas-lock".
// It is hidden from "*.parquet" globs and from pandas/pyarrow.
const LockName = ".attentivenas-lock"

// Holder identifies the process that holds an output's lock; the lock file
// holds it as JSON.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"` // the command line, for people
	Started time.Time `json:"started"`
	// Process tells this process from a later one with the same pid on the
	// same host (boot id and start time, where the OS says them).
	Process string `json:"process,omitempty"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "an unknown process (the lock file names none)"
	}
	return fmt.Sprintf("process %d on host %s (%s), started %s", h.PID, h.Host, h.Command, h.Started.Format(time.RFC3339))
}

// ThisProcess describes the calling process, running command.
func ThisProcess(command string) Holder {
	host, _ := os.Hostname()
	return Holder{PID: os.Getpid(), Host: host, Command: command, Started: time.Now().UTC().Truncate(time.Second),
		Process: processIdentity(os.Getpid())}
}

// ErrLocked is wrapped by the error AcquireLock returns when another
// process holds the lock; the error is a *LockedError.
var ErrLocked = errors.New("output in use")

// LockedError says who holds an output and how to proceed.
type LockedError struct {
	Root   string
	Path   string // the lock file
	Holder Holder
	Remedy string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("output %s is in use by %s (lock %s): %s", e.Root, e.Holder, e.Path, e.Remedy)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is an exclusive claim on an output root: every command that writes
// under an output holds it for as long as it runs, so two processes never
// write one output. Release it when done; a process that dies without
// releasing it does not block the next one (see AcquireLock).
type Lock struct {
	Path   string // the lock file
	Holder Holder // this process
	// Previous is the holder of an earlier lock that was not released (its
	// process was killed or crashed) and that this lock replaced; nil if
	// the lock was free.
	Previous *Holder
	release  func(context.Context) error
}

// AcquireLock takes the lock of the output root (local or gs://) for h, or
// returns a *LockedError naming the holder and what to do.
//
// Local roots use an advisory lock (flock) on "<root>/.attentivenas-lock",
// which the kernel releases when its process dies, so a killed command never
// leaves a stale lock; the file keeps the last holder's details, reported as
// Previous when it did not release. A gs:// root uses an object created only
// if it does not exist (a generation precondition); a lock left by a dead
// process on this same host is taken over atomically, and a lock of another
// host is reported with the command that removes it once its process is known
// to be gone.
func AcquireLock(ctx context.Context, root string, h Holder) (*Lock, error) {
	path := joinPath(root, LockName)
	if schemeOf(root) == "gs" {
		return acquireGCS(ctx, root, path, h)
	}
	if s := schemeOf(root); s != "" {
		return nil, fmt.Errorf("pqio: cannot lock output %s: only local paths and gs:// are supported", root)
	}
	return acquireLocal(root, path, h)
}

// Release gives the lock up.
func (l *Lock) Release(ctx context.Context) error {
	if l == nil || l.release == nil {
		return nil
	}
	r := l.release
	l.release = nil
	return r(ctx)
}

func parseHolder(b []byte) (Holder, bool) {
	var h Holder
	if len(bytes.TrimSpace(b)) == 0 || json.Unmarshal(b, &h) != nil {
		return Holder{}, false
	}
	return h, true
}

// acquireGCS implements AcquireLock for gs:// roots.
func acquireGCS(ctx context.Context, root, path string, h Holder) (*Lock, error) {
	c, err := gcsx.NewClient(ctx, storage.ScopeReadWrite)
	if err != nil {
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	bucket, object, err := gcsx.ParseObject(path)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	obj := c.Bucket(bucket).Object(object)
	body, _ := json.Marshal(h)
	create := func(cond storage.Conditions) (int64, error) {
		w := obj.If(cond).NewWriter(ctx)
		w.ContentType = "application/json"
		if _, err := w.Write(body); err != nil {
			w.Close()
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
		return w.Attrs().Generation, nil
	}
	done := func(gen int64, prev *Holder) (*Lock, error) {
		return &Lock{Path: path, Holder: h, Previous: prev, release: func(ctx context.Context) error {
			err := obj.If(storage.Conditions{GenerationMatch: gen}).Delete(ctx)
			return errors.Join(err, c.Close())
		}}, nil
	}
	gen, err := create(storage.Conditions{DoesNotExist: true})
	if err == nil {
		return done(gen, nil)
	}
	if !isPrecondition(err) {
		c.Close()
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	// Held: by whom?
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	r, err := obj.Generation(attrs.Generation).NewReader(ctx)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(r, 1<<20))
		r.Close()
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
	}
	old, _ := parseHolder(b)
	if old.PID != 0 && old.Host == h.Host && !processAlive(old) {
		// Its process is gone: take over, atomically against another taker.
		gen, err := create(storage.Conditions{GenerationMatch: attrs.Generation})
		if err == nil {
			return done(gen, &old)
		}
		if !isPrecondition(err) {
			c.Close()
			return nil, fmt.Errorf("pqio: lock %s: %w", path, err)
		}
		c.Close()
		return nil, &LockedError{Root: root, Path: path, Holder: Holder{}, Remedy: "another process took over the stale lock just now: wait for it to finish"}
	}
	c.Close()
	remedy := "wait for it to finish, or write to another --output"
	if old.Host != h.Host || old.PID == 0 {
		remedy += fmt.Sprintf("; if that process is no longer running (a lock of another host cannot be checked from here), remove the lock with `gcloud storage rm %s` and run again", path)
	}
	return nil, &LockedError{Root: root, Path: path, Holder: old, Remedy: remedy}
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// processAlive reports whether the process of h, on this host, still runs:
// its pid exists and, where the OS tells, has the same identity.
func processAlive(h Holder) bool {
	if !pidExists(h.PID) {
		return false
	}
	if h.Process == "" {
		return true
	}
	id := processIdentity(h.PID)
	return id == "" || id == h.Process
}

// processIdentity is "<boot id>/<start time>" of a process on Linux, so
// that a pid reused after the holder died (or after a reboot) is not taken
// for the holder; "" where /proc does not say.
func processIdentity(pid int) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Field 22 is the start time; field 2, the command, may hold spaces
	// but ends at the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + f[19]
}
