import { parseEmbeddingRequest } from '../../protocol/embeddings.js';
import { parseTranscriptionBody } from '../../protocol/audio-request.js';
import { parseDownloadRequest, parseExternalModel, parseRemoveRequest } from '../../protocol/catalog.js';
import { parseChatCompletionRequest, parseTokenCountRequest } from '../../protocol/chat.js';
import { parseCompletionRequest } from '../../protocol/completions.js';
import { requireModelName } from '../../protocol/validate.js';
import { parsePredictRequest } from '../../protocol/predict.js';
import { checkResponseId, parseFollowQuery, parseInputItemsQuery, parseResponseRequest } from '../../protocol/responses.js';
import { checkModelName, parseGpuDevice, parseLoadRequest, parseUnloadRequest } from '../../protocol/models.js';
import type { CrucibleApi, OpName } from '../../protocol/operations.js';

/** A pipe operation's outcome: one result, or chunks followed by a result. */
export type OpOutcome = { result: unknown } | { chunks: AsyncIterable<unknown> };

type Handler = (api: CrucibleApi, body: Record<string, unknown>, signal: AbortSignal, progress: (p: unknown) => void) => Promise<OpOutcome>;

const result = async (p: Promise<unknown>): Promise<OpOutcome> => ({ result: await p });

/** Each pipe op is one call on the agent with the same body the HTTP route takes. */
export const HANDLERS: Record<Exclude<OpName, 'cancel'>, Handler> = {
  'status': (api) => result(api.status()),
  'models.list': (api) => result(api.catalog()),
  'models.info': (api) => result(api.modelInfo()),
  'models.cached': (api) => result(api.cachedModels()),
  'models.loaded': (api) => result(api.loadedModels()),
  'models.load': (api, body) => result(api.load(parseLoadRequest(body))),
  'models.unload': (api, body) => result(api.unload(parseUnloadRequest(body))),
  'models.unloadAll': (api) => result(api.unloadAll()),
  'models.download': (api, body, signal, progress) => result(api.download(parseDownloadRequest(body), { signal, onProgress: progress })),
  'models.remove': (api, body) => result(api.removeModel(parseRemoveRequest(body))),
  'models.register': (api, body) => result(api.registerExternal(parseExternalModel(body))),
  'models.get': (api, body) => result(api.getModel(requireModelName(body, 'model'))),
  'tokenizer.count': (api, body) => result(api.countTokens(parseTokenCountRequest(body))),
  embeddings: (api, body, signal) => result(api.embeddings(parseEmbeddingRequest(body), signal)),
  'audio.transcriptions': async (api, body, signal) => {
    const { stream, ...req } = parseTranscriptionBody(body);
    if (!stream) return result(api.transcribe(req, signal));
    return { chunks: api.transcribeStream(req, signal) };
  },
  'predict': (api, body, signal) => result(api.predict(parsePredictRequest(body), signal)),
  'model.metadata': (api, body) => result(api.modelMetadata(typeof body.model === 'string' ? checkModelName(body.model) : undefined)),
  'gpu.get': (api) => result(api.getGpuDevice()),
  'gpu.set': (api, body) => result(api.setGpuDevice(parseGpuDevice(body))),
  'chat.completions': async (api, body, signal) => {
    const req = parseChatCompletionRequest(body);
    if (!req.stream) return result(api.chat(req, signal));
    return { chunks: api.chatStream(req, signal) };
  },
  'responses.create': async (api, body, signal) => {
    const req = parseResponseRequest(body);
    if (!req.stream) return result(api.createResponse(req, signal));
    return { chunks: api.createResponseStream(req, signal) };
  },
  'responses.get': async (api, body) => {
    const q = parseFollowQuery(body);
    if (!q.stream) return result(api.getResponse(q.id));
    return { chunks: api.streamResponse(q) };
  },
  'responses.delete': (api, body) => result(api.deleteResponse(checkResponseId(body.id))),
  'responses.cancel': (api, body) => result(api.cancelResponse(checkResponseId(body.id))),
  'responses.inputItems': (api, body) => result(api.listInputItems(parseInputItemsQuery(body))),
  'completions': async (api, body, signal) => {
    const req = parseCompletionRequest(body);
    if (!req.stream) return result(api.completions(req, signal));
    return { chunks: api.completionsStream(req, signal) };
  },
};
