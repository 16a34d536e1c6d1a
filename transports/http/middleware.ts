import { randomUUID } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import {
  type Decision, MODEL_BODY_ROUTES, type Principal, type Refusal, type RequestLike, filterModelList, modelAllowed, modelOfPath, modelRefusal,
} from '../../agent/identity/identity.js';
import { CrucibleError } from '../../protocol/errors.js';
import { errorResponse } from './errors.js';

/** What the HTTP adapter needs from the agent's surroundings; all optional for bare tests. */
export interface HttpHooks {
  /** The identity layer (agent/identity): a principal or a refusal for each request. None: no authentication. */
  identity?: { decide(req: RequestLike): Promise<Decision> };
  /** Called for each refused request, with the refusal's reason (for metrics and the audit log). */
  onRefused?: (r: { requestId: string; method: string; path: string; reason: string; status: number; principal?: Principal; action?: string | null }) => void;
  /** Called when an authorized request ends, with the action it needed (for the audit log). */
  onAllowed?: (r: { requestId: string; method: string; path: string; status: number; principal: Principal; action: string | null }) => void;
  /** Called once per request when it ends. */
  onRequest?: (r: { requestId: string; method: string; route: string; status: number; durationMs: number }) => void;
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

/** The caller, as the identity layer decided (the local user when no authentication is configured). */
export function principalOf(c: Context): Principal | undefined {
  return c.get('principal') as Principal | undefined;
}

/**
 * A thin caller of the identity layer: every request gets a principal or the contract's refusal.
 * On /api/v1 the control plane's envelope (`Unauthorized` / `Forbidden` with the code in
 * `details`), elsewhere OpenAI's.
 */
export function auth(hooks: HttpHooks): MiddlewareHandler {
  return async (c, next) => {
    if (!hooks.identity) return next();
    const d = await hooks.identity.decide({ method: c.req.method, path: c.req.path, header: (n) => c.req.header(n), address: clientAddress(c) });
    const requestId = c.get('requestId') as string;
    const limited = 'principal' in d && !d.principal.models.includes('*') ? await modelScope(c, d.principal) : null;
    if (limited) return refused(c, hooks, requestId, limited);
    if ('principal' in d) {
      c.set('principal', d.principal);
      await next();
      if (!d.principal.models.includes('*') && c.req.method === 'GET' && ['/v1/models', '/openai/models', '/openai/loadedmodels'].includes(c.req.path)
        && c.res.status === 200 && !c.res.headers.has('x-hono-already-sent')) {
        const headers = new Headers(c.res.headers);
        headers.delete('content-length');
        c.res = new Response(JSON.stringify(filterModelList(d.principal, await c.res.json())), { status: 200, headers });
      }
      hooks.onAllowed?.({ requestId, method: c.req.method, path: c.req.path, status: c.res.status, principal: d.principal, action: d.action });
      return;
    }
    return refused(c, hooks, requestId, d.refusal);
  };
}

function clientAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (app.request in tests)
  }
}

/** For a principal limited to some models: the refusal when the request names another one. */
async function modelScope(c: Context, principal: Principal): Promise<Refusal | null> {
  let model = modelOfPath(c.req.path);
  if (model === undefined && c.req.method === 'POST' && MODEL_BODY_ROUTES.has(c.req.path)
    && Number(c.req.header('content-length') ?? 0) <= 64 * 2 ** 20) {
    try {
      // Hono caches the body: the handler reads the same bytes again.
      const body = JSON.parse(new TextDecoder().decode(await c.req.arrayBuffer())) as { model?: unknown };
      model = typeof body?.model === 'string' ? body.model : '';
    } catch {
      return null; // the handler reports the bad body
    }
  }
  if (model === undefined || modelAllowed(principal, model)) return null;
  return modelRefusal(principal, model || '(the default model)');
}

function refused(c: Context, hooks: HttpHooks, requestId: string, refusal: Refusal): Response {
  {
    const { error, wwwAuthenticate, reason, principal, action } = refusal;
    hooks.onRefused?.({ requestId, method: c.req.method, path: c.req.path, reason, status: error.status, principal, action });
    if (wwwAuthenticate) c.header('www-authenticate', wwwAuthenticate);
    if (c.req.path.startsWith('/api/v1/')) {
      if (error.retryAfter !== undefined) c.header('retry-after', String(error.retryAfter));
      const type = ({ 400: 'ValidationError', 401: 'Unauthorized', 403: 'Forbidden', 429: 'TooManyRequests' } as Record<number, string>)[error.status] ?? 'ServiceUnavailable';
      return c.json({ error: type, message: error.message, details: { code: error.code } }, error.status as 400);
    }
    return errorResponse(c, error);
  }
}

/**
 * Origins a browser page may call from when none are configured: pages served from this machine
 * (any port, http or https), and desktop shells' own schemes (`app://`, Tauri's `tauri://localhost`
 * and `http(s)://tauri.localhost`), which only locally installed software can serve. Never the
 * `null` origin: sandboxed iframes of any site send it.
 */
export const DEFAULT_CORS_ORIGINS = [
  'http://localhost:*', 'http://127.0.0.1:*', 'http://[::1]:*',
  'https://localhost:*', 'https://127.0.0.1:*', 'https://[::1]:*',
  'app://*', 'tauri://localhost', 'http://tauri.localhost', 'https://tauri.localhost',
];

export const CORS_METHODS = 'GET, POST, DELETE, OPTIONS';
export const CORS_HEADERS = 'authorization, api-key, x-api-key, content-type, x-request-id, user-agent';
export const CORS_EXPOSED = 'x-request-id, retry-after';

/**
 * The headers a preflight allows: the fixed list, plus the `x-stainless-*` telemetry headers the
 * openai client sends with every request (`x-stainless-os`, `-arch`, `-retry-count`...), which a
 * browser would otherwise refuse to send.
 */
function allowedHeaders(requested: string | undefined): string {
  const extra = (requested ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => /^x-stainless-[a-z0-9-]{1,64}$/.test(h));
  return [CORS_HEADERS, ...new Set(extra)].join(', ');
}

export interface BrowserPolicy {
  /** Origin patterns: `scheme://host`, `:*` for any port, `*` in a host, or `*` alone for every origin. */
  corsOrigins?: string[];
  /** Host header names accepted besides loopback names and addresses: exact, `.suffix` / `*.suffix`, or `*`. */
  allowedHosts?: string[];
}

/** A matcher for one origin pattern; case-insensitive, `:*` also matches no port. */
export function originPattern(pattern: string): (origin: string) => boolean {
  const p = pattern.trim().toLowerCase().replace(/\/+$/, '');
  if (p === '*') return () => true;
  const esc = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const source = esc.replace(/:\*$/, '(?::\\d+)?').replace(/\*/g, '[^/]*');
  const re = new RegExp(`^${source}$`);
  return (origin) => re.test(origin.toLowerCase());
}

/** The host name of a Host header, without port or brackets, lower case, no trailing dot. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'))
    : /^[^:]*:\d*$/.test(h) ? h.slice(0, h.lastIndexOf(':')) : h;
  return name.replace(/\.$/, '');
}

/** Names and addresses that can only mean this machine, whatever a DNS server says. */
export function isLoopbackHost(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
    || name === '::1' || name === '0:0:0:0:0:0:0:1' || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

export function hostPattern(pattern: string): (name: string) => boolean {
  const p = hostName(pattern);
  if (p === '*') return () => true;
  if (p.startsWith('*.') || p.startsWith('.')) {
    const suffix = p.slice(p.indexOf('.'));
    return (name) => name.endsWith(suffix) || name === suffix.slice(1);
  }
  return (name) => name === p;
}

/** Whether an Origin is this very service, as the request's (already accepted) Host names it. */
function sameOrigin(origin: string, host: string): boolean {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' && u.host === new URL(`http://${host.trim()}`).host;
  } catch {
    return false;
  }
}

/** GET routes that change state (the seeds' load, unload and GPU selection). */
const STATE_CHANGING_GET = /^\/openai\/(load|unload|unloadall|setgpudevice)(\/|$)/;
const stateChanging = (method: string, path: string) =>
  !['GET', 'HEAD', 'OPTIONS'].includes(method) || STATE_CHANGING_GET.test(path);

/** The CORS headers the guard decided for this request, for handlers that write the head themselves. */
export function corsHeadersOf(c: Context): Record<string, string> {
  return (c.get('corsHeaders') as Record<string, string> | undefined) ?? {};
}

/**
 * What browsers may do. A `Host` that is not a loopback name or address, the bound host or an
 * allowed host gets 403: a page whose name was rebound to 127.0.0.1 still sends its own name.
 * Pages from allowed origins get CORS headers and preflights answered with 204; other origins get
 * no CORS headers (the browser keeps the response from the page), and 403 for preflights and for
 * requests that change state. Runs before authentication: preflights carry no key.
 */
export function browserGuard(policy: BrowserPolicy): MiddlewareHandler {
  const origins = (policy.corsOrigins ?? DEFAULT_CORS_ORIGINS).map(originPattern);
  const hosts = (policy.allowedHosts ?? []).map(hostPattern);
  const hostOk = (header: string) => {
    const name = hostName(header);
    return isLoopbackHost(name) || hosts.some((h) => h(name));
  };
  return async (c, next) => {
    const host = c.req.header('host');
    if (host !== undefined && !hostOk(host)) {
      return errorResponse(c, new CrucibleError('forbidden',
        `Host '${host}' is not accepted: only loopback names, the bound host and --allowed-hosts (CRUCIBLE_ALLOWED_HOSTS) may reach this service`));
    }
    const origin = c.req.header('origin');
    // A page this service served itself (the web console): same origin, whatever --cors-origins says.
    if (origin !== undefined && host !== undefined && sameOrigin(origin, host)) return next();
    const allowed = origin !== undefined && origins.some((o) => o(origin));
    const preflight = c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined;
    if (origin !== undefined && !allowed) {
      if (preflight || stateChanging(c.req.method, c.req.path)) {
        return errorResponse(c, new CrucibleError('forbidden',
          `origin '${origin}' may not call this service; allow it with --cors-origins (CRUCIBLE_CORS_ORIGINS)`));
      }
      return next();
    }
    // A no-cors request (no Origin) from another site's page, such as an <img> pointed at a load.
    if (origin === undefined && c.req.header('sec-fetch-site') === 'cross-site' && stateChanging(c.req.method, c.req.path)) {
      return errorResponse(c, new CrucibleError('forbidden', 'a request from another site\'s page may not change state here'));
    }
    if (!allowed) return next();
    if (preflight) {
      const headers: Record<string, string> = {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': CORS_METHODS,
        'access-control-allow-headers': allowedHeaders(c.req.header('access-control-request-headers')),
        'access-control-max-age': '600',
        vary: 'Origin',
      };
      // Chrome's Private Network Access asks before a public page reaches a loopback service.
      if (c.req.header('access-control-request-private-network') === 'true') headers['access-control-allow-private-network'] = 'true';
      return c.body(null, 204, headers);
    }
    const headers = { 'access-control-allow-origin': origin, 'access-control-expose-headers': CORS_EXPOSED, vary: 'Origin' };
    c.set('corsHeaders', headers);
    await next();
    if (!c.res.headers.has('x-hono-already-sent')) for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
}
