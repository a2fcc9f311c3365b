package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attentivenas/attentivenas/schemas"
	"github.com/attentivenas/attentivenas/stages"
	"github.com/attentivenas/attentivenas/stages/pqio"
)

// cliCommand is the attentivenas command with args: this test binary, which
// TestMain turns into the command when cliEnv is set, with env added.
func cliCommand(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{cliEnv + "=1"}, env...)...)
	return cmd
}

// runCLI runs the command to its end and returns its output (stdout and
// stderr) and error.
func runCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	out, err := cliCommand(args, env...).CombinedOutput()
	return string(out), err
}

// killed reports whether err is the exit of a process killed by SIGKILL.
func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// tinyInputs writes the tiny dataset (8x8 images, 3 classes) and space.
func tinyInputs(t *testing.T) (dataDir, spaceFile string) {
	t.Helper()
	dataDir = t.TempDir()
	writePatchIDX(t, dataDir, 400, 60)
	spaceFile = filepath.Join(t.TempDir(), "tiny.json")
	if err := os.WriteFile(spaceFile, []byte(tinySpaceJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	return dataDir, spaceFile
}

// tinyArgs are the NAS flags of the tiny runs: one epoch of 20 steps, a
// dozen evaluated subnets, a small search.
func tinyArgs(out, spaceFile string, extra ...string) []string {
	return append([]string{"--output=" + out, "--space=" + spaceFile, "--samplers=uniform", "--epochs=1", "--batch=16", "--lr=0.2",
		"--eval_subnets=14", "--prior_bin=20000", "--calib_images=40", "--eval_images=80", "--test_images=30", "--latency_runs=2",
		"--shift=0", "--population=8", "--mutations=4", "--crossovers=4", "--generations=2", "--bucket=20000"}, extra...)
}

// tinyOutput preprocesses the tiny dataset into a new output and, as
// asked, trains, evaluates and searches it (in this process), with the
// tiny flags and extra ones.
func tinyOutput(t *testing.T, dataDir, spaceFile string, extra []string, steps ...string) string {
	t.Helper()
	ctx := context.Background()
	out := t.TempDir()
	var log bytes.Buffer
	if err := runPreprocess(ctx, &log, parsePreprocessFlags(t, "--data="+dataDir, "--output="+out, "--val=96", "--calib=64", "--classes=3")); err != nil {
		t.Fatalf("preprocess: %v\n%s", err, log.String())
	}
	for _, step := range steps {
		var err error
		f := parseNASFlags(t, tinyArgs(out, spaceFile, extra...)...)
		switch step {
		case "train":
			err = runTrain(ctx, &log, f)
		case "evaluate":
			err = runEvaluate(ctx, &log, f)
		case "search":
			err = runSearch(ctx, &log, f)
		case "pareto":
			err = runPareto(ctx, &log, f)
		default:
			t.Fatalf("step %q", step)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", step, err, log.String())
		}
	}
	return out
}

// copyOutput copies an output directory (the lock file aside) to a new
// directory.
func copyOutput(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyOutputTree(t, src, dst)
	return dst
}

// resetOutput makes out a copy of snapshot again: outputs record absolute
// paths (the checkpoint of each evaluation), so a test that replays a
// command on the same artifacts does it at the same path.
func resetOutput(t *testing.T, snapshot, out string) {
	t.Helper()
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	copyOutputTree(t, snapshot, out)
}

func copyOutputTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if d.Name() == pqio.LockName {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		outF, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		_, err = io.Copy(outF, in)
		return errors.Join(err, outF.Close())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// evalKeys reads a run's committed evaluations as a reader would and
// returns them as sorted keys of their deterministic columns (timings and
// latency vary from run to run).
func evalKeys(out, run string) ([]string, error) {
	rows, err := runEvals(context.Background(), out, run)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = fmt.Sprintf("%s|%s|%s|%s|%v|%v|%v|%d", r.Run, relRun(r.Checkpoint), r.Arch, r.Origin, r.Top1, r.Loss, r.TestTop1, r.FLOPs)
	}
	slices.Sort(keys)
	return keys, nil
}

// relRun is a checkpoint path from its "runs/" on: outputs copied in the
// tests keep the paths of the output they were copied from.
func relRun(p string) string {
	if i := strings.LastIndex(p, "/runs/"); i >= 0 {
		return p[i:]
	}
	return p
}

// hiddenLeftovers lists the hidden files and directories under out (the
// lock file aside): what interrupted writes leave.
func hiddenLeftovers(t *testing.T, out string) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != out && strings.HasPrefix(d.Name(), ".") && d.Name() != pqio.LockName {
			left = append(left, p)
		}
		return nil
	})
	return left
}

// startHeld starts the command with args so that, once it holds its
// output, it waits for hold/release (see TestMain).
func startHeld(t *testing.T, hold string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := cliCommand(args, holdEnv+"="+hold)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &buf
}

// holder is the command that holds the output in an ownership test.
type holder struct {
	index int
	cmd   *exec.Cmd
	out   *bytes.Buffer
	done  chan error // its exit
}

// ownership starts two commands on one output at once: exactly one must
// hold the output and the other must refuse, naming the holder. It returns
// the holder (which still waits for hold/release) and the refusal.
func ownership(t *testing.T, hold string, a, b []string) (holder, string) {
	t.Helper()
	type proc struct {
		cmd  *exec.Cmd
		out  *bytes.Buffer
		done chan error
	}
	var ps []proc
	for _, args := range [][]string{a, b} {
		cmd, out := startHeld(t, hold, args...)
		p := proc{cmd, out, make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		ps = append(ps, p)
	}
	t.Cleanup(func() {
		for _, p := range ps {
			p.cmd.Process.Kill()
		}
	})
	// One of them exits (the one refused); the other holds the output.
	select {
	case err := <-ps[0].done:
		ps[0].done <- err
	case err := <-ps[1].done:
		ps[1].done <- err
	case <-time.After(2 * time.Minute):
		t.Fatal("neither command stopped: both hold the output?")
	}
	// The holder writes held-<pid> just after it takes the lock, which may
	// be after the other was refused.
	var held []string
	for deadline := time.Now().Add(time.Minute); len(held) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		held, _ = filepath.Glob(filepath.Join(hold, "held-*"))
	}
	for i, p := range ps {
		select {
		case err := <-p.done:
			if err == nil {
				t.Fatalf("command %d succeeded while the other held the output:\n%s", i, p.out)
			}
			h := 1 - i
			if len(held) != 1 || held[0] != filepath.Join(hold, fmt.Sprintf("held-%d", ps[h].cmd.Process.Pid)) {
				t.Fatalf("held: %v; the holder is pid %d; the other said:\n%s", held, ps[h].cmd.Process.Pid, p.out)
			}
			return holder{h, ps[h].cmd, ps[h].out, ps[h].done}, p.out.String()
		default:
		}
	}
	t.Fatal("unreachable")
	return holder{}, ""
}

// TestTwoTrainsOneOutput starts `train --seed=1` and `train --seed=2` on one
// output at once (the case): one trains, the other refuses with a
// message naming the first and what to do, and the checkpoint holds the
// first's training only. A holder killed with the lock held does not block
// the next command, which says so.
func TestTwoTrainsOneOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command in subprocesses")
	}
	dataDir, spaceFile := tinyInputs(t)
	out := tinyOutput(t, dataDir, spaceFile, nil)
	hold := t.TempDir()
	args := func(seed int) []string {
		return append([]string{"train"}, tinyArgs(out, spaceFile, fmt.Sprintf("--seed=%d", seed))...)
	}
	hd, refusal := ownership(t, hold, args(1), args(2))
	h := hd.index
	for _, want := range []string{"attentivenas train: output " + out + " is in use by process " + fmt.Sprint(hd.cmd.Process.Pid),
		fmt.Sprintf("train --output=%s", out), fmt.Sprintf("--seed=%d", h+1), "wait for it to finish, or write to another --output"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("refusal lacks %q:\n%s", want, refusal)
		}
	}
	if err := os.WriteFile(filepath.Join(hold, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-hd.done; err != nil {
		t.Fatalf("the holder failed: %v\n%s", err, hd.out)
	}
	_, st, err := stages.ReadCheckpoint(context.Background(), stages.CheckpointPath(out, "uniform", 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"Seed":%d,`, h+1); !strings.Contains(string(st.Job), want) {
		t.Errorf("the checkpoint's job is %s, want the holder's seed %d", st.Job, h+1)
	}

	// A holder killed while it holds the output.
	if err := os.Remove(filepath.Join(hold, "release")); err != nil {
		t.Fatal(err)
	}
	cmd, _ := startHeld(t, hold, args(h+1)...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(hold, fmt.Sprintf("held-%d", cmd.Process.Pid))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never held the output")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	text, err := runCLI(t, nil, args(h+1)...)
	if err != nil || !strings.Contains(text, "ended without releasing it (killed?)") {
		t.Fatalf("after a killed holder: %v\n%s", err, text)
	}
}

// TestTwoRunsOneOutput starts two `run` commands on one output at once: one
// runs the whole pipeline, the other refuses.
func TestTwoRunsOneOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command in subprocesses")
	}
	dataDir, spaceFile := tinyInputs(t)
	out := t.TempDir()
	hold := t.TempDir()
	args := append([]string{"run", "--data=" + dataDir, "--val=96", "--calib=64", "--classes=3"}, tinyArgs(out, spaceFile)...)
	hd, refusal := ownership(t, hold, args, args)
	if !strings.Contains(refusal, "attentivenas run: output "+out+" is in use by process "+fmt.Sprint(hd.cmd.Process.Pid)) {
		t.Errorf("refusal:\n%s", refusal)
	}
	if err := os.WriteFile(filepath.Join(hold, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-hd.done; err != nil {
		t.Fatalf("the holder failed: %v\n%s", err, hd.out)
	}
	if !strings.Contains(hd.out.String(), "run: done in") {
		t.Errorf("holder output:\n%s", hd.out)
	}
}

// killAtEachStep runs the command args(out) on out as snapshot holds it,
// killed (SIGKILL) before each step of its commits in turn, until a run
// ends without reaching the step. After each kill, check says what readers
// see (the previous complete artifacts, the new ones, or a clear refusal);
// then the same command runs again and want checks that it left what an
// uninterrupted run leaves, with no temporary file behind.
func killAtEachStep(t *testing.T, snapshot, out string, args func(out string) []string, check, want func(t *testing.T, out string)) {
	t.Helper()
	for step := 1; ; step++ {
		resetOutput(t, snapshot, out)
		text, err := runCLI(t, []string{fmt.Sprintf("%s=%d", killEnv, step)}, args(out)...)
		if err == nil {
			if step < 3 {
				t.Fatalf("only %d commit steps:\n%s", step-1, text)
			}
			t.Logf("%d commit steps", step-1)
			want(t, out)
			return
		}
		if !killed(err) {
			t.Fatalf("step %d: %v\n%s", step, err, text)
		}
		i := strings.Index(text, "test: killed before ")
		ev := strings.TrimSpace(text[i+len("test: killed before "):])
		ev, _, _ = strings.Cut(ev, "\n")
		t.Run(fmt.Sprintf("kill %d before %s", step, strings.ReplaceAll(ev, out, "OUT")), func(t *testing.T) {
			check(t, out)
			if text, err := runCLI(t, nil, args(out)...); err != nil {
				t.Fatalf("the command run again: %v\n%s", err, text)
			}
			want(t, out)
			if left := hiddenLeftovers(t, out); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// either reports whether got is one of the wanted states.
func either(got []string, states ...[]string) bool {
	return slices.ContainsFunc(states, func(s []string) bool { return slices.Equal(got, s) })
}

// refusal checks that a reader's error is a clear refusal: it names a file
// of the output.
func refusal(t *testing.T, out string, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), out) {
		t.Errorf("a reader failed without naming the file: %v", err)
	}
	t.Logf("a reader refused: %v", err)
}

// TestEvaluateKilledAtEachCommitStep replaces a run's evaluations (another
// --eval_subnets) and kills evaluate before each step of the commit.
func TestEvaluateKilledAtEachCommitStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the command at every commit step")
	}
	dataDir, spaceFile := tinyInputs(t)
	out := tinyOutput(t, dataDir, spaceFile, nil, "train", "evaluate")
	snapshot := copyOutput(t, out)
	args := func(out string) []string {
		return append([]string{"evaluate"}, tinyArgs(out, spaceFile, "--eval_subnets=10")...)
	}
	old, err := evalKeys(out, "uniform")
	if err != nil {
		t.Fatal(err)
	}
	if text, err := runCLI(t, nil, args(out)...); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want, err := evalKeys(out, "uniform")
	if err != nil || slices.Equal(want, old) {
		t.Fatalf("the new evaluations do not differ from the old ones (%v)", err)
	}
	killAtEachStep(t, snapshot, out, args, func(t *testing.T, out string) {
		got, err := evalKeys(out, "uniform")
		switch {
		case err != nil:
			refusal(t, out, err)
		case !either(got, old, want):
			t.Errorf("readers see %d evaluations, neither the old %d nor the new %d", len(got), len(old), len(want))
		}
	}, func(t *testing.T, out string) {
		if got, err := evalKeys(out, "uniform"); err != nil || !slices.Equal(got, want) {
			t.Errorf("evaluations %d, %v; want the uninterrupted run's %d", len(got), err, len(want))
		}
	})
}

// searchState is what readers see of a run's search: the predictors, the
// rank quality, the shortlist and its evaluations, as keys.
func searchState(out string) (preds, rq, shortlist, evals []string, err error) {
	ctx := context.Background()
	p, err := stages.ReadPredictors(ctx, out, "uniform")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for _, r := range p {
		preds = append(preds, fmt.Sprintf("%s %v %v %x %s", r.Kind, r.KendallTau, r.Selected, r.Model, relRun(r.Checkpoint)))
	}
	q, err := stages.ReadRankQuality(ctx, out, "uniform")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for _, r := range q {
		rq = append(rq, fmt.Sprintf("%s %d %d %v", r.Estimator, r.Bin, r.N, r.KendallTau))
	}
	sc, _, err := pqio.ReadFile[schemas.SearchCandidate](ctx, stages.SearchPath(out, "uniform"))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for _, r := range sc {
		shortlist = append(shortlist, fmt.Sprintf("%s %v", r.Arch, r.Predicted))
	}
	all, err := evalKeys(out, "uniform")
	for _, k := range all {
		if strings.Contains(k, "|"+schemas.OriginSearch+"|") {
			evals = append(evals, k)
		}
	}
	return preds, rq, shortlist, evals, err
}

// TestSearchKilledAtEachCommitStep replaces a run's search (another seed)
// and kills search before each step of its commits (the predictor and rank
// quality, the shortlist's evaluations).
func TestSearchKilledAtEachCommitStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the command at every commit step")
	}
	dataDir, spaceFile := tinyInputs(t)
	// 10 of the tiny space's 16 subnets evaluated: the shortlists have
	// some left to evaluate.
	out := tinyOutput(t, dataDir, spaceFile, []string{"--eval_subnets=10"}, "train", "evaluate", "search")
	snapshot := copyOutput(t, out)
	args := func(out string) []string {
		return append([]string{"search"}, tinyArgs(out, spaceFile, "--seed=2", "--bucket=4000")...)
	}
	type state struct{ preds, rq, shortlist, evals []string }
	read := func(t *testing.T, out string) (state, error) {
		var s state
		var err error
		s.preds, s.rq, s.shortlist, s.evals, err = searchState(out)
		return s, err
	}
	old, err := read(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := runCLI(t, nil, args(out)...); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want, err := read(t, out)
	if err != nil || slices.Equal(want.preds, old.preds) || len(want.evals) == 0 || slices.Equal(want.evals, old.evals) {
		t.Fatalf("the new search does not differ from the old one, or evaluates nothing (%d search evaluations, %v)", len(want.evals), err)
	}
	// (The rank-quality study may come out the same for both seeds on so
	// few subnets; then only the predictors tell the two sets apart.)
	killAtEachStep(t, snapshot, out, args, func(t *testing.T, out string) {
		got, err := read(t, out)
		switch {
		case err != nil:
			refusal(t, out, err)
		case !either(got.preds, old.preds, want.preds) || !either(got.rq, old.rq, want.rq):
			t.Errorf("the predictor set is neither the old one nor the new one")
		case !slices.Equal(old.rq, want.rq) && slices.Equal(got.preds, old.preds) != slices.Equal(got.rq, old.rq):
			t.Errorf("a predictor of one search with the rank quality of the other")
		case !either(got.shortlist, old.shortlist, want.shortlist) || !either(got.evals, old.evals, want.evals):
			t.Errorf("the shortlist or its evaluations are neither the old ones nor the new ones")
		}
	}, func(t *testing.T, out string) {
		got, err := read(t, out)
		if err != nil || !slices.Equal(got.preds, want.preds) || !slices.Equal(got.rq, want.rq) ||
			!slices.Equal(got.shortlist, want.shortlist) || !slices.Equal(got.evals, want.evals) {
			t.Errorf("after the command ran again: %v; the artifacts differ from an uninterrupted run's", err)
		}
	})
}

// TestParetoKilledAtEachCommitStep replaces the report (another latency
// box) and kills pareto before each step of its commit.
func TestParetoKilledAtEachCommitStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the command at every commit step")
	}
	dataDir, spaceFile := tinyInputs(t)
	out := tinyOutput(t, dataDir, spaceFile, nil, "train", "evaluate", "pareto")
	snapshot := copyOutput(t, out)
	args := func(out string) []string {
		return append([]string{"pareto"}, tinyArgs(out, spaceFile, "--latency_box_ms=0.5")...)
	}
	read := func(out string) (string, error) {
		sum, err := stages.ReadParetoSummary(context.Background(), out)
		if err != nil {
			return "", err
		}
		paths, m, err := pqio.SetFiles(context.Background(), filepath.Join(out, "pareto"), stages.ParetoSet)
		if err != nil {
			return "", err
		}
		var hv []schemas.Hypervolume
		for i, f := range m.Files {
			if f.Name == "hypervolume.parquet" {
				if hv, _, err = pqio.ReadFile[schemas.Hypervolume](context.Background(), paths[i]); err != nil {
					return "", err
				}
			}
		}
		return fmt.Sprintf("%+v %+v", sum.Runs, hv), nil
	}
	old, err := read(out)
	if err != nil {
		t.Fatal(err)
	}
	if text, err := runCLI(t, nil, args(out)...); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want, err := read(out)
	if err != nil || want == old {
		t.Fatalf("the new report does not differ from the old one (%v)", err)
	}
	killAtEachStep(t, snapshot, out, args, func(t *testing.T, out string) {
		got, err := read(out)
		switch {
		case err != nil:
			refusal(t, out, err)
		case got != old && got != want:
			t.Errorf("readers see a report that is neither the old one nor the new one:\n%s", got)
		}
	}, func(t *testing.T, out string) {
		if got, err := read(out); err != nil || got != want {
			t.Errorf("after the command ran again: %v\n%s\nwant\n%s", err, got, want)
		}
	})
}

// TestTrainKilledAtEachCommitStep trains two epochs, killed before each
// step of each epoch's commit of checkpoint and train log: readers see no
// training, or a checkpoint with exactly its log, never one without the
// other; and train run again ends with the weights and log of an
// uninterrupted run.
func TestTrainKilledAtEachCommitStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the command at every commit step")
	}
	dataDir, spaceFile := tinyInputs(t)
	out := tinyOutput(t, dataDir, spaceFile, nil)
	snapshot := copyOutput(t, out)
	args := func(out string) []string { return append([]string{"train"}, tinyArgs(out, spaceFile, "--epochs=2")...) }
	ctx := context.Background()
	type state struct {
		epoch   int
		log     []string
		weights []float32
	}
	read := func(out string) (state, error) {
		ckpt, epoch, err := stages.LatestCheckpoint(ctx, out, "uniform")
		if err != nil || ckpt == "" {
			return state{}, err
		}
		rows, cst, err := stages.ReadCheckpoint(ctx, ckpt)
		if err != nil {
			return state{}, err
		}
		log, err := stages.ReadTrainLog(ctx, out, "uniform")
		if err != nil {
			return state{}, err
		}
		if cst.Step != int64(len(log)) || cst.Epoch != epoch {
			return state{}, fmt.Errorf("checkpoint %s at step %d (epoch %d) with a log of %d steps", ckpt, cst.Step, cst.Epoch, len(log))
		}
		s := state{epoch: epoch}
		for _, r := range log {
			s.log = append(s.log, fmt.Sprintf("%d %v %v %v", r.Step, r.LR, r.LossMax, r.LossMin))
		}
		for _, r := range rows {
			s.weights = append(s.weights, r.Values...)
		}
		return s, nil
	}
	if text, err := runCLI(t, nil, args(out)...); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want, err := read(out)
	if err != nil || want.epoch != 2 {
		t.Fatalf("uninterrupted: epoch %d, %v", want.epoch, err)
	}
	spe := len(want.log) / 2
	killAtEachStep(t, snapshot, out, args, func(t *testing.T, out string) {
		got, err := read(out)
		switch {
		case err != nil:
			refusal(t, out, err)
		case got.epoch == 0 && len(got.log) == 0:
		case got.epoch < 1 || got.epoch > 2 || !slices.Equal(got.log, want.log[:got.epoch*spe]):
			t.Errorf("readers see epoch %d with %d log rows, not a committed state of the run", got.epoch, len(got.log))
		}
	}, func(t *testing.T, out string) {
		got, err := read(out)
		if err != nil || got.epoch != 2 || !slices.Equal(got.log, want.log) || !slices.Equal(got.weights, want.weights) {
			t.Errorf("after train ran again: epoch %d, %d log rows, %v; want the uninterrupted run's weights and log", got.epoch, len(got.log), err)
		}
	})
}
