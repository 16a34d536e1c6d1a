import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { CrucibleError } from '../../protocol/errors.js';
import { onnx } from '../optimize/onnx-graph.js';
import { BatchCache } from './batch-cache.js';
import type { ModelSpec } from './model-spec.js';

export type Pooling = 'last' | 'mean';

/**
 * A decoder model's graph with the final norm's output exposed as `hidden_states`, the input
 * of its output layer: found as the first input of the node that produces the logits, so it works
 * on plain, fused and model-builder graphs alike.
 */
export function withHiddenStates(path: string, logitsName: string): Uint8Array {
  const model = onnx.ModelProto.decode(readFileSync(path));
  const g = model.graph!;
  if ((g.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) {
    throw new CrucibleError('invalid_request', `${path} keeps its weights in external data; embeddings need a single-file graph`, 'model');
  }
  let head = (g.node ?? []).find((n) => (n.output ?? []).includes(logitsName));
  // Look through a trailing Identity or Cast (graphs whose logits are a renamed or float16 copy).
  while (head && (head.opType === 'Identity' || head.opType === 'Cast')) {
    const src = head.input![0];
    head = (g.node ?? []).find((n) => (n.output ?? []).includes(src));
  }
  if (!head || !head.input?.[0]) throw new CrucibleError('invalid_request', `cannot find the output layer of ${path}`, 'model');
  g.output = [...(g.output ?? []), { name: head.input[0] }];
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Sentence vectors from a decoder model, the way Foundry and llama-server make them: the text's
 * tokens with the end token appended, one forward pass, the final hidden state of the last
 * position (or the mean over positions), L2-normalized. Inputs of one request run in one padded
 * batch; the padding is masked and never pooled.
 */
export class Embedder {
  private constructor(private readonly session: ort.InferenceSession, private readonly spec: ModelSpec, private readonly hidden: string,
    private readonly align: 'left' | 'right') {}

  static async create(spec: ModelSpec, threads: number, align: 'left' | 'right'): Promise<Embedder> {
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
    // A graph that already outputs its hidden states (Foundry's embedding exports) loads as it is.
    const own = spec.names.hiddenStates;
    if (own) {
      const session = await ort.InferenceSession.create(spec.onnxPath, options);
      if (session.outputNames.includes(own)) return new Embedder(session, spec, own, align);
      await session.release();
    }
    const session = await ort.InferenceSession.create(withHiddenStates(spec.onnxPath, spec.names.logits), options);
    const hidden = session.outputNames[session.outputNames.length - 1];
    return new Embedder(session, spec, hidden, align);
  }

  /**
   * Each input's tokens as Foundry reads them: a text's own tokens (BOS included) with the end
   * token appended, or token ids as given; checked against the context and vocabulary.
   */
  static rows(inputs: (string | number[])[], spec: ModelSpec, encode: (text: string) => number[]): number[][] {
    const eos = spec.eosTokenIds[0];
    const rows = inputs.map((x) => (typeof x === 'string' ? [...encode(x), eos] : x));
    rows.forEach((r, i) => {
      const param = inputs.length > 1 ? `input[${i}]` : 'input';
      if (r.length > spec.contextLength) {
        throw new CrucibleError('context_length_exceeded', `input ${i} has ${r.length} tokens; this model reads at most ${spec.contextLength}`, param);
      }
      const bad = r.find((tok) => tok >= spec.vocabSize);
      if (bad !== undefined) throw new CrucibleError('invalid_request', `token id ${bad} is outside the vocabulary of ${spec.vocabSize}`, param);
    });
    return rows;
  }

  async embed(rows: number[][], pooling: Pooling): Promise<Float32Array[]> {
    const n = this.spec.names;
    const b = rows.length;
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(b * width);
    const mask = new BigInt64Array(b * width);
    const positions = new BigInt64Array(b * width);
    const pads = rows.map((r) => (this.align === 'left' ? width - r.length : 0));
    rows.forEach((r, i) => r.forEach((tok, j) => {
      const at = i * width + pads[i] + j;
      ids[at] = BigInt(tok);
      mask[at] = 1n;
      positions[at] = BigInt(j);
    }));
    const feeds: Record<string, ort.Tensor> = {
      [n.inputIds]: new ort.Tensor('int64', ids, [b, width]),
      [n.attentionMask]: new ort.Tensor('int64', mask, [b, width]),
    };
    if (this.session.inputNames.includes(n.positionIds)) feeds[n.positionIds] = new ort.Tensor('int64', positions, [b, width]);
    BatchCache.fillEmptyPast(this.session, feeds, b);
    const out = (await this.session.run(feeds, [this.hidden]))[this.hidden];
    if (out.type !== 'float32') throw new CrucibleError('invalid_request', 'embeddings need a float32 graph', 'model');
    const h = out.data as Float32Array;
    const dim = out.dims[2];
    return rows.map((r, i) => {
      const v = new Float32Array(dim);
      const from = pads[i];
      const take = pooling === 'last' ? [from + r.length - 1] : r.map((_, j) => from + j);
      for (const p of take) for (let k = 0; k < dim; k++) v[k] += h[(i * width + p) * dim + k] / take.length;
      return normalize(v);
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function normalize(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
