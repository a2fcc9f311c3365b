'use strict';
// Runs an ONNX model in ONNX Runtime through Node's onnxruntime-node, for
// the Go package ortcheck (ortcheck.go beside this file), which writes the
// request, runs `node ort.js <request.json>` with NODE_PATH set to the
// runtime's node_modules, and reads the answer, one JSON object on stdout.
//
// Request: {mode: "run" | "bench", model: path, threads: intra-op threads
// (0 = ONNX Runtime's default), shape: [N, C, H, W],
// run:   input: path of N*C*H*W float32 (little-endian), output: path to
//        write the logits to (float32), batch: images per session.run;
// bench: batches: [B, ...], runs: timed runs per batch, warmup: untimed
//        runs first}.
// Answer: {version, inputs, outputs, output_shape} (run) or
// {version, results: [{batch, median_ms, min_ms, runs}]} (bench).
const fs = require('fs');
const ort = require('onnxruntime-node');

function floats(path) {
  const b = fs.readFileSync(path);
  // Copy: a Buffer's offset into its ArrayBuffer need not be 4-aligned.
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main() {
  const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const opts = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
  };
  if (req.threads > 0) opts.intraOpNumThreads = req.threads;
  const session = await ort.InferenceSession.create(req.model, opts);
  const inName = session.inputNames[0], outName = session.outputNames[0];
  const [N, C, H, W] = req.shape;
  const per = C * H * W;
  const ans = { version: ort.env.versions.node || '', inputs: session.inputNames, outputs: session.outputNames };

  if (req.mode === 'run') {
    const x = floats(req.input);
    if (x.length !== N * per) throw new Error(`input has ${x.length} values, shape ${req.shape} needs ${N * per}`);
    const parts = [];
    let K = 0;
    for (let lo = 0; lo < N; lo += req.batch) {
      const B = Math.min(req.batch, N - lo);
      const t = new ort.Tensor('float32', x.subarray(lo * per, (lo + B) * per), [B, C, H, W]);
      const out = (await session.run({ [inName]: t }))[outName];
      if (out.dims.length !== 2 || out.dims[0] !== B) throw new Error(`output dims ${out.dims} for a batch of ${B}`);
      K = out.dims[1];
      parts.push(Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
    }
    fs.writeFileSync(req.output, Buffer.concat(parts));
    ans.output_shape = [N, K];
  } else if (req.mode === 'bench') {
    ans.results = [];
    for (const B of req.batches) {
      const x = new Float32Array(B * per);
      for (let i = 0; i < x.length; i++) x[i] = 0.5 + 0.5 * Math.sin(i * 0.37); // pixel-like values in [0, 1]
      const feeds = { [inName]: new ort.Tensor('float32', x, [B, C, H, W]) };
      for (let i = 0; i < req.warmup; i++) await session.run(feeds);
      const ms = [];
      for (let i = 0; i < req.runs; i++) {
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      ms.sort((a, b) => a - b);
      const n = ms.length;
      const median = n % 2 ? ms[(n - 1) / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
      ans.results.push({ batch: B, median_ms: median, min_ms: ms[0], runs: n });
    }
  } else {
    throw new Error(`unknown mode ${req.mode}`);
  }
  process.stdout.write(JSON.stringify(ans) + '\n');
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
