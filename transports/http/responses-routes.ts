import type { Context, Hono } from 'hono';
import { type ResponseStreamEvent, checkResponseId, parseFollowQuery, parseInputItemsQuery, parseResponseRequest } from '../../protocol/responses.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { ownerOf } from '../../agent/identity/identity.js';
import { clientSignal } from './client-signal.js';
import { principalOf } from './middleware.js';
import { flag, int } from './params.js';
import { writeSse } from './sse.js';

/** A streamed answer: the first event is pulled before committing to a 200, so early errors keep their status. */
async function sse(c: Context, start: (signal: AbortSignal) => AsyncIterable<ResponseStreamEvent>): Promise<Response> {
  const ac = clientSignal(c.req.raw);
  const it = start(ac.signal)[Symbol.asyncIterator]();
  const first = await it.next();
  // OpenAI names each event in an `event:` line too.
  return writeSse(c, first, it, ac, (e) => e.type);
}

/** Who a stored response belongs to: the caller the identity layer decided on. */
const owner = (c: Context) => ownerOf(principalOf(c));

/** OpenAI's Responses API (`/v1/responses`), each route one call on the agent, on behalf of the caller. */
export function responsesRoutes(app: Hono, api: CrucibleApi, readJson: (c: Context) => Promise<unknown>): void {
  app.post('/v1/responses', async (c) => {
    const req = parseResponseRequest(await readJson(c));
    if (!req.stream) return c.json(await api.createResponse(req, clientSignal(c.req.raw).signal, owner(c)));
    return sse(c, (signal) => api.createResponseStream(req, signal, owner(c)));
  });

  app.get('/v1/responses/:id', async (c) => {
    const q = parseFollowQuery({ id: c.req.param('id'), stream: flag(c.req.query('stream')), starting_after: int(c.req.query('starting_after')) });
    if (!q.stream) return c.json(await api.getResponse(q.id, owner(c)));
    return sse(c, () => api.streamResponse(q, owner(c)));
  });

  app.delete('/v1/responses/:id', async (c) => c.json(await api.deleteResponse(checkResponseId(c.req.param('id')), owner(c))));

  app.post('/v1/responses/:id/cancel', async (c) => c.json(await api.cancelResponse(checkResponseId(c.req.param('id')), owner(c))));

  app.get('/v1/responses/:id/input_items', async (c) => c.json(await api.listInputItems(parseInputItemsQuery({
    id: c.req.param('id'), limit: int(c.req.query('limit')), after: c.req.query('after'), order: c.req.query('order'),
  }), owner(c))));
}
