import ort from 'onnxruntime-node';
import type { ChatMessage, SamplingParams } from '../../protocol/chat.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { LoadedModelFacts, WorkerEvent, WorkerInit } from '../../protocol/worker-messages.js';
import { BatchCache } from './batch-cache.js';
import { type ModelSpec, layerName, readModelSpec } from './model-spec.js';
import { createSession } from './session.js';
import { Sequence } from './sequence.js';
import { TextCodec } from './text-codec.js';
import { fusedOrOriginal } from '../optimize/fused-cache.js';

const CANCELLED = { type: 'error', error: new CrucibleError('cancelled', 'the request was cancelled').toBody() } as const;

export interface GenerateOptions {
  messages: ChatMessage[];
  sampling: SamplingParams;
  cancel: SharedArrayBuffer;
  emit: (e: WorkerEvent) => void;
}

/**
 * One model's session and its continuous-batching loop. Requests become sequences: each is
 * prefilled alone in chunks, then joins the batch whose every decode step is a single
 * session.run over all active sequences. Sequences leave between steps when they finish or are
 * cancelled; the others carry on undisturbed.
 */
export class Engine {
  private readonly eos: ReadonlySet<number>;
  private readonly batch: BatchCache;
  private readonly decoding: Sequence[] = [];
  private readonly prefilling: Sequence[] = [];
  private readonly pastNames: string[];
  private readonly presentNames: string[];
  private running = false;

  private constructor(
    readonly spec: ModelSpec,
    private readonly session: ort.InferenceSession,
    readonly codec: TextCodec,
    readonly facts: LoadedModelFacts,
    private readonly init: WorkerInit,
  ) {
    this.eos = new Set(spec.eosTokenIds);
    this.batch = new BatchCache(spec.numKvHeads, spec.headDim);
    this.pastNames = [];
    this.presentNames = [];
    for (let i = 0; i < spec.numLayers; i++) {
      this.pastNames.push(layerName(spec.names.pastKey, i), layerName(spec.names.pastValue, i));
      this.presentNames.push(layerName(spec.names.presentKey, i), layerName(spec.names.presentValue, i));
    }
  }

  static async create(init: WorkerInit, layout?: 'hf' | 'genai'): Promise<Engine> {
    const before = process.memoryUsage().rss;
    const chosen = init.fusedDir ? await fusedOrOriginal(init.modelDir, init.fusedDir, init.intraOpThreads) : { dir: init.modelDir, fused: false };
    const spec = readModelSpec(chosen.dir, chosen.fused ? 'genai' : layout);
    const codec = new TextCodec(chosen.dir);
    const { session, executionProvider } = await createSession(spec.onnxPath, init.executionProvider, init.intraOpThreads);
    const missing = [spec.names.inputIds, spec.names.attentionMask, layerName(spec.names.pastKey, 0)]
      .filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0) {
      await session.release();
      throw new CrucibleError('model_load_failed', `${spec.onnxPath} lacks the inputs ${missing.join(', ')}: not a decoder with a KV cache`);
    }
    const facts: LoadedModelFacts = {
      contextLength: spec.contextLength, vocabSize: spec.vocabSize, numLayers: spec.numLayers,
      executionProvider, layout: spec.layout, memoryBytes: Math.max(0, process.memoryUsage().rss - before), fused: chosen.fused,
    };
    return new Engine(spec, session, codec, facts, init);
  }

  countTokens(messages: ChatMessage[]): number {
    return this.codec.encodePrompt(messages).length;
  }

  /** Resolves when the sequence has ended; every outcome arrives through `emit`. */
  generate(opts: GenerateOptions): Promise<void> {
    const prompt = this.codec.encodePrompt(opts.messages);
    const ctx = this.spec.contextLength;
    const room = ctx - prompt.length;
    const wanted = opts.sampling.maxTokens;
    if (room < 1 || (wanted !== undefined && wanted > room)) {
      throw new CrucibleError('context_length_exceeded',
        `This model's maximum context length is ${ctx} tokens; the messages take ${prompt.length} tokens` +
        (wanted !== undefined ? ` and max_tokens asks for ${wanted} more` : '') + '.',
        wanted !== undefined && room >= 1 ? 'max_tokens' : 'messages');
    }
    return new Promise<void>((resolve) => {
      const seq = new Sequence(prompt, wanted ?? room, opts.sampling, this.codec.streamDecoder(prompt),
        BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim), opts.cancel, opts.emit, resolve);
      opts.emit({ type: 'start', promptTokens: prompt.length });
      this.prefilling.push(seq);
      void this.pump();
    });
  }

  /** The scheduler loop: alternates one prefill chunk with one batched decode step. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.prefilling.length > 0 || this.decoding.length > 0) {
        this.dropCancelled();
        const room = this.init.maxBatch - this.decoding.length;
        const group = this.prefillGroup(room);
        if (group.length > 1) await this.prefillTogether(group);
        else if (room > 0 && this.prefilling[0]) await this.prefillChunk(this.prefilling[0]);
        if (this.decoding.length > 0) await this.decodeStep();
        // Let new tasks and cancellations in between steps.
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.failAll(err);
    } finally {
      this.running = false;
    }
  }

  private dropCancelled(): void {
    const cancelled = CANCELLED;
    for (let i = this.prefilling.length - 1; i >= 0; i--) {
      if (this.prefilling[i].cancelled) this.prefilling.splice(i, 1)[0].finish(cancelled);
    }
    if (this.decoding.some((s) => s.cancelled)) {
      for (const s of this.decoding) if (s.cancelled) s.finish(cancelled);
      this.compact();
    }
  }

  private async prefillChunk(seq: Sequence): Promise<void> {
    const start = seq.prefilled;
    const n = Math.min(this.init.prefillChunk, seq.prompt.length - start);
    const total = start + n;
    const ids = new BigInt64Array(n);
    const positions = new BigInt64Array(n);
    for (let i = 0; i < n; i++) { ids[i] = BigInt(seq.prompt[start + i]); positions[i] = BigInt(start + i); }
    const mask = new BigInt64Array(total).fill(1n);
    const out = await this.run(ids, positions, mask, 1, n, seq.cache!);
    seq.cache = this.presentNames.map((name) => out[name]);
    seq.prefilled = seq.pos = total;
    if (total < seq.prompt.length) return;
    this.prefilling.shift();
    const logits = out[this.spec.names.logits];
    seq.accept(seq.sampler.sample(logits.data as Float32Array, (n - 1) * this.spec.vocabSize, this.spec.vocabSize), this.eos);
    if (seq.done) return;
    this.batch.join(seq.cache, seq.pos);
    seq.cache = null;
    this.decoding.push(seq);
  }

  /**
   * Requests that arrived together and have short prompts are prefilled in one batched run, so a
   * burst of requests starts decoding together instead of one prefill at a time.
   */
  private prefillGroup(room: number): Sequence[] {
    const group: Sequence[] = [];
    for (const seq of this.prefilling) {
      if (group.length >= room) break;
      if (seq.prefilled === 0 && seq.prompt.length <= this.init.prefillChunk) group.push(seq);
    }
    return group;
  }

  private async prefillTogether(group: Sequence[]): Promise<void> {
    const n = group.length;
    const width = Math.max(...group.map((s) => s.prompt.length));
    const ids = new BigInt64Array(n * width);
    const positions = new BigInt64Array(n * width);
    const mask = new BigInt64Array(n * width);
    const pads = group.map((s) => width - s.prompt.length);
    group.forEach((seq, r) => {
      for (let i = 0; i < seq.prompt.length; i++) {
        const at = r * width + pads[r] + i;
        ids[at] = BigInt(seq.prompt[i]);
        positions[at] = BigInt(i);
        mask[at] = 1n;
      }
    });
    const empty = BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim, n);
    const out = await this.run(ids, positions, mask, n, width, empty);
    const logits = out[this.spec.names.logits].data as Float32Array;
    const vocab = this.spec.vocabSize;
    const inGroup = new Set(group);
    for (let i = this.prefilling.length - 1; i >= 0; i--) if (inGroup.has(this.prefilling[i])) this.prefilling.splice(i, 1);
    group.forEach((seq, r) => {
      seq.prefilled = seq.pos = seq.prompt.length;
      seq.cache = null;
      seq.accept(seq.sampler.sample(logits, (r * width + width - 1) * vocab, vocab), this.eos);
    });
    // Join the whole block, then drop the rows that already finished.
    this.batch.join(this.presentNames.map((name) => out[name]), width, pads);
    this.decoding.push(...group);
    if (group.some((s) => s.done)) this.compact();
  }

  private async decodeStep(): Promise<void> {
    const b = this.decoding.length;
    const width = this.batch.past + 1;
    const ids = new BigInt64Array(b);
    const positions = new BigInt64Array(b);
    const mask = new BigInt64Array(b * width);
    for (let r = 0; r < b; r++) {
      const seq = this.decoding[r];
      ids[r] = BigInt(seq.lastToken);
      positions[r] = BigInt(seq.pos);
      mask.fill(1n, r * width + this.batch.padLeft[r], (r + 1) * width);
    }
    const views = this.batch.presentViews();
    const out = await this.run(ids, positions, mask, b, 1, this.batch.tensors, views);
    this.batch.advanceInPlace(views);
    const logits = out[this.spec.names.logits].data as Float32Array;
    const vocab = this.spec.vocabSize;
    for (let r = 0; r < b; r++) {
      const seq = this.decoding[r];
      seq.pos++;
      seq.accept(seq.sampler.sample(logits, r * vocab, vocab), this.eos);
    }
    if (this.decoding.some((s) => s.done)) this.compact();
  }

  /** Removes finished sequences from the batch. */
  private compact(): void {
    const keep: number[] = [];
    this.decoding.forEach((s, r) => { if (!s.done) keep.push(r); });
    this.batch.keep(keep);
    const alive = keep.map((r) => this.decoding[r]);
    this.decoding.length = 0;
    this.decoding.push(...alive);
  }

  private run(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, b: number, s: number, past: ort.Tensor[], present?: ort.Tensor[]) {
    const n = this.spec.names;
    const feeds: Record<string, ort.Tensor> = {
      [n.inputIds]: new ort.Tensor('int64', ids, [b, s]),
      [n.attentionMask]: new ort.Tensor('int64', mask, [b, mask.length / b]),
    };
    if (this.session.inputNames.includes(n.positionIds)) feeds[n.positionIds] = new ort.Tensor('int64', positions, [b, s]);
    for (let i = 0; i < past.length; i++) feeds[this.pastNames[i]] = past[i];
    if (!present) return this.session.run(feeds);
    const fetches: Record<string, ort.Tensor | null> = { [n.logits]: null };
    for (let i = 0; i < present.length; i++) fetches[this.presentNames[i]] = present[i];
    return this.session.run(feeds, fetches);
  }

  /** A failed step ends every sequence in flight with the error; the engine stays usable. */
  private failAll(err: unknown): void {
    const body = (err instanceof CrucibleError ? err : new CrucibleError('internal_error', `inference failed: ${(err as Error).message}`)).toBody();
    for (const s of [...this.prefilling, ...this.decoding]) s.finish({ type: 'error', error: body });
    this.prefilling.length = 0;
    this.decoding.length = 0;
    this.batch.keep([]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
