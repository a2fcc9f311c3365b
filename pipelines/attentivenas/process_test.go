package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// bootWrapper is the PROCESS environment's command. Prism runs it as
// `<command> --id='<id>' --provision_endpoint=<addr>`, with the quotes
// inside the argument (no shell removes them), and the boot program then
// asks for a worker id that has them ("not registered in worker pool"), so
// the wrapper strips them. It runs the Go SDK's container boot program
// (%[2]s), which fetches the staged worker binary from prism's artifact
// service and runs it with --worker, as the Dataflow container does;
// --semi_persist_dir keeps the staged files in the test's directory. It
// logs to %[1]s a "start" line, and an "exit" line if the boot program
// returns, which it only does when the worker could not start or died
// (after a job the worker idles forever and prism kills this shell).
const bootWrapper = `#!/bin/sh
echo "start $$ $*" >> '%[1]s'
for a do
	shift
	case $a in
	--id=\'*\') a=${a#--id=\'}; a=--id=${a%%\'} ;;
	esac
	set -- "$@" "$a"
done
'%[2]s' --semi_persist_dir='%[3]s' "$@"
echo "exit $$ status $?" >> '%[1]s'
`

// TestSeparateProcessWorkers runs the preprocess command's binary on prism
// with a PROCESS environment, so that its DoFns execute in a separate
// worker process started by the Go SDK's boot program, as on Dataflow: no
// flags, globals or in-memory state are shared with the launcher, and
// every DoFn, function and type has to be registered and serialisable.
// The outputs must then exist with the expected row counts.
//
// The worker process does not exit after the job (the SDK harness sleeps
// once its control stream closes), so the command runs in its own process
// group and the test kills the group.
func TestSeparateProcessWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and runs a job in separate processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("process groups and /proc are used as on Linux")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binaries:", err)
	}
	tmp := t.TempDir()
	bin, boot := filepath.Join(tmp, "attentivenas"), filepath.Join(tmp, "beamboot")
	builds := [][]string{{bin, "."}, {boot, "github.com/apache/beam/sdks/v2/go/container"}}
	errs := make(chan error, len(builds))
	for _, b := range builds { // in parallel: linking dominates
		go func() {
			out, err := exec.Command(gotool, "build", "-o", b[0], b[1]).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("go build -o %s %s: %v\n%s", b[0], b[1], err, out)
			}
			errs <- err
		}()
	}
	var buildErr error
	for range builds {
		buildErr = errors.Join(buildErr, <-errs)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bootLog, persist, work := filepath.Join(tmp, "boot.log"), filepath.Join(tmp, "persist"), filepath.Join(tmp, "work")
	wrapper := filepath.Join(tmp, "bootwrap.sh")
	for _, p := range []string{bootLog, persist, work, wrapper, boot} {
		if strings.Contains(p, "'") {
			t.Skipf("temporary path %q has a quote, which the wrapper script does not escape", p)
		}
	}
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf(bootWrapper, bootLog, boot, persist)), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{persist, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, out := filepath.Join(tmp, "data"), filepath.Join(tmp, "out")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeIDX(t, data, 28, 60, 10)
	envConfig, err := json.Marshal(map[string]string{"command": wrapper})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "preprocess", "--data="+data, "--output="+out, "--val=10", "--calib=5",
		"--runner=prism", "--environment_type=PROCESS", "--environment_config="+string(envConfig),
		// Without it the universal runner would try to cross-compile the
		// launcher's source (v2.77 never reuses the running binary).
		"--worker_binary="+bin)
	// The boot program writes pipeline_options.json into its working
	// directory, which prism leaves as the launcher's.
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Files, not pipes: the lingering worker inherits them, and a pipe would
	// keep Wait waiting for it.
	stdout, stderr := createFile(t, filepath.Join(tmp, "stdout")), createFile(t, filepath.Join(tmp, "stderr"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	workers := map[int]string{} // worker processes seen: pid -> executable
	t.Cleanup(func() { killGroup(t, pgid, workers) })

	// Watch the process group while the command runs: note the worker
	// processes, and stop the command as soon as the boot program returns,
	// since prism does not fail a job whose environment process died (it
	// waits for a worker that never connects) and the command would only
	// end at the timeout.
	type watch struct {
		workers    map[int]string
		bootExited bool
	}
	watched := make(chan watch, 1)
	stop := make(chan struct{})
	go func() {
		w := watch{workers: map[int]string{}}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, p := range groupProcs(pgid) {
				if slices.Contains(p.args, "--worker=true") && slices.Contains(p.args, "--semi_persist_dir="+persist) {
					w.workers[p.pid] = p.exe
				}
			}
			if b, _ := os.ReadFile(bootLog); bytes.Contains(b, []byte("\nexit ")) {
				w.bootExited = true
				cancel()
			}
			select {
			case <-stop:
				watched <- w
				return
			case <-tick.C:
			}
		}
	}()
	runErr := cmd.Wait()
	close(stop)
	w := <-watched
	maps.Copy(workers, w.workers)
	elapsed := time.Since(start)
	output := readText(t, stdout.Name()) + readText(t, stderr.Name())
	boots := readText(t, bootLog)
	if runErr != nil {
		why := "the command failed"
		if w.bootExited {
			why = "the boot program exited before the job finished, and the test killed the command"
		} else if ctx.Err() != nil {
			why = "the command timed out"
		}
		t.Fatalf("attentivenas preprocess on prism with PROCESS workers: %s after %v: %v\noutput:\n%s\nboot log:\n%s",
			why, elapsed.Round(time.Millisecond), runErr, output, boots)
	}
	t.Logf("preprocess with separate-process workers took %v", elapsed.Round(time.Millisecond))

	// A worker process was started, through the wrapper, by the boot program,
	// from the staged binary.
	if !strings.Contains(boots, "--provision_endpoint=") {
		t.Errorf("the boot wrapper was not run (boot log %q)\noutput:\n%s", boots, output)
	}
	if len(workers) == 0 {
		t.Errorf("no worker process (--worker=true) seen in the command's process group\nboot log:\n%s\noutput:\n%s", boots, output)
	}
	if _, err := os.Stat(filepath.Join(work, "pipeline_options.json")); err != nil {
		t.Errorf("the boot program did not write the worker's options: %v", err)
	}
	t.Logf("boot log:\n%sworker processes: %v", boots, workers)

	// The work really ran: the outputs hold every image in its split.
	want := map[string]int{"train": 45, "calib": 5, "val": 10, "test": 10}
	files, err := filepath.Glob(filepath.Join(stages.ExamplesDir(out), "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*.parquet under %s (%v)\noutput:\n%s", out, err, output)
	}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, f := range files {
		rows, _, err := pqio.ReadFile[schemas.Example](context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[r.Split]++
			key := r.Split + "/" + strconv.FormatInt(r.Index, 10)
			if seen[key] || len(r.Pixels) != 28*28 || r.Height != 28 || r.Width != 28 || r.Channels != 1 {
				t.Errorf("%s: bad or repeated example %s (%dx%dx%d, %d pixels)", f, key, r.Height, r.Width, r.Channels, len(r.Pixels))
			}
			seen[key] = true
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("examples per split: %v, want %v (files %v)", got, want, files)
	}
	stats, _, err := pqio.ReadFile[schemas.DatasetStats](context.Background(), stages.StatsPath(out))
	if err != nil {
		t.Fatal(err)
	}
	gotStats := map[string]int{}
	for _, r := range stats {
		gotStats[r.Split] = int(r.Images)
	}
	if !maps.Equal(gotStats, want) {
		t.Errorf("stats rows: %v, want %v", gotStats, want)
	}
	if !strings.Contains(output, "total        70") {
		t.Errorf("the command's summary lacks the 70 images:\n%s", output)
	}
}

// proc is a process of a process group.
type proc struct {
	pid  int
	exe  string
	args []string
}

// groupProcs lists the live processes of process group pgid from /proc.
func groupProcs(pgid int) []proc {
	ents, _ := os.ReadDir("/proc")
	var ps []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) || fields[0] == "Z" {
			continue
		}
		p := proc{pid: pid}
		p.exe, _ = os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			p.args = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		}
		ps = append(ps, p)
	}
	return ps
}

// killGroup kills process group pgid, waits until it is gone and removes
// the copies of the worker binary the boot program made under /tmp/bin*/
// (a fixed place it does not clean up): those of the workers seen and of
// the workers still running.
func killGroup(t *testing.T, pgid int, workers map[int]string) {
	var exes []string
	for _, exe := range workers {
		exes = append(exes, exe)
	}
	for _, p := range groupProcs(pgid) {
		exes = append(exes, p.exe)
	}
	var copies []string
	for _, exe := range exes {
		exe = strings.TrimSuffix(exe, " (deleted)")
		if filepath.Base(exe) == "worker" && strings.HasPrefix(filepath.Dir(exe), "/tmp/bin") && !slices.Contains(copies, filepath.Dir(exe)) {
			copies = append(copies, filepath.Dir(exe))
		}
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("killing process group %d: %v", pgid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(groupProcs(pgid)) > 0 {
		if time.Now().After(deadline) {
			t.Errorf("process group %d still has processes: %v", pgid, groupProcs(pgid))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, d := range copies {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("removing the boot program's copy of the worker: %v", err)
		}
	}
}

func createFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Error(err)
	}
	return string(b)
}
