import ort from 'onnxruntime-node';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CrucibleError } from '../../protocol/errors.js';
import { normalize } from '../engine/embedder.js';
import type { EncoderSpec } from './spec.js';

/** Inputs per forward pass: one padded batch each. */
export const ENCODER_BATCH = 32;

/**
 * Sentence vectors from an encoder export (BERT, RoBERTa, MPNet... as sentence-transformers and
 * Optimum write them): the tokenizer's own special tokens, one right-padded forward pass per batch
 * with the padding masked, then the folder's pooling over the real tokens only, and L2
 * normalization when modules.json lists a Normalize module. A graph that pools itself
 * (`sentence_embedding`) is used as it is unless crucible.json chose another pooling.
 */
export class Encoder {
  private constructor(private readonly session: ort.InferenceSession, private readonly tokenizer: Tokenizer, readonly spec: EncoderSpec,
    private readonly output: string, private readonly pooled: boolean, private readonly padId: number) {}

  static async create(spec: EncoderSpec, threads: number): Promise<Encoder> {
    let tokenizer: Tokenizer;
    let padId = 0;
    try {
      const config = existsSync(join(spec.dir, 'tokenizer_config.json')) ? JSON.parse(readFileSync(join(spec.dir, 'tokenizer_config.json'), 'utf8')) : {};
      const tj = JSON.parse(readFileSync(join(spec.dir, 'tokenizer.json'), 'utf8'));
      tokenizer = new Tokenizer(tj, config);
      const pad = typeof config.pad_token === 'string' ? config.pad_token : config.pad_token?.content;
      padId = (typeof pad === 'string' ? tokenizer.token_to_id(pad) : undefined) ?? tj.padding?.pad_id ?? 0;
    } catch (err) {
      throw new CrucibleError('model_load_failed', `cannot load the tokenizer in ${spec.dir}: ${(err as Error).message}`);
    }
    const session = await ort.InferenceSession.create(spec.onnxPath, { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
    const inputs = session.inputNames;
    if (!inputs.includes('input_ids') || inputs.some((n) => n.startsWith('past_key_values'))) {
      await session.release();
      throw new CrucibleError('model_load_failed', `${spec.onnxPath} is not an encoder graph (inputs: ${inputs.join(', ')})`);
    }
    const outs = session.outputNames;
    const pooled = outs.includes('sentence_embedding') && !spec.poolingOverridden;
    const output = pooled ? 'sentence_embedding' : outs.includes('last_hidden_state') ? 'last_hidden_state' : outs.includes('token_embeddings') ? 'token_embeddings' : outs[0];
    return new Encoder(session, tokenizer, spec, output, pooled, padId);
  }

  /** Token ids of each input, checked against the model's limit and vocabulary (never truncated). */
  tokenize(inputs: (string | number[])[]): number[][] {
    const param = (i: number) => (inputs.length > 1 ? `input[${i}]` : 'input');
    return inputs.map((x, i) => {
      const ids: number[] = typeof x === 'string' ? this.tokenizer.encode(x, { add_special_tokens: true }).ids : x;
      if (ids.length > this.spec.maxTokens) {
        throw new CrucibleError('context_length_exceeded', `input ${i} has ${ids.length} tokens; this model reads at most ${this.spec.maxTokens}`, param(i));
      }
      const bad = ids.find((t) => t >= this.spec.vocabSize);
      if (bad !== undefined) throw new CrucibleError('invalid_request', `token id ${bad} is outside the vocabulary of ${this.spec.vocabSize}`, param(i));
      return ids;
    });
  }

  async embed(inputs: (string | number[])[]): Promise<{ vectors: Float32Array[]; tokens: number }> {
    const rows = this.tokenize(inputs);
    const vectors: Float32Array[] = [];
    for (let i = 0; i < rows.length; i += ENCODER_BATCH) vectors.push(...await this.forward(rows.slice(i, i + ENCODER_BATCH)));
    return { vectors, tokens: rows.reduce((s, r) => s + r.length, 0) };
  }

  private async forward(rows: number[][]): Promise<Float32Array[]> {
    const b = rows.length;
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(b * width).fill(BigInt(this.padId));
    const mask = new BigInt64Array(b * width);
    rows.forEach((r, i) => r.forEach((tok, j) => { ids[i * width + j] = BigInt(tok); mask[i * width + j] = 1n; }));
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', ids, [b, width]);
      else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', mask, [b, width]);
      else if (name === 'token_type_ids') feeds[name] = new ort.Tensor('int64', new BigInt64Array(b * width), [b, width]);
      else if (name === 'position_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: b * width }, (_, k) => BigInt(k % width)), [b, width]);
      else throw new CrucibleError('model_load_failed', `${this.spec.onnxPath} takes an input '${name}' an encoder does not have`);
    }
    const out = (await this.session.run(feeds, [this.output]))[this.output];
    if (out.type !== 'float32') throw new CrucibleError('invalid_request', 'embeddings need a float32 graph', 'model');
    const h = out.data as Float32Array;
    if (this.pooled) {
      const dim = out.dims[1];
      return rows.map((_, i) => this.finish(h.slice(i * dim, (i + 1) * dim)));
    }
    const dim = out.dims[2];
    return rows.map((r, i) => {
      const v = new Float32Array(dim);
      const take = this.spec.pooling === 'cls' ? [0] : this.spec.pooling === 'last' ? [r.length - 1] : r.map((_, j) => j);
      for (const p of take) for (let k = 0; k < dim; k++) v[k] += h[(i * width + p) * dim + k];
      for (let k = 0; k < dim; k++) v[k] /= take.length;
      return this.finish(v);
    });
  }

  private finish(v: Float32Array): Float32Array {
    return this.spec.normalize ? normalize(v) : v;
  }

  get facts(): { contextLength: number; vocabSize: number } {
    return { contextLength: this.spec.maxTokens, vocabSize: Number.isFinite(this.spec.vocabSize) ? this.spec.vocabSize : this.tokenizer.get_vocab().size ?? 0 };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
