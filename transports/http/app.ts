import { Hono } from 'hono';
import { stream as streamBody } from 'hono/streaming';
import { parseDownloadRequest, parseExternalModel, parseRemoveRequest, type DownloadProgress } from '../../protocol/catalog.js';
import { CrucibleError } from '../../protocol/errors.js';
import { parseGpuDevice, parseLoadRequest, parseUnloadRequest } from '../../protocol/models.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { MAX_BODY_BYTES, errorResponse, readJson as readBody } from './errors.js';
import { type HttpHooks, auth, requestIds } from './middleware.js';
import { clientSignal } from './client-signal.js';
import { openaiRoutes } from './openai-routes.js';
import { predictRoutes } from './predict-routes.js';

const flag = (v: string | undefined): boolean | undefined =>
  v === undefined ? undefined : ['1', 'true', 'yes'].includes(v.toLowerCase()) ? true
    : ['0', 'false', 'no'].includes(v.toLowerCase()) ? false : (v as unknown as boolean);
const int = (v: string | undefined): unknown => (v === undefined || v === '' ? undefined : /^-?\d+$/.test(v) ? Number(v) : v);

/**
 * The HTTP adapter: each route parses its input with the protocol's parsers, calls one operation
 * of the agent and writes the result. It holds no state and touches no model.
 */
export interface HttpOptions extends HttpHooks {
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
  app.get('/openai/models', async (c) => c.json(await api.cachedModels()));
  app.get('/openai/loadedmodels', async (c) => c.json(await api.loadedModels()));
  app.get('/openai/ps', async (c) => c.json(await api.modelInfo()));
  app.get('/openai/status', async (c) => c.json(await api.status()));

  app.get('/openai/load/:name', async (c) =>
    c.json(await api.load(parseLoadRequest({ name: c.req.param('name'), ttl: int(c.req.query('ttl')), ep: c.req.query('ep'), variant: c.req.query('variant') }))));
  app.get('/openai/unload/:name', async (c) =>
    c.json(await api.unload(parseUnloadRequest({ name: c.req.param('name'), force: flag(c.req.query('force')) }))));
  app.get('/openai/unloadall', async (c) => c.json(await api.unloadAll()));

  predictRoutes(app, api, opts.maxImageBytes);

  app.get('/foundry/list', async (c) => c.json(await api.catalog()));
  app.post('/openai/register', async (c) => c.json(await api.registerExternal(parseExternalModel(await readJson(c)))));
  app.delete('/openai/models/:name', async (c) =>
    c.json(await api.removeModel(parseRemoveRequest({ name: c.req.param('name'), force: flag(c.req.query('force')) }))));

  /**
   * Streams newline-delimited JSON: `{"type":"progress",...}` lines, then the seeds' final
   * `{"Success","ErrorMessage"}`. Failures before the first byte keep their status code.
   */
  app.post('/openai/download', async (c) => {
    const req = parseDownloadRequest(await readJson(c));
    const ac = clientSignal(c.req.raw);
    const queue: DownloadProgress[] = [];
    let wake: (() => void) | null = null;
    let outcome: { ok: true; model: string } | { ok: false; err: unknown } | null = null;
    const done = api.download(req, { signal: ac.signal, onProgress: (p) => { queue.push(p); wake?.(); } })
      .then((r) => { outcome = { ok: true, model: r.model }; }, (err) => { outcome = { ok: false, err }; })
      .finally(() => wake?.());
    await Promise.race([done, new Promise<void>((r) => { wake = r; })]);
    const early = outcome as { ok: false; err: unknown } | null;
    if (early && !early.ok && queue.length === 0) return errorResponse(c, early.err);
    c.header('content-type', 'application/x-ndjson');
    return streamBody(c, async (s) => {
      s.onAbort(() => ac.abort());
      for (;;) {
        while (queue.length > 0) await s.writeln(JSON.stringify({ type: 'progress', ...queue.shift() }));
        if (outcome) break;
        await new Promise<void>((r) => { wake = r; });
      }
      const final = outcome as { ok: true; model: string } | { ok: false; err: unknown };
      await s.writeln(JSON.stringify(final.ok
        ? { Success: true, ErrorMessage: null, model: final.model }
        : { Success: false, ErrorMessage: (final.err as Error).message }));
    });
  });

  // The seeds answer a bare integer.
  app.get('/openai/getgpudevice', async (c) => c.json((await api.getGpuDevice()).deviceId));
  app.get('/openai/setgpudevice/:id', async (c) =>
    c.json((await api.setGpuDevice(parseGpuDevice({ deviceId: int(c.req.param('id')) }))).deviceId));

  return app;
}
