import type { Transcript, TranscriptEvent, TranscriptionRequest } from './audio.js';
import type { EmbeddingRequest, EmbeddingResponse } from './embeddings.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, TokenCount, TokenCountRequest } from './chat.js';
import type { CatalogListing, DownloadProgress, DownloadRequest, ExternalModel, RemoveRequest } from './catalog.js';
import type { Completion, CompletionChunk, CompletionRequest } from './completions.js';
import type { ModelMetadata, PredictRequest, PredictResponse } from './predict.js';
import type { DeletedResponse, FollowQuery, InputItemList, InputItemsQuery, ResponseObject, ResponseRequest, ResponseStreamEvent } from './responses.js';
import type { GpuDevice, LoadRequest, ModelInfo, OpenAIModel, OpenAIModelList, ServiceStatus, UnloadRequest } from './models.js';

/**
 * The service's operations, declared once. The agent implements this interface; the HTTP adapter
 * and the pipe server translate requests into calls on it; the clients expose the same calls.
 */
export interface CrucibleApi {
  status(): Promise<ServiceStatus>;
  /** OpenAI `GET /v1/models`. */
  listModels(): Promise<OpenAIModelList>;
  /** OpenAI `GET /v1/models/{id}`: one cached model by id, alias or name; `model_not_found` otherwise. */
  getModel(id: string): Promise<OpenAIModel>;
  /** Every model in the cache with its state (`crucible service ps`). */
  modelInfo(): Promise<ModelInfo[]>;
  /** Names of cached models (`GET /openai/models`). */
  cachedModels(): Promise<string[]>;
  /** Names of loaded models (`GET /openai/loadedmodels`). */
  loadedModels(): Promise<string[]>;
  load(req: LoadRequest): Promise<{ model: string }>;
  unload(req: UnloadRequest): Promise<{ model: string }>;
  unloadAll(): Promise<{ models: string[] }>;
  chat(req: ChatCompletionRequest, signal?: AbortSignal): Promise<ChatCompletion>;
  chatStream(req: ChatCompletionRequest, signal?: AbortSignal): AsyncIterable<ChatCompletionChunk>;
  /** OpenAI legacy `POST /v1/completions`: each prompt continued as it is. */
  completions(req: CompletionRequest, signal?: AbortSignal): Promise<Completion>;
  completionsStream(req: CompletionRequest, signal?: AbortSignal): AsyncIterable<CompletionChunk>;
  countTokens(req: TokenCountRequest): Promise<TokenCount>;
  embeddings(req: EmbeddingRequest, signal?: AbortSignal): Promise<EmbeddingResponse>;
  /** `POST /v1/audio/transcriptions` and `/v1/audio/translations`: a speech-to-text model over one upload. */
  transcribe(req: TranscriptionRequest, signal?: AbortSignal): Promise<Transcript>;
  /** The same, as text deltas while the windows are decoded, then the whole transcript. */
  transcribeStream(req: TranscriptionRequest, signal?: AbortSignal): AsyncIterable<TranscriptEvent>;
  /** The merged catalog (`GET /foundry/list`). */
  catalog(): Promise<CatalogListing[]>;
  /** Downloads a catalog model into the cache, reporting progress as it goes. */
  download(req: DownloadRequest, opts?: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void }): Promise<{ model: string }>;
  /** Deletes a cached model; a loaded one only with `force`. */
  removeModel(req: RemoveRequest): Promise<{ model: string }>;
  /** Registers an OpenAI-compatible server as a model (seed 002's external models). */
  registerExternal(model: ExternalModel): Promise<{ model: string }>;
  /** `POST /v1/predict`: a predictive model over decoded items. */
  predict(req: PredictRequest, signal?: AbortSignal): Promise<PredictResponse>;
  /** `GET /v1/model`: a predictive model's metadata. */
  modelMetadata(name?: string): Promise<ModelMetadata>;
  /**
   * OpenAI `POST /v1/responses` (see protocol/responses.ts). `owner` names who stores it (the
   * caller's principal; the local user when omitted): every other call on a stored response
   * takes the caller's owner too, and another owner's response is `not_found`.
   */
  createResponse(req: ResponseRequest, signal?: AbortSignal, owner?: string): Promise<ResponseObject>;
  createResponseStream(req: ResponseRequest, signal?: AbortSignal, owner?: string): AsyncIterable<ResponseStreamEvent>;
  getResponse(id: string, owner?: string): Promise<ResponseObject>;
  /** A stored response's events after `startingAfter`, live while it still runs. */
  streamResponse(q: FollowQuery, owner?: string): AsyncIterable<ResponseStreamEvent>;
  deleteResponse(id: string, owner?: string): Promise<DeletedResponse>;
  cancelResponse(id: string, owner?: string): Promise<ResponseObject>;
  listInputItems(q: InputItemsQuery, owner?: string): Promise<InputItemList>;
  getGpuDevice(): Promise<GpuDevice>;
  setGpuDevice(req: GpuDevice): Promise<GpuDevice>;
}

/** Pipe operation names (see docs/protocol.md); each maps to one CrucibleApi call. */
export const OPS = [
  'status', 'models.list', 'models.info', 'models.cached', 'models.loaded', 'models.load', 'models.unload',
  'models.unloadAll', 'models.download', 'models.remove', 'models.register', 'models.get', 'chat.completions', 'completions', 'predict', 'model.metadata', 'tokenizer.count', 'embeddings', 'audio.transcriptions', 'gpu.get', 'gpu.set',
  'responses.create', 'responses.get', 'responses.delete', 'responses.cancel', 'responses.inputItems', 'cancel',
] as const;
export type OpName = (typeof OPS)[number];
