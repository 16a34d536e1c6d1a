import ort from 'onnxruntime-node';
import { CrucibleError } from '../../protocol/errors.js';
import { type ModelSpec, layerName } from '../engine/model-spec.js';

/** Runs a prompt plus a few decode steps, as the engine does, and returns every step's logits. */
async function trace(session: ort.InferenceSession, spec: ModelSpec, kvHeads: number, prompt: number[], steps: number): Promise<Float32Array[]> {
  const n = spec.names;
  let past: ort.Tensor[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    past.push(new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, spec.headDim]), new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, spec.headDim]));
  }
  const out: Float32Array[] = [];
  let ids = prompt;
  let pos = 0;
  for (let s = 0; s <= steps; s++) {
    const feeds: Record<string, ort.Tensor> = {
      [n.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      [n.attentionMask]: new ort.Tensor('int64', new BigInt64Array(pos + ids.length).fill(1n), [1, pos + ids.length]),
      [n.positionIds]: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, j) => BigInt(pos + j))), [1, ids.length]),
    };
    for (let i = 0; i < spec.numLayers; i++) {
      feeds[layerName(n.pastKey, i)] = past[2 * i];
      feeds[layerName(n.pastValue, i)] = past[2 * i + 1];
    }
    const r = await session.run(feeds);
    const logits = r[n.logits].data as Float32Array;
    const last = logits.subarray((ids.length - 1) * spec.vocabSize, ids.length * spec.vocabSize);
    out.push(Float32Array.from(last));
    past = [];
    for (let i = 0; i < spec.numLayers; i++) past.push(r[layerName(n.presentKey, i)], r[layerName(n.presentValue, i)]);
    pos += ids.length;
    let best = 0;
    for (let v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
    ids = [best];
  }
  return out;
}

/**
 * Compares the fused graph with the original on a prompt and several decode steps: the same
 * greedy tokens and logits within a small tolerance, or the fused graph is rejected.
 */
export async function verifyFused(spec: ModelSpec, fusedPath: string, kvHeads: number, threads: number): Promise<{ maxAbsDiff: number }> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
  const [a, b] = await Promise.all([ort.InferenceSession.create(spec.onnxPath, opts), ort.InferenceSession.create(fusedPath, opts)]);
  try {
    const prompt = [spec.bosTokenId ?? 1, ...Array.from({ length: 11 }, (_, i) => (i * 37 + 5) % spec.vocabSize)];
    const [ta, tb] = await Promise.all([trace(a, spec, spec.numKvHeads, prompt, 8), trace(b, spec, kvHeads, prompt, 8)]);
    let maxAbsDiff = 0;
    let scale = 0;
    for (let s = 0; s < ta.length; s++) {
      for (let v = 0; v < ta[s].length; v++) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ta[s][v] - tb[s][v]));
        scale = Math.max(scale, Math.abs(ta[s][v]));
      }
      const argmax = (x: Float32Array) => x.reduce((bi, val, i, arr) => (val > arr[bi] ? i : bi), 0);
      if (argmax(ta[s]) !== argmax(tb[s])) throw new CrucibleError('internal_error', `the fused graph chooses another token at step ${s}`);
    }
    if (maxAbsDiff > 1e-3 * Math.max(1, scale)) throw new CrucibleError('internal_error', `the fused graph's logits differ by ${maxAbsDiff}`);
    return { maxAbsDiff };
  } finally {
    await Promise.all([a.release(), b.release()]);
  }
}
