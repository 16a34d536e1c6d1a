import { randomUUID } from 'node:crypto';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, FinishReason, TokenCount, TokenCountRequest, Usage,
} from '../protocol/chat.js';
import { CrucibleError, fromErrorBody } from '../protocol/errors.js';
import { type GpuDevice, type LoadRequest, type ModelInfo, type OpenAIModelList, type ServiceStatus, type UnloadRequest, serviceStatus } from '../protocol/models.js';
import type { CrucibleApi } from '../protocol/operations.js';
import { PROTOCOL_VERSION, SERVICE_VERSION } from '../protocol/version.js';
import type { CatalogListing, DownloadProgress, DownloadRequest, ExternalModel, RemoveRequest } from '../protocol/catalog.js';
import type { ModelMetadata, PredictRequest, PredictResponse } from '../protocol/predict.js';
import type { CacheOps } from './cache-ops.js';
import type { ChatRunner } from './model-runner.js';
import type { Lease } from './registry.js';
import type { DeviceProbe } from './devices.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { RequestControl } from './request-control.js';
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
}

const FINGERPRINT = `crucible-${SERVICE_VERSION}`;

function chatRunner(lease: Lease): ChatRunner {
  if (lease.runner.kind !== 'chat') {
    throw new CrucibleError('invalid_request', `'${lease.entry.id}' is a ${lease.entry.task} model; use /v1/predict`, 'model');
  }
  return lease.runner;
}

/** The operations every transport serves, implemented once over the registry. */
export class Agent implements CrucibleApi {
  private readonly shutdown = new AbortController();

  constructor(
    private readonly registry: Registry,
    private readonly devices: DeviceProbe,
    private readonly cache: CacheOps,
    private readonly info: AgentInfo,
    private readonly opts: AgentOptions,
  ) {}

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
    });
  }

  async listModels(): Promise<OpenAIModelList> {
    return {
      object: 'list',
      data: this.registry.cached().map((e) => ({ id: e.id, object: 'model', created: 0, owned_by: 'crucible' })),
    };
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
    if (req.ep !== undefined) {
      const usable = await this.devices.providers();
      if (!usable.includes(req.ep)) {
        throw new CrucibleError('unsupported_execution_provider',
          `execution provider '${req.ep}' cannot run on this machine; available: ${usable.join(', ')}`, 'ep');
      }
    }
    await this.devices.providers();
    const entry = await this.registry.load(req.name, { ttl: req.ttl, ep: req.ep }).catch(async (err) => {
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
    let content = '';
    let model = req.model;
    let finish: FinishReason = 'stop';
    let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    for await (const chunk of this.chatStream({ ...req, includeUsage: true }, signal, id)) {
      model = chunk.model;
      const choice = chunk.choices[0];
      if (choice?.delta.content) content += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    return {
      id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model, system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: finish }],
      usage,
    };
  }

  /**
   * Streams `chat.completion.chunk` objects: a role chunk, content chunks, a finish chunk, and a
   * usage chunk when asked. Errors before the first token reject; later ones end the stream.
   */
  async *chatStream(req: ChatCompletionRequest, signal?: AbortSignal, id = `chatcmpl-${randomUUID()}`): AsyncIterable<ChatCompletionChunk> {
    const ctl = new RequestControl(signal, this.opts.requestTimeoutMs, this.shutdown.signal);
    const t0 = performance.now();
    let lease;
    try {
      lease = await this.acquire(req.model, ctl);
    } catch (err) {
      ctl.dispose();
      throw err;
    }
    const model = lease.entry.id;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null): ChatCompletionChunk => ({
      id, object: 'chat.completion.chunk', created, model, system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    const m = this.opts.metrics;
    let firstAt: number | null = null;
    let text = '';
    try {
      let started = false;
      for await (const event of chatRunner(lease).generate(req.messages, req.sampling, ctl.signal)) {
        switch (event.type) {
          case 'start':
            started = true;
            yield chunk({ role: 'assistant', content: '' }, null);
            break;
          case 'delta':
            if (firstAt === null) {
              firstAt = performance.now();
              m.ttft.observe({ model }, (firstAt - t0) / 1000);
            }
            if (this.opts.logPrompts) text += event.text;
            yield chunk({ content: event.text }, null);
            break;
          case 'done': {
            if (!started) yield chunk({ role: 'assistant', content: '' }, null);
            yield chunk({}, event.finishReason);
            const total = event.promptTokens + event.completionTokens;
            m.tokens.inc({ model }, event.completionTokens);
            m.promptTokens.inc({ model }, event.promptTokens);
            const decodeSeconds = firstAt === null ? 0 : (performance.now() - firstAt) / 1000;
            if (decodeSeconds > 0 && event.completionTokens > 1) m.decodeRate.observe({ model }, (event.completionTokens - 1) / decodeSeconds);
            this.opts.log.info({
              requestId: id, model, promptTokens: event.promptTokens, completionTokens: event.completionTokens,
              finishReason: event.finishReason, ttftMs: firstAt === null ? null : Math.round(firstAt - t0),
              durationMs: Math.round(performance.now() - t0),
            }, 'chat completion');
            if (this.opts.logPrompts) this.opts.log.debug({ requestId: id, messages: req.messages, completion: text }, 'chat text');
            if (req.includeUsage) {
              yield { ...chunk({}, null), choices: [], usage: { prompt_tokens: event.promptTokens, completion_tokens: event.completionTokens, total_tokens: total } };
            }
            return;
          }
          case 'error': {
            const err = fromErrorBody(event.error);
            if (err.code === 'worker_crashed') {
              lease.fail(err.message);
              this.opts.log.error({ requestId: id, model, error: err.message }, 'model worker crashed');
            }
            const final = err.code === 'cancelled' ? ctl.error(err) : err;
            this.opts.log.info({ requestId: id, model, error: final.code, durationMs: Math.round(performance.now() - t0) }, 'chat completion ended early');
            throw final;
          }
        }
      }
    } finally {
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
          throw new CrucibleError('invalid_request', `'${lease.entry.id}' is a chat model; use /v1/chat/completions`, 'model');
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
        return { name: lease.entry.id, task: 'chat', sessions: [] };
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
