/**
 * A model folder (plain Llama ONNX export + tokenizer.json) as a GGUF v3 file for llama.cpp's
 * `llama` architecture: F32, the same weights as the ONNX initializers, the same SentencePiece
 * vocabulary. Used to run llama.cpp on exactly the weights Crucible runs.
 *
 * Layout facts this relies on:
 * - GGUF lists a tensor's dims innermost first, so a row-major [out, in] matrix is written with
 *   dims [in, out]; the reader below gives [in, out] matrices, which are transposed.
 * - The ONNX graphs rotate halves of each head (HF `rotate_half`); llama.cpp's `llama` rope rotates
 *   adjacent pairs. Within each head, HF output row j*hd/2 + i is llama.cpp row 2i + j.
 * - llama.cpp's SentencePiece tokenizer merges the adjacent pair whose joined text is a vocabulary
 *   entry with the highest score; tokenizer.json has BPE merges (lowest rank first) instead, so a
 *   token's score is minus the rank of the first merge that yields it.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readModelSpec } from '../workers/engine/model-spec.js';
import { embeddingRows, readLlamaWeights, transpose } from '../workers/optimize/llama-weights.js';

const ALIGN = 32;
const enum T { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9 }
/** llama.cpp's token attributes as GGUF stores them. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

type Value = { t: T.U32 | T.I32 | T.F32; v: number } | { t: T.BOOL; v: boolean } | { t: T.STRING; v: string }
  | { t: T.ARRAY; of: T.I32 | T.F32 | T.STRING; v: (number | string)[] };

class Bytes {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer) { this.chunks.push(b); this.length += b.length; }
  u32(n: number) { const b = Buffer.alloc(4); b.writeUInt32LE(n); this.push(b); }
  u64(n: number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); this.push(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  scalar(t: T, v: number | string | boolean) {
    const b = Buffer.alloc(t === T.BOOL ? 1 : 4);
    if (t === T.STRING) return this.str(v as string);
    if (t === T.U32) b.writeUInt32LE(v as number);
    else if (t === T.I32) b.writeInt32LE(v as number);
    else if (t === T.F32) b.writeFloatLE(v as number);
    else b.writeUInt8(v ? 1 : 0);
    this.push(b);
  }
  value(x: Value) {
    this.u32(x.t);
    if (x.t !== T.ARRAY) return this.scalar(x.t, x.v);
    this.u32(x.of);
    this.u64(x.v.length);
    for (const e of x.v) this.scalar(x.of, e);
  }
  pad() { const n = (ALIGN - (this.length % ALIGN)) % ALIGN; if (n) this.push(Buffer.alloc(n)); }
  buffer() { return Buffer.concat(this.chunks); }
}

/** HF rotate-half rows back to llama.cpp's interleaved pairs, per head: rows of a row-major [out, in] matrix. */
export function toPairRope(w: Float32Array, heads: number, hd: number, inDim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * hd + j * half + i) * inDim;
        const to = (h * hd + 2 * i + j) * inDim;
        out.set(w.subarray(from, from + inDim), to);
      }
    }
  }
  return out;
}

interface Vocab { tokens: string[]; scores: number[]; types: number[]; bos: number; eos: number; unk: number }

/** tokenizer.json's BPE vocabulary as SentencePiece pieces, scores and token types. */
export function spmVocab(dir: string, vocabSize: number): Vocab {
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const model = tj.model;
  if (model?.type !== 'BPE' || !model.byte_fallback) throw new Error(`${dir}: tokenizer.json is not a byte-fallback BPE (SentencePiece) vocabulary`);
  const tokens: string[] = new Array(vocabSize);
  for (const [piece, id] of Object.entries(model.vocab as Record<string, number>)) tokens[id] = piece;
  for (const a of tj.added_tokens ?? []) tokens[a.id] = a.content;
  for (let i = 0; i < vocabSize; i++) if (tokens[i] === undefined) throw new Error(`${dir}: token id ${i} has no piece`);
  const id = new Map(tokens.map((t, i) => [t, i]));
  // The first merge that yields a token sets its priority; tokens no merge yields are never merged into.
  const rank = new Map<number, number>();
  (model.merges as (string | [string, string])[]).forEach((m, r) => {
    const [l, rr] = typeof m === 'string' ? m.split(' ') : m;
    const t = id.get(l + rr);
    if (t !== undefined && !rank.has(t)) rank.set(t, r);
  });
  const special = new Set<number>((tj.added_tokens ?? []).filter((a: { special?: boolean }) => a.special).map((a: { id: number }) => a.id));
  const unk = id.get(model.unk_token ?? '<unk>') ?? 0;
  const types = tokens.map((t, i) => {
    if (i === unk) return TOKEN_TYPE.unknown;
    if (special.has(i)) return TOKEN_TYPE.control;
    if (/^<0x[0-9A-F]{2}>$/.test(t)) return TOKEN_TYPE.byte;
    return TOKEN_TYPE.normal;
  });
  const scores = tokens.map((_, i) => (rank.has(i) ? -1 - rank.get(i)! : 0));
  return { tokens, scores, types, bos: id.get('<s>') ?? 1, eos: id.get('</s>') ?? 2, unk };
}

/** Writes `dir`'s model as an F32 GGUF file at `out`; returns the tensor count and file size. */
export function writeGguf(dir: string, out: string): { tensors: number; bytes: number } {
  const spec = readModelSpec(dir);
  const w = readLlamaWeights(spec, 'convert to GGUF');
  const { H, Hk, hd, hidden, ffn } = w;
  const vocabSize = w.lm.dims[1];
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const vocab = spmVocab(dir, vocabSize);
  const bos = spec.bosTokenId ?? vocab.bos;
  const eos = cfg.eos_token_id !== undefined ? Number([cfg.eos_token_id].flat()[0]) : vocab.eos;

  const meta: [string, Value][] = [
    ['general.architecture', { t: T.STRING, v: 'llama' }],
    ['general.name', { t: T.STRING, v: dir.split('/').filter(Boolean).pop()! }],
    ['general.file_type', { t: T.U32, v: 0 }], // all F32
    ['general.alignment', { t: T.U32, v: ALIGN }],
    ['llama.context_length', { t: T.U32, v: spec.contextLength }],
    ['llama.embedding_length', { t: T.U32, v: hidden }],
    ['llama.block_count', { t: T.U32, v: w.layers.length }],
    ['llama.feed_forward_length', { t: T.U32, v: ffn }],
    ['llama.attention.head_count', { t: T.U32, v: H }],
    ['llama.attention.head_count_kv', { t: T.U32, v: Hk }],
    ['llama.attention.key_length', { t: T.U32, v: hd }],
    ['llama.attention.value_length', { t: T.U32, v: hd }],
    ['llama.rope.dimension_count', { t: T.U32, v: hd }],
    ['llama.attention.layer_norm_rms_epsilon', { t: T.F32, v: w.eps }],
    ['llama.rope.freq_base', { t: T.F32, v: w.theta }],
    ['llama.vocab_size', { t: T.U32, v: vocabSize }],
    ['tokenizer.ggml.model', { t: T.STRING, v: 'llama' }],
    ['tokenizer.ggml.tokens', { t: T.ARRAY, of: T.STRING, v: vocab.tokens }],
    ['tokenizer.ggml.scores', { t: T.ARRAY, of: T.F32, v: vocab.scores }],
    ['tokenizer.ggml.token_type', { t: T.ARRAY, of: T.I32, v: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { t: T.U32, v: bos }],
    ['tokenizer.ggml.eos_token_id', { t: T.U32, v: eos }],
    ['tokenizer.ggml.unknown_token_id', { t: T.U32, v: vocab.unk }],
    ['tokenizer.ggml.add_bos_token', { t: T.BOOL, v: true }],
    ['tokenizer.ggml.add_eos_token', { t: T.BOOL, v: false }],
    ['tokenizer.ggml.add_space_prefix', { t: T.BOOL, v: true }],
  ];

  // Row-major [rows, cols] data, written with GGUF dims [cols, rows].
  const tensors: { name: string; rows: number; cols: number; data: Float32Array }[] = [];
  const vec = (name: string, data: Float32Array) => tensors.push({ name, rows: 1, cols: data.length, data });
  /** An [in, out] matrix as llama.cpp's [out, in] rows. */
  const mat = (name: string, m: Float32Array, inDim: number, outDim: number, rope?: number) => {
    let rows = transpose(m, inDim, outDim);
    if (rope) rows = toPairRope(rows, rope, hd, inDim);
    tensors.push({ name, rows: outDim, cols: inDim, data: rows });
  };
  tensors.push({ name: 'token_embd.weight', rows: vocabSize, cols: hidden, data: embeddingRows(w) });
  w.layers.forEach((l, i) => {
    const b = `blk.${i}.`;
    vec(`${b}attn_norm.weight`, l.attnNorm);
    mat(`${b}attn_q.weight`, l.q, hidden, H * hd, H);
    mat(`${b}attn_k.weight`, l.k, hidden, Hk * hd, Hk);
    mat(`${b}attn_v.weight`, l.v, hidden, Hk * hd);
    mat(`${b}attn_output.weight`, l.o, H * hd, hidden);
    vec(`${b}ffn_norm.weight`, l.ffnNorm);
    mat(`${b}ffn_gate.weight`, l.gate, hidden, ffn);
    mat(`${b}ffn_up.weight`, l.up, hidden, ffn);
    mat(`${b}ffn_down.weight`, l.down, ffn, hidden);
  });
  vec('output_norm.weight', w.finalNorm);
  mat('output.weight', w.lm.data, hidden, vocabSize);

  const head = new Bytes();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(meta.length);
  for (const [k, v] of meta) { head.str(k); head.value(v); }
  let offset = 0;
  for (const t of tensors) {
    if (t.data.length !== t.rows * t.cols) throw new Error(`${t.name}: ${t.data.length} values for ${t.rows} x ${t.cols}`);
    head.str(t.name);
    const dims = t.rows === 1 ? [t.cols] : [t.cols, t.rows];
    head.u32(dims.length);
    for (const d of dims) head.u64(d);
    head.u32(0); // GGML_TYPE_F32
    head.u64(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
  }
  head.pad();

  const fd = openSync(out, 'w');
  try {
    let bytes = 0;
    const write = (b: Uint8Array) => { writeSync(fd, b); bytes += b.length; };
    write(head.buffer());
    for (const t of tensors) {
      const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      write(b);
      const pad = (ALIGN - (b.length % ALIGN)) % ALIGN;
      if (pad) write(new Uint8Array(pad));
    }
    return { tensors: tensors.length, bytes };
  } finally {
    closeSync(fd);
  }
}
