import net from 'node:net';
import type { Transcript, TranscriptEvent } from '../../protocol/audio.js';
import { type TranscriptStreamEvent, streamEvent } from '../../protocol/audio-render.js';
import type { ChatCompletion, ChatCompletionChunk, TokenCount } from '../../protocol/chat.js';
import { CrucibleError, fromErrorBody } from '../../protocol/errors.js';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../protocol/framing.js';
import type { CatalogListing, DownloadProgress } from '../../protocol/catalog.js';
import type { ModelMetadata, PredictResponse } from '../../protocol/predict.js';
import type { EmbeddingResponse } from '../../protocol/embeddings.js';
import type { EmbeddingBody } from './http-client.js';
import type { Completion, CompletionChunk } from '../../protocol/completions.js';
import type { ModelInfo, OpenAIModel, ServiceStatus } from '../../protocol/models.js';
import type { OpName } from '../../protocol/operations.js';
import type { PipeResponse } from '../../protocol/pipe-messages.js';
import type { DeletedResponse, InputItemList, ResponseObject, ResponseStreamEvent } from '../../protocol/responses.js';
import type { ChatBody, CompletionBody, ResponseBody, TranscriptionBody } from './http-client.js';

interface Pending {
  onChunk?: (body: unknown) => void;
  onProgress?: (body: unknown) => void;
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * A client for the pipe protocol: one connection, many requests multiplexed by id. A closed
 * connection rejects everything pending with `connection_closed`, so callers can reconnect.
 */
/** A file too big for one pipe frame is a clear 413 before anything is sent (HTTP takes up to --max-audio-bytes). */
function fitsFrame(body: TranscriptionBody): TranscriptionBody {
  const room = MAX_FRAME_BYTES - 64 * 1024;
  if (body.file.length > room) {
    throw new CrucibleError('payload_too_large', `the audio file (${body.file.length} bytes) is larger than one pipe frame takes (${room} bytes); send it over HTTP (POST /v1/audio/transcriptions)`, 'file');
  }
  return body;
}

export class PipeClient {
  private readonly reader = new FrameReader();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: CrucibleError | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.reader.push(chunk)) if (f.ok) this.dispatch(f.value as PipeResponse);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedError = new CrucibleError('connection_closed', 'the connection to the agent closed');
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    });
  }

  static connect(path: string, timeoutMs = 5000): Promise<PipeClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const timer = setTimeout(() => socket.destroy(new Error(`timed out connecting to ${path}`)), timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); resolve(new PipeClient(socket)); });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new CrucibleError('connection_closed', `cannot connect to the agent's pipe ${path}: ${err.message}`));
      });
    });
  }

  private dispatch(msg: PipeResponse): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'chunk': p.onChunk?.(msg.body); break;
      case 'progress': p.onProgress?.(msg.body); break;
      case 'result': this.pending.delete(msg.id); p.resolve(msg.body); break;
      case 'error': this.pending.delete(msg.id); p.reject(fromErrorBody(msg.body)); break;
    }
  }

  /** Sends one request; `signal` sends a `cancel` for it. */
  request<T>(op: OpName, body: Record<string, unknown> | null, opts: { signal?: AbortSignal; onChunk?: (b: unknown) => void; onProgress?: (b: unknown) => void } = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.socket.write(encodeFrame({ id: this.nextId++, op: 'cancel', body: { target: id } }));
      const cleanup = () => opts.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        onChunk: opts.onChunk,
        onProgress: opts.onProgress,
        resolve: (b) => { cleanup(); resolve(b as T); },
        reject: (e) => { cleanup(); reject(e); },
      });
      this.socket.write(encodeFrame({ id, op, body }));
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A request whose chunks arrive as an async iterator; breaking out of the loop cancels it. */
  async *stream<T>(op: OpName, body: Record<string, unknown>, signal?: AbortSignal): AsyncIterable<T> {
    const queue: T[] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    let failure: Error | null = null;
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort();
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (signal?.aborted) ac.abort();
    this.request(op, body, { signal: ac.signal, onChunk: (c) => { queue.push(c as T); wake?.(); } })
      .then(() => { finished = true; wake?.(); }, (err) => { failure = err; finished = true; wake?.(); });
    try {
      while (true) {
        if (queue.length > 0) { yield queue.shift()!; continue; }
        if (finished) break;
        await new Promise<void>((r) => { wake = r; });
        wake = null;
      }
      if (failure) throw failure;
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      if (!finished) ac.abort();
    }
  }

  status = () => this.request<ServiceStatus>('status', null);
  catalog = () => this.request<CatalogListing[]>('models.list', null);
  download = (model: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal) =>
    this.request<{ model: string }>('models.download', { model }, { signal, onProgress: onProgress as (b: unknown) => void });
  removeModel = (name: string, force = false) => this.request<{ model: string }>('models.remove', { name, force });
  registerExternal = (m: { TypeName: string; ModelName: string; BaseUri: string }) => this.request<{ model: string }>('models.register', m);
  modelInfo = () => this.request<ModelInfo[]>('models.info', null);
  cachedModels = () => this.request<string[]>('models.cached', null);
  loadedModels = () => this.request<string[]>('models.loaded', null);
  load = (name: string, opts: { ttl?: number; ep?: string; variant?: string } = {}) => this.request<{ model: string }>('models.load', { name, ...opts });
  unload = (name: string, force = false) => this.request<{ model: string }>('models.unload', { name, force });
  countTokens = (body: { model: string; messages: unknown[] }) => this.request<TokenCount>('tokenizer.count', body);
  predict = (body: { model?: string; items: { content_type: string; encoder: 'base64'; data: string }[] }, signal?: AbortSignal) =>
    this.request<PredictResponse>('predict', body, { signal });
  embeddings = (body: EmbeddingBody, signal?: AbortSignal) => this.request<EmbeddingResponse>('embeddings', body, { signal });
  modelMetadata = (model?: string) => this.request<ModelMetadata>('model.metadata', model ? { model } : null);
  chat = (body: ChatBody, signal?: AbortSignal) =>
    this.request<ChatCompletion>('chat.completions', { ...body, stream: false }, { signal });
  chatStream = (body: ChatBody, signal?: AbortSignal) =>
    this.stream<ChatCompletionChunk>('chat.completions', { ...body, stream: true }, signal);
  /** The `POST /v1/completions` body: `model`, `prompt` (a string or strings), sampling fields. */
  completions = (body: CompletionBody, signal?: AbortSignal) =>
    this.request<Completion>('completions', { ...body, stream: false }, { signal });
  completionsStream = (body: CompletionBody, signal?: AbortSignal) =>
    this.stream<CompletionChunk>('completions', { ...body, stream: true }, signal);
  getModel = (model: string) => this.request<OpenAIModel>('models.get', { model });
  /** The file travels as msgpack binary (pipe op `audio.transcriptions`), in one frame. */
  transcribe = async (body: TranscriptionBody, signal?: AbortSignal) =>
    this.request<Transcript>('audio.transcriptions', { ...fitsFrame(body), stream: false }, { signal });
  /** OpenAI's `transcript.text.delta` events, then `transcript.text.done`, as over HTTP. */
  async *transcribeStream(body: TranscriptionBody, signal?: AbortSignal): AsyncIterable<TranscriptStreamEvent> {
    for await (const e of this.stream<TranscriptEvent>('audio.transcriptions', { ...fitsFrame(body), stream: true }, signal)) yield streamEvent(e);
  }
  createResponse = (body: ResponseBody, signal?: AbortSignal) => this.request<ResponseObject>('responses.create', { ...body, stream: false }, { signal });
  createResponseStream = (body: ResponseBody, signal?: AbortSignal) => this.stream<ResponseStreamEvent>('responses.create', { ...body, stream: true }, signal);
  getResponse = (id: string) => this.request<ResponseObject>('responses.get', { id });
  deleteResponse = (id: string) => this.request<DeletedResponse>('responses.delete', { id });
  cancelResponse = (id: string) => this.request<ResponseObject>('responses.cancel', { id });
  listInputItems = (id: string, q: { limit?: number; after?: string; order?: 'asc' | 'desc' } = {}) => this.request<InputItemList>('responses.inputItems', { id, ...q });

  /**
   * Closes the connection both ways: whatever is still pending rejects with `connection_closed`
   * and the agent cancels it. (Ending only the writing side would be a half-close, after which
   * the agent keeps answering the requests in flight until they end.)
   */
  close(): void {
    this.socket.destroy();
  }
}
