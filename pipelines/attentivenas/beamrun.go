package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/attentivenas/attentivenas/stages/pqio"
)

// progressEvery is how often runPipeline says that a job is still running.
const progressEvery = 30 * time.Second

// runnerName returns the runner --runner selects: prism when unset, as in
// beamx.
func runnerName() string {
	if *runners.Runner != "" {
		return *runners.Runner
	}
	return "prism"
}

// runPipeline runs p for command name on the runner chosen by --runner
// (prism by default; direct, dataflow, ... as beamx allows). It writes to w
// a line when the job starts, a line every progressEvery while it runs, the
// wall time when it ends and the job's counters.
//
// If the job fails, runPipeline recovers the output root out (when not
// ""): it finishes any commit the job left half rolled forward and removes
// the temporary files of its unfinished writes (pqio.Recover), and it
// returns the job's error reduced to its cause (the failing DoFn's own
// message). The SDK's and runner's WARN and ERROR logs are held back while
// the job runs: a failed job's are dropped, because the command reports the
// failure itself, and a successful job's warnings are written when it ends;
// -v keeps the runner's full error and every log line as it comes.
//
// The result is nil, with a nil error, when the runner returns none (a
// Dataflow --dry_run or --async submission): there is then nothing local to
// summarise.
func runPipeline(ctx context.Context, w io.Writer, name string, p *beam.Pipeline, out string) (beam.PipelineResult, error) {
	runner := runnerName()
	fmt.Fprintf(w, "%s: running on %s (-v shows the runner's logs)\n", name, runner)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "%s: still running (%v)\n", name, time.Since(start).Round(time.Second))
			}
		}
	}()
	release := quietJobLogs()
	pr, err := beamx.RunWithMetrics(ctx, p)
	release(err == nil)
	close(done)
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		err = fmt.Errorf("job failed on %s after %v: %s", runner, elapsed, jobErrorCause(err))
		if out != "" {
			if done, cerr := pqio.Recover(context.WithoutCancel(ctx), out); cerr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up after the failed job: %w", cerr))
			} else {
				for _, d := range done {
					fmt.Fprintf(w, "%s: %s\n", name, d)
				}
			}
		}
		return nil, err
	}
	fmt.Fprintf(w, "%s: finished on %s in %v\n", name, runner, elapsed)
	if pr != nil {
		printCounters(w, pr)
	}
	return pr, nil
}

// printCounters writes the job's counters, summed over steps, one per line
// as "namespace/name = value", sorted.
func printCounters(w io.Writer, pr beam.PipelineResult) {
	sums := map[string]int64{}
	for _, c := range pr.Metrics().AllMetrics().Counters() {
		sums[c.Namespace()+"/"+c.Name()] += c.Result()
	}
	if len(sums) == 0 {
		return
	}
	fmt.Fprintf(w, "counters:\n")
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		fmt.Fprintf(w, "  %-32s %d\n", k, sums[k])
	}
}

// jobErrorCause returns the part of a runner's job error a person needs:
// prism wraps a DoFn's error in the bundle's whole execution plan and a
// chain of "caused by:" lines; the last link, without its "DoFn[...]
// failed:" header, is the DoFn's own message. With -v the full error is kept.
func jobErrorCause(err error) string {
	msg := err.Error()
	if *verbose {
		return msg
	}
	const causedBy = "caused by:\n"
	if i := strings.LastIndex(msg, causedBy); i >= 0 {
		msg = msg[i+len(causedBy):]
	}
	if strings.HasPrefix(msg, "DoFn[") {
		if i := strings.Index(msg, "failed:\n"); i >= 0 {
			msg = msg[i+len("failed:\n"):]
		}
	}
	return strings.TrimSpace(msg)
}

// quietJobLogs holds back the WARN and ERROR records of the default slog
// logger (where the SDK and prism log) until the returned function is
// called, unless -v is set: a failed prism job logs its error several times
// over, with warnings about the bundles it aborted, and runPipeline reports
// the failure once instead. release(true) (the job succeeded) writes the
// held warnings; release(false) drops them. Records below WARN pass.
func quietJobLogs() (release func(flush bool)) {
	if *verbose {
		return func(bool) {}
	}
	prev := slog.Default()
	held := &heldRecords{}
	slog.SetDefault(slog.New(holdHandler{next: prev.Handler(), held: held}))
	return func(flush bool) {
		slog.SetDefault(prev)
		if flush {
			held.replay(context.Background())
		}
	}
}

// holdHandler is a slog.Handler that holds WARN records, drops ERROR
// records and passes the rest.
type holdHandler struct {
	next slog.Handler
	held *heldRecords
}

type heldRecords struct {
	mu   sync.Mutex
	recs []heldRecord
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

func (h holdHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h holdHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level < slog.LevelWarn:
		return h.next.Handle(ctx, r)
	case r.Level >= slog.LevelError:
		return nil
	}
	h.held.mu.Lock()
	defer h.held.mu.Unlock()
	h.held.recs = append(h.held.recs, heldRecord{h.next, r.Clone()})
	return nil
}

func (h holdHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return holdHandler{h.next.WithAttrs(attrs), h.held}
}

func (h holdHandler) WithGroup(name string) slog.Handler {
	return holdHandler{h.next.WithGroup(name), h.held}
}

func (hr *heldRecords) replay(ctx context.Context) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for _, r := range hr.recs {
		_ = r.h.Handle(ctx, r.r)
	}
	hr.recs = nil
}

// checkWorkerPath rejects a local path where remote workers must read or
// write it: on Dataflow (unless --dry_run, which only translates the job)
// every path a DoFn opens has to be gs:// or another shared filesystem.
func checkWorkerPath(flagName, path string) error {
	if runnerName() != "dataflow" || path == "" || strings.Contains(path, "://") {
		return nil
	}
	if dry := flag.Lookup("dry_run"); dry != nil && dry.Value.String() == "true" {
		return nil
	}
	return fmt.Errorf("--%s=%s is a local path, which Dataflow workers cannot see: use a gs:// path", flagName, path)
}
