package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/stages"
)

// writeTinyIDX writes an IDX dataset of 40 train and 8 test 4x4 images to
// dir and returns the train labels file's bytes.
func writeTinyIDX(t *testing.T, dir string) []byte {
	t.Helper()
	var labels []byte
	for _, side := range []struct {
		prefix string
		n      int
	}{{"train", 40}, {"t10k", 8}} {
		d := &data.Dataset{Height: 4, Width: 4, Channels: 1, Classes: 10}
		for i := range side.n {
			for p := range 16 {
				d.Pixels = append(d.Pixels, byte(i*16+p))
			}
			d.Labels = append(d.Labels, uint8(i%10))
		}
		var im, lb bytes.Buffer
		if err := data.EncodeIDX(&im, &lb, d); err != nil {
			t.Fatal(err)
		}
		if side.prefix == "train" {
			labels = lb.Bytes()
		}
		for name, b := range map[string][]byte{side.prefix + "-images-idx3-ubyte": im.Bytes(), side.prefix + "-labels-idx1-ubyte": lb.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return labels
}

// parsePreprocessFlags parses args with the preprocess command's flags.
func parsePreprocessFlags(t *testing.T, args ...string) stages.PreprocessConfig {
	t.Helper()
	f := &preprocessFlags{}
	fs := flag.NewFlagSet("preprocess", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.config()
}

func TestPreprocessFlags(t *testing.T) {
	got := parsePreprocessFlags(t, "--data=gs://b/fmnist")
	want := stages.DefaultPreprocessConfig("gs://b/fmnist", "out")
	want.ChunkFiles = stages.DefaultChunkFiles
	if got != (want) {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	got = parsePreprocessFlags(t, "--data=d", "--format=folder", "--output=o", "--val=10", "--calib=0", "--seed=7", "--classes=3", "--channels=1", "--chunk=9")
	want = stages.PreprocessConfig{Data: "d", Format: "folder", Output: "o", Val: 10, Seed: 7, Classes: 3, Channels: 1, ChunkFiles: 9}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// outputFiles returns the files under root, relative and sorted.
func outputFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return err
	})
	slices.Sort(files)
	return files
}

func TestPreprocessCommand(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	writeTinyIDX(t, dir)
	cfg := parsePreprocessFlags(t, "--data="+dir, "--output="+out, "--val=5", "--calib=3")
	shardRE := regexp.MustCompile(`^examples/(train|calib|val|test)-00000-of-00001\.parquet$`)
	for _, runner := range []string{"", "direct", ""} { // prism, direct, prism again into the same output
		var buf bytes.Buffer
		*runners.Runner = runner
		err := runPreprocess(context.Background(), &buf, cfg)
		*runners.Runner = ""
		if err != nil {
			t.Fatalf("runner %q: %v\n%s", runner, err, buf.String())
		}
		text := buf.String()
		for _, want := range []string{
			"idx dataset " + dir + ": 4 files, 40 train-side + 8 test images of 4x4x1, 10 classes",
			"splits (seed 1): train 32 calib 3 val 5 test 8",
			"preprocess/images_train", "train        32       1  " + out + "/examples/train-00000-of-00001.parquet",
			"total        48", "stats: " + out + "/dataset/stats.parquet",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("runner %q: output lacks %q:\n%s", runner, want, text)
			}
		}
		files := outputFiles(t, out)
		var shards int
		for _, f := range files {
			if shardRE.MatchString(f) {
				shards++
			} else if f != "dataset/stats.parquet" && f != "_dataset.manifest.json" {
				t.Errorf("unexpected file %s", f)
			}
		}
		if shards != 4 {
			t.Errorf("runner %q: %d shards in %q, want one per split", runner, shards, files)
		}
	}
}

// TestPreprocessCommandFailure checks that a job failing at run time reports
// the DoFn's error in one readable line and leaves nothing behind.
func TestPreprocessCommandFailure(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	labels := writeTinyIDX(t, dir)
	labels[8+21] = 77 // label of image 21
	if err := os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), labels, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err := runPreprocess(context.Background(), &buf, parsePreprocessFlags(t, "--data="+dir, "--output="+out, "--val=5", "--calib=3"))
	if err == nil {
		t.Fatal("no error")
	}
	want := "train-labels-idx1-ubyte: label at record 21: 77 out of range [0,10)"
	if msg := err.Error(); !strings.HasPrefix(msg, "job failed on "+runnerName()) || !strings.Contains(msg, want) || strings.Contains(msg, "DataSource") || strings.Count(msg, "\n") > 0 {
		t.Errorf("error %q: want one line naming the cause %q", msg, want)
	}
	if files := outputFiles(t, out); len(files) > 0 {
		t.Errorf("the failed job left %q", files)
	}
	entries, _ := os.ReadDir(filepath.Join(out, "examples"))
	for _, e := range entries {
		t.Errorf("the failed job left %s in examples/", e.Name())
	}
}
