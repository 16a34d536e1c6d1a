import { Hono } from 'hono';
import type { ControlPlaneApi } from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { audioRoutes } from './audio-routes.js';
import { MAX_BODY_BYTES, errorResponse, readJson as readBody } from './errors.js';
import type { MetricsSample } from '../../protocol/metrics-feed.js';
import { consoleRoutes, metricsFeedRoutes } from './console-routes.js';
import { controlRoutes } from './control-routes.js';
import { deploymentRoutes } from './deployment-routes.js';
import { foundryRoutes } from './foundry-routes.js';
import { type IdentityRouteOptions, identityRoutes } from './identity-routes.js';
import { type BrowserPolicy, type HttpHooks, auth, browserGuard, requestIds } from './middleware.js';
import { openaiRoutes } from './openai-routes.js';
import { predictRoutes } from './predict-routes.js';
import { responsesRoutes } from './responses-routes.js';

/**
 * The HTTP adapter: each route parses its input with the protocol's parsers, calls one operation
 * of the agent and writes the result. It holds no state and touches no model. One route file per
 * surface: OpenAI's, Foundry's management API, predictive models.
 */
export interface HttpOptions extends HttpHooks, BrowserPolicy, IdentityRouteOptions {
  ready?: () => boolean;
  maxBodyBytes?: number;
  /** Largest encoded image per /v1/predict item. */
  maxImageBytes?: number;
  /** Largest audio file /v1/audio/transcriptions and /translations take (413 past it). */
  maxAudioBytes?: number;
  /** Prometheus text for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** The live-metrics feed's figures for GET /metrics/live. */
  liveMetrics?: () => Promise<MetricsSample>;
  /** Serve the web console at / (off unless asked for). */
  ui?: boolean;
  /** Seed 003's control plane (`/api/v1`, `/openapi.json`, `/docs`) and deployments' data planes. */
  control?: ControlPlaneApi;
  /** GET /ready answers without a key (for Kubernetes readiness probes, which cannot send one). */
  openReady?: boolean;
}

export function createHttpApp(api: CrucibleApi, opts: HttpOptions = {}): Hono {
  const app = new Hono();
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const readJson = (c: Parameters<typeof readBody>[0]) => readBody(c, limit);

  app.use('*', requestIds(opts));
  app.use('*', browserGuard(opts));
  // The console's static files need no key: the page asks for one.
  if (opts.ui) consoleRoutes(app);
  app.use('*', auth(opts));

  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => errorResponse(c, new CrucibleError('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  app.get('/health', (c) => c.json({ status: 'ok' }));
  // Foundry's probe names (public, as /health and /ready are); the control plane has its own.
  if (!opts.control) app.get('/healthz', (c) => c.json({ status: 'healthy' }));
  app.get('/metrics', async (c) => {
    if (!opts.metrics) throw new CrucibleError('not_found', 'metrics are not enabled');
    const m = await opts.metrics();
    return c.body(m.body, 200, { 'content-type': m.contentType });
  });
  if (opts.liveMetrics) metricsFeedRoutes(app, opts.liveMetrics);
  for (const path of opts.control ? ['/ready'] : ['/ready', '/readyz']) {
    app.get(path, (c) => (opts.ready?.() ?? true ? c.json({ status: 'ready' })
      : errorResponse(c, new CrucibleError('shutting_down', 'the service is not ready'))));
  }

  identityRoutes(app, opts, readJson);
  openaiRoutes(app, api, readJson);
  responsesRoutes(app, api, readJson);
  audioRoutes(app, api, { maxAudioBytes: opts.maxAudioBytes });
  foundryRoutes(app, api, readJson);
  predictRoutes(app, api, opts.maxImageBytes);
  if (opts.control) {
    controlRoutes(app, opts.control, { maxBodyBytes: limit });
    deploymentRoutes(app, api, opts.control, { readJson, maxImageBytes: opts.maxImageBytes, maxAudioBytes: opts.maxAudioBytes });
  }

  return app;
}
