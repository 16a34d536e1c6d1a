/**
 * Actions, roles and the route table: which action each route needs. Deny by default: a route
 * with no entry here is open only to a principal granted every action (`*`), and a test fails when
 * a route is registered without an entry. Routes are authorized by (method, path), not by method
 * alone: Foundry's desktop routes change state on GET.
 */

export const ACTIONS = [
  'models/read', 'models/write', 'models/delete',
  'chat/invoke', 'audio/invoke', 'predict/invoke',
  'deployments/read', 'deployments/write', 'deployments/delete',
  'keys/read', 'keys/write',
  'system/read', 'system/write',
  'audit/read',
] as const;

export type Action = (typeof ACTIONS)[number];

/** What a route needs: an action, or nothing at all (health and readiness probes, console files). */
export type Requirement = Action | 'public';

/** A grant matches an action when each `/`-separated part is equal or `*`; `*` alone matches all. */
export function grantMatches(grant: string, action: string): boolean {
  if (grant === '*' || grant === '*/*') return true;
  const [gr, gv] = grant.split('/');
  const [ar, av] = action.split('/');
  return (gr === '*' || gr === ar) && (gv === '*' || gv === av);
}

export function allows(grants: readonly string[], action: string): boolean {
  return grants.some((g) => grantMatches(g, action));
}

/** The built-in roles, as lists of grants. */
export const ROLES: Record<string, readonly string[]> = {
  /** Every read but key secrets and the audit log. */
  reader: ACTIONS.filter((a) => a.endsWith('/read') && a !== 'keys/read' && a !== 'audit/read'),
  /** Every invoke, plus listing and describing models (an invoke-only key must still see models). */
  invoker: ['*/invoke', 'models/read'],
  /** Everything but the audit log. */
  contributor: ACTIONS.filter((a) => a !== 'audit/read'),
  admin: ['*'],
};

export const isRole = (name: string): boolean => Object.hasOwn(ROLES, name);

interface RouteRule {
  /** Methods the rule covers; `*` for any. */
  methods: string[] | '*';
  /** A path pattern: literal segments, `:param` for one segment, a trailing `*` for any rest. */
  path: string;
  /**
   * The action, or a function of the method (and path) for routes whose need depends on it; a
   * function may answer null: covered by the table, open only to a principal granted `*`.
   */
  need: Requirement | ((method: string, path: string) => Requirement | null);
}

const byMethod = (read: Action, write: Action, del: Action) => (method: string): Requirement =>
  method === 'GET' || method === 'HEAD' ? read : method === 'DELETE' ? del : write;

/** The deployment a data-plane path names, and the path within it; null for other paths. */
export function deploymentOfPath(path: string): { ns: string; name: string; rest: string } | null {
  const m = /^\/(?:namespaces\/([^/]+)\/)?deployments\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) return null;
  try {
    return { ns: m[1] === undefined ? 'default' : decodeURIComponent(m[1]), name: decodeURIComponent(m[2]), rest: m[3] ?? '/' };
  } catch {
    return null;
  }
}

/**
 * Within a deployment's data plane: its probes are public; its data-plane routes need what they
 * need on the agent's own surface (invokes, model reads); anything else is admins only.
 */
function deploymentNeed(method: string, path: string): Requirement | null {
  const rest = deploymentOfPath(path)?.rest.replace(/\/+$/, '') ?? '';
  if (rest === '/health' || rest === '/ready') return method === 'GET' ? 'public' : null;
  const inner = rest.startsWith('/deployments/') || rest.startsWith('/namespaces/') ? null : requiredAction(method, rest);
  return inner !== null && inner !== 'public' && (inner.endsWith('/invoke') || inner === 'models/read') ? inner : null;
}

/**
 * Route -> required action. The first matching rule wins, so specific rules come before general
 * ones. To add a route, add a line here (the route-table test lists the registered routes that
 * have none).
 */
export const ROUTE_TABLE: RouteRule[] = [
  // Probes: public, as Foundry's contract says.
  { methods: ['GET', 'HEAD'], path: '/health', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/healthz', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/ready', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/readyz', need: 'public' },
  // The control plane's API description and Swagger UI.
  { methods: ['GET', 'HEAD'], path: '/openapi.json', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/docs', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/docs/*', need: 'public' },
  // Deployments' data planes: the action of the route within (a chat completion there is
  // chat/invoke); their probes are public. The identity layer also takes each deployment's own keys
  // there, and checks a principal's deployments and models against it (identity.ts).
  { methods: '*', path: '/deployments/:name', need: deploymentNeed },
  { methods: '*', path: '/deployments/:name/*', need: deploymentNeed },
  { methods: '*', path: '/namespaces/:ns/deployments/:name', need: deploymentNeed },
  { methods: '*', path: '/namespaces/:ns/deployments/:name/*', need: deploymentNeed },
  // The web console's static files (the page then asks for a key or token).
  { methods: ['GET', 'HEAD'], path: '/', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/console/:file', need: 'public' },
  // System: metrics and the GPU device.
  { methods: ['GET'], path: '/metrics', need: 'system/read' },
  { methods: ['GET'], path: '/metrics/live', need: 'system/read' },
  { methods: ['GET'], path: '/openai/getgpudevice', need: 'system/read' },
  { methods: ['GET'], path: '/openai/setgpudevice/:id', need: 'system/write' },
  // Foundry's desktop routes: reads, and GETs that change state.
  { methods: ['GET'], path: '/openai/models', need: 'models/read' },
  { methods: ['GET'], path: '/openai/loadedmodels', need: 'models/read' },
  { methods: ['GET'], path: '/openai/ps', need: 'models/read' },
  { methods: ['GET'], path: '/openai/status', need: 'models/read' },
  { methods: ['GET'], path: '/foundry/list', need: 'models/read' },
  { methods: ['GET'], path: '/openai/load/:name', need: 'models/write' },
  { methods: ['GET'], path: '/openai/unload/:name', need: 'models/write' },
  { methods: ['GET'], path: '/openai/unloadall', need: 'models/write' },
  { methods: ['POST'], path: '/openai/register', need: 'models/write' },
  { methods: ['POST'], path: '/openai/download', need: 'models/write' },
  { methods: ['DELETE'], path: '/openai/models/:name', need: 'models/delete' },
  // The data plane.
  { methods: ['POST'], path: '/v1/chat/completions', need: 'chat/invoke' },
  { methods: ['POST'], path: '/v1/chat/completions/tokenizer/encode/count', need: 'chat/invoke' },
  { methods: ['POST'], path: '/v1/completions', need: 'chat/invoke' },
  { methods: ['POST'], path: '/v1/embeddings', need: 'chat/invoke' },
  // The Responses API: creating, reading, cancelling and deleting stored responses are invokes.
  { methods: ['POST'], path: '/v1/responses', need: 'chat/invoke' },
  { methods: ['GET', 'DELETE'], path: '/v1/responses/:id', need: 'chat/invoke' },
  { methods: ['POST'], path: '/v1/responses/:id/cancel', need: 'chat/invoke' },
  { methods: ['GET'], path: '/v1/responses/:id/input_items', need: 'chat/invoke' },
  { methods: ['POST'], path: '/v1/audio/transcriptions', need: 'audio/invoke' },
  { methods: ['POST'], path: '/v1/audio/translations', need: 'audio/invoke' },
  { methods: ['POST'], path: '/v1/predict', need: 'predict/invoke' },
  { methods: ['GET'], path: '/v1/models', need: 'models/read' },
  { methods: ['GET'], path: '/v1/models/:id', need: 'models/read' },
  { methods: ['GET'], path: '/v1/model', need: 'models/read' },
  // The control plane (seed 003). Key secrets need keys/read, stricter than the seed's
  // deployments/read; rotating them needs keys/write.
  { methods: ['GET', 'HEAD'], path: '/api/v1/namespaces/:ns/deployments/:name/keys', need: 'keys/read' },
  { methods: ['POST'], path: '/api/v1/namespaces/:ns/deployments/:name/keys/:type/rotate', need: 'keys/write' },
  { methods: '*', path: '/api/v1/keys/*', need: byMethod('keys/read', 'keys/write', 'keys/write') },
  { methods: '*', path: '/api/v1/keys', need: byMethod('keys/read', 'keys/write', 'keys/write') },
  { methods: ['GET', 'HEAD'], path: '/api/v1/audit', need: 'audit/read' },
  { methods: ['GET', 'HEAD'], path: '/api/v1/healthz', need: 'public' },
  { methods: ['GET', 'HEAD'], path: '/api/v1/readyz', need: 'public' },
  // Every other control-plane route: by method, as seed 003 says.
  { methods: '*', path: '/api/v1/*', need: byMethod('deployments/read', 'deployments/write', 'deployments/delete') },
];

function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const s = path.replace(/\/+$/, '').split('/');
  if (path === '/' || pattern === '/') return pattern === path;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '*' && i === p.length - 1) return s.length >= p.length;
    if (i >= s.length) return false;
    if (p[i].startsWith(':')) { if (!s[i]) return false; continue; }
    if (p[i] !== s[i]) return false;
  }
  return s.length === p.length;
}

/**
 * The pipe's operations that change state, with the action each needs over HTTP. Pipe clients are
 * the local user (the socket is the agent user's alone) and are not asked for credentials, but
 * with authentication on these are audited like their HTTP routes.
 */
export const PIPE_MANAGEMENT: Readonly<Record<string, Action>> = {
  'models.load': 'models/write', 'models.unload': 'models/write', 'models.unloadAll': 'models/write',
  'models.download': 'models/write', 'models.register': 'models/write', 'models.remove': 'models/delete', 'gpu.set': 'system/write',
};

/** The first rule of the table that covers a request, if any. */
export function routeRule(method: string, path: string): RouteRule | undefined {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return ROUTE_TABLE.find((rule) => (rule.methods === '*' || rule.methods.includes(m)) && pathMatches(rule.path, path));
}

/** The action a request needs, or null when no rule covers it or its rule says so (then only `*` may pass). */
export function requiredAction(method: string, path: string): Requirement | null {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const rule = routeRule(m, path);
  if (!rule) return null;
  return typeof rule.need === 'function' ? rule.need(m, path) : rule.need;
}
