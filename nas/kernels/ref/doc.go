// Package ref holds float64 twins of the float32 kernels in package kernels,
// for gradient checks: the training engine's custom gorgonia Ops must pass a
// float64 central finite-difference test, so each Op needs a float64
// implementation with the same signature and semantics as its float32
// kernel, only with []float64 slices (and float64 scalars).
//
// Every function here has the name, argument order, layouts and
// conventions of its twin in package kernels, whose doc comments are the
// specification:
//
//   - activations are NHWC, flat [rows, C] with row stride C; depthwise
//     weights are stored at [KMax, KMax, CMax] and a K x K kernel uses the
//     centre crop; matrices are row-major with leading dimensions;
//   - outputs are overwritten, while weight and parameter gradients
//     accumulate (Gemm with beta = 1, DepthwiseBackwardWeight,
//     BNTrainBackward's dgamma and dbeta, SumRows);
//   - an output may alias an input exactly where the twin allows it (for
//     example y and x of ActForward, dx and dy of BNTrainBackward).
//
// Methods of the float32 descriptor types become functions taking the same
// descriptor (kernels.Depthwise, kernels.Im2Col) as their first argument,
// and activations are kernels.Act values, so a caller passes one descriptor
// to both packages:
//
//	d := kernels.Depthwise{B: 2, H: 8, W: 8, C: 16, K: 3, Stride: 2, KMax: 7, CMax: 32}
//	d.Forward(y32, x32, w32)
//	ref.DepthwiseForward(d, y64, x64, w64)
//
// The code is deliberately naive (plain loops over every index, sums in
// the obvious order, no SIMD, goroutines or scratch pools) so that it is
// easy to check by reading; it is slow and must never be used on hot
// paths. Like their twins, the functions panic on bad shapes or short
// slices, with a "ref:" prefix.
package ref
