import { type ModelSpec, layerName } from '../engine/model-spec.js';
import { readLlamaWeights, transpose } from './llama-weights.js';
import { GraphBuilder, onnx, valueInfo } from './onnx-graph.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const INT32 = onnx.TensorProto.DataType.INT32;

export interface FusedModel {
  bytes: Uint8Array;
  /** KV heads of the fused graph: grouped heads are expanded, since its attention op needs one KV head per query head. */
  kvHeads: number;
  nodeCountBefore: number;
  nodeCountAfter: number;
}

/** Repeats each KV head's columns so query head h reads KV head floor(h / group). */
function expandHeads(w: Float32Array, rows: number, kvHeads: number, heads: number, hd: number): Float32Array {
  if (kvHeads === heads) return w;
  const group = heads / kvHeads;
  const out = new Float32Array(rows * heads * hd);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const src = r * kvHeads * hd + Math.floor(h / group) * hd;
      out.set(w.subarray(src, src + hd), r * heads * hd + h * hd);
    }
  }
  return out;
}

/** Concatenates [rows, a] and [rows, b] ... along the columns. */
function concatColumns(rows: number, parts: { data: Float32Array; cols: number }[]): Float32Array {
  const total = parts.reduce((s, p) => s + p.cols, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    for (const p of parts) {
      out.set(p.data.subarray(r * p.cols, (r + 1) * p.cols), at);
      at += p.cols;
    }
  }
  return out;
}


/**
 * Rewrites a plain Llama-family export (separate q/k/v/o, gate/up/down, RMSNorm, rotary) into a
 * graph of ONNX Runtime's fused kernels: SimplifiedLayerNormalization, one QKV MatMul,
 * RotaryEmbedding and MultiHeadAttention with the KV cache, one gate/up MatMul. The weights are
 * found by tracing the graph, not by names; anything that does not fit is refused.
 */
export function fuseLlama(spec: ModelSpec): FusedModel {
  const w = readLlamaWeights(spec);
  const { src, H, Hk, hd, theta, eps, hidden, ffn, layers: parsed, gather } = w;
  const b = new GraphBuilder();
  const table = src.weight(gather.input![0])!;
  const tiedColumns = Number(gather.attribute?.find((a) => a.name === 'axis')?.i ?? 0) === 1;
  const lmW = w.lm;
  const LM = b.weight('lm_head', lmW.dims, lmW.data);
  // A table stored [hidden, vocab] and shared with the output layer is gathered by column, so
  // the weights are not duplicated.
  const shared = tiedColumns && lmW.data === table.data;
  const E = shared ? LM : b.weight('embed_tokens', tiedColumns ? [table.dims[1], table.dims[0]] : table.dims,
    tiedColumns ? transpose(table.data, table.dims[0], table.dims[1]) : table.data);

  // Rotary caches for every position the context allows (rotate-half layout).
  const half = hd / 2;
  const cos = new Float32Array(spec.contextLength * half);
  const sin = new Float32Array(spec.contextLength * half);
  for (let p = 0; p < spec.contextLength; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p * Math.pow(theta, (-2 * j) / hd);
      cos[p * half + j] = Math.cos(angle);
      sin[p * half + j] = Math.sin(angle);
    }
  }
  const COS = b.weight('cos_cache', [spec.contextLength, half], cos);
  const SIN = b.weight('sin_cache', [spec.contextLength, half], sin);
  const split3 = b.weight('split_qkv', [3], BigInt64Array.from([BigInt(H * hd), BigInt(H * hd), BigInt(H * hd)]), INT64);
  const split2 = b.weight('split_ffn', [2], BigInt64Array.from([BigInt(ffn), BigInt(ffn)]), INT64);

  const n = spec.names;
  let emb: string;
  if (shared) {
    const [cols] = b.op('Gather', [E, n.inputIds], { axis: 1 });
    [emb] = b.op('Transpose', [cols], { perm: [1, 2, 0] });
  } else {
    [emb] = b.op('Gather', [E, n.inputIds]);
  }
  const [mask] = b.op('Cast', [n.attentionMask], { to: INT32 });
  let x = emb;
  const inputs = [
    valueInfo(n.inputIds, INT64, ['batch', 'seq']),
    valueInfo(n.attentionMask, INT64, ['batch', 'total']),
    valueInfo(n.positionIds, INT64, ['batch', 'seq']),
  ];
  const outputs = [valueInfo(n.logits, FLOAT, ['batch', 'seq', spec.vocabSize])];
  parsed.forEach((layer, i) => {
    const pastK = layerName(n.pastKey, i);
    const pastV = layerName(n.pastValue, i);
    inputs.push(valueInfo(pastK, FLOAT, ['batch', H, 'past', hd]), valueInfo(pastV, FLOAT, ['batch', H, 'past', hd]));
    const presentK = layerName(n.presentKey, i);
    const presentV = layerName(n.presentValue, i);
    outputs.push(valueInfo(presentK, FLOAT, ['batch', H, 'total', hd]), valueInfo(presentV, FLOAT, ['batch', H, 'total', hd]));
    const wqkv = concatColumns(hidden, [
      { data: layer.q, cols: H * hd },
      { data: expandHeads(layer.k, hidden, Hk, H, hd), cols: H * hd },
      { data: expandHeads(layer.v, hidden, Hk, H, hd), cols: H * hd },
    ]);
    const [h] = b.op('SimplifiedLayerNormalization', [x, b.weight(`attn_norm.${i}`, [hidden], layer.attnNorm)], { axis: -1, epsilon: eps });
    const [qkv] = b.op('MatMul', [h, b.weight(`qkv.${i}`, [hidden, 3 * H * hd], wqkv)]);
    const [q, k, v] = b.op('Split', [qkv, split3], { axis: -1 }, 3);
    const [qr] = b.op('RotaryEmbedding', [q, n.positionIds, COS, SIN], { interleaved: 0, num_heads: H }, 1, 'com.microsoft');
    const [kr] = b.op('RotaryEmbedding', [k, n.positionIds, COS, SIN], { interleaved: 0, num_heads: H }, 1, 'com.microsoft');
    const [attn] = b.op('MultiHeadAttention', [qr, kr, v, '', mask, '', pastK, pastV], { num_heads: H, unidirectional: 1 }, 3, 'com.microsoft',
      [`attn_out.${i}`, presentK, presentV]);
    const [o] = b.op('MatMul', [attn, b.weight(`o.${i}`, [H * hd, hidden], layer.o)]);
    const [x1] = b.op('Add', [x, o]);
    const [h2] = b.op('SimplifiedLayerNormalization', [x1, b.weight(`ffn_norm.${i}`, [hidden], layer.ffnNorm)], { axis: -1, epsilon: eps });
    const wgu = concatColumns(hidden, [{ data: layer.gate, cols: ffn }, { data: layer.up, cols: ffn }]);
    const [gu] = b.op('MatMul', [h2, b.weight(`gate_up.${i}`, [hidden, 2 * ffn], wgu)]);
    const [g, u] = b.op('Split', [gu, split2], { axis: -1 }, 2);
    const [sg] = b.op('Sigmoid', [g]);
    const [silu] = b.op('Mul', [g, sg]);
    const [act] = b.op('Mul', [silu, u]);
    const [down] = b.op('MatMul', [act, b.weight(`down.${i}`, [ffn, hidden], layer.down)]);
    [x] = b.op('Add', [x1, down]);
  });
  const [xf] = b.op('SimplifiedLayerNormalization', [x, b.weight('final_norm', [hidden], w.finalNorm)], { axis: -1, epsilon: eps });
  b.op('MatMul', [xf, LM], {}, 1, '', [n.logits]);
  return { bytes: b.encode(inputs, outputs), kvHeads: H, nodeCountBefore: src.nodes.length, nodeCountAfter: b.nodes.length };
}
