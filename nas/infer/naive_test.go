package infer

// An independent float64 reference forward pass: plain loops over the
// supernet's max-shape tensors, written from ALGORITHM.md section 2 and the
// PyTorch definitions (F.interpolate bilinear align_corners=False,
// F.avg_pool2d(x, 2, padding=W%2) with count_include_pad, BatchNorm with the
// two-pass biased variance). It calls nothing from package kernels and
// nothing from this package's forward code.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/nastest"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Named tolerances of the nastest harness (style rule 13).
const (
	tol32 = nastest.Tol32 // float32 engine against the float64 reference
	tol64 = nastest.Tol64 // float64 against float64
)

// t64 is an NHWC float64 tensor.
type t64 struct {
	B, H, W, C int
	v          []float64
}

func newT64(B, H, W, C int) *t64 { return &t64{B, H, W, C, make([]float64, B*H*W*C)} }

func (t *t64) at(b, h, w, c int) float64 { return t.v[((b*t.H+h)*t.W+w)*t.C+c] }
func (t *t64) set(b, h, w, c int, x float64) {
	t.v[((b*t.H+h)*t.W+w)*t.C+c] = x
}

func naiveAct(a space.Activation, x float64) float64 {
	switch a {
	case space.Swish:
		return x / (1 + math.Exp(-x))
	case space.HSwish:
		return x * math.Min(math.Max(x+3, 0), 6) / 6
	case space.ReLU:
		return math.Max(x, 0)
	}
	panic("unknown activation " + string(a))
}

func hsigmoid(x float64) float64 { return math.Min(math.Max(x+3, 0), 6) / 6 }

// naiveResize is F.interpolate(mode="bilinear", align_corners=False).
func naiveResize(x *t64, r int) *t64 {
	if x.H == r && x.W == r {
		return x
	}
	y := newT64(x.B, r, r, x.C)
	src := func(d, in int) (int, int, float64) {
		s := (float64(d)+0.5)*float64(in)/float64(r) - 0.5
		if s < 0 {
			s = 0
		}
		i0 := int(math.Floor(s))
		i1 := i0 + 1
		if i1 > in-1 {
			i1 = in - 1
		}
		return i0, i1, s - float64(i0)
	}
	for b := 0; b < x.B; b++ {
		for oh := 0; oh < r; oh++ {
			h0, h1, lh := src(oh, x.H)
			for ow := 0; ow < r; ow++ {
				w0, w1, lw := src(ow, x.W)
				for c := 0; c < x.C; c++ {
					v := (1-lh)*((1-lw)*x.at(b, h0, w0, c)+lw*x.at(b, h0, w1, c)) +
						lh*((1-lw)*x.at(b, h1, w0, c)+lw*x.at(b, h1, w1, c))
					y.set(b, oh, ow, c, v)
				}
			}
		}
	}
	return y
}

// naiveStem is a dense k x k convolution, stride s, zero padding k/2, with
// weight W[(kh*k+kw)*Cin+ci, co] (leading dimension ld).
func naiveStem(x *t64, W []float32, ld, k, s, cout int) *t64 {
	p := k / 2
	ho := (x.H+2*p-k)/s + 1
	y := newT64(x.B, ho, ho, cout)
	for b := 0; b < x.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < ho; ow++ {
				for co := 0; co < cout; co++ {
					var acc float64
					for i := 0; i < k; i++ {
						for j := 0; j < k; j++ {
							ih, iw := oh*s+i-p, ow*s+j-p
							if ih < 0 || ih >= x.H || iw < 0 || iw >= x.W {
								continue
							}
							for ci := 0; ci < x.C; ci++ {
								acc += x.at(b, ih, iw, ci) * float64(W[((i*k+j)*x.C+ci)*ld+co])
							}
						}
					}
					y.set(b, oh, ow, co, acc)
				}
			}
		}
	}
	return y
}

// naive1x1 is a 1x1 convolution with W[ci, co] (leading dimension ld).
func naive1x1(x *t64, W []float32, ld, cout int) *t64 {
	y := newT64(x.B, x.H, x.W, cout)
	for r := 0; r < x.B*x.H*x.W; r++ {
		for co := 0; co < cout; co++ {
			var acc float64
			for ci := 0; ci < x.C; ci++ {
				acc += x.v[r*x.C+ci] * float64(W[ci*ld+co])
			}
			y.v[r*cout+co] = acc
		}
	}
	return y
}

// naiveDW is a depthwise k x k convolution, stride s, padding k/2, using
// the centre k x k of W[KMax, KMax, CMax].
func naiveDW(x *t64, W []float32, kmax, cmax, k, s int) *t64 {
	p, o := k/2, (kmax-k)/2
	ho := (x.H+2*p-k)/s + 1
	y := newT64(x.B, ho, ho, x.C)
	for b := 0; b < x.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < ho; ow++ {
				for c := 0; c < x.C; c++ {
					var acc float64
					for i := 0; i < k; i++ {
						for j := 0; j < k; j++ {
							ih, iw := oh*s+i-p, ow*s+j-p
							if ih < 0 || ih >= x.H || iw < 0 || iw >= x.W {
								continue
							}
							acc += x.at(b, ih, iw, c) * float64(W[((o+i)*kmax+(o+j))*cmax+c])
						}
					}
					y.set(b, oh, ow, c, acc)
				}
			}
		}
	}
	return y
}

// naivePool is F.avg_pool2d(x, 2, stride 2, padding=W%2), divisor 4.
func naivePool(x *t64) *t64 {
	p := x.W % 2
	ho := (x.H+2*p-2)/2 + 1
	y := newT64(x.B, ho, ho, x.C)
	for b := 0; b < x.B; b++ {
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < ho; ow++ {
				for c := 0; c < x.C; c++ {
					var acc float64
					for i := 0; i < 2; i++ {
						for j := 0; j < 2; j++ {
							ih, iw := 2*oh+i-p, 2*ow+j-p
							if ih >= 0 && ih < x.H && iw >= 0 && iw < x.W {
								acc += x.at(b, ih, iw, c)
							}
						}
					}
					y.set(b, oh, ow, c, acc/4)
				}
			}
		}
	}
	return y
}

// naiveBN is the reference's BatchNorm state for one forward pass.
type naiveBN struct {
	given [][2][]float64 // per layer: mean, var (given-statistics mode); nil = batch statistics
	// seen collects, per layer and channel, every value the layer normalised
	// (for the recalibration reference).
	seen  [][][]float64
	layer int
}

// bn normalises x in place with gamma/beta (leading slices) and applies act
// (nil: none).
func (s *naiveBN) bn(x *t64, gamma, beta []float32, act func(float64) float64) {
	C, M := x.C, x.B*x.H*x.W
	if s.seen != nil {
		if len(s.seen) <= s.layer {
			s.seen = append(s.seen, make([][]float64, C))
		}
		for r := 0; r < M; r++ {
			for c := 0; c < C; c++ {
				s.seen[s.layer][c] = append(s.seen[s.layer][c], x.v[r*C+c])
			}
		}
	}
	for c := 0; c < C; c++ {
		var mean, v float64
		if s.given != nil {
			mean, v = s.given[s.layer][0][c], s.given[s.layer][1][c]
		} else {
			for r := 0; r < M; r++ {
				mean += x.v[r*C+c]
			}
			mean /= float64(M)
			for r := 0; r < M; r++ {
				d := x.v[r*C+c] - mean
				v += d * d
			}
			v /= float64(M)
		}
		for r := 0; r < M; r++ {
			z := float64(gamma[c])*(x.v[r*C+c]-mean)/math.Sqrt(v+1e-5) + float64(beta[c])
			if act != nil {
				z = act(z)
			}
			x.v[r*C+c] = z
		}
	}
	s.layer++
}

// naiveForward returns the logits [B, classes] of subnet a of sn on
// x[B, S, S, Cin] (float32 input, float64 arithmetic).
func naiveForward(sn *supernet.Supernet, a space.Arch, x []float32, B int, bn *naiveBN) []float64 {
	sp := sn.Space
	S, cin := sp.Input.Height, sp.Input.Channels
	act := func(v float64) float64 { return naiveAct(sp.Activation, v) }
	in := newT64(B, S, S, cin)
	for i := range in.v {
		in.v[i] = float64(x[i])
	}
	h := naiveResize(in, a.Resolution)
	h = naiveStem(h, sn.Stem.W.W, sn.Stem.W.Shape[1], sp.FirstConv.K, sp.FirstConv.S, a.StemWidth)
	bn.bn(h, sn.Stem.Gamma.W, sn.Stem.Beta.W, act)
	for i, st := range sp.Stages {
		maxT := 0
		for _, t := range st.T {
			maxT = max(maxT, t)
		}
		for j := 0; j < a.Depths[i]; j++ {
			blk := sn.Block(i, j)
			stride := 1
			if j == 0 {
				stride = st.S
			}
			cout := a.Widths[i]
			x0 := h
			e := x0
			if maxT > 1 {
				mid := space.MakeDivisible(math.Round(float64(x0.C * a.Expands[i])))
				e = naive1x1(x0, blk.Expand.W.W, blk.Expand.W.Shape[1], mid)
				bn.bn(e, blk.Expand.Gamma.W, blk.Expand.Beta.W, act)
			}
			mid := e.C
			d := naiveDW(e, blk.DW.W.W, blk.DW.W.Shape[0], blk.DW.W.Shape[2], a.Kernels[i], stride)
			bn.bn(d, blk.DW.Gamma.W, blk.DW.Beta.W, act)
			if st.SE {
				se := space.MakeDivisible(float64(mid / 4))
				P := d.H * d.W
				for b := 0; b < B; b++ {
					s := make([]float64, mid)
					for p := 0; p < P; p++ {
						for c := 0; c < mid; c++ {
							s[c] += d.v[(b*P+p)*mid+c] / float64(P)
						}
					}
					s1 := make([]float64, se)
					for k := 0; k < se; k++ {
						acc := float64(blk.SE.ReduceB.W[k])
						for c := 0; c < mid; c++ {
							acc += s[c] * float64(blk.SE.ReduceW.W[c*blk.SE.ReduceW.Shape[1]+k])
						}
						s1[k] = math.Max(acc, 0)
					}
					for c := 0; c < mid; c++ {
						acc := float64(blk.SE.ExpandB.W[c])
						for k := 0; k < se; k++ {
							acc += s1[k] * float64(blk.SE.ExpandW.W[k*blk.SE.ExpandW.Shape[1]+c])
						}
						g := hsigmoid(acc)
						for p := 0; p < P; p++ {
							d.v[(b*P+p)*mid+c] *= g
						}
					}
				}
			}
			out := naive1x1(d, blk.Project.W.W, blk.Project.W.Shape[1], cout)
			bn.bn(out, blk.Project.Gamma.W, blk.Project.Beta.W, nil)
			r := x0
			if stride == 2 {
				r = naivePool(r)
			}
			if r.C != cout {
				r = naive1x1(r, blk.Shortcut.W, blk.Shortcut.Shape[1], cout)
			}
			for k := range out.v {
				out.v[k] += r.v[k]
			}
			h = out
		}
	}
	E := h.C * sp.LastConv.Expand
	e := naive1x1(h, sn.Head.Expand.W.W, sn.Head.Expand.W.Shape[1], E)
	bn.bn(e, sn.Head.Expand.Gamma.W, sn.Head.Expand.Beta.W, act)
	P := e.H * e.W
	K, Wd := sp.Classes, a.HeadWidth
	logits := make([]float64, B*K)
	for b := 0; b < B; b++ {
		g := make([]float64, E)
		for p := 0; p < P; p++ {
			for c := 0; c < E; c++ {
				g[c] += e.v[(b*P+p)*E+c] / float64(P)
			}
		}
		m := make([]float64, Wd)
		for k := 0; k < Wd; k++ {
			acc := float64(sn.Head.MixB.W[k])
			for c := 0; c < E; c++ {
				acc += g[c] * float64(sn.Head.MixW.W[c*sn.Head.MixW.Shape[1]+k])
			}
			m[k] = act(acc)
		}
		for y := 0; y < K; y++ {
			acc := float64(sn.Head.ClassifierB.W[y])
			for k := 0; k < Wd; k++ {
				acc += m[k] * float64(sn.Head.ClassifierW.W[k*K+y])
			}
			logits[b*K+y] = acc
		}
	}
	return logits
}

// ---- test fixtures ----

// tinySpace is a two-stage space small enough for the float64 reference:
// 13x13x3 inputs resized to 11, 13 or 16; both stages have stride 2 on
// their first block (13 -> 7 -> 4, 11 -> 6 -> 3 and 16 -> 8 -> 4, odd sizes
// with the padded 2x2 shortcut pool). Stage "a" has squeeze-excite, an
// expand conv and kernels 3 or 5 (3 is the centre of the 5x5 weight); stage
// "b" has t = 1 (no expand conv) and identity, pool-only or pool + 1x1-conv
// shortcuts depending on the widths.
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

// tinyArchs are the tiny space's test subnets as
// [r, w_stem, w_a, w_b, w_head, d_a, d_b, k_a, k_b, t_a, t_b].
var tinyArchs = []struct {
	name string
	vec  []int
}{
	{"max: 13->16 upsample, k5, 16->8->4", []int{16, 8, 12, 12, 10, 2, 2, 5, 3, 3, 1}},
	{"native 13->7->4 pooled, k3 of 5, depth 1 of 2, pool+conv then identity shortcut", []int{13, 4, 8, 12, 6, 1, 2, 3, 3, 2, 1}},
	{"13->11 downsample, 11->6->3, depth 1 in b, pool+conv shortcut 12->8", []int{11, 8, 12, 8, 10, 2, 1, 3, 3, 3, 1}},
	{"pool-only shortcuts (8->8), k5", []int{13, 8, 8, 8, 6, 2, 2, 5, 3, 2, 1}},
	{"min", []int{11, 4, 8, 8, 6, 1, 1, 3, 3, 2, 1}},
}

func mustParse(t testing.TB, data []byte, name string) *space.Space {
	t.Helper()
	sp, err := space.Parse(data, name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func tiny(t testing.TB, act space.Activation) *space.Space {
	return mustParse(t, fmt.Appendf(nil, tinySpace, act), "tiny")
}

func reference(t testing.TB) *space.Space {
	return mustParse(t, configs.FMNIST, configs.FMNISTName)
}

func mustArch(t testing.TB, sp *space.Space, v []int) space.Arch {
	t.Helper()
	a, err := sp.ArchFromVector(v)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// randomSupernet returns a supernet of sp whose every tensor is set from
// seed: weights uniform in +-0.5, BN gamma in [0.5, 1.5], BN beta and biases
// in +-0.3 (unlike supernet.InitWeights, no block starts as its shortcut,
// so every branch shows in the outputs).
func randomSupernet(sp *space.Space, seed uint64) *supernet.Supernet {
	sn := supernet.New(sp, seed)
	r := rand.New(rand.NewPCG(seed, 99))
	for _, p := range sn.Params {
		lo, hi := -0.5, 0.5
		switch {
		case hasSuffix(p.Name, ".gamma"):
			lo, hi = 0.5, 1.5
		case hasSuffix(p.Name, ".beta"), hasSuffix(p.Name, ".b"):
			lo, hi = -0.3, 0.3
		}
		for i := range p.W {
			p.W[i] = float32(lo + (hi-lo)*r.Float64())
		}
	}
	return sn
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// randImages returns n normalised-looking images of sp's input shape.
func randImages(sp *space.Space, n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*sp.Input.Height*sp.Input.Width*sp.Input.Channels)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func rms(s []float64) float64 {
	var q float64
	for _, v := range s {
		q += v * v
	}
	if len(s) == 0 {
		return 0
	}
	return math.Sqrt(q / float64(len(s)))
}

// closeTo reports the first element where |got-want| > tol*max(|want|,
// rms(want)): nastest.Diff without its floor of 1 on the scale, so small
// values (BN variances, logits of a small net) are held to the same relative
// tolerance.
func closeTo(got []float32, want []float64, tol float64) error {
	if err := nastest.Diff(nastest.To64(got), want, tol); err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	ref := rms(want)
	if ref == 0 {
		ref = 1
	}
	for i := range want {
		g, w := float64(got[i]), want[i]
		if math.IsNaN(g) || math.Abs(g-w) > tol*math.Max(math.Abs(w), ref) {
			return fmt.Errorf("element %d: got %g, want %g (rms %g)", i, g, w, ref)
		}
	}
	return nil
}

func to64(s []float32) []float64 { return nastest.To64(s) }
