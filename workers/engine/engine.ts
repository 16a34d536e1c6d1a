import ort from 'onnxruntime-node';
import type { ChatMessage, SamplingParams } from '../../protocol/chat.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { LoadedModelFacts, WorkerEvent, WorkerInit } from '../../protocol/worker-messages.js';
import { BatchCache, type CacheAlignment, type CacheType } from './batch-cache.js';
import { checkExternalData, readGraphFacts } from './graph-facts.js';
import { Grammars } from './grammar/constraints.js';
import { PrefixCache } from './prefix-cache.js';
import { Embedder, type Pooling } from './embedder.js';
import { StepProfile } from './profile.js';
import { halfToFloat } from './half.js';
import { type ModelSpec, type Variant, layerName, pickVariant, rankVariants, readModelSpec } from './model-spec.js';
import { createSession } from './session.js';
import { DeviceKv, type DeviceKvStats } from './device-kv.js';
import { Sequence } from './sequence.js';
import { TextCodec } from './text-codec.js';
import { fusedOrOriginal } from '../optimize/fused-cache.js';
import { relative } from 'node:path';

const CANCELLED = { type: 'error', error: new CrucibleError('cancelled', 'the request was cancelled').toBody() } as const;

export interface GenerateOptions {
  messages: ChatMessage[];
  /** Raw prompt text instead of messages (legacy completions). */
  text?: string;
  /** Functions the chat template shows the model. */
  tools?: unknown[];
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
  /** The scheduler loop in progress, for idle(). */
  private looping: Promise<void> = Promise.resolve();
  private readonly align: CacheAlignment;
  private readonly cacheType: CacheType;
  private readonly halfLogits: boolean;
  private readonly logitsRank: number;
  private logitsBuffer: Float32Array | Uint16Array | null = null;
  /** This model's grammar compiler, for structured outputs and tool calls. */
  readonly grammars: Grammars;
  /** Finished sequences' caches, for requests that start with the same tokens; null when off. */
  readonly prefix: PrefixCache | null;
  /** Per-part timings of decode steps, when the engine was created to profile (benchmark only). */
  readonly profile: StepProfile | null;
  /** The caches' device side on GPU providers (see DeviceKv); null when they live in host memory. */
  private kv: DeviceKv | null = null;

  private constructor(
    readonly spec: ModelSpec,
    private readonly session: ort.InferenceSession,
    readonly codec: TextCodec,
    readonly facts: LoadedModelFacts,
    private readonly init: WorkerInit,
  ) {
    this.eos = new Set(spec.eosTokenIds);
    this.align = facts.attention === 'gqa' ? 'right' : 'left';
    this.cacheType = facts.cacheType ?? 'float32';
    const logitsMeta = session.outputMetadata.find((m) => m.name === spec.names.logits);
    this.halfLogits = logitsMeta?.isTensor === true && logitsMeta.type === 'float16';
    // Prebound only where the graph's logits are [batch, (seq,) vocab] with this vocabulary.
    const dims = logitsMeta?.isTensor ? logitsMeta.shape : [];
    const last = dims[dims.length - 1];
    this.logitsRank = (dims.length === 3 || dims.length === 2) && (typeof last !== 'number' || last === spec.vocabSize) ? dims.length : 0;
    this.batch = new BatchCache(spec.numKvHeads, spec.headDim, this.align, this.cacheType);
    this.grammars = new Grammars(codec.vocabulary, spec.vocabSize, spec.eosTokenIds);
    const budget = init.prefixCacheBytes ?? 64 * 2 ** 20;
    this.prefix = budget > 0 ? new PrefixCache(budget, spec.numKvHeads, spec.headDim) : null;
    this.profile = init.profile ? new StepProfile() : null;
    this.pastNames = [];
    this.presentNames = [];
    for (let i = 0; i < spec.numLayers; i++) {
      this.pastNames.push(layerName(spec.names.pastKey, i), layerName(spec.names.pastValue, i));
      this.presentNames.push(layerName(spec.names.presentKey, i), layerName(spec.names.presentValue, i));
    }
  }

  static async create(init: WorkerInit, layout?: 'hf' | 'genai'): Promise<Engine> {
    const before = process.memoryUsage().rss;
    // The fused form is the CPU's: its MultiHeadAttention with a key padding mask has no WebGPU
    // kernel, so other providers run the export as it is (plain, or the model builder's form).
    const onCpu = init.executionProvider === 'cpu' || init.executionProvider === 'auto';
    const chosen = init.fusedDir && !init.variant && onCpu ? await fusedOrOriginal(init.modelDir, init.fusedDir, init.intraOpThreads) : { dir: init.modelDir, fused: false };
    const spec = readModelSpec(chosen.dir, chosen.fused ? 'genai' : layout);
    const codec = new TextCodec(chosen.dir);
    const beforeSession = process.memoryUsage().rss;
    const { session, executionProvider, variant, attention, deviceKv } = await openBest(spec, init);
    const sessionMemoryBytes = Math.max(0, process.memoryUsage().rss - beforeSession);
    spec.onnxPath = variant.path;
    const missing = [spec.names.inputIds, spec.names.attentionMask, layerName(spec.names.pastKey, 0)]
      .filter((n) => !session.inputNames.includes(n));
    if (missing.length > 0) {
      await session.release();
      throw new CrucibleError('model_load_failed', `${spec.onnxPath} lacks the inputs ${missing.join(', ')}: not a decoder with a KV cache`);
    }
    const pastMeta = session.inputMetadata.find((m) => m.name === layerName(spec.names.pastKey, 0));
    const pastType = pastMeta?.isTensor ? pastMeta.type : 'float32';
    // The graph's own cache shape wins over the folder's config: variants of one model may differ
    // (a builder graph widens narrow heads).
    const shape = pastMeta?.isTensor ? pastMeta.shape : [];
    if (typeof shape[1] === 'number' && shape[1] > 0) spec.numKvHeads = shape[1];
    if (typeof shape[3] === 'number' && shape[3] > 0) spec.headDim = shape[3];
    if (pastType !== 'float32' && pastType !== 'float16') {
      await session.release();
      throw new CrucibleError('model_load_failed', `${spec.onnxPath} has a ${pastType} KV cache; float32 and float16 caches are supported`);
    }
    const facts: LoadedModelFacts = {
      contextLength: spec.contextLength, vocabSize: spec.vocabSize, numLayers: spec.numLayers,
      executionProvider, layout: spec.layout, memoryBytes: Math.max(0, process.memoryUsage().rss - before), sessionMemoryBytes, fused: chosen.fused,
      onnxFile: relative(init.modelDir, variant.path).split('\\').join('/'), variant: variant.name, attention, cacheType: pastType, kvCache: deviceKv ? 'device' : 'host',
      templateTakesTools: codec.templateTakesTools, toolTags: codec.toolTags,
    };
    if (chosen.fused) facts.onnxFile = `fused:${relative(chosen.dir, variant.path).split('\\').join('/')}`;
    const engine = new Engine(spec, session, codec, facts, init);
    try {
      if (deviceKv) engine.kv = await DeviceKv.create(engine.pastNames.length, pastType, executionProvider);
      await engine.verify();
    } catch (err) {
      await engine.kv?.close().catch(() => {});
      await session.release();
      throw new CrucibleError('model_load_failed', `${spec.onnxPath} cannot run on ${executionProvider}: ${(err as Error).message}`);
    }
    return engine;
  }

  /**
   * One real prefill and decode step at load: an operator the provider cannot run fails the load,
   * naming it, instead of failing every request later.
   */
  private async verify(): Promise<void> {
    const bos = BigInt(this.spec.bosTokenId ?? this.spec.eosTokenIds[0]);
    const empty = BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim, 1, this.cacheType);
    const first = await this.run(BigInt64Array.from([bos, bos]), BigInt64Array.from([0n, 1n]), new BigInt64Array(2).fill(1n), 1, 2, empty);
    const past = this.presentNames.map((n) => first[n]);
    const second = await this.run(BigInt64Array.from([bos]), BigInt64Array.from([2n]), new BigInt64Array(3).fill(1n), 1, 1, past);
    // The device-side join, trim and download run too, so a device that cannot do them fails the load.
    this.kv?.release(past);
    if (this.kv) {
      const pad = this.align === 'left' ? [0, 0, 3, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 3, 0];
      const empty = BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim, 1, this.cacheType);
      const joined = await this.kv.join(this.presentNames.map((n) => second[n]), empty, [0, 0, 0, 0, 0, 0, 0, 0], pad);
      await this.kv.toHost(await this.kv.keep(joined, [1], 0, 3));
      Object.assign(this.kv.stats, { downloads: 0, deviceRearranges: 0, deviceSteps: 0 });
    }
  }

  /** What the device-resident cache did since load; null when caches live in host memory. */
  kvStats(): DeviceKvStats | null {
    return this.kv ? { ...this.kv.stats } : null;
  }

  private embedder: Promise<Embedder> | null = null;

  /**
   * Sentence vectors: each text's tokens (with BOS) and the end token appended, or token ids as
   * given; one padded forward pass over the batch on a session whose graph also exposes the
   * final hidden states. Returns the vectors and the tokens read.
   */
  async embed(inputs: (string | number[])[], pooling: Pooling): Promise<{ vectors: Float32Array[]; tokens: number }> {
    const rows = Embedder.rows(inputs, this.spec, (text) => this.codec.encodeText(text));
    this.embedder ??= Embedder.create(this.spec, this.init.intraOpThreads, this.align);
    const embedder = await this.embedder;
    const vectors: Float32Array[] = [];
    // Batches of 32: one forward pass each.
    for (let i = 0; i < rows.length; i += 32) vectors.push(...await embedder.embed(rows.slice(i, i + 32), pooling));
    return { vectors, tokens: rows.reduce((s, r) => s + r.length, 0) };
  }

  countTokens(messages: ChatMessage[]): number {
    return this.codec.encodePrompt(messages).length;
  }

  /** Resolves when the sequence has ended; every outcome arrives through `emit`. */
  generate(opts: GenerateOptions): Promise<void> {
    const prompt = opts.text !== undefined ? this.codec.encodeText(opts.text) : this.codec.encodePrompt(opts.messages, opts.tools);
    const ctx = this.spec.contextLength;
    const room = ctx - prompt.length;
    const wanted = opts.sampling.maxTokens;
    if (room < 1 || (wanted !== undefined && wanted > room)) {
      throw new CrucibleError('context_length_exceeded',
        `This model's maximum context length is ${ctx} tokens; the messages take ${prompt.length} tokens` +
        (wanted !== undefined ? ` and max_tokens asks for ${wanted} more` : '') + '.',
        wanted !== undefined && room >= 1 ? 'max_tokens' : 'messages');
    }
    const reuse = this.prefix?.take(prompt) ?? null;
    const grammar = opts.sampling.grammar;
    // Compiled before the sequence starts, so a grammar that cannot compile fails the request cleanly.
    return (grammar ? this.grammars.constraint(grammar) : Promise.resolve(null)).then((constraint) => new Promise<void>((resolve) => {
      const seq = new Sequence(prompt, wanted ?? room, opts.sampling, this.codec.streamDecoder(prompt),
        reuse?.kv ?? BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim, 1, this.cacheType), opts.cancel, opts.emit, resolve, constraint);
      // A cached prefix is already in the sequence's own cache: prefill starts after it.
      if (reuse) seq.prefilled = seq.pos = reuse.length;
      opts.emit({ type: 'start', promptTokens: prompt.length, ...(reuse ? { cachedTokens: reuse.length } : {}) });
      this.prefilling.push(seq);
      this.pump();
    }));
  }

  /**
   * Samples a sequence's next token from a logits row: under its grammar's mask when it has one,
   * reporting log-probabilities when asked, then hands the token to the sequence.
   */
  /**
   * Whether sampling this sequence needs the grammar's whole mask. Without top-k / top-p and
   * log-probabilities it does not: a token drawn from the unmasked distribution and redrawn until
   * the grammar accepts one is distributed exactly as one drawn from the masked distribution, and
   * under greedy decoding the best token is the masked best whenever the grammar allows it. A mask
   * over a 32,000-token vocabulary costs ~1 ms in XGrammar's WebAssembly build; a check, ~10 µs.
   */
  private needsMask(seq: Sequence): boolean {
    return seq.logprobs !== undefined || seq.sampler.truncates;
  }

  /** Rejection sampling against the grammar (see needsMask); null when the mask is needed after all. */
  private tryUnmasked(seq: Sequence, logits: Float32Array, at: number): number | null {
    const tries = seq.sampler.greedy ? 1 : 4;
    for (let i = 0; i < tries; i++) {
      const token = seq.sampler.sample(logits, at, this.spec.vocabSize, null);
      if (seq.constraint!.accept(token)) return token;
    }
    return null;
  }

  private async pick(seq: Sequence, logits: Float32Array, at: number, ready?: Int32Array | null): Promise<void> {
    const vocab = this.spec.vocabSize;
    if (seq.constraint && !this.needsMask(seq) && ready === undefined) {
      const token = this.tryUnmasked(seq, logits, at);
      seq.maskedLast = token === null;
      if (token !== null) return seq.accept(token, this.eos);
    } else if (ready && seq.sampler.greedy) {
      // Greedy draws no randomness: whether the unmasked best was allowed says if the mask mattered.
      const best = seq.sampler.sample(logits, at, vocab, null);
      seq.maskedLast = ((ready[best >> 5] >>> (best & 31)) & 1) === 0;
    } else {
      seq.maskedLast = false;
    }
    const mask = ready ?? (seq.constraint ? await seq.constraint.mask() : null);
    const t0 = this.profile ? performance.now() : 0;
    const token = seq.sampler.sample(logits, at, vocab, mask);
    const t1 = this.profile ? this.profile.add('sample', t0) : 0;
    if (seq.logprobs !== undefined) {
      const lp = seq.sampler.logprobs(logits, at, vocab, token, seq.logprobs, mask);
      const entry = (id: number, logprob: number) => {
        const bytes = this.codec.tokenBytes(id);
        return { token: Buffer.from(bytes).toString('utf8'), logprob, bytes };
      };
      seq.emit({ type: 'logprobs', entries: [{ ...entry(token, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.id, t.logprob)) }] });
    }
    if (seq.constraint && !seq.constraint.accept(token)) {
      seq.finish({ type: 'error', error: new CrucibleError('internal_error', `the grammar refused token ${token} it had allowed`).toBody() });
      return;
    }
    seq.accept(token, this.eos);
    if (this.profile) this.profile.add('detokenize', t1);
  }

  /** The scheduler loop: alternates one prefill chunk with one batched decode step. */
  private pump(): void {
    if (this.running) return;
    this.running = true;
    this.looping = this.loop();
  }

  /** Resolves once the scheduler has nothing left to do (every sequence ended and was cleaned up). */
  async idle(): Promise<void> {
    while (this.running) await this.looping;
  }

  private async loop(): Promise<void> {
    try {
      while (this.prefilling.length > 0 || this.decoding.length > 0) {
        await this.dropCancelled();
        const room = this.init.maxBatch - this.decoding.length;
        const group = this.prefillGroup(room);
        if (group.length > 1) await this.prefillTogether(group);
        else if (room > 0 && this.prefilling[0]) await this.prefillChunk(this.prefilling[0]);
        if (this.decoding.length > 0) await this.decodeStep();
        // Let new tasks and cancellations in between steps.
        const t = this.profile ? performance.now() : 0;
        await new Promise((r) => setImmediate(r));
        if (this.profile) this.profile.add('yield', t);
      }
    } catch (err) {
      this.failAll(err);
    } finally {
      this.running = false;
    }
  }

  private async dropCancelled(): Promise<void> {
    const cancelled = CANCELLED;
    for (let i = this.prefilling.length - 1; i >= 0; i--) {
      if (!this.prefilling[i].cancelled) continue;
      const seq = this.prefilling.splice(i, 1)[0];
      this.kv?.release(seq.cache);
      seq.finish(cancelled);
    }
    if (this.decoding.some((s) => s.cancelled)) {
      for (const s of this.decoding) if (s.cancelled) s.finish(cancelled);
      await this.compact();
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
    this.kv?.release(seq.cache);
    const cache = seq.cache = this.presentNames.map((name) => out[name]);
    seq.prefilled = seq.pos = total;
    if (total < seq.prompt.length) return;
    this.prefilling.shift();
    const logits = this.logitsOf(out, n - 1, n - 1);
    await this.pick(seq, logits.data, logits.at);
    if (seq.done) { this.kv?.release(cache); return; }
    await this.join(cache, seq.pos);
    seq.cache = null;
    this.decoding.push(seq);
  }

  /**
   * Adds a block of rows to the batch. With device caches an empty batch adopts the block as it
   * is, and a running one is padded and stacked with it on the device.
   */
  private async join(block: ort.Tensor[], past: number, lengths: number[] = [past]): Promise<void> {
    if (!this.kv || this.batch.size === 0) return this.batch.join(block, past, lengths);
    const plan = this.batch.joinPlan(past);
    this.batch.adoptJoin(await this.kv.join(this.batch.tensors, block, plan.padBatch, plan.padBlock), plan.width, lengths);
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
    // Left-padded for masked attention; right-padded for GroupQueryAttention, whose rows start at 0.
    const pads = group.map((s) => (this.align === 'left' ? width - s.prompt.length : 0));
    group.forEach((seq, r) => {
      for (let i = 0; i < seq.prompt.length; i++) {
        const at = r * width + pads[r] + i;
        ids[at] = BigInt(seq.prompt[i]);
        positions[at] = BigInt(i);
        mask[at] = 1n;
      }
    });
    const empty = BatchCache.empty(this.pastNames.length, this.spec.numKvHeads, this.spec.headDim, n, this.cacheType);
    const out = await this.run(ids, positions, mask, n, width, empty);
    const inGroup = new Set(group);
    for (let i = this.prefilling.length - 1; i >= 0; i--) if (inGroup.has(this.prefilling[i])) this.prefilling.splice(i, 1);
    for (const [r, seq] of group.entries()) {
      seq.prefilled = seq.pos = seq.prompt.length;
      seq.cache = null;
      const last = r * width + pads[r] + seq.prompt.length - 1;
      const logits = this.logitsOf(out, last, last);
      await this.pick(seq, logits.data, logits.at);
    }
    // Join the whole block, then drop the rows that already finished.
    await this.join(this.presentNames.map((name) => out[name]), width, group.map((s) => s.prompt.length));
    this.decoding.push(...group);
    if (group.some((s) => s.done)) await this.compact();
  }

  private async decodeStep(): Promise<void> {
    const prof = this.profile;
    let t = prof ? performance.now() : 0;
    const b = this.decoding.length;
    const width = this.batch.past + 1;
    const ids = new BigInt64Array(b);
    const positions = new BigInt64Array(b);
    const mask = new BigInt64Array(b * width);
    for (let r = 0; r < b; r++) {
      const seq = this.decoding[r];
      seq.fed.push(seq.lastToken);
      ids[r] = BigInt(seq.lastToken);
      positions[r] = BigInt(seq.pos);
      // Ones over the row's positions plus the new one: after its padding when left-aligned,
      // from 0 when right-aligned (GroupQueryAttention counts them to find the row's length).
      const from = r * width + this.batch.padOf(r);
      mask.fill(1n, from, from + this.batch.lengths[r] + 1);
    }
    if (prof) t = prof.add('inputs', t);
    // Device caches come out in new device buffers; host ones are written into reused arrays.
    const views = this.kv ? undefined : this.batch.presentViews();
    if (prof) t = prof.add('kv', t);
    const running = this.run(ids, positions, mask, b, 1, this.batch.tensors, views, this.logitsOut(b));
    // Sequences that need their full grammar mask get it here, on this thread, while ONNX Runtime's
    // threads run the step (a mask depends only on the tokens taken so far).
    // So do those whose last token needed it (a structural state tends to follow another).
    const masks = await Promise.all(this.decoding.map((s) => (s.constraint && (this.needsMask(s) || s.maskedLast) ? s.constraint.mask() : undefined)));
    const out = await running;
    if (prof) t = prof.add('run', t);
    if (views) {
      this.batch.advanceInPlace(views);
    } else {
      const past = this.batch.tensors;
      this.batch.advanceTo(this.presentNames.map((n) => out[n]));
      if (past.every((p) => DeviceKv.onDevice(p))) this.kv!.stats.deviceSteps++;
      this.kv!.release(past);
    }
    const vocab = this.spec.vocabSize;
    const logits = this.logitsOf(out, 0, b - 1);
    if (prof) t = prof.add('kv', t);
    for (let r = 0; r < b; r++) {
      const seq = this.decoding[r];
      seq.pos++;
      await this.pick(seq, logits.data, logits.at + r * vocab, masks[r]);
    }
    if (prof) { prof.steps++; prof.tokens += b; t = performance.now(); }
    if (this.decoding.some((s) => s.done)) await this.compact();
    if (prof) prof.add('kv', t);
  }

  /**
   * Float32 logits covering flat rows `first`..`last` of the output: float16 logits (q4f16 and fp16
   * exports) are widened, and only the rows that are sampled.
   */
  private logitsOf(out: ort.InferenceSession.OnnxValueMapType, first: number, last: number): { data: Float32Array; at: number } {
    const t = out[this.spec.names.logits];
    const vocab = this.spec.vocabSize;
    if (!this.halfLogits) return { data: t.data as Float32Array, at: first * vocab };
    return { data: halfToFloat((t.data as Uint16Array).subarray(first * vocab, (last + 1) * vocab)), at: 0 };
  }

  /** Removes finished sequences from the batch, keeping their caches for prefix reuse. */
  private async compact(): Promise<void> {
    const keep: number[] = [];
    for (const [r, s] of this.decoding.entries()) {
      if (!s.done) { keep.push(r); continue; }
      if (!this.prefix || !s.ok || this.batch.lengths[r] !== s.prompt.length + s.fed.length) continue;
      const tokens = [...s.prompt, ...s.fed];
      if (!this.kv) {
        this.prefix.store(tokens, this.batch.tensors, r, this.batch.padOf(r), this.batch.past);
        continue;
      }
      // Only this row's valid positions come to the host.
      const from = this.batch.padOf(r);
      const row = await this.kv.toHost(await this.kv.keep(this.batch.tensors, [r], from, from + this.batch.lengths[r], true));
      this.prefix.store(tokens, row, 0, 0, this.batch.lengths[r]);
    }
    if (this.kv && keep.length > 0 && keep.length < this.batch.size) {
      const plan = this.batch.keepPlan(keep);
      this.batch.adoptKeep(await this.kv.keep(this.batch.tensors, keep, plan.start, plan.end), keep, plan);
    }
    if (keep.length === 0) this.kv?.release(this.batch.tensors);
    this.batch.keep(keep);
    const alive = keep.map((r) => this.decoding[r]);
    this.decoding.length = 0;
    this.decoding.push(...alive);
  }

  /**
   * A reused output tensor for a decode step's logits: ONNX Runtime otherwise hands back a fresh
   * buffer every step (1 MB at batch 8 of a 32,000-token vocabulary), and the garbage collector's
   * work on them showed up between steps. Its rows are read before the next step runs.
   */
  private logitsOut(b: number): ort.Tensor | undefined {
    if (!this.logitsRank) return undefined;
    const n = b * this.spec.vocabSize;
    if (!this.logitsBuffer || this.logitsBuffer.length < n) {
      this.logitsBuffer = this.halfLogits ? new Uint16Array(this.init.maxBatch * this.spec.vocabSize) : new Float32Array(this.init.maxBatch * this.spec.vocabSize);
    }
    const dims = this.logitsRank === 3 ? [b, 1, this.spec.vocabSize] : [b, this.spec.vocabSize];
    return new ort.Tensor(this.halfLogits ? 'float16' : 'float32', this.logitsBuffer.subarray(0, n) as Float32Array, dims);
  }

  private run(ids: BigInt64Array, positions: BigInt64Array, mask: BigInt64Array, b: number, s: number, past: ort.Tensor[], present?: ort.Tensor[], logits?: ort.Tensor) {
    const n = this.spec.names;
    const feeds: Record<string, ort.Tensor> = {
      [n.inputIds]: new ort.Tensor('int64', ids, [b, s]),
      [n.attentionMask]: new ort.Tensor('int64', mask, [b, mask.length / b]),
    };
    if (this.session.inputNames.includes(n.positionIds)) feeds[n.positionIds] = new ort.Tensor('int64', positions, [b, s]);
    for (let i = 0; i < past.length; i++) feeds[this.pastNames[i]] = past[i];
    if (!present) {
      const kv = this.kv;
      const out = this.session.run(feeds);
      // Device outputs are owned from here on; the engine frees each when it drops it.
      return kv ? out.then((o) => { kv.track(Object.values(o) as ort.Tensor[]); return o; }) : out;
    }
    const fetches: Record<string, ort.Tensor | null> = { [n.logits]: logits ?? null };
    for (let i = 0; i < present.length; i++) fetches[this.presentNames[i]] = present[i];
    return this.session.run(feeds, fetches);
  }

  /** A failed step ends every sequence in flight with the error; the engine stays usable. */
  private failAll(err: unknown): void {
    const body = (err instanceof CrucibleError ? err : new CrucibleError('internal_error', `inference failed: ${(err as Error).message}`)).toBody();
    for (const s of this.prefilling) this.kv?.release(s.cache);
    this.kv?.release(this.batch.tensors);
    for (const s of [...this.prefilling, ...this.decoding]) s.finish({ type: 'error', error: body });
    this.prefilling.length = 0;
    this.decoding.length = 0;
    this.batch.keep([]);
  }

  async release(): Promise<void> {
    await this.kv?.close();
    if (this.embedder) await (await this.embedder.catch(() => null))?.release();
    await this.session.release();
  }
}

/**
 * Opens the model's session: the pinned variant, or the folder's variants best first for the
 * provider, moving to the next when one cannot run there.
 */
async function openBest(spec: ModelSpec, init: WorkerInit): Promise<{ session: ort.InferenceSession; executionProvider: string; variant: Variant; attention: 'gqa' | 'masked'; deviceKv: boolean }> {
  const device = init.executionProvider === 'cpu' || init.executionProvider === 'auto' ? 'cpu' : 'gpu';
  // onnxruntime-node hands out device buffers for WebGPU outputs only.
  const deviceKv = init.executionProvider === 'webgpu' && init.deviceKv !== false;
  const presents: string[] = [];
  for (let i = 0; i < spec.numLayers; i++) presents.push(layerName(spec.names.presentKey, i), layerName(spec.names.presentValue, i));
  const extra = deviceKv ? { preferredOutputLocation: DeviceKv.outputs(presents) } : {};
  const candidates = init.variant ? [pickVariant(spec.variants, init.variant)] : rankVariants(spec.variants, device);
  const failures: string[] = [];
  for (const variant of candidates) {
    const graph = readGraphFacts(variant.path);
    checkExternalData(variant.path, graph);
    try {
      const { session, executionProvider } = await createSession(variant.path, init.executionProvider, init.intraOpThreads, extra);
      return { session, executionProvider, variant, attention: graph.attention, deviceKv };
    } catch (err) {
      if (candidates.length === 1) throw err;
      failures.push(`${variant.name}: ${(err as Error).message}`);
    }
  }
  throw new CrucibleError('model_load_failed', `no variant of ${spec.dir} loads: ${failures.join('; ')}`);
}
