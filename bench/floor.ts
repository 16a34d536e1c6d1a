import ort from 'onnxruntime-node';
import { layerName, readModelSpec } from '../workers/engine/model-spec.js';
import { createSession } from '../workers/engine/session.js';
import { Engine } from '../workers/engine/engine.js';
import type { Sample } from './stats.js';

/**
 * The floor: ONNX Runtime alone on the graph Crucible runs, with the engine's session options and
 * thread count, inputs preallocated and present.* written into reused buffers, greedy argmax, no
 * worker, no tokenizer, no HTTP. Every Crucible row is compared with it as a share.
 */
export async function loadFloor(modelDir: string, threads: number) {
  const spec = readModelSpec(modelDir);
  const { session } = await createSession(spec.onnxPath, 'cpu', threads);
  const meta = session.inputMetadata.find((m) => m.name === layerName(spec.names.pastKey, 0));
  const shape = meta?.isTensor ? meta.shape : [];
  const kvh = typeof shape[1] === 'number' ? shape[1] : spec.numKvHeads;
  const hd = typeof shape[3] === 'number' ? shape[3] : spec.headDim;
  const n = spec.names;
  const L = spec.numLayers;
  const hasPositions = session.inputNames.includes(n.positionIds);

  const run = async (b: number, tokens: number): Promise<Sample> => {
    const prompt = 5;
    const total = prompt + tokens;
    // Buffers sized for the whole generation, viewed at the current length each step.
    const kv = [0, 1].map(() => Array.from({ length: 2 * L }, () => new Float32Array(b * kvh * total * hd)));
    const ids = new BigInt64Array(b * prompt).fill(1n);
    const maskBuf = new BigInt64Array(b * total).fill(1n);
    const posBuf = new BigInt64Array(b * prompt);
    const t0 = performance.now();
    let past = 0;
    let cur = 0;
    let step = ids;
    let s = prompt;
    for (let i = 0; i <= tokens; i++) {
      const feeds: Record<string, ort.Tensor> = {
        [n.inputIds]: new ort.Tensor('int64', step, [b, s]),
        [n.attentionMask]: new ort.Tensor('int64', maskBuf.subarray(0, b * (past + s)), [b, past + s]),
      };
      if (hasPositions) {
        for (let r = 0; r < b; r++) for (let j = 0; j < s; j++) posBuf[r * s + j] = BigInt(past + j);
        feeds[n.positionIds] = new ort.Tensor('int64', posBuf.subarray(0, b * s), [b, s]);
      }
      const fetches: Record<string, ort.Tensor | null> = { [n.logits]: null };
      for (let l = 0; l < L; l++) {
        feeds[layerName(n.pastKey, l)] = new ort.Tensor('float32', kv[cur][2 * l].subarray(0, b * kvh * past * hd), [b, kvh, past, hd]);
        feeds[layerName(n.pastValue, l)] = new ort.Tensor('float32', kv[cur][2 * l + 1].subarray(0, b * kvh * past * hd), [b, kvh, past, hd]);
        fetches[layerName(n.presentKey, l)] = new ort.Tensor('float32', kv[1 - cur][2 * l].subarray(0, b * kvh * (past + s) * hd), [b, kvh, past + s, hd]);
        fetches[layerName(n.presentValue, l)] = new ort.Tensor('float32', kv[1 - cur][2 * l + 1].subarray(0, b * kvh * (past + s) * hd), [b, kvh, past + s, hd]);
      }
      const out = await session.run(feeds, fetches);
      const logits = out[n.logits].data as Float32Array;
      const next = new BigInt64Array(b);
      for (let r = 0; r < b; r++) {
        const at = (r * s + s - 1) * spec.vocabSize;
        let best = 0;
        for (let v = 1; v < spec.vocabSize; v++) if (logits[at + v] > logits[at + best]) best = v;
        next[r] = BigInt(best);
      }
      past += s;
      s = 1;
      step = next;
      cur = 1 - cur;
    }
    return { tokens: b * tokens, seconds: (performance.now() - t0) / 1000, ttftMs: null };
  };
  return { single: (tokens: number) => run(1, tokens), batch: (tokens: number) => run(8, tokens), release: () => session.release() };
}

/** Per-part milliseconds of a decode step in the engine, for 1 and for 8 sequences. */
export async function profileEngine(modelDir: string, threads: number, tokens: number, prompts: string[]) {
  const engine = await Engine.create({ modelDir, executionProvider: 'cpu', intraOpThreads: threads, maxBatch: 8, prefillChunk: 128, profile: true, prefixCacheBytes: 0 });
  const gen = (p: string) => engine.generate({
    messages: [{ role: 'user', content: p }], cancel: new SharedArrayBuffer(4), emit: () => {},
    sampling: { temperature: 0, topP: 1, topK: 0, presencePenalty: 0, frequencyPenalty: 0, maxTokens: tokens, stop: [], ignoreEos: true },
  });
  try {
    await gen(prompts[0]);
    engine.profile!.reset();
    await gen(prompts[0]);
    const one = engine.profile!.perStep();
    engine.profile!.reset();
    await Promise.all(prompts.slice(0, 8).map(gen));
    const eight = engine.profile!.perStep();
    return { one, eight };
  } finally {
    await engine.release();
  }
}
