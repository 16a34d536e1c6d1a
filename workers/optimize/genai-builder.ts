import { floatToHalf } from '../engine/half.js';
import { type ModelSpec, layerName } from '../engine/model-spec.js';
import { type Int4Matrix, blocksOf, dequantizeInt4, quantizeInt4 } from './int4.js';
import { type LlamaWeights, embeddingRows, transpose as transposed } from './llama-weights.js';
import { GraphBuilder, onnx, valueInfo } from './onnx-graph.js';

const { FLOAT, FLOAT16, INT64, INT32, UINT8 } = onnx.TensorProto.DataType;

/**
 * How to write a graph the way ONNX Runtime GenAI's model builder does: GroupQueryAttention with
 * rotary inside (seqlens_k and total_sequence_length computed from attention_mask, no
 * position_ids), SkipSimplifiedLayerNormalization, and MatMulNBits projections.
 */
export interface BuilderOptions {
  /** 4-bit MatMulNBits projections; null writes float MatMuls. */
  int4: {
    blockSize: number;
    /** 0: float activations; 4: int8 activations (what Foundry's CPU models use). */
    accuracyLevel: 0 | 1 | 2 | 3 | 4;
    zeroPoints: boolean;
    /** Quantize the output layer too. */
    lmHead: boolean;
    /** Look embeddings up in a 4-bit table (GatherBlockQuantized), as the builder does for int4 tied embeddings. */
    embeddings?: boolean;
  } | null;
  /**
   * With int4 set: write float MatMuls of the dequantized weights instead, the float reference a
   * MatMulNBits graph with accuracy level 0 must match token for token.
   */
  dequantizedReference?: boolean;
  /** Element type of the KV cache and logits; float16 is the interface of q4f16 and fp16 exports. */
  ioType: 'float32' | 'float16';
  /**
   * The builder's `exclude_lm_head`: the final norm's output as `hidden_states` instead of logits,
   * the layout of embedding exports such as Foundry's qwen3-embedding.
   */
  excludeLmHead?: boolean;
}

export interface BuiltGraph {
  builder: GraphBuilder;
  inputs: ReturnType<typeof valueInfo>[];
  outputs: ReturnType<typeof valueInfo>[];
  /** Head size in the graph: widened to a multiple of 16 when GroupQueryAttention needs it. */
  headSize: number;
  heads: number;
  kvHeads: number;
}

/**
 * ONNX Runtime's CPU GroupQueryAttention needs head sizes that are multiples of 16. A narrower
 * head is widened with zeros: each rotary half of a real head goes at the start of a half of the
 * wide head, so with rotary angles kept per real frequency and the scale of the real size, every
 * dot product, and so the maths, is unchanged.
 */
export function widenedHeadSize(hd: number): number {
  return Math.ceil(hd / 16) * 16;
}

/** Where dimension j of a real head of size hd lands in a head of size wide. */
const place = (j: number, hd: number, wide: number) => (j < hd / 2 ? j : wide / 2 + (j - hd / 2));

/** Widens the head columns of a [rows, heads * hd] matrix. */
function widenColumns(w: Float32Array, rows: number, heads: number, hd: number, wide: number): Float32Array {
  if (wide === hd) return w;
  const out = new Float32Array(rows * heads * wide);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < hd; j++) out[r * heads * wide + h * wide + place(j, hd, wide)] = w[r * heads * hd + h * hd + j];
    }
  }
  return out;
}

/** Widens the head rows of a [heads * hd, cols] matrix. */
function widenRows(w: Float32Array, cols: number, heads: number, hd: number, wide: number): Float32Array {
  if (wide === hd) return w;
  const out = new Float32Array(heads * wide * cols);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < hd; j++) out.set(w.subarray((h * hd + j) * cols, (h * hd + j + 1) * cols), (h * wide + place(j, hd, wide)) * cols);
  }
  return out;
}

export function buildGenaiGraph(spec: ModelSpec, w: LlamaWeights, opts: BuilderOptions): BuiltGraph {
  const { H, Hk, hd, hidden, ffn, eps, theta } = w;
  const wide = widenedHeadSize(hd);
  const b = new GraphBuilder();
  const n = spec.names;
  const io = opts.ioType === 'float16' ? FLOAT16 : FLOAT;
  let count = 0;

  /** A projection x[.., K] @ W[K, N], as MatMulNBits or MatMul. */
  const project = (x: string, weight: Float32Array, K: number, N: number, quantize: boolean): string => {
    const id = `proj_${count++}`;
    if (!opts.int4 || !quantize) return b.op('MatMul', [x, b.weight(`${id}.weight`, [K, N], weight)])[0];
    const q: Int4Matrix = quantizeInt4(weight, K, N, opts.int4.blockSize, opts.int4.zeroPoints);
    if (opts.dequantizedReference) return b.op('MatMul', [x, b.weight(`${id}.weight`, [K, N], dequantizeInt4(q))])[0];
    const blocks = blocksOf(K, q.blockSize);
    const inputs = [
      x,
      b.weight(`${id}.qweight`, [N, blocks, q.blockSize / 2], q.packed, UINT8),
      b.weight(`${id}.scales`, [N * blocks], q.scales),
    ];
    if (q.zeros) inputs.push(b.weight(`${id}.qzeros`, [q.zeros.length], q.zeros, UINT8));
    return b.op('MatMulNBits', inputs, { K, N, bits: 4, block_size: q.blockSize, accuracy_level: opts.int4.accuracyLevel }, 1, 'com.microsoft')[0];
  };

  /**
   * The embedding lookup: float rows, or 4-bit rows in MatMulNBits' layout (each vocabulary row
   * quantized in blocks along the hidden size, zero point 8) when the hidden size fills whole blocks.
   */
  const embed = (): string[] => {
    const rows = embeddingRows(w);
    const bs = opts.int4?.blockSize ?? 0;
    if (!opts.int4?.embeddings || opts.dequantizedReference || hidden % bs !== 0) {
      const table = opts.int4?.embeddings && opts.dequantizedReference && hidden % bs === 0
        ? transposed(dequantizeInt4(quantizeInt4(transposed(rows, spec.vocabSize, hidden), hidden, spec.vocabSize, bs, false)), hidden, spec.vocabSize)
        : rows;
      return b.op('Gather', [b.weight('embed_tokens', [spec.vocabSize, hidden], table), n.inputIds]);
    }
    const q = quantizeInt4(transposed(rows, spec.vocabSize, hidden), hidden, spec.vocabSize, bs, false);
    return b.op('GatherBlockQuantized', [
      b.weight('embed_tokens.qweight', [spec.vocabSize, hidden / 2], q.packed, UINT8), n.inputIds,
      b.weight('embed_tokens.scales', [spec.vocabSize, hidden / bs], q.scales),
    ], { gather_axis: 0, quantize_axis: 1, block_size: bs, bits: 4 }, 1, 'com.microsoft');
  };

  // Rotary angles of the real frequencies; the widened dimensions hold zeros and are not rotated.
  const half = wide / 2;
  const ctx = spec.contextLength;
  const cos = new Float32Array(ctx * half).fill(1);
  const sin = new Float32Array(ctx * half);
  for (let p = 0; p < ctx; p++) {
    for (let j = 0; j < hd / 2; j++) {
      const angle = p * Math.pow(theta, (-2 * j) / hd);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  const COS = b.weight('cos_cache', [ctx, half], cos);
  const SIN = b.weight('sin_cache', [ctx, half], sin);

  // What the model builder derives from the mask: each row's length - 1, and the total length.
  const [sum] = b.op('ReduceSum', [n.attentionMask, b.weight('axes_1', [1], BigInt64Array.from([1n]), INT64)], { keepdims: 0 });
  const [less] = b.op('Sub', [sum, b.weight('one', [], BigInt64Array.from([1n]), INT64)]);
  const [seqlensK] = b.op('Cast', [less], { to: INT32 });
  const [shape] = b.op('Shape', [n.attentionMask]);
  const [total64] = b.op('Gather', [shape, b.weight('index_1', [], BigInt64Array.from([1n]), INT64)], { axis: 0 });
  const [totalLen] = b.op('Cast', [total64], { to: INT32 });

  const [emb] = embed();
  const inputs = [valueInfo(n.inputIds, INT64, ['batch', 'seq']), valueInfo(n.attentionMask, INT64, ['batch', 'total'])];
  const outputs = [opts.excludeLmHead ? valueInfo('hidden_states', io, ['batch', 'seq', hidden]) : valueInfo(n.logits, io, ['batch', 'seq', spec.vocabSize])];
  const norm = (x: string, gamma: Float32Array, name: string) =>
    b.op('SimplifiedLayerNormalization', [x, b.weight(name, [hidden], gamma)], { axis: -1, epsilon: eps })[0];
  /** RMSNorm of (x + residual); returns the normalized value and the new residual. */
  const skipNorm = (x: string, residual: string, gamma: Float32Array, name: string): [string, string] => {
    const [y, , , s] = b.op('SkipSimplifiedLayerNormalization', [x, residual, b.weight(name, [hidden], gamma)], { epsilon: eps }, 4, 'com.microsoft');
    return [y, s];
  };

  let residual = emb;
  let h = norm(emb, w.layers[0].attnNorm, 'attn_norm.0');
  w.layers.forEach((layer, i) => {
    if (i > 0) [h, residual] = skipNorm(h, residual, layer.attnNorm, `attn_norm.${i}`);
    const pastK = layerName(n.pastKey, i);
    const pastV = layerName(n.pastValue, i);
    const presentK = layerName(n.presentKey, i);
    const presentV = layerName(n.presentValue, i);
    inputs.push(valueInfo(pastK, io, ['batch', Hk, 'past', wide]), valueInfo(pastV, io, ['batch', Hk, 'past', wide]));
    outputs.push(valueInfo(presentK, io, ['batch', Hk, 'total', wide]), valueInfo(presentV, io, ['batch', Hk, 'total', wide]));
    const q = project(h, widenColumns(layer.q, hidden, H, hd, wide), hidden, H * wide, true);
    const k = project(h, widenColumns(layer.k, hidden, Hk, hd, wide), hidden, Hk * wide, true);
    const v = project(h, widenColumns(layer.v, hidden, Hk, hd, wide), hidden, Hk * wide, true);
    const [attn] = b.op('GroupQueryAttention', [q, k, v, pastK, pastV, seqlensK, totalLen, COS, SIN], {
      num_heads: H, kv_num_heads: Hk, do_rotary: 1, rotary_interleaved: 0, scale: 1 / Math.sqrt(hd),
    }, 3, 'com.microsoft', [`attn_out.${i}`, presentK, presentV]);
    const o = project(attn, widenRows(layer.o, hidden, H, hd, wide), H * wide, hidden, true);
    [h, residual] = skipNorm(o, residual, layer.ffnNorm, `ffn_norm.${i}`);
    const gate = project(h, layer.gate, hidden, ffn, true);
    const up = project(h, layer.up, hidden, ffn, true);
    const [sg] = b.op('Sigmoid', [gate]);
    const [silu] = b.op('Mul', [gate, sg]);
    const [act] = b.op('Mul', [silu, up]);
    h = project(act, layer.down, ffn, hidden, true);
  });
  const [xf] = skipNorm(h, residual, w.finalNorm, 'final_norm');
  if (opts.excludeLmHead) b.op('Identity', [xf], {}, 1, '', ['hidden_states']);
  else b.op('Identity', [project(xf, w.lm.data, hidden, spec.vocabSize, opts.int4?.lmHead ?? false)], {}, 1, '', [n.logits]);
  // A float16 export computes in half precision throughout, as q4f16 and fp16 ones do.
  if (io === FLOAT16) {
    for (const t of b.initializers) {
      if (t.dataType !== FLOAT) continue;
      const raw = t.rawData as Uint8Array;
      const half = floatToHalf(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
      t.dataType = FLOAT16;
      t.rawData = new Uint8Array(half.buffer);
    }
  }
  return { builder: b, inputs, outputs, headSize: wide, heads: H, kvHeads: Hk };
}
