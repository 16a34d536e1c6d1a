import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { CrucibleError } from '../../protocol/errors.js';
import { FEED_INTERVAL, type MetricsSample, metricsFrame } from '../../protocol/metrics-feed.js';

/** The repository root, from build/transports/http/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The page's HTML and CSS (clients/web/) and its compiled modules (build/web/clients/web/src/). */
export const WEB_SOURCE = join(ROOT, 'clients', 'web');
export const WEB_BUILD = join(ROOT, 'build', 'web', 'clients', 'web', 'src');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The page calls only this origin and runs only its own scripts. */
const CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The console's files, read once: a fixed set of names, so no request path reaches the file
 * system. Missing files (a build without the page) leave the set empty.
 */
function consoleFiles(): Map<string, { type: string; body: Uint8Array }> {
  const files = new Map<string, { type: string; body: Uint8Array }>();
  const add = (dir: string, filter: (name: string) => boolean) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type && filter(name)) files.set(name, { type, body: readFileSync(join(dir, name)) });
    }
  };
  add(WEB_SOURCE, (n) => !n.endsWith('.ts'));
  add(WEB_BUILD, (n) => n.endsWith('.js'));
  return files;
}

/**
 * The web console (issue 14): `/` is the page, `/console/<file>` its styles and modules. Public
 * like /health, since the page itself asks for the API key: it holds no data, and everything it
 * shows comes from the authenticated API. Registered before authentication for that reason.
 */
export function consoleRoutes(app: Hono): void {
  const files = consoleFiles();
  const send = (c: Context, name: string) => {
    const f = files.get(name);
    if (!f) return null;
    return c.body(f.body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': f.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff',
      ...(f.type.startsWith('text/html') ? { 'content-security-policy': CSP, 'referrer-policy': 'no-referrer' } : {}),
    });
  };
  app.get('/', (c) => send(c, 'index.html') ?? c.text('the web console is not built: run npm run build', 404));
  app.get('/console/:file', async (c, next) => send(c, c.req.param('file')) ?? next());
}

/**
 * `GET /metrics/live`: the live-metrics feed (protocol/metrics-feed.ts). Server-sent events, one
 * frame every `interval` seconds (default 1); `?once=1` answers one frame as JSON for polling.
 * Behind authentication like /metrics.
 */
export function metricsFeedRoutes(app: Hono, sample: () => Promise<MetricsSample>): void {
  app.get('/metrics/live', async (c) => {
    const raw = c.req.query('interval');
    const interval = raw === undefined ? FEED_INTERVAL.default : Number(raw);
    if (!Number.isFinite(interval) || interval < FEED_INTERVAL.min || interval > FEED_INTERVAL.max) {
      throw new CrucibleError('invalid_request', `'interval' must be a number of seconds from ${FEED_INTERVAL.min} to ${FEED_INTERVAL.max}`, 'interval');
    }
    if (c.req.query('once') === '1' || c.req.query('once') === 'true') return c.json(metricsFrame(await sample(), null));
    return streamSSE(c, async (stream) => {
      let before: MetricsSample | null = null;
      while (!stream.aborted) {
        const now = await sample();
        await stream.writeSSE({ data: JSON.stringify(metricsFrame(now, before)) });
        before = now;
        await stream.sleep(interval * 1000);
      }
    });
  });
}
