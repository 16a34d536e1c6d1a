import { Hono } from 'hono';
import { CrucibleError } from '../../protocol/errors.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { MAX_BODY_BYTES, errorResponse, readJson as readBody } from './errors.js';
import { foundryRoutes } from './foundry-routes.js';
import { type BrowserPolicy, type HttpHooks, auth, browserGuard, requestIds } from './middleware.js';
import { openaiRoutes } from './openai-routes.js';
import { predictRoutes } from './predict-routes.js';
import { responsesRoutes } from './responses-routes.js';

/**
 * The HTTP adapter: each route parses its input with the protocol's parsers, calls one operation
 * of the agent and writes the result. It holds no state and touches no model. One route file per
 * surface: OpenAI's, Foundry's management API, predictive models.
 */
export interface HttpOptions extends HttpHooks, BrowserPolicy {
  ready?: () => boolean;
  maxBodyBytes?: number;
  /** Largest encoded image per /v1/predict item. */
  maxImageBytes?: number;
  /** Prometheus text for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export function createHttpApp(api: CrucibleApi, opts: HttpOptions = {}): Hono {
  const app = new Hono();
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const readJson = (c: Parameters<typeof readBody>[0]) => readBody(c, limit);

  app.use('*', requestIds(opts));
  app.use('*', browserGuard(opts));
  app.use('*', auth(opts));

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new CrucibleError('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => {
    if (!opts.metrics) throw new CrucibleError('not_found', 'metrics are not enabled');
    const m = await opts.metrics();
    return c.body(m.body, 200, { 'content-type': m.contentType });
  });
  app.get('/ready', (c) => (opts.ready?.() ?? true ? c.json({ status: 'ready' })
    : errorResponse(c, new CrucibleError('shutting_down', 'the service is not ready'))));

  openaiRoutes(app, api, readJson);
  responsesRoutes(app, api, readJson);
  foundryRoutes(app, api, readJson);
  predictRoutes(app, api, opts.maxImageBytes);

  return app;
}
