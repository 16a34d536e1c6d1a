import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import { type ModelSpec, layerName } from '../engine/model-spec.js';
import { type Node, SourceGraph } from './onnx-graph.js';

/** One decoder layer's weights, as [in, out] matrices and RMSNorm scales. */
export interface Layer {
  q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array;
  gate: Float32Array; up: Float32Array; down: Float32Array;
  attnNorm: Float32Array; ffnNorm: Float32Array;
}

/** Everything a rewrite of a plain Llama export needs, found by tracing its graph. */
export interface LlamaWeights {
  src: SourceGraph;
  /** Query heads, KV heads, head size. */
  H: number; Hk: number; hd: number;
  theta: number; eps: number;
  hidden: number; ffn: number;
  layers: Layer[];
  finalNorm: Float32Array;
  /** The embedding lookup and its table (possibly stored [hidden, vocab] and shared with the head). */
  gather: Node;
  table: { dims: number[]; data: Float32Array };
  /** The output layer, [hidden, vocab]. */
  lm: { dims: number[]; data: Float32Array };
}

const refusal = (verb: string) => (why: string) => new CrucibleError('invalid_request', `cannot ${verb} this model: ${why}`, 'name');

/** The embedding table as [vocab, hidden] rows, whichever way the export stores it. */
export function embeddingRows(w: LlamaWeights): Float32Array {
  const tiedColumns = Number(w.gather.attribute?.find((a) => a.name === 'axis')?.i ?? 0) === 1;
  return tiedColumns ? transpose(w.table.data, w.table.dims[0], w.table.dims[1]) : w.table.data;
}

export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/**
 * Reads a plain Llama-family export (separate q/k/v/o, gate/up/down, RMSNorm, rotary): weights are
 * found by tracing the graph, not by names; anything that does not fit is refused.
 */
export function readLlamaWeights(spec: ModelSpec, verb = 'fuse'): LlamaWeights {
  const refuse = refusal(verb);
  const src = new SourceGraph(spec.onnxPath);
  const cfgPath = join(spec.dir, 'config.json');
  const cfg = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, 'utf8')) : {};
  const H = Number(cfg.num_attention_heads ?? 0) || inferHeads(spec, refuse);
  const Hk = spec.numKvHeads;
  const hd = spec.headDim;
  const theta = Number(cfg.rope_theta ?? 10000);
  const eps = Number(cfg.rms_norm_eps ?? 1e-5);
  if (cfg.rope_scaling) throw refuse('rope scaling is not supported');

  const weightOf = (n: Node) => src.weight((n.input ?? [])[1] ?? '');
  const matmuls = src.nodes.filter((n) => n.opType === 'MatMul' && weightOf(n)?.dims.length === 2);
  const norms = src.nodes.filter((n) => n.opType === 'Mul' && (n.input ?? []).some((i) => src.weight(i)?.dims.length === 1));
  const gather = src.nodes.find((n) => n.opType === 'Gather' && src.weight((n.input ?? [])[0] ?? '') !== undefined);
  if (!gather) throw refuse('no embedding lookup found');
  const lm = matmuls[matmuls.length - 1];
  const layers = matmuls.slice(0, -1);
  const L = spec.numLayers;
  if (layers.length !== 7 * L) throw refuse(`expected 7 weight matrices per layer, found ${layers.length} for ${L} layers`);
  if (norms.length !== 2 * L + 1) throw refuse(`expected ${2 * L + 1} RMSNorm weights, found ${norms.length}`);
  if (src.nodes.some((n) => n.opType === 'Add' && (n.input ?? []).some((i) => src.weight(i)?.dims.length === 1))) {
    throw refuse('projection biases are not supported');
  }
  const normWeight = (n: Node) => src.weight((n.input ?? []).find((i) => src.weight(i)?.dims.length === 1)!)!.data;
  const hidden = weightOf(layers[0])!.dims[0];
  const ffn = Math.max(...layers.map((m) => weightOf(m)!.dims[1]));

  const parsed: Layer[] = [];
  for (let i = 0; i < L; i++) {
    const group = layers.slice(7 * i, 7 * i + 7);
    const pk = layerName(spec.names.presentKey, i);
    const pv = layerName(spec.names.presentValue, i);
    const targets = new Set([pk, pv]);
    const proj = group.slice(0, 3);
    const reach = proj.map((m) => src.reaches(m.output![0], targets));
    const k = proj.find((_, j) => reach[j].has(pk) && !reach[j].has(pv));
    const v = proj.find((_, j) => reach[j].has(pv) && !reach[j].has(pk));
    const q = proj.find((m) => m !== k && m !== v);
    if (!q || !k || !v) throw refuse(`layer ${i}: cannot tell q, k and v apart`);
    const ffnPair = group.slice(4, 6);
    const gate = ffnPair.find((m) => src.feeds(m.output![0], 'Sigmoid'));
    const up = ffnPair.find((m) => m !== gate);
    if (!gate || !up) throw refuse(`layer ${i}: cannot find the gated feed-forward`);
    parsed.push({
      q: weightOf(q)!.data, k: weightOf(k)!.data, v: weightOf(v)!.data, o: weightOf(group[3])!.data,
      gate: weightOf(gate)!.data, up: weightOf(up)!.data, down: weightOf(group[6])!.data,
      attnNorm: normWeight(norms[2 * i]), ffnNorm: normWeight(norms[2 * i + 1]),
    });
  }

  const lmW = weightOf(lm)!;
  return {
    src, H, Hk, hd, theta, eps, hidden, ffn, layers: parsed, finalNorm: normWeight(norms[2 * L]),
    gather, table: src.weight(gather.input![0])!, lm: lmW,
  };
}

function inferHeads(spec: ModelSpec, refuse: (why: string) => Error): number {
  const genai = join(spec.dir, 'genai_config.json');
  if (existsSync(genai)) return Number(JSON.parse(readFileSync(genai, 'utf8')).model?.decoder?.num_attention_heads ?? 0);
  throw refuse('the number of attention heads is unknown');
}
