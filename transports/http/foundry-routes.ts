import type { Context, Hono } from 'hono';
import {
  type DownloadProgress, downloadResult, downloadStreamFormat, parseDownloadRequest, parseExternalModel, parseRemoveRequest, progressLine,
} from '../../protocol/catalog.js';
import { parseGpuDevice, parseLoadRequest, parseUnloadRequest } from '../../protocol/models.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { errorResponse } from './errors.js';
import { clientSignal, flag, int } from './params.js';
import { writeChunks } from './sse.js';

type ReadJson = (c: Context) => Promise<unknown>;

const RESULT_PAUSE_MS = 100;

/**
 * Foundry Local's management API (seed 000): `/openai/*` and `/foundry/*`. Each route parses with
 * the protocol's parsers, calls one agent operation and writes the result.
 */
export function foundryRoutes(app: Hono, api: CrucibleApi, readJson: ReadJson): void {
  app.get('/openai/models', async (c) => c.json(await api.cachedModels()));
  app.get('/openai/loadedmodels', async (c) => c.json(await api.loadedModels()));
  app.get('/openai/ps', async (c) => c.json(await api.modelInfo()));
  app.get('/openai/status', async (c) => c.json(await api.status()));

  app.get('/openai/load/:name', async (c) =>
    c.json(await api.load(parseLoadRequest({ name: c.req.param('name'), ttl: int(c.req.query('ttl')), ep: c.req.query('ep'), variant: c.req.query('variant') }))));
  app.get('/openai/unload/:name', async (c) =>
    c.json(await api.unload(parseUnloadRequest({ name: c.req.param('name'), force: flag(c.req.query('force')) }))));
  app.get('/openai/unloadall', async (c) => c.json(await api.unloadAll()));

  app.get('/foundry/list', async (c) => c.json(await api.catalog()));
  app.post('/openai/register', async (c) => c.json(await api.registerExternal(parseExternalModel(await readJson(c)))));
  app.delete('/openai/models/:name', async (c) =>
    c.json(await api.removeModel(parseRemoveRequest({ name: c.req.param('name'), force: flag(c.req.query('force')) }))));

  app.post('/openai/download', (c) => download(c, api, readJson));

  // Seed 000: a bare integer.
  // The body stays the seeds' bare integer; the provider and adapter behind it ride in headers, or
  // as the whole object with ?detail=1.
  app.get('/openai/getgpudevice', async (c) => {
    const d = await api.getGpuDevice();
    if (c.req.query('detail') === '1') return c.json(d);
    if (d.provider) c.header('X-Crucible-Gpu-Provider', d.provider);
    if (d.adapter) {
      c.header('X-Crucible-Gpu-Adapter', encodeURIComponent(d.adapter.name));
      c.header('X-Crucible-Gpu-Software', String(d.adapter.software));
    }
    return c.json(d.deviceId);
  });
  app.get('/openai/setgpudevice/:id', async (c) =>
    c.json((await api.setGpuDevice(parseGpuDevice({ deviceId: int(c.req.param('id')) }))).deviceId));
}

/**
 * Streams a download's progress and result (see `downloadStreamFormat`): NDJSON
 * `{"type":"progress",...}` lines, or Foundry's percentage text lines; then the result object.
 * Failures before the first byte keep their status code.
 */
async function download(c: Context, api: CrucibleApi, readJson: ReadJson): Promise<Response> {
  const req = parseDownloadRequest(await readJson(c));
  const format = downloadStreamFormat(req, { accept: c.req.header('accept'), userAgent: c.req.header('user-agent') });
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
  const lines = (async function* () {
    let wrote = false;
    for (;;) {
      while (queue.length > 0) {
        const p = queue.shift()!;
        wrote = true;
        yield format === 'ndjson' ? `${JSON.stringify({ type: 'progress', ...p })}\n` : progressLine(p);
      }
      if (outcome) break;
      await new Promise<void>((r) => { wake = r; });
    }
    const final = outcome as { ok: true; model: string } | { ok: false; err: unknown };
    const result = downloadResult(final.ok ? { model: final.model } : { error: (final.err as Error).message });
    // Foundry's SDKs take a read that starts with '{' as the start of the result, and a client
    // reads whatever has arrived: the result follows the last progress line after a pause, so the
    // client has read that line before the result arrives on its own.
    if (format === 'foundry' && wrote) await new Promise((r) => setTimeout(r, RESULT_PAUSE_MS));
    yield `${JSON.stringify(result)}${format === 'ndjson' ? '\n' : ''}`;
  })();
  return writeChunks(c, format === 'ndjson' ? 'application/x-ndjson' : 'text/plain; charset=utf-8', lines, ac);
}
