import { type TranscriptStreamEvent, streamEvent } from '../../protocol/audio-render.js';
import { parseTranscriptionBody } from '../../protocol/audio-request.js';
import { parseDownloadRequest, parseExternalModel, parseRemoveRequest } from '../../protocol/catalog.js';
import type { ChatCompletionChunk } from '../../protocol/chat.js';
import { parseChatCompletionRequest, parseTokenCountRequest } from '../../protocol/chat.js';
import { type CompletionChunk, parseCompletionRequest } from '../../protocol/completions.js';
import type { DownloadProgress } from '../../protocol/catalog.js';
import { parseLoadRequest, parseUnloadRequest } from '../../protocol/models.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { parsePredictRequest } from '../../protocol/predict.js';
import type { ChatBody, CompletionBody, EmbeddingBody, TranscriptionBody } from './http-client.js';
import { parseEmbeddingRequest } from '../../protocol/embeddings.js';

/**
 * The client of an agent in this process (embedded mode): the same calls as the pipe and HTTP
 * clients, made straight on the agent's CrucibleApi, with bodies checked by the same protocol
 * parsers the transports use. Inference still runs in the agent's worker threads.
 */
export class EmbeddedClient {
  constructor(private readonly api: CrucibleApi) {}

  status = () => this.api.status();
  catalog = () => this.api.catalog();
  download = (model: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal) =>
    this.api.download(parseDownloadRequest({ model }), { signal, onProgress });
  removeModel = (name: string, force = false) => this.api.removeModel(parseRemoveRequest({ name, force }));
  registerExternal = (m: { TypeName: string; ModelName: string; BaseUri: string }) => this.api.registerExternal(parseExternalModel(m));
  modelInfo = () => this.api.modelInfo();
  cachedModels = () => this.api.cachedModels();
  loadedModels = () => this.api.loadedModels();
  load = (name: string, opts: { ttl?: number; ep?: string; variant?: string } = {}) => this.api.load(parseLoadRequest({ name, ...opts }));
  unload = (name: string, force = false) => this.api.unload(parseUnloadRequest({ name, force }));
  countTokens = (body: { model: string; messages: unknown[] }) => this.api.countTokens(parseTokenCountRequest(body));
  predict = (body: { model?: string; items: { content_type: string; encoder: 'base64'; data: string }[] }, signal?: AbortSignal) =>
    this.api.predict(parsePredictRequest(body), signal);
  embeddings = (body: EmbeddingBody, signal?: AbortSignal) => this.api.embeddings(parseEmbeddingRequest(body), signal);
  modelMetadata = (model?: string) => this.api.modelMetadata(model);
  getModel = (model: string) => this.api.getModel(model);
  chat = (body: ChatBody, signal?: AbortSignal) => this.api.chat(parseChatCompletionRequest({ ...body, stream: false }), signal);
  completions = (body: CompletionBody, signal?: AbortSignal) => this.api.completions(parseCompletionRequest({ ...body, stream: false }), signal);

  transcribe = (body: TranscriptionBody, signal?: AbortSignal) => {
    const { stream: _, ...req } = parseTranscriptionBody({ ...body, stream: false });
    return this.api.transcribe(req, signal);
  };

  async *transcribeStream(body: TranscriptionBody, signal?: AbortSignal): AsyncIterable<TranscriptStreamEvent> {
    const { stream: _, ...req } = parseTranscriptionBody({ ...body, stream: true });
    for await (const e of this.api.transcribeStream(req, signal)) yield streamEvent(e);
  }

  // Parsed when iteration starts, as the other clients fail on their first chunk.
  async *chatStream(body: ChatBody, signal?: AbortSignal): AsyncIterable<ChatCompletionChunk> {
    yield* this.api.chatStream(parseChatCompletionRequest({ ...body, stream: true }), signal);
  }

  async *completionsStream(body: CompletionBody, signal?: AbortSignal): AsyncIterable<CompletionChunk> {
    yield* this.api.completionsStream(parseCompletionRequest({ ...body, stream: true }), signal);
  }
}
