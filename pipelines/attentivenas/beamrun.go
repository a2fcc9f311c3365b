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
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
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
// If the job fails, runPipeline calls cleanup (when not nil) to remove what
// the failed job left behind, and returns the job's error reduced to its
// cause (the failing DoFn's own message; -v keeps the runner's full error
// and its ERROR logs, which are otherwise dropped because the command
// reports the failure itself).
//
// The result is nil, with a nil error, when the runner returns none (a
// Dataflow --dry_run or --async submission): there is then nothing local to
// summarise.
func runPipeline(ctx context.Context, w io.Writer, name string, p *beam.Pipeline, cleanup func(context.Context) error) (beam.PipelineResult, error) {
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
	restore := quietErrorLogs()
	pr, err := beamx.RunWithMetrics(ctx, p)
	restore()
	close(done)
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		err = fmt.Errorf("job failed on %s after %v: %s", runner, elapsed, jobErrorCause(err))
		if cleanup != nil {
			if cerr := cleanup(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up after the failed job: %w", cerr))
			} else {
				fmt.Fprintf(w, "%s: removed the temporary files of the failed job\n", name)
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

// quietErrorLogs drops ERROR records from the default slog logger (where
// the SDK and prism log) until the returned function is called, unless -v
// is set: a failed prism job logs its whole error several times, and
// runPipeline reports it once instead. Warnings still show.
func quietErrorLogs() (restore func()) {
	if *verbose {
		return func() {}
	}
	prev := slog.Default()
	slog.SetDefault(slog.New(belowError{prev.Handler()}))
	return func() { slog.SetDefault(prev) }
}

// belowError is a slog.Handler that passes records below slog.LevelError.
type belowError struct{ slog.Handler }

func (h belowError) Enabled(ctx context.Context, l slog.Level) bool {
	return l < slog.LevelError && h.Handler.Enabled(ctx, l)
}

func (h belowError) WithAttrs(attrs []slog.Attr) slog.Handler {
	return belowError{h.Handler.WithAttrs(attrs)}
}

func (h belowError) WithGroup(name string) slog.Handler { return belowError{h.Handler.WithGroup(name)} }

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
