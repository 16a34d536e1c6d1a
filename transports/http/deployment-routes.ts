import { type Context, Hono } from 'hono';
import type { ControlPlaneApi } from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import type { CrucibleApi } from '../../protocol/operations.js';
import { audioRoutes } from './audio-routes.js';
import { errorResponse } from './errors.js';
import { principalOf } from './middleware.js';
import { openaiRoutes } from './openai-routes.js';
import { predictRoutes } from './predict-routes.js';

/** The agent's operations narrowed to one deployment's model: every request names that model. */
function scoped(api: CrucibleApi, model: string): CrucibleApi {
  const own: Partial<CrucibleApi> = {
    chat: (req, signal) => api.chat({ ...req, model }, signal),
    chatStream: (req, signal) => api.chatStream({ ...req, model }, signal),
    completions: (req, signal) => api.completions({ ...req, model }, signal),
    completionsStream: (req, signal) => api.completionsStream({ ...req, model }, signal),
    countTokens: (req) => api.countTokens({ ...req, model }),
    transcribe: (req, signal) => api.transcribe({ ...req, model }, signal),
    transcribeStream: (req, signal) => api.transcribeStream({ ...req, model }, signal),
    predict: (req, signal) => api.predict({ ...req, model }, signal),
    modelMetadata: () => api.modelMetadata(model),
    getModel: () => api.getModel(model),
    listModels: async () => ({ object: 'list', data: [await api.getModel(model)] }),
  };
  return new Proxy(api, {
    get: (_target, key) => (key in own ? own[key as keyof CrucibleApi]
      : () => Promise.reject(new CrucibleError('not_found', 'not part of a deployment\'s data plane'))),
  });
}

/**
 * Each deployment's data plane under its own path (seed 001's endpoints): `/deployments/<name>/...`
 * in the `default` namespace and `/namespaces/<ns>/deployments/<name>/...` in any. The identity
 * layer decides who gets in (the deployment's own keys, or a key or token allowed this deployment,
 * its model and the route's action); `/health` and `/ready` are open, for probes. A request then goes to the same OpenAI and predictive routes as the agent's own, bound to the
 * deployment's model.
 */
export function deploymentRoutes(
  app: Hono, api: CrucibleApi, control: ControlPlaneApi,
  opts: { readJson: (c: Context) => Promise<unknown>; maxImageBytes?: number; maxAudioBytes?: number },
): void {
  const apps = new Map<string, Hono>();
  const planeFor = (model: string, ns: string, name: string): Hono => {
    let sub = apps.get(model);
    if (!sub) {
      sub = new Hono();
      openaiRoutes(sub, scoped(api, model), opts.readJson);
      predictRoutes(sub, scoped(api, model), opts.maxImageBytes);
      audioRoutes(sub, scoped(api, model), { maxAudioBytes: opts.maxAudioBytes });
      sub.onError((err, c) => errorResponse(c, err));
      sub.notFound((c) => errorResponse(c, new CrucibleError('not_found', `no route for ${c.req.method} ${c.req.path} in deployment '${ns}/${name}'`)));
      apps.set(model, sub);
    }
    return sub;
  };

  const handle = async (c: Context): Promise<Response> => {
    const ns = c.req.param('ns') ?? 'default';
    const name = c.req.param('name')!;
    const prefix = c.req.param('ns') ? `/namespaces/${ns}/deployments/${name}` : `/deployments/${name}`;
    const rest = c.req.path.slice(prefix.length) || '/';
    if (rest === '/health' || rest === '/ready') {
      const d = await control.getDeployment(ns, name);
      if (rest === '/health') return c.json({ status: 'ok' });
      const ready = d.status.state === 'Running' && (d.status.readyReplicas ?? 0) > 0;
      return ready ? c.json({ status: 'ready', readyReplicas: d.status.readyReplicas })
        : c.json({ status: 'not ready', state: d.status.state, message: d.status.message }, 503);
    }
    // The identity layer admitted the caller (its own keys, or a principal allowed this deployment).
    // Without one (a bare app, which has nobody to check keys), a deployment with keys stays closed.
    if (!principalOf(c) && (await control.deploymentAccess(ns, name, undefined)).authentication) {
      c.header('www-authenticate', 'Bearer realm="crucible"');
      throw new CrucibleError('missing_credentials', `deployment '${name}' has keys of its own and this app has no identity layer to check them`);
    }
    const target = await control.deploymentTarget(ns, name);
    const sub = planeFor(target.model, ns, name);
    const url = new URL(c.req.url);
    url.pathname = rest;
    const init: RequestInit & { duplex?: 'half' } = { method: c.req.method, headers: c.req.raw.headers, signal: c.req.raw.signal };
    if (!['GET', 'HEAD'].includes(c.req.method)) {
      init.body = c.req.raw.body;
      init.duplex = 'half';
    }
    return sub.fetch(new Request(url, init), c.env);
  };
  for (const base of ['/deployments/:name', '/namespaces/:ns/deployments/:name']) {
    app.all(base, handle);
    app.all(`${base}/*`, handle);
  }
}
