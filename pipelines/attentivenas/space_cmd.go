package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/space"
)

func init() {
	var (
		spacePath string
		arch      string
		count     int
		seed      uint64
	)
	addCommand(&command{
		name:    "space",
		summary: "inspect the search space: size and FLOPs range, or FLOPs/params of min, max, random or given archs (one JSON object per line)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&spacePath, "space", "", "search space file, JSON or YAML, local or gs:// (default: the built-in configs/fmnist.json)")
			fs.StringVar(&arch, "arch", "", "min, max, random, or an arch as printed (28-8-8-16-24-32-128-1-1-1-1-3-3-3-3-1-3-3-4) or as JSON ('[28,8,8,...]'); empty prints a summary of the space")
			fs.IntVar(&count, "count", 1, "with --arch=random: how many archs to draw")
			fs.Uint64Var(&seed, "seed", 1, "with --arch=random: seed of the draw")
		},
		run: func(ctx context.Context) error {
			sp, err := loadSpace(ctx, spacePath)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			switch arch {
			case "":
				return enc.Encode(summarize(sp))
			case "min":
				return enc.Encode(describe(sp, sp.Min()))
			case "max":
				return enc.Encode(describe(sp, sp.Max()))
			case "random":
				if count < 1 {
					return fmt.Errorf("--count=%d: expected at least 1", count)
				}
				rng := rand.New(rand.NewPCG(seed, 0))
				for range count {
					if err := enc.Encode(describe(sp, sp.Random(rng))); err != nil {
						return err
					}
				}
				return nil
			default:
				a, err := parseArch(sp, arch)
				if err != nil {
					return err
				}
				return enc.Encode(describe(sp, a))
			}
		},
	})
}

// loadSpace reads a space file through Beam's filesystem (local or gs://),
// or returns the built-in reference space for an empty path.
func loadSpace(ctx context.Context, path string) (*space.Space, error) {
	data, name, err := readSpaceFile(ctx, path)
	if err != nil {
		return nil, err
	}
	return space.Parse(data, name)
}

func readSpaceFile(ctx context.Context, path string) ([]byte, string, error) {
	if path == "" {
		return configs.FMNIST, configs.FMNISTName, nil
	}
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("--space=%s: %w", path, err)
	}
	defer fs.Close()
	data, err := filesystem.Read(ctx, fs, path)
	if err != nil {
		return nil, "", fmt.Errorf("--space=%s: %w", path, err)
	}
	return data, path, nil
}

// parseArch reads an Arch given as its key ("28-8-8-...", the form the
// tool prints) or as a JSON list ("[28,8,...]").
func parseArch(sp *space.Space, s string) (space.Arch, error) {
	a, err := sp.ParseArch(s)
	if err != nil {
		return space.Arch{}, fmt.Errorf("--arch: %w", err)
	}
	return a, nil
}

type archInfo struct {
	Vector     []int   `json:"vector"`
	Resolution int     `json:"resolution"`
	StemWidth  int     `json:"stem_width"`
	Widths     []int   `json:"widths"`
	HeadWidth  int     `json:"head_width"`
	Depths     []int   `json:"depths"`
	Kernels    []int   `json:"kernels"`
	Expands    []int   `json:"expands"`
	FLOPs      int64   `json:"flops"`
	MFLOPs     float64 `json:"mflops"`
	Params     int64   `json:"params"`
}

func describe(sp *space.Space, a space.Arch) archInfo {
	f := sp.FLOPs(a)
	return archInfo{
		Vector: a.Vector(), Resolution: a.Resolution, StemWidth: a.StemWidth, Widths: a.Widths,
		HeadWidth: a.HeadWidth, Depths: a.Depths, Kernels: a.Kernels, Expands: a.Expands,
		FLOPs: f, MFLOPs: float64(f) / 1e6, Params: sp.Params(a),
	}
}

type spaceSummary struct {
	Name        string            `json:"name"`
	Fingerprint string            `json:"fingerprint"`
	Size        string            `json:"size"`
	VectorLen   int               `json:"vector_len"`
	Dimensions  []space.Dimension `json:"dimensions"`
	Min         archInfo          `json:"min"`
	Max         archInfo          `json:"max"`
}

func summarize(sp *space.Space) spaceSummary {
	return spaceSummary{
		Name: sp.Name, Fingerprint: sp.Fingerprint(), Size: sp.Size().String(), VectorLen: sp.VectorLen(),
		Dimensions: sp.Dimensions(), Min: describe(sp, sp.Min()), Max: describe(sp, sp.Max()),
	}
}
