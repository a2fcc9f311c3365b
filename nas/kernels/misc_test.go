package kernels

import (
	"fmt"
	"math"
	"testing"
)

func TestElementwise(t *testing.T) {
	r := newRand(11)
	n := 100003
	a, b := randVec(r, n, -1, 1), randVec(r, n, -1, 1)
	want := make([]float64, n)
	for i := range want {
		want[i] = float64(a[i]) + float64(b[i])
	}
	d := make([]float32, n)
	forBackends(t, func(t *testing.T) {
		forThreads(t, func(t *testing.T) {
			for _, m := range []int{n, 15, 16, 17, 48, 1000} {
				Add(d[:m], a, b)
				check(t, "add", d[:m], want[:m], tol32)
			}
		})
	})
	Add(d, a, b)
	check(t, "add", d, want, tol32)
	for i := range want {
		want[i] = 2.5 * float64(a[i])
	}
	Scale(d, a, 2.5)
	check(t, "scale", d, want, tol32)
	copy(d, b)
	for i := range want {
		want[i] = float64(b[i]) - 0.5*float64(a[i])
	}
	Axpy(-0.5, a, d)
	check(t, "axpy", d, want, tol32)

	M, N, ld := 5, 3, 4
	y := randVec(r, M*ld, -1, 1)
	bias := []float32{1, 2, 3}
	want = to64(y)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			want[i*ld+j] += float64(bias[j])
		}
	}
	AddBias(y, M, N, ld, bias)
	check(t, "bias", y, want, tol32)
	s := []float32{1, 1, 1}
	ws := []float64{1, 1, 1}
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			ws[j] += float64(y[i*ld+j])
		}
	}
	SumRows(s, y, M, N, ld)
	check(t, "sumrows", s, ws, tol32)
}

// linearCheck verifies a linear map f: x -> y and its adjoint g: dy -> dx
// (a backward pass) against finite differences of L = sum(dy*f(x)) in
// float64 (exact for linear maps up to rounding), and f against ref.
func linearCheck(t *testing.T, name string, nx, ny int, f, g func(out, in []float32), ref func(in []float64) []float64) {
	t.Helper()
	r := newRand(uint64(nx*31 + ny))
	x := randVec(r, nx, -1, 1)
	dy := randVec(r, ny, -1, 1)
	y := randVec(r, ny, -1, 1)
	f(y, x)
	check(t, name+" forward", y, ref(to64(x)), tol32)
	dx := randVec(r, nx, -1, 1)
	g(dx, dy)
	dy64 := to64(dy)
	loss := func(x []float64) float64 { return dot64(dy64, ref(x)) }
	fdCheck(t, name+" backward", loss, to64(x), to64(dx), 1e-2)
}

func TestPooling(t *testing.T) {
	forThreads(t, func(t *testing.T) {
		for _, s := range [][4]int{{2, 4, 4, 8}, {3, 7, 7, 16}, {1, 5, 5, 3}, {2, 6, 3, 8}, {1, 3, 6, 8}, {1, 1, 1, 4}} {
			B, H, W, C := s[0], s[1], s[2], s[3]
			name := fmt.Sprintf("%v", s)
			linearCheck(t, "gap "+name, B*H*W*C, B*C,
				func(y, x []float32) { GlobalAvgPool(y, x, B, H*W, C) },
				func(dx, dy []float32) { GlobalAvgPoolBackward(dx, dy, B, H*W, C) },
				func(x []float64) []float64 {
					y := make([]float64, B*C)
					for i, v := range x {
						b, c := i/(H*W*C), i%C
						y[b*C+c] += v / float64(H*W)
					}
					return y
				})
			ho, wo, pad := AvgPool2x2Size(H, W)
			if H == W && ho != (H+1)/2 {
				t.Fatalf("AvgPool2x2Size(%d): %d, want ceil", H, ho)
			}
			linearCheck(t, "avgpool "+name, B*H*W*C, B*ho*wo*C,
				func(y, x []float32) { AvgPool2x2(y, x, B, H, W, C) },
				func(dx, dy []float32) { AvgPool2x2Backward(dx, dy, B, H, W, C) },
				func(x []float64) []float64 {
					// Zero-padded 2x2 windows, stride 2, divisor 4.
					y := make([]float64, B*ho*wo*C)
					for b := 0; b < B; b++ {
						for oh := 0; oh < ho; oh++ {
							for ow := 0; ow < wo; ow++ {
								for c := 0; c < C; c++ {
									var s float64
									for i := 0; i < 2; i++ {
										for j := 0; j < 2; j++ {
											ih, iw := 2*oh+i-pad, 2*ow+j-pad
											if ih >= 0 && ih < H && iw >= 0 && iw < W {
												s += x[((b*H+ih)*W+iw)*C+c]
											}
										}
									}
									y[((b*ho+oh)*wo+ow)*C+c] = s / 4
								}
							}
						}
					}
					return y
				})
		}
	})
}

func TestChannelScale(t *testing.T) {
	forBackends(t, func(t *testing.T) {
		forThreads(t, func(t *testing.T) {
			for _, s := range [][3]int{{3, 10, 24}, {5, 7, 12}, {2, 9, 5}, {4, 16, 144}, {130, 4, 72}} {
				testChannelScale(t, s[0], s[1], s[2])
			}
		})
	})
}

func testChannelScale(t *testing.T, B, P, C int) {
	r := newRand(12)
	x := randVec(r, B*P*C, -1, 1)
	s := randVec(r, B*C, 0, 1)
	ref := func(x, s []float64) []float64 {
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * s[(i/(P*C))*C+i%C]
		}
		return y
	}
	y := make([]float32, len(x))
	ChannelScale(y, x, s, B, P, C)
	check(t, "forward", y, ref(to64(x), to64(s)), tol32)
	for i, v := range x { // every path computes the float32 product exactly
		if want := v * s[(i/(P*C))*C+i%C]; y[i] != want {
			t.Fatalf("B=%d P=%d C=%d: element %d is %g, want the product %g", B, P, C, i, y[i], want)
		}
	}
	dy := randVec(r, len(x), -1, 1)
	dx := make([]float32, len(x))
	ds := make([]float32, len(s))
	ChannelScaleBackward(dx, ds, dy, x, s, B, P, C)
	x64, s64, dy64 := to64(x), to64(s), to64(dy)
	fdCheck(t, "dx", func(v []float64) float64 { return dot64(dy64, ref(v, s64)) }, x64, to64(dx), 1e-3)
	fdCheck(t, "ds", func(v []float64) float64 { return dot64(dy64, ref(x64, v)) }, s64, to64(ds), 1e-3)
	// In place (dx aliasing dy, y aliasing x) gives the same values.
	dx2, ds2 := append([]float32(nil), dy...), make([]float32, len(s))
	ChannelScaleBackward(dx2, ds2, dx2, x, s, B, P, C)
	check(t, "dx in place", dx2, to64(dx), 0)
	check(t, "ds with dx in place", ds2, to64(ds), 0)
	y2 := append([]float32(nil), x...)
	ChannelScale(y2, y2, s, B, P, C)
	check(t, "forward in place", y2, to64(y), 0)
	// Either output may be nil.
	ChannelScaleBackward(nil, ds2, dy, x, s, B, P, C)
	check(t, "ds alone", ds2, to64(ds), 0)
	ChannelScaleBackward(dx2, nil, dy, x, s, B, P, C)
	check(t, "dx alone", dx2, to64(dx), 0)
}

func TestIm2Col(t *testing.T) {
	for _, g := range []Im2Col{{2, 7, 7, 1, 3, 1, 0}, {2, 8, 8, 3, 3, 2, 0}, {1, 5, 4, 3, 3, 2, 0}, {1, 6, 6, 2, 5, 1, 0}, {1, 9, 9, 4, 5, 1, 0}, {1, 2, 3, 1, 5, 1, 0}, {1, 1, 1, 2, 3, 2, 1}} {
		ho, wo := g.OutSize()
		kc := g.K * g.K * g.Cin
		p := g.K / 2
		linearCheck(t, fmt.Sprintf("%+v", g), g.B*g.H*g.W*g.Cin, g.B*ho*wo*kc,
			g.Forward, g.Backward,
			func(x []float64) []float64 {
				col := make([]float64, g.B*ho*wo*kc)
				for b := 0; b < g.B; b++ {
					for oh := 0; oh < ho; oh++ {
						for ow := 0; ow < wo; ow++ {
							for i := 0; i < g.K; i++ {
								for j := 0; j < g.K; j++ {
									for c := 0; c < g.Cin; c++ {
										ih, iw := oh*g.Stride+i-p, ow*g.Stride+j-p
										if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
											col[((b*ho+oh)*wo+ow)*kc+(i*g.K+j)*g.Cin+c] = x[((b*g.H+ih)*g.W+iw)*g.Cin+c]
										}
									}
								}
							}
						}
					}
				}
				return col
			})
	}
}

// TestResize checks against values computed by hand from PyTorch's
// formulas: 4 -> 2 bilinear averages pixel pairs (source 0.5 and 2.5), and
// an identity size is a copy. Upsampling 2 -> 4 with align_corners=False
// gives [a, 0.75a+0.25b, 0.25a+0.75b, b] per axis.
func TestResize(t *testing.T) {
	src := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} // 1x4x4x1
	dst := make([]float32, 4)
	ResizeBilinear(dst, src, 1, 4, 4, 1, 2, 2)
	check(t, "down", dst, []float64{2.5, 4.5, 10.5, 12.5}, tol32)
	up := make([]float32, 16)
	ResizeBilinear(up, []float32{0, 4, 8, 12}, 1, 2, 2, 1, 4, 4)
	row := func(a, b float64) []float64 { return []float64{a, 0.75*a + 0.25*b, 0.25*a + 0.75*b, b} }
	var want []float64
	for _, v := range row(0, 1) {
		want = append(want, row(v*8, v*8+4)...)
	}
	check(t, "up", up, want, tol32)
	same := make([]float32, 16)
	ResizeBicubic(same, src, 1, 4, 4, 1, 4, 4)
	check(t, "identity", same, to64(src), 0)
	// Bicubic 4 -> 2 (A = -0.75): source 0.5 and 2.5 with weights
	// (-0.09375, 0.59375, 0.59375, -0.09375) and border clamping give
	// f = (0.40625, 2.59375) per axis on 0..3; the image is 4*h + w.
	ResizeBicubic(dst, src, 1, 4, 4, 1, 2, 2)
	check(t, "bicubic down", dst, []float64{5 * 0.40625, 4*0.40625 + 2.59375, 4*2.59375 + 0.40625, 5 * 2.59375}, tol32)
}

func TestLosses(t *testing.T) {
	r := newRand(13)
	B, K := 5, 10
	logits := randVec(r, B*K, -3, 3)
	logits[3] = 80 // large logit: max subtraction must keep it finite
	labels := []int{3, 0, 9, 4, 4}
	for _, eps := range []float32{0, 0.1} {
		ref := func(z []float64) float64 {
			var l float64
			for b := 0; b < B; b++ {
				mx := z[b*K]
				for k := 1; k < K; k++ {
					mx = math.Max(mx, z[b*K+k])
				}
				var s float64
				for k := 0; k < K; k++ {
					s += math.Exp(z[b*K+k] - mx)
				}
				for k := 0; k < K; k++ {
					tk := float64(eps) / float64(K)
					if k == labels[b] {
						tk += 1 - float64(eps)
					}
					l -= tk * (z[b*K+k] - mx - math.Log(s))
				}
			}
			return l / float64(B)
		}
		d := make([]float32, B*K)
		got := SoftmaxCrossEntropy(d, logits, labels, B, K, eps)
		if want := ref(to64(logits)); math.Abs(got-want) > tol64*math.Abs(want) {
			t.Fatalf("smoothing %g: loss %g, want %g", eps, got, want)
		}
		fdCheck(t, "dlogits", ref, to64(logits), to64(d), 1e-4)
	}
	// Soft targets: the teacher's softmax.
	teacher := randVec(r, B*K, -2, 2)
	Softmax(teacher, teacher, B, K)
	for b := 0; b < B; b++ {
		var s float64
		for k := 0; k < K; k++ {
			s += float64(teacher[b*K+k])
		}
		if math.Abs(s-1) > 1e-6 {
			t.Fatalf("softmax row %d sums to %g", b, s)
		}
	}
	ref := func(z []float64) float64 {
		var l float64
		for b := 0; b < B; b++ {
			mx := z[b*K]
			for k := 1; k < K; k++ {
				mx = math.Max(mx, z[b*K+k])
			}
			var s float64
			for k := 0; k < K; k++ {
				s += math.Exp(z[b*K+k] - mx)
			}
			for k := 0; k < K; k++ {
				l -= float64(teacher[b*K+k]) * (z[b*K+k] - mx - math.Log(s))
			}
		}
		return l / float64(B)
	}
	d := make([]float32, B*K)
	got := SoftTargetCrossEntropy(d, logits, teacher, B, K)
	if want := ref(to64(logits)); math.Abs(got-want) > tol64*math.Abs(want) {
		t.Fatalf("soft target: loss %g, want %g", got, want)
	}
	fdCheck(t, "soft dlogits", ref, to64(logits), to64(d), 1e-4)
	am := make([]int, B)
	Argmax(am, logits, B, K)
	if am[0] != 3 {
		t.Fatalf("argmax %v", am)
	}
	want := 0
	for b := range labels {
		if am[b] == labels[b] {
			want++
		}
	}
	if n := Top1Correct(logits, labels, B, K); n != want || n < 1 {
		t.Fatalf("top1 %d, want %d", n, want)
	}
}
