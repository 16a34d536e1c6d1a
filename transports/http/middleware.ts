import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { CrucibleError } from '../../protocol/errors.js';
import { errorResponse } from './errors.js';

/** What the HTTP adapter needs from the agent's surroundings; all optional for bare tests. */
export interface HttpHooks {
  /** True when the presented key is accepted (or no keys are configured). */
  checkKey?: (key: string | undefined) => boolean;
  /** Called once per request when it ends. */
  onRequest?: (r: { requestId: string; method: string; route: string; status: number; durationMs: number }) => void;
}

/** The key from `Authorization: Bearer`, `api-key` or `X-API-KEY` (seed 001). */
export function presentedKey(header: (name: string) => string | undefined): string | undefined {
  const auth = header('authorization');
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  return header('api-key') ?? header('x-api-key');
}

export function requestIds(hooks: HttpHooks): MiddlewareHandler {
  return async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 128) || randomUUID();
    const t0 = performance.now();
    c.set('requestId', requestId);
    await next();
    // Set on the final response, not before next(): Hono would otherwise rebuild a response that
    // was already written straight to the socket (see sse.ts).
    if (!c.res.headers.has('x-hono-already-sent')) c.res.headers.set('x-request-id', requestId);
    hooks.onRequest?.({
      requestId, method: c.req.method, route: c.req.routePath ?? c.req.path, status: c.res.status,
      durationMs: Math.round(performance.now() - t0),
    });
  };
}

/** Every route but /health requires a key once keys are configured. */
export function auth(hooks: HttpHooks): MiddlewareHandler {
  return async (c, next) => {
    if (!hooks.checkKey || c.req.path === '/health') return next();
    if (!hooks.checkKey(presentedKey((n) => c.req.header(n)))) {
      c.header('www-authenticate', 'Bearer');
      return errorResponse(c, new CrucibleError('unauthorized',
        'a valid API key is required: send Authorization: Bearer <key>, api-key: <key> or X-API-KEY: <key>'));
    }
    return next();
  };
}
