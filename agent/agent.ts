import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type ChunkDelta, type FinishReason, type SamplingParams,
  type TokenCount, type TokenCountRequest, type Usage, choiceSampling,
} from '../protocol/chat.js';
import type { Completion, CompletionChunk, CompletionRequest, LegacyLogprobs } from '../protocol/completions.js';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import type { PromptInput } from '../protocol/worker-messages.js';
import { type EmbeddingRequest, type EmbeddingResponse, toBase64 } from '../protocol/embeddings.js';
import type { Transcript, TranscriptEvent, TranscriptionRequest } from '../protocol/audio.js';
import { SpeechOps } from './speech.js';
import { normalize } from '../workers/engine/embedder.js';
import type { TokenLogprob } from '../protocol/grammar.js';
import { type ToolPlan, planTools } from './tool-plan.js';
import type { ToolEvent } from './tool-calls.js';
import { type GpuDevice, type LoadRequest, type ModelInfo, type OpenAIModel, type OpenAIModelList, type ServiceStatus, type UnloadRequest, serviceStatus } from '../protocol/models.js';
import type { CrucibleApi } from '../protocol/operations.js';
import { PROTOCOL_VERSION, SERVICE_VERSION } from '../protocol/version.js';
import type { CatalogListing, DownloadProgress, DownloadRequest, ExternalModel, RemoveRequest } from '../protocol/catalog.js';
import type { ModelMetadata, PredictRequest, PredictResponse } from '../protocol/predict.js';
import type { CacheOps } from './cache-ops.js';
import type { ChatRunner, Runner } from './model-runner.js';
import type { WorkerEvent } from '../protocol/worker-messages.js';
import type { Lease } from './registry.js';
import type { DeviceProbe } from './devices.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { RequestControl } from './request-control.js';
import type { DeletedResponse, FollowQuery, InputItemList, InputItemsQuery, ResponseObject, ResponseRequest, ResponseStreamEvent } from '../protocol/responses.js';
import { Responses } from './responses/responses.js';
import type { ResponseStore } from './responses/store.js';
import type { Registry } from './registry.js';

export interface AgentInfo {
  endpoints: () => string[];
  pipeName: () => string;
  modelDirPath: string;
}

export interface AgentOptions {
  /** The predictive model `POST /v1/predict` uses when the body names none. */
  defaultPredictModel: string;
  metrics: Metrics;
  log: Logger;
  requestTimeoutMs: number;
  /** Include prompt and completion text in debug logs. */
  logPrompts: boolean;
  /** Where stored responses live; without it the Responses API answers 404. */
  responses?: ResponseStore;
}

const FINGERPRINT = `crucible-${SERVICE_VERSION}`;

/** One sequence of a request: choice `index` continues `messages`; `group` is its prompt's number. */
interface Job {
  messages: PromptInput;
  sampling: SamplingParams;
  group: number;
}

/** What a request's sequences produce, merged: each event names its choice. */
type ChoiceEvent =
  | { type: 'start'; index: number }
  | { type: 'delta'; index: number; text: string }
  | { type: 'logprobs'; index: number; entries: TokenLogprob[] }
  | { type: 'finish'; index: number; finishReason: FinishReason }
  | { type: 'usage'; usage: Usage };

/** `n` jobs per prompt: choice `p * n + i` is choice `i` of prompt `p`, with its own seed. */
function jobsFor(prompts: PromptInput[], n: number, sampling: SamplingParams): Job[] {
  return prompts.flatMap((messages, group) => Array.from({ length: n }, (_, i) => ({ messages, sampling: choiceSampling(sampling, i), group })));
}

/** A text completion's prompt goes to the model as it is, without the chat template. */
const promptMessages = (prompt: string): PromptInput => ({ text: prompt });

function chatRunner(lease: Lease): ChatRunner {
  if (lease.runner.kind !== 'chat') {
    const what = lease.runner.kind === 'embeddings' ? 'an embedding model; use /v1/embeddings'
      : `a ${lease.entry.task} model; use ${lease.runner.kind === 'speech' ? '/v1/audio/transcriptions' : '/v1/predict'}`;
    throw new CrucibleError('invalid_request', `'${lease.entry.id}' is ${what}`, 'model');
  }
  return lease.runner;
}

/** The operations every transport serves, implemented once over the registry. */
export class Agent implements CrucibleApi {
  private readonly shutdown = new AbortController();
  private readonly responsesApi: Responses | null;
  private readonly speech: SpeechOps;

  constructor(
    private readonly registry: Registry,
    private readonly devices: DeviceProbe,
    private readonly cache: CacheOps,
    private readonly info: AgentInfo,
    private readonly opts: AgentOptions,
  ) {
    this.responsesApi = opts.responses ? new Responses((r, s) => this.chatStream(r, s), opts.responses, opts.log) : null;
    this.speech = new SpeechOps({ acquire: (name, ctl) => this.acquire(name, ctl), log: opts.log, requestTimeoutMs: opts.requestTimeoutMs, shutdown: this.shutdown.signal });
  }

  /** Speech to text (agent/speech.ts): the upload goes to the model's worker, which decodes and transcribes it. */
  transcribe(req: TranscriptionRequest, signal?: AbortSignal): Promise<Transcript> {
    return this.speech.transcribe(req, signal);
  }

  transcribeStream(req: TranscriptionRequest, signal?: AbortSignal): AsyncIterable<TranscriptEvent> {
    return this.speech.transcribeStream(req, signal);
  }

  /** The Responses API, built on chatStream: it generates nothing itself. */
  private get responses(): Responses {
    if (!this.responsesApi) throw new CrucibleError('not_found', 'the Responses API has no store on this agent');
    return this.responsesApi;
  }

  createResponse(req: ResponseRequest, signal?: AbortSignal, owner?: string): Promise<ResponseObject> {
    return this.responses.create(req, signal, owner);
  }

  createResponseStream(req: ResponseRequest, signal?: AbortSignal, owner?: string): AsyncIterable<ResponseStreamEvent> {
    return this.responses.createStream(req, signal, owner);
  }

  getResponse(id: string, owner?: string): Promise<ResponseObject> {
    return this.responses.get(id, owner);
  }

  streamResponse(q: FollowQuery, owner?: string): AsyncIterable<ResponseStreamEvent> {
    return this.responses.stream(q, owner);
  }

  deleteResponse(id: string, owner?: string): Promise<DeletedResponse> {
    return this.responses.delete(id, owner);
  }

  cancelResponse(id: string, owner?: string): Promise<ResponseObject> {
    return this.responses.cancel(id, owner);
  }

  listInputItems(q: InputItemsQuery, owner?: string): Promise<InputItemList> {
    return this.responses.inputItems(q, owner);
  }

  /** Ends every request in flight with `shutting_down`; new ones are refused. */
  stopAll(): void {
    this.shutdown.abort();
  }

  catalog(): Promise<CatalogListing[]> {
    return this.cache.list();
  }

  download(req: DownloadRequest, opts: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {}): Promise<{ model: string }> {
    return this.cache.download(req, opts);
  }

  removeModel(req: RemoveRequest): Promise<{ model: string }> {
    return this.cache.remove(req);
  }

  registerExternal(model: ExternalModel): Promise<{ model: string }> {
    return this.cache.register(model);
  }

  /**
   * A lease on a model. A name that is only in the catalog says how to get it; a full queue is
   * counted; a request stopped while it waited says what stopped it.
   */
  private async acquire(name: string, ctl?: RequestControl) {
    if (this.shutdown.signal.aborted) throw new CrucibleError('shutting_down', 'the service is shutting down');
    // The resolver ranks variants by the providers that run here: probe them first (once).
    await this.devices.providers();
    try {
      return await this.registry.acquire(name, ctl?.signal ?? this.shutdown.signal);
    } catch (err) {
      if (err instanceof CrucibleError && err.code === 'overloaded') this.opts.metrics.rejected.inc({ model: name });
      if (err instanceof CrucibleError && err.code === 'cancelled' && ctl) throw ctl.error(err);
      throw await this.notDownloaded(name, err);
    }
  }

  /**
   * A name that is in the catalog but not in the cache says how to get it. The Foundry Local SDKs
   * turn a load error holding "No OpenAIService provider found for modelName" into their own
   * "has not been downloaded yet" guidance, so that phrase follows our message.
   */
  private async notDownloaded(name: string, err: unknown): Promise<unknown> {
    if (!(err instanceof CrucibleError) || err.code !== 'model_not_found') return err;
    const entry = await this.cache.resolveCatalog(name).catch(() => undefined);
    if (!entry) return err;
    return new CrucibleError('model_not_found',
      `The model '${name}' is in the catalog as '${entry.name}' but not downloaded; download it first `
      + `(crucible model download ${entry.alias}, or POST /openai/download). No OpenAIService provider found for modelName ${entry.name}`, 'model');
  }

  async status(): Promise<ServiceStatus> {
    return serviceStatus({
      endpoints: this.info.endpoints(),
      modelDirPath: this.info.modelDirPath,
      pipeName: this.info.pipeName(),
      version: SERVICE_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      pid: process.pid,
      devices: await this.devices.report(),
    });
  }

  async listModels(): Promise<OpenAIModelList> {
    return {
      object: 'list',
      data: this.registry.cached().map((e) => ({ id: e.id, object: 'model', created: 0, owned_by: 'crucible' })),
    };
  }

  async getModel(id: string): Promise<OpenAIModel> {
    try {
      return { id: this.registry.resolve(id).id, object: 'model', created: 0, owned_by: 'crucible' };
    } catch (err) {
      throw await this.notDownloaded(id, err);
    }
  }

  async modelInfo(): Promise<ModelInfo[]> {
    return this.registry.info();
  }

  async cachedModels(): Promise<string[]> {
    return this.registry.cached().map((e) => e.id);
  }

  async loadedModels(): Promise<string[]> {
    return this.registry.loaded().map((e) => e.id);
  }

  async load(req: LoadRequest): Promise<{ model: string }> {
    // The resolver ranks variants by the providers that run here: probe them first (once).
    const usable = await this.devices.providers();
    if (req.ep !== undefined && !usable.includes(req.ep)) {
      throw new CrucibleError('unsupported_execution_provider',
        `execution provider '${req.ep}' cannot run on this machine; available: ${usable.join(', ')}`, 'ep');
    }
    const entry = await this.registry.load(req.name, { ttl: req.ttl, ep: req.ep, variant: req.variant }).catch(async (err) => {
      throw await this.notDownloaded(req.name, err);
    });
    return { model: entry.id };
  }

  async unload(req: UnloadRequest): Promise<{ model: string }> {
    return { model: (await this.registry.unload(req.name, req.force)).id };
  }

  async unloadAll(): Promise<{ models: string[] }> {
    const models = this.registry.loaded().map((e) => e.id);
    await this.registry.unloadAll(true);
    return { models };
  }

  /** Sentence vectors from an embedding model, or from a generative model's final hidden states (`POST /v1/embeddings`). */
  async embeddings(req: EmbeddingRequest, signal?: AbortSignal): Promise<EmbeddingResponse> {
    const { lease, ctl } = await this.open(req.model, signal, ['chat', 'embeddings']);
    try {
      const settings = lease.entry.settings;
      if (req.dimensions !== undefined && !settings.matryoshka) {
        throw new CrucibleError('unsupported_parameter', `'${lease.entry.id}' does not declare truncatable vectors ("matryoshka": true in its crucible.json); leave out 'dimensions'`, 'dimensions');
      }
      const runner = lease.runner;
      if (runner.kind === 'chat' && settings.pooling === 'cls') {
        throw new CrucibleError('invalid_request', `'${lease.entry.id}' is a decoder: its crucible.json "pooling" must be last or mean, not cls`, 'model');
      }
      const { vectors, tokens } = runner.kind === 'embeddings'
        ? await runner.embed(req.inputs).catch((err) => {
          if (err instanceof CrucibleError && err.code === 'worker_crashed') lease.fail(err.message);
          throw err;
        })
        : await chatRunner(lease).embed(req.inputs, settings.pooling === 'mean' ? 'mean' : 'last');
      const data = vectors.map((v, index) => {
        const out = req.dimensions !== undefined && req.dimensions < v.length ? normalize(v.slice(0, req.dimensions)) : v;
        return { object: 'embedding' as const, index, embedding: req.encodingFormat === 'base64' ? toBase64(out) : Array.from(out) };
      });
      return { object: 'list', data, model: lease.entry.id, usage: { prompt_tokens: tokens, total_tokens: tokens } };
    } finally {
      ctl.dispose();
      lease.release();
    }
  }

  async countTokens(req: TokenCountRequest): Promise<TokenCount> {
    const lease = await this.acquire(req.model);
    try {
      return { model: lease.entry.id, tokenCount: await chatRunner(lease).countTokens(req.messages) };
    } finally {
      lease.release();
    }
  }

  async chat(req: ChatCompletionRequest, signal?: AbortSignal): Promise<ChatCompletion> {
    const id = `chatcmpl-${randomUUID()}`;
    const choices: ChatCompletion['choices'] = Array.from({ length: req.n }, (_, index) => ({
      index, message: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: 'stop',
    }));
    let model = req.model;
    let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    for await (const chunk of this.chatStream({ ...req, stream: true, includeUsage: true }, signal, id)) {
      model = chunk.model;
      for (const c of chunk.choices) {
        const message = choices[c.index].message;
        if (c.delta.content) message.content = (message.content ?? '') + c.delta.content;
        for (const t of c.delta.tool_calls ?? []) {
          message.tool_calls ??= [];
          if (t.id) message.tool_calls[t.index] = { id: t.id, type: 'function', function: { name: t.function.name ?? '', arguments: '' } };
          message.tool_calls[t.index].function.arguments += t.function.arguments;
        }
        if (c.logprobs) {
          choices[c.index].logprobs ??= { content: [], refusal: null };
          choices[c.index].logprobs!.content.push(...c.logprobs.content);
        }
        if (c.finish_reason) choices[c.index].finish_reason = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    for (const c of choices) {
      // A turn that only called tools has no text, as OpenAI answers it.
      if (c.message.tool_calls && !c.message.content) c.message.content = null;
      if (req.sampling.logprobs !== undefined) c.logprobs ??= { content: [], refusal: null };
    }
    return { id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: FINGERPRINT, choices, usage };
  }

  /**
   * Streams `chat.completion.chunk` objects: per choice a role chunk, content (or tool-call)
   * chunks and a finish chunk (choices interleave, each chunk naming its `index`), then a usage
   * chunk when asked. Log-probabilities ride on the chunk of the text they produced. Errors
   * before every choice has started reject; later ones end the stream.
   */
  async *chatStream(req: ChatCompletionRequest, signal?: AbortSignal, id = `chatcmpl-${randomUUID()}`): AsyncIterable<ChatCompletionChunk> {
    const { lease, ctl, t0 } = await this.open(req.model, signal);
    let plan: ToolPlan;
    try {
      plan = planTools(req, chatRunner(lease).facts);
    } catch (err) {
      ctl.dispose();
      lease.release();
      throw err;
    }
    const model = lease.entry.id;
    const created = Math.floor(Date.now() / 1000);
    const pending: TokenLogprob[][] = Array.from({ length: req.n }, () => []);
    const chunk = (index: number, delta: ChunkDelta, finish: FinishReason | null): ChatCompletionChunk => {
      const lp = pending[index].length > 0 && (delta.content || delta.tool_calls || finish) ? { content: pending[index].splice(0), refusal: null as null } : null;
      return {
        id, object: 'chat.completion.chunk', created, model, system_fingerprint: FINGERPRINT,
        choices: [{ index, delta, logprobs: lp, finish_reason: finish }],
      };
    };
    const parsers = Array.from({ length: req.n }, () => plan.parser());
    const toDelta = (e: ToolEvent): ChunkDelta => (e.type === 'content' ? { content: e.text }
      : e.type === 'call' ? { tool_calls: [{ index: e.index, id: e.id, type: 'function', function: { name: e.name, arguments: '' } }] }
      : { tool_calls: [{ index: e.index, function: { arguments: e.text } }] });
    const jobs = jobsFor([plan.input], req.n, plan.sampling);
    for await (const e of this.runChoices(lease, ctl, t0, jobs, id, 'chat completion')) {
      switch (e.type) {
        case 'start': yield chunk(e.index, { role: 'assistant', content: plan.forced ? null : '' }, null); break;
        case 'logprobs': pending[e.index].push(...e.entries); break;
        case 'delta': {
          const parser = parsers[e.index];
          if (!parser) { yield chunk(e.index, { content: e.text }, null); break; }
          for (const ev of parser.push(e.text)) yield chunk(e.index, toDelta(ev), null);
          break;
        }
        case 'finish': {
          const parser = parsers[e.index];
          for (const ev of parser?.finish() ?? []) yield chunk(e.index, toDelta(ev), null);
          yield chunk(e.index, {}, parser && parser.calls > 0 && e.finishReason === 'stop' ? 'tool_calls' : e.finishReason);
          break;
        }
        case 'usage':
          if (req.includeUsage) yield { ...chunk(0, {}, null), choices: [], usage: e.usage };
          break;
      }
    }
  }

  async completions(req: CompletionRequest, signal?: AbortSignal): Promise<Completion> {
    const id = `cmpl-${randomUUID()}`;
    const choices: Completion['choices'] = Array.from({ length: req.prompts.length * req.n }, (_, index) => ({
      index, text: '', logprobs: null, finish_reason: 'stop',
    }));
    let model = req.model;
    let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    for await (const chunk of this.completionsStream({ ...req, stream: true, includeUsage: true }, signal, id)) {
      model = chunk.model;
      for (const c of chunk.choices) {
        const choice = choices[c.index];
        if (c.logprobs) {
          const lp = choice.logprobs ??= { tokens: [], token_logprobs: [], top_logprobs: c.logprobs.top_logprobs ? [] : null, text_offset: [] };
          lp.tokens.push(...c.logprobs.tokens);
          lp.token_logprobs.push(...c.logprobs.token_logprobs);
          if (lp.top_logprobs && c.logprobs.top_logprobs) lp.top_logprobs.push(...c.logprobs.top_logprobs);
          lp.text_offset.push(...c.logprobs.text_offset);
        }
        choice.text += c.text;
        if (c.finish_reason) choice.finish_reason = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    return { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: FINGERPRINT, choices, usage };
  }

  /**
   * Streams `text_completion` chunks: per choice its text in pieces (the prompt first with
   * `echo`) and a finish chunk with empty text, then a usage chunk when asked. Log-probabilities
   * ride on the chunk of the text they produced, in the legacy form.
   */
  async *completionsStream(req: CompletionRequest, signal?: AbortSignal, id = `cmpl-${randomUUID()}`): AsyncIterable<CompletionChunk> {
    const { lease, ctl, t0 } = await this.open(req.model, signal);
    const model = lease.entry.id;
    const created = Math.floor(Date.now() / 1000);
    const choices = req.prompts.length * req.n;
    const pending: TokenLogprob[][] = Array.from({ length: choices }, () => []);
    const offsets = new Array<number>(choices).fill(0);
    const top = req.sampling.logprobs;
    const chunk = (index: number, text: string, finish: FinishReason | null): CompletionChunk => {
      let logprobs: LegacyLogprobs | null = null;
      if (top !== undefined && pending[index].length > 0 && (text || finish)) {
        const entries = pending[index].splice(0);
        const text_offset: number[] = [];
        for (const e of entries) { text_offset.push(offsets[index]); offsets[index] += e.token.length; }
        logprobs = {
          tokens: entries.map((e) => e.token), token_logprobs: entries.map((e) => e.logprob), text_offset,
          top_logprobs: top > 0 ? entries.map((e) => Object.fromEntries(e.top_logprobs.map((x) => [x.token, x.logprob]))) : null,
        };
      }
      return { id, object: 'text_completion', created, model, system_fingerprint: FINGERPRINT, choices: [{ index, text, logprobs, finish_reason: finish }] };
    };
    const jobs = jobsFor(req.prompts.map(promptMessages), req.n, req.sampling);
    for await (const e of this.runChoices(lease, ctl, t0, jobs, id, 'text completion')) {
      switch (e.type) {
        case 'start':
          if (req.echo) yield chunk(e.index, req.prompts[jobs[e.index].group], null);
          break;
        case 'logprobs': pending[e.index].push(...e.entries); break;
        case 'delta': yield chunk(e.index, e.text, null); break;
        case 'finish': yield chunk(e.index, '', e.finishReason); break;
        case 'usage':
          if (req.includeUsage) yield { ...chunk(0, '', null), choices: [], usage: e.usage };
          break;
      }
    }
  }

  /** A lease on a generative model under one request's control (caller, timeout, shutdown). */
  private async open(name: string, signal?: AbortSignal, accept: Runner['kind'][] = ['chat']) {
    const ctl = new RequestControl(signal, this.opts.requestTimeoutMs, this.shutdown.signal);
    const t0 = performance.now();
    try {
      const lease = await this.acquire(name, ctl);
      try {
        if (!accept.includes(lease.runner.kind)) chatRunner(lease);
      } catch (err) {
        lease.release();
        throw err;
      }
      return { lease, ctl, t0 };
    } catch (err) {
      ctl.dispose();
      throw err;
    }
  }

  /**
   * Runs a request's sequences together on one leased model: they are issued at once, so the
   * worker prefills them in one batch and decodes them side by side. Their events are merged as
   * they come; nothing is yielded until every choice has started, so a refused prompt rejects the
   * whole request. Usage counts each prompt once and sums the completions. One choice failing
   * stops the others. Releases the lease and the request control when it ends, however it ends.
   */
  private async *runChoices(lease: Lease, ctl: RequestControl, t0: number, jobs: Job[], id: string, kind: string): AsyncGenerator<ChoiceEvent> {
    const model = lease.entry.id;
    const m = this.opts.metrics;
    const runner = chatRunner(lease);
    const stop = new AbortController();
    const signal = AbortSignal.any([ctl.signal, stop.signal]);
    // Each sequence listens on it: n of them are expected, not a leak.
    setMaxListeners(jobs.length + 10, signal);
    const its = jobs.map((j) => runner.generate(j.messages, j.sampling, signal)[Symbol.asyncIterator]());
    type Pulled = { i: number; r: IteratorResult<WorkerEvent> } | { i: number; r?: undefined; err: unknown };
    const pending = new Map<number, Promise<Pulled>>();
    // Never rejects: a sequence left behind when another fails must not become an unhandled rejection.
    const pull = (i: number) => pending.set(i, its[i].next().then((r) => ({ i, r }), (err: unknown) => ({ i, err })));
    its.forEach((_, i) => pull(i));
    const started = new Set<number>();
    let held: ChoiceEvent[] | null = [];
    const promptTokens = new Map<number, number>();
    const cachedTokens = new Map<number, number>();
    let completionTokens = 0;
    const finishes: FinishReason[] = [];
    const texts = jobs.map(() => '');
    // Tokens are counted as they stream, so live rates move during a generation: each delta but
    // the latest one of a choice is at least one token (only a final flush comes without one), and
    // 'done' adds what the deltas did not account for.
    const deltas = jobs.map(() => 0);
    const counted = jobs.map(() => 0);
    let firstAt: number | null = null;
    // False while the request can still be abandoned by its consumer (a client gone, a Stop button).
    let ended = false;
    try {
      while (pending.size > 0) {
        const pulled = await Promise.race(pending.values());
        const { i, r } = pulled;
        if (!r) throw (pulled as { err: unknown }).err;
        if (r.done) { pending.delete(i); continue; }
        pull(i);
        const event = r.value;
        const out: ChoiceEvent[] = [];
        if (event.type !== 'error' && !started.has(i)) {
          started.add(i);
          out.push({ type: 'start', index: i });
        }
        switch (event.type) {
          case 'start':
            if (event.cachedTokens) cachedTokens.set(jobs[i].group, Math.max(cachedTokens.get(jobs[i].group) ?? 0, event.cachedTokens));
            break;
          case 'delta':
            if (firstAt === null) {
              firstAt = performance.now();
              m.ttft.observe({ model }, (firstAt - t0) / 1000);
            }
            if (this.opts.logPrompts) texts[i] += event.text;
            if (++deltas[i] > 1) {
              m.tokens.inc({ model });
              counted[i]++;
            }
            out.push({ type: 'delta', index: i, text: event.text });
            break;
          case 'logprobs':
            out.push({ type: 'logprobs', index: i, entries: event.entries });
            break;
          case 'done':
            promptTokens.set(jobs[i].group, Math.max(promptTokens.get(jobs[i].group) ?? 0, event.promptTokens));
            completionTokens += event.completionTokens;
            finishes[i] = event.finishReason;
            m.tokens.inc({ model }, Math.max(0, event.completionTokens - counted[i]));
            out.push({ type: 'finish', index: i, finishReason: event.finishReason });
            break;
          case 'error': {
            const err = fromErrorBody(event.error);
            if (err.code === 'worker_crashed') {
              lease.fail(err.message);
              this.opts.log.error({ requestId: id, model, error: err.message }, 'model worker crashed');
            }
            const final = err.code === 'cancelled' ? ctl.error(err) : err;
            this.opts.log.info({ requestId: id, model, choice: i, error: final.code, durationMs: Math.round(performance.now() - t0) }, `${kind} ended early`);
            throw final;
          }
        }
        if (held && started.size < jobs.length) { held.push(...out); continue; }
        if (held) { yield* held; held = null; }
        yield* out;
      }
      if (held) yield* held;
      ended = true;
      const prompt = [...promptTokens.values()].reduce((a, b) => a + b, 0);
      m.promptTokens.inc({ model }, prompt);
      const decodeSeconds = firstAt === null ? 0 : (performance.now() - firstAt) / 1000;
      if (decodeSeconds > 0 && completionTokens > jobs.length) m.decodeRate.observe({ model }, (completionTokens - jobs.length) / decodeSeconds);
      this.opts.log.info({
        requestId: id, model, choices: jobs.length, promptTokens: prompt, completionTokens,
        finishReason: jobs.length === 1 ? finishes[0] : finishes, ttftMs: firstAt === null ? null : Math.round(firstAt - t0),
        durationMs: Math.round(performance.now() - t0),
      }, kind);
      if (this.opts.logPrompts) this.opts.log.debug({ requestId: id, prompts: [...new Set(jobs.map((j) => j.messages))], completions: texts }, `${kind} text`);
      const cached = [...cachedTokens.values()].reduce((a, b) => a + b, 0);
      yield {
        type: 'usage',
        usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens, ...(cached > 0 ? { prompt_tokens_details: { cached_tokens: cached } } : {}) },
      };
    } catch (err) {
      ended = true;
      throw err;
    } finally {
      if (!ended) {
        this.opts.log.info({ requestId: id, model, error: 'cancelled', durationMs: Math.round(performance.now() - t0) }, `${kind} ended early: its consumer stopped reading`);
      }
      // Whatever ended the request (done, an error, a consumer gone), every sequence stops first.
      stop.abort();
      await Promise.allSettled(its.map((it) => it.return?.()));
      ctl.dispose();
      lease.release();
    }
  }

  /** Runs a predictive model on decoded items; it queues and expires like any model. */
  async predict(req: PredictRequest, signal?: AbortSignal): Promise<PredictResponse> {
    const ctl = new RequestControl(signal, this.opts.requestTimeoutMs, this.shutdown.signal);
    const t0 = performance.now();
    try {
      const lease = await this.acquire(req.model ?? this.opts.defaultPredictModel, ctl);
      try {
        if (lease.runner.kind !== 'predict') {
          const use = lease.entry.task === 'embeddings' ? '/v1/embeddings' : lease.runner.kind === 'speech' ? '/v1/audio/transcriptions' : '/v1/chat/completions';
          throw new CrucibleError('invalid_request', `'${lease.entry.id}' is a ${lease.entry.task} model; use ${use}`, 'model');
        }
        const predictions = await lease.runner.predict(req.items).catch((err) => {
          if (err instanceof CrucibleError && err.code === 'worker_crashed') lease.fail(err.message);
          throw err;
        });
        this.opts.log.info({ model: lease.entry.id, items: req.items.length, durationMs: Math.round(performance.now() - t0) }, 'prediction');
        return { model: lease.entry.id, task: lease.entry.task, predictions };
      } finally {
        lease.release();
      }
    } finally {
      ctl.dispose();
    }
  }

  /** `GET /v1/model`: metadata of a predictive model, loading it if needed. */
  async modelMetadata(name?: string): Promise<ModelMetadata> {
    const lease = await this.acquire(name ?? this.opts.defaultPredictModel);
    try {
      if (lease.runner.kind !== 'predict') {
        return { name: lease.entry.id, task: lease.entry.task, sessions: [] };
      }
      return { ...lease.runner.metadata, name: lease.entry.id };
    } finally {
      lease.release();
    }
  }

  getGpuDevice(): Promise<GpuDevice> {
    return this.devices.getGpuDevice();
  }

  setGpuDevice(req: GpuDevice): Promise<GpuDevice> {
    return this.devices.setGpuDevice(req);
  }
}
