import type { Transcript, TranscriptSegment, TranscriptWord } from '../../protocol/audio.js';
import { type TranscriptStreamEvent, languageCode } from '../../protocol/audio-render.js';
import type { ChatCompletion, ChatCompletionChunk, TokenCount } from '../../protocol/chat.js';
import { type ErrorEnvelope, CrucibleError, fromErrorBody, isErrorCode } from '../../protocol/errors.js';
import type { CatalogListing, DownloadProgress } from '../../protocol/catalog.js';
import { bodyOf, ndjson, sseData } from '../../protocol/http-streams.js';
import type { ModelMetadata, PredictResponse } from '../../protocol/predict.js';
import type { EmbeddingResponse } from '../../protocol/embeddings.js';

/** A POST /v1/embeddings body as OpenAI's clients send it. */
export type EmbeddingBody = {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
};
import type { Completion, CompletionChunk } from '../../protocol/completions.js';
import type { ModelInfo, OpenAIModel, OpenAIModelList, ServiceStatus } from '../../protocol/models.js';
import type { DeletedResponse, InputItemList, ResponseObject, ResponseStreamEvent } from '../../protocol/responses.js';

/** Request bodies as a user writes them: the OpenAI wire shape, not the parsed one. */
/** The `POST /v1/responses` body: `model`, `input` (a string or items), and the Responses fields. */
export type ResponseBody = Record<string, unknown> & { model: string; input: unknown };

export type ChatBody = Record<string, unknown> & { model: string; messages: { role: string; content: string }[] };
/**
 * A transcription as every client takes it (the pipe op `audio.transcriptions`' body): the file's
 * bytes and the OpenAI form fields; `task: 'translate'` for `/v1/audio/translations`.
 */
export interface TranscriptionBody {
  model: string;
  file: Uint8Array;
  filename?: string;
  content_type?: string;
  task?: 'transcribe' | 'translate';
  language?: string;
  prompt?: string;
  temperature?: number;
  timestamp_granularities?: ('segment' | 'word')[];
}

/** The `POST /v1/completions` body: `model`, `prompt` (a string or strings), sampling fields. */
export type CompletionBody = Record<string, unknown> & { model: string; prompt: string | string[] };

/**
 * An error response as a CrucibleError: the OpenAI envelope, or on the predictive routes seed
 * 003's `{"detail", "code", "param"}` and queue-full `{"error": "Queue full: ..."}` shapes.
 */
function errorFrom(status: number, text: string): CrucibleError {
  let data: any;
  try {
    data = JSON.parse(text);
  } catch {
    return new CrucibleError('internal_error', `HTTP ${status}: ${text.slice(0, 200)}`);
  }
  if (data?.error?.code) return fromErrorBody(data.error as ErrorEnvelope['error']);
  if (typeof data?.detail === 'string' || typeof data?.error === 'string') {
    const code = status === 503 ? 'overloaded' : isErrorCode(data.code) ? data.code : 'internal_error';
    return new CrucibleError(code, data.detail ?? data.error, data.param ?? null);
  }
  return new CrucibleError('internal_error', `HTTP ${status}: ${text.slice(0, 200)}`);
}

/** A client for the HTTP API, for when the pipe is not reachable. */
export class HttpClient {
  constructor(readonly baseUrl: string, private readonly apiKey?: string) {}

  private async call(method: string, path: string, body?: unknown, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        signal,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          ...extra,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (signal?.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
      throw new CrucibleError('shutting_down', `cannot reach the agent at ${this.baseUrl}: ${(err as Error).message}`);
    }
    if (!res.ok) throw errorFrom(res.status, await res.text());
    return res;
  }

  private async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return (await this.call(method, path, body, signal)).json() as Promise<T>;
  }

  status = () => this.json<ServiceStatus>('GET', '/openai/status');
  listModels = () => this.json<OpenAIModelList>('GET', '/v1/models');
  getModel = (model: string) => this.json<OpenAIModel>('GET', `/v1/models/${encodeURIComponent(model)}`);
  catalog = () => this.json<CatalogListing[]>('GET', '/foundry/list');
  removeModel = (name: string, force = false) =>
    this.json<{ model: string }>('DELETE', `/openai/models/${encodeURIComponent(name)}?force=${force}`);
  registerExternal = (m: { TypeName: string; ModelName: string; BaseUri: string }) =>
    this.json<{ model: string }>('POST', '/openai/register', m);

  /** Reads the NDJSON progress stream; resolves on success, throws with the agent's message on failure. */
  async download(model: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<{ model: string }> {
    const res = await this.call('POST', '/openai/download', { model }, signal, { accept: 'application/x-ndjson' });
    try {
      for await (const line of ndjson(bodyOf(res))) {
        const msg = line as DownloadProgress & { type?: string; Success?: boolean; ErrorMessage?: string | null };
        if (msg.type === 'progress') onProgress?.(msg);
        else if (msg.Success === true) return { model: msg.model };
        else if (msg.Success === false) throw new CrucibleError('download_failed', msg.ErrorMessage ?? 'download failed');
      }
    } catch (err) {
      if (signal?.aborted) throw new CrucibleError('cancelled', 'the download was cancelled');
      throw err;
    }
    throw new CrucibleError('connection_closed', 'the download stream ended without a result');
  }
  modelInfo = () => this.json<ModelInfo[]>('GET', '/openai/ps');
  cachedModels = () => this.json<string[]>('GET', '/openai/models');
  loadedModels = () => this.json<string[]>('GET', '/openai/loadedmodels');
  load = (name: string, opts: { ttl?: number; ep?: string; variant?: string } = {}) => {
    const q = new URLSearchParams();
    if (opts.ttl !== undefined) q.set('ttl', String(opts.ttl));
    if (opts.ep !== undefined) q.set('ep', opts.ep);
    if (opts.variant !== undefined) q.set('variant', opts.variant);
    return this.json<{ model: string }>('GET', `/openai/load/${encodeURIComponent(name)}?${q}`);
  };
  unload = (name: string, force = false) =>
    this.json<{ model: string }>('GET', `/openai/unload/${encodeURIComponent(name)}?force=${force}`);
  countTokens = (body: { model: string; messages: unknown[] }) =>
    this.json<TokenCount>('POST', '/v1/chat/completions/tokenizer/encode/count', body);
  predict = (body: { model?: string; items: { content_type: string; encoder: 'base64'; data: string }[] }, signal?: AbortSignal) =>
    this.json<PredictResponse>('POST', '/v1/predict', body, signal);
  embeddings = (body: EmbeddingBody, signal?: AbortSignal) => this.json<EmbeddingResponse>('POST', '/v1/embeddings', body, signal);
  modelMetadata = (model?: string) => this.json<ModelMetadata>('GET', `/v1/model${model ? `?model=${encodeURIComponent(model)}` : ''}`);

  chat = (body: ChatBody, signal?: AbortSignal) => this.json<ChatCompletion>('POST', '/v1/chat/completions', { ...body, stream: false }, signal);

  chatStream = (body: ChatBody, signal?: AbortSignal) => this.sse<ChatCompletionChunk>('/v1/chat/completions', body, signal);

  completions = (body: CompletionBody, signal?: AbortSignal) => this.json<Completion>('POST', '/v1/completions', { ...body, stream: false }, signal);
  completionsStream = (body: CompletionBody, signal?: AbortSignal) => this.sse<CompletionChunk>('/v1/completions', body, signal);

  createResponse = (body: ResponseBody) => this.json<ResponseObject>('POST', '/v1/responses', { ...body, stream: false });
  createResponseStream = (body: ResponseBody, signal?: AbortSignal) => this.sse<ResponseStreamEvent>('/v1/responses', body, signal);
  getResponse = (id: string) => this.json<ResponseObject>('GET', `/v1/responses/${encodeURIComponent(id)}`);
  deleteResponse = (id: string) => this.json<DeletedResponse>('DELETE', `/v1/responses/${encodeURIComponent(id)}`);
  cancelResponse = (id: string) => this.json<ResponseObject>('POST', `/v1/responses/${encodeURIComponent(id)}/cancel`);
  listInputItems = (id: string, q: { limit?: number; after?: string; order?: 'asc' | 'desc' } = {}) =>
    this.json<InputItemList>('GET', `/v1/responses/${encodeURIComponent(id)}/input_items?${new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)]))}`);

  /** Over HTTP the answer is asked as verbose_json and read back into the agent's Transcript. */
  async transcribe(body: TranscriptionBody, signal?: AbortSignal): Promise<Transcript> {
    const res = await this.upload(body, 'verbose_json', false, signal);
    const v = await res.json() as { task?: Transcript['task']; language: string; duration: number; text: string; segments?: TranscriptSegment[]; words?: TranscriptWord[] };
    return {
      model: body.model, task: v.task ?? body.task ?? 'transcribe', language: languageCode(v.language), duration: v.duration, text: v.text,
      segments: v.segments ?? [], ...(v.words ? { words: v.words } : {}),
    };
  }

  /** OpenAI's `transcript.text.delta` events, then `transcript.text.done`. */
  transcribeStream(body: TranscriptionBody, signal?: AbortSignal): AsyncIterable<TranscriptStreamEvent> {
    return this.events((stop) => this.upload(body, 'json', true, stop), signal);
  }

  private async upload(body: TranscriptionBody, format: string, stream: boolean, signal?: AbortSignal): Promise<Response> {
    const form = new FormData();
    form.append('file', new Blob([body.file], { type: body.content_type ?? 'application/octet-stream' }), body.filename ?? 'audio');
    form.append('model', body.model);
    form.append('response_format', format);
    if (body.language) form.append('language', body.language);
    if (body.prompt) form.append('prompt', body.prompt);
    if (body.temperature !== undefined) form.append('temperature', String(body.temperature));
    for (const g of body.timestamp_granularities ?? []) form.append('timestamp_granularities[]', g);
    if (stream) form.append('stream', 'true');
    const path = body.task === 'translate' ? '/v1/audio/translations' : '/v1/audio/transcriptions';
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { method: 'POST', signal, body: form, headers: this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {} });
    } catch (err) {
      if (signal?.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
      throw new CrucibleError('shutting_down', `cannot reach the agent at ${this.baseUrl}: ${(err as Error).message}`);
    }
    if (!res.ok) throw errorFrom(res.status, await res.text());
    return res;
  }

  private sse<T>(path: string, body: Record<string, unknown>, signal?: AbortSignal): AsyncIterable<T> {
    return this.events((stop) => this.call('POST', path, { ...body, stream: true }, stop), signal);
  }

  /** Breaking out of the loop aborts the request: the agent sees the disconnect and stops generating. */
  private async *events<T>(open: (signal: AbortSignal) => Promise<Response>, signal?: AbortSignal): AsyncIterable<T> {
    const ac = new AbortController();
    const stop = AbortSignal.any([ac.signal, ...(signal ? [signal] : [])]);
    try {
      const res = await open(stop);
      for await (const data of sseData(bodyOf(res))) {
        const parsed = JSON.parse(data);
        if (parsed.error) throw fromErrorBody(parsed.error);
        yield parsed as T;
      }
    } catch (err) {
      if (signal?.aborted) throw new CrucibleError('cancelled', 'the request was cancelled');
      throw err;
    } finally {
      ac.abort();
    }
  }
}
