package onnxexport

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/data"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// tinySpace is a 3-channel 13x13 space whose subnets up- and downsample
// (resolutions 11, 13, 16), pool odd maps (13 -> 7 -> 4: pad 1) and even
// ones (16 -> 8 -> 4: pad 0), with and without expand conv and SE.
const tinySpace = `{
  "name": "tiny",
  "input": {"channels": 3, "height": 13, "width": 13},
  "classes": 3,
  "resolutions": [11, 13, 16],
  "first_conv": {"c": [4, 8], "k": 3, "s": 1},
  "stages": [
    {"name": "a", "c": [8, 12], "d": [1, 2], "k": [3, 5], "t": [2, 3], "s": 2, "se": true},
    {"name": "b", "c": [8, 12], "d": [1, 2], "k": [3],    "t": [1],    "s": 2, "se": false}
  ],
  "last_conv": {"c": [6, 10], "expand": 2},
  "activation": "%s"
}`

// tinyArchs are subnets of tinySpace as
// [r, w_stem, w_a, w_b, w_head, d_a, d_b, k_a, k_b, t_a, t_b].
var tinyArchs = []struct {
	name string
	vec  []int
}{
	{"max: 13->16 upsample, k5, 16->8->4, shortcut convs", []int{16, 8, 12, 12, 10, 2, 2, 5, 3, 3, 1}},
	{"native 13->7->4, pool+conv then identity shortcuts", []int{13, 4, 8, 12, 6, 1, 2, 3, 3, 2, 1}},
	{"13->11 downsample, 11->6->3", []int{11, 8, 12, 8, 10, 2, 1, 3, 3, 3, 1}},
	{"pool-only shortcuts, k5", []int{13, 8, 8, 8, 6, 2, 2, 5, 3, 2, 1}},
	{"min", []int{11, 4, 8, 8, 6, 1, 1, 3, 3, 2, 1}},
}

func tiny(t testing.TB, act space.Activation) *space.Space {
	t.Helper()
	sp, err := space.Parse(fmt.Appendf(nil, tinySpace, act), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func reference(t testing.TB) *space.Space {
	t.Helper()
	sp, err := space.Parse(configs.FMNIST, configs.FMNISTName)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func mustArch(t testing.TB, sp *space.Space, v []int) space.Arch {
	t.Helper()
	a, err := sp.ArchFromVector(v)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// foldedModel returns subnet a of a supernet of sp whose every tensor is
// drawn from seed (weights in +-0.5, BN gamma in [0.5, 1.5], BN beta and
// biases in +-0.3: unlike a fresh supernet, no block starts as its
// shortcut, so every branch shows in the logits), BN recalibrated on
// random images and folded, with a per-channel normalisation.
func foldedModel(t testing.TB, sp *space.Space, a space.Arch, seed uint64) *infer.Model {
	t.Helper()
	sn := supernet.New(sp, seed)
	r := rand.New(rand.NewPCG(seed, 99))
	for _, p := range sn.Params {
		lo, hi := -0.5, 0.5
		switch {
		case strings.HasSuffix(p.Name, ".gamma"):
			lo, hi = 0.5, 1.5
		case strings.HasSuffix(p.Name, ".beta"), strings.HasSuffix(p.Name, ".b"):
			lo, hi = -0.3, 0.3
		}
		for i := range p.W {
			p.W[i] = float32(lo + (hi-lo)*r.Float64())
		}
	}
	px, _ := randomPixels(sp, 24, seed+1)
	mean, std := normalisation(sp)
	st, err := infer.Recalibrate(sn, a, nhwc(sp, px, mean, std), infer.RecalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := infer.Fold(sn, a, st)
	if err != nil {
		t.Fatal(err)
	}
	for c := range mean {
		m.Mean, m.Std = append(m.Mean, float64(mean[c])), append(m.Std, float64(std[c]))
	}
	return m
}

// normalisation is a per-channel mean and std for sp's input, distinct per
// channel so a channel mix-up shows.
func normalisation(sp *space.Space) (mean, std []float32) {
	for c := range sp.Input.Channels {
		mean = append(mean, 0.29+0.05*float32(c))
		std = append(std, 0.35-0.04*float32(c))
	}
	return mean, std
}

// randomPixels returns n random byte images of sp's input (HWC) and the
// same images as the ONNX model's input: float32(byte)/255, NCHW.
func randomPixels(sp *space.Space, n int, seed uint64) (hwc []byte, nchw []float32) {
	r := rand.New(rand.NewPCG(seed, 5))
	S, C := sp.Input.Height, sp.Input.Channels
	hwc = make([]byte, n*S*S*C)
	for i := range hwc {
		hwc[i] = byte(r.IntN(256))
	}
	nchw = make([]float32, len(hwc))
	for b := range n {
		for y := range S {
			for x := range S {
				for c := range C {
					nchw[((b*C+c)*S+y)*S+x] = float32(hwc[((b*S+y)*S+x)*C+c]) / 255
				}
			}
		}
	}
	return hwc, nchw
}

// nhwc normalises byte images as predict and the evaluation do
// (data.Normalize): the engine's input.
func nhwc(sp *space.Space, px []byte, mean, std []float32) []float32 {
	x := make([]float32, len(px))
	data.Normalize(x, px, sp.Input.Channels, mean, std)
	return x
}

// engineInput is nhwc with the model's own (widened) normalisation.
func engineInput(sp *space.Space, m *infer.Model, px []byte) []float32 {
	mean, std := make([]float32, len(m.Mean)), make([]float32, len(m.Std))
	for c := range mean {
		mean[c], std[c] = float32(m.Mean[c]), float32(m.Std[c])
	}
	return nhwc(sp, px, mean, std)
}
