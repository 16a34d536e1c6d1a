import { parseEmbeddingRequest } from '../../protocol/embeddings.js';
import type { Context, Hono } from 'hono';
import { parseChatCompletionRequest, parseTokenCountRequest } from '../../protocol/chat.js';
import { parseCompletionRequest } from '../../protocol/completions.js';
import { checkModelName } from '../../protocol/models.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { clientSignal } from './client-signal.js';
import { writeSse } from './sse.js';

/** A streamed answer: the first chunk is pulled before committing to a 200, so early errors keep their status. */
async function sse<T>(c: Context, start: (signal: AbortSignal) => AsyncIterable<T>): Promise<Response> {
  const ac = clientSignal(c.req.raw);
  const it = start(ac.signal)[Symbol.asyncIterator]();
  const first = await it.next();
  return writeSse(c, first, it, ac);
}

/**
 * The OpenAI surface (`/v1/chat/completions`, `/v1/completions`, `/v1/models`), translated onto
 * the agent: each route parses with the protocol's parser and makes one call.
 */
export function openaiRoutes(app: Hono, api: CrucibleApi, readJson: (c: Context) => Promise<unknown>): void {
  app.post('/v1/chat/completions', async (c) => {
    const req = parseChatCompletionRequest(await readJson(c));
    if (!req.stream) return c.json(await api.chat(req, clientSignal(c.req.raw).signal));
    return sse(c, (signal) => api.chatStream(req, signal));
  });

  app.post('/v1/completions', async (c) => {
    const req = parseCompletionRequest(await readJson(c));
    if (!req.stream) return c.json(await api.completions(req, clientSignal(c.req.raw).signal));
    return sse(c, (signal) => api.completionsStream(req, signal));
  });

  app.post('/v1/chat/completions/tokenizer/encode/count', async (c) =>
    c.json(await api.countTokens(parseTokenCountRequest(await readJson(c)))));

  app.post('/v1/embeddings', async (c) => c.json(await api.embeddings(parseEmbeddingRequest(await readJson(c)), clientSignal(c.req.raw).signal)));

  app.get('/v1/models', async (c) => c.json(await api.listModels()));
  // Ids hold ':' (`stories260k-generic-cpu:1`): the whole last path segment is the id.
  app.get('/v1/models/:id', async (c) => c.json(await api.getModel(checkModelName(c.req.param('id'), 'model'))));
}
