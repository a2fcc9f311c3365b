// Package infer is the plain-Go (no graph) inference of AttentiveNAS
// subnets: the forward pass over a weight-sharing supernet's tensors, BN
// recalibration, extraction of a standalone BN-folded model, its export,
// evaluation, the minibatch-loss estimator of attentive sampling, and
// latency (ALGORITHM.md sections 2, 4, 6, 7 and 10; Wang et al.,
// "AttentiveNAS", CVPR 2021; the reference is facebookresearch/AttentiveNAS).
//
//	stats, _ := infer.Recalibrate(sn, arch, calib, infer.RecalConfig{})  // BN statistics, mode a
//	m, _ := infer.Fold(sn, arch, stats)                                   // standalone, BN folded (mode c)
//	res, _ := infer.Evaluate(m, val, labels, infer.EvalConfig{})          // top-1 and loss
//	rows, meta := m.Tensors(), m.MetaJSON()                               // export; LoadModel reads them back
//	fmt.Println(len(stats.Layers), res.Images, len(rows))
//	// 13 1000 41 (the smallest reference subnet; see Example)
//
// # The forward pass
//
// Input: B normalised images, NHWC float32 at the space's native size
// S x S x Cin. Activations are flat [B*H*W, C]. act is the space's activation
// (swish, hswish or relu).
//
//  1. If the Arch resolution r != S: bilinear resize to r x r
//     (kernels.ResizeBilinear, align_corners=False).
//  2. Stem: k x k conv, stride s, pad k/2 (im2col + GEMM with
//     Stem.W[:k*k*Cin, :c0]) -> BN -> act.
//  3. Each active block (input x [B*H*W, cin]):
//     expand 1x1 (Expand.W[:cin, :mid]) -> BN -> act, only in stages whose
//     largest t exceeds 1 (otherwise mid = cin and h = x);
//     depthwise k x k (centre crop of the KMax x KMax weight, first mid
//     channels), stride on the first block of a stage -> BN -> act;
//     squeeze-excite if the stage has it: s = mean over pixels [B, mid],
//     relu(s*ReduceW[:mid, :se] + ReduceB) [B, se],
//     hsigmoid(.*ExpandW[:se, :mid] + ExpandB) [B, mid], multiplied into the
//     features; project 1x1 (Project.W[:mid, :cout]) -> BN (no act);
//     plus the shortcut: x, 2x2 average-pooled when the stride is 2 (padding
//     1 on odd sizes, divisor 4: 7x7 -> 4x4), then a bias-free 1x1 conv
//     Shortcut[:cin, :cout] when cin != cout.
//  4. Head: 1x1 (Head.Expand.W[:c, :e]) -> BN -> act -> global average pool
//     [B, e] -> act(.*MixW[:e, :w] + MixB) [B, w] ->
//     .*ClassifierW[:w, :classes] + ClassifierB. No dropout.
//
// BatchNorm (eps BNEps = 1e-5) has three modes:
//
//	(a) batch statistics (training mode; Engine.Forward with nil stats,
//	    Recalibrate, MinibatchLoss): per channel, mean and biased variance of
//	    the layer input over the B*H*W rows, from exact float64 sums
//	    (kernels.ChannelSums), var = E[x^2] - mean^2 clamped at 0;
//	    y = x*scale + shift with scale = gamma/sqrt(var+eps) and
//	    shift = beta - mean*scale computed in float64 and rounded to float32
//	    (kernels.ScaleShiftAct). This equals kernels.BNTrainForward (what the
//	    training graph runs) up to float32 rounding, not bit for bit.
//	(b) given statistics (Engine.Forward with a Stats): the same affine map
//	    from the given mean and variance (kernels.BNFold).
//	(c) folded (Model): scale multiplies the preceding conv or depthwise
//	    weights per output channel and shift becomes a bias; the project
//	    conv's bias is added together with the shortcut (out = shortcut + bias,
//	    then out += d*W with a beta = 1 GEMM). Equal to (b) within 1e-4.
//
// # Determinism
//
// Every result is independent of the number of goroutines and of
// kernels.MaxThreads: batch partitions are fixed by N and the batch size,
// per-batch sums are combined in batch order, batch statistics are summed
// over fixed row chunks that each run single-threaded (statChunk), and the
// kernels used (GEMM split over rows, depthwise, elementwise ops) do not
// round differently when split. Tests check this bit for bit.
//
// # Threads
//
// kernels.SetMaxThreads is a process-wide budget, so this package never
// changes it (another job in the same worker process would be affected).
// Instead it parallelises over images where images are independent:
// Model.Forward cuts a batch into micro-batches of defaultMicroBatch images
// (their activations stay in the per-core L2 cache) and runs them on
// kernels.MaxThreads goroutines; Evaluate runs whole batches on that many
// goroutines, each on its own buffers. At these sizes most kernel calls fall
// below the kernels' own threading thresholds and run on the calling
// goroutine, so there is little oversubscription. BenchmarkModelStrategy
// compares this with kernel-internal parallelism (the whole batch through
// each layer, kernels splitting their calls) and with batch-level
// parallelism under kernels.SetMaxThreads(1) (measured only). In
// batch-statistics mode a batch cannot be split (BN needs its statistics),
// so Recalibrate and MinibatchLoss run one batch or candidate at a time and
// let the kernels parallelise (RecalConfig.Goroutines and
// MinibatchLoss.Goroutines run several at once; see the measurements).
//
// # Memory
//
// Engines and models keep their activation buffers (sized by the largest
// batch and subnet seen) and reuse them; this package allocates nothing per
// batch once warm. Calls into nas/kernels still make small allocations (a
// few per call: argument-check strings, closures, resize tables; ~50 KB per
// forward pass of 16 images).
//
// # Measured throughput
//
// See PERF below (filled in from the benchmarks in bench_test.go).
//
// See also: nas/supernet (the weight store and its layouts), nas/kernels
// (the numeric kernels), nas/trainer (the training graph, which computes the
// same function in batch-statistics mode), nas/sampler (Estimator).
package infer
