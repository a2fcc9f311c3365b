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
// Where images are independent it parallelises over images instead:
// Model.Forward cuts a batch into micro-batches of defaultMicroBatch (8)
// images, whose activations stay in the per-core L2 cache, and runs them on
// kernels.MaxThreads goroutines with their own buffers; Evaluate runs whole
// batches on that many goroutines. Most kernel calls at these sizes fall
// below the kernels' own threading thresholds and run on the calling
// goroutine. In batch-statistics mode a batch cannot be split (every BN needs
// the whole batch's statistics), so Recalibrate and MinibatchLoss run one
// batch or candidate at a time and let the kernels split their calls;
// RecalConfig.Goroutines and MinibatchLoss.Goroutines run several at once.
//
// # Memory
//
// Engines and models keep their activation buffers (sized by the largest
// batch and subnet seen) and reuse them: this package allocates nothing per
// batch once warm. Calls into nas/kernels still make small allocations of
// their own (argument-check strings, closures, resize tables: ~50 KB per
// forward pass of 16 images).
//
// # Measured throughput
//
// Reference space (configs/fmnist.json), largest subnet 14.48 MMACs and
// smallest 0.73 MMACs per image, batch 256, 2-core AMD EPYC (AVX-512),
// Go 1.26.8, nas/kernels as in the working tree of 2026-11-27 04:25 (with
// the BN/activation assembly). GFLOP/s = 2 x MACs x images/s. The machine was
// shared: the figures are from the quietest window (load average 1.3-1.6;
// both builds, one after the other); under a load of 4-8 the wall-clock
// rates fell by 2-3x while images per CPU-second stayed within 10-20%.
//
//	                                     default build         GOEXPERIMENT=simd     PyTorch
//	Model.Forward, largest (BN folded)   1949 img/s  56 GF/s   2138 img/s  62 GF/s   ~360
//	Model.Forward, smallest              15777 img/s 23 GF/s   16564 img/s 24 GF/s   ~3,560
//	Engine.Forward batch statistics (a)  1004 / 6976 img/s     956 / 5704 img/s
//	Recalibrate, 512 images, largest     791 img/s (g1)        927 img/s (g1)
//	                         smallest    7854 img/s (g1)       7273 img/s (g1)
//	Latency (batch 1), largest           1.34 ms, 1 thread     1.19 ms, 1 thread
//	                   smallest          140 us, 1 thread      187 us, 1 thread
//	MinibatchLoss, 3 candidates x 128    129 ms (g1)           126 ms (g1)
//
// Ways to run a batch of 256 on the 2 cores (BenchmarkModelStrategy, same
// window, images/s, largest / smallest subnet; default build, then simd):
//
//	kernel-internal (whole batch per layer, kernels split calls)  1312 / 10118   1104 / 10320
//	2 goroutines x whole batches of 256                           1526 / 12799   1078 / 12727
//	2 goroutines x micro-batches of 8 (the default)               1838 / 15819   1877 / 14670
//	  same, kernels.SetMaxThreads(1) (measured only)              2146 / 16396   2128 / 15773
//	2 goroutines x micro-batches of 16                            2248 / 16302   2063 / 15211
//
// Goroutine-level parallelism over images beats kernel-internal parallelism
// by 1.4-1.7x (largest) and 1.4-1.6x (smallest), and uses less CPU per image
// (20-27% less in the quiet window, 0-15% under load, measured as images per
// CPU-second: cache-sized micro-batches, no barrier after every kernel call).
// Single-threaded kernels would add another 2-15% (the kernels still split
// the larger micro-batch GEMMs, which oversubscribes the cores), but only
// through the process-wide kernels.SetMaxThreads; a per-call or per-goroutine
// thread budget in nas/kernels would recover it. Micro-batches of 8, 16 and
// 32 were within the run-to-run noise of each other (8 needs the smallest
// buffers); whole batches were clearly slower.
// For batch-statistics work the picture depends on the load: in the quiet
// window two batches (or candidates) at a time were 1.15-1.37x faster than
// one (Recalibrate g2: 1085 / 8991 img/s default, 1211 / 9304 simd;
// MinibatchLoss g2: 113 / 104 ms), under load 1.0-1.4x slower and with twice
// the buffers (~160 MB per goroutine for the largest subnet at batch 256),
// so the defaults stay at one.
//
// See also: nas/supernet (the weight store and its layouts), nas/kernels
// (the numeric kernels), nas/trainer (the training graph, which computes the
// same function in batch-statistics mode), nas/sampler (Estimator).
package infer
