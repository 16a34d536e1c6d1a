import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { toCrucibleError } from '../../protocol/errors.js';
import { checkModelName } from '../../protocol/models.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { MAX_IMAGE_BYTES, MAX_ITEMS, parsePredictRequest } from '../../protocol/predict.js';
import { readJson } from './errors.js';

/**
 * Seed 003's predictive error shapes: `{"detail": ...}`, or for a full queue
 * `{"error": "Queue full: ...", "queue_depth", "retry_after"}` with a Retry-After header.
 */
function predictiveError(c: Context, err: unknown): Response {
  const e = toCrucibleError(err);
  const status = e.status as ContentfulStatusCode;
  if (e.code === 'overloaded') {
    const retry = e.retryAfter ?? 1;
    c.header('retry-after', String(retry));
    const depth = Number(/with (\d+) waiting/.exec(e.message)?.[1] ?? 0);
    return c.json({ error: `Queue full: ${e.message}`, queue_depth: depth, retry_after: retry }, status);
  }
  return c.json({ detail: e.message, code: e.code, param: e.param }, status);
}

/** `POST /v1/predict` and `GET /v1/model` (seed 001), translated onto the agent. */
export function predictRoutes(app: Hono, api: CrucibleApi, maxImageBytes = MAX_IMAGE_BYTES): void {
  // Base64 grows bytes by 4/3; leave room for every item at its limit.
  const bodyLimit = Math.ceil((maxImageBytes * 4) / 3) * MAX_ITEMS + 64 * 1024;
  app.post('/v1/predict', async (c) => {
    try {
      const req = parsePredictRequest(await readJson(c, bodyLimit), maxImageBytes);
      const model = c.req.query('model');
      if (model && !req.model) req.model = checkModelName(model, 'model');
      const ac = new AbortController();
      c.req.raw.signal.addEventListener('abort', () => ac.abort(), { once: true });
      return c.json(await api.predict(req, ac.signal));
    } catch (err) {
      return predictiveError(c, err);
    }
  });
  app.get('/v1/model', async (c) => {
    try {
      const model = c.req.query('model');
      return c.json(await api.modelMetadata(model ? checkModelName(model, 'model') : undefined));
    } catch (err) {
      return predictiveError(c, err);
    }
  });
}
