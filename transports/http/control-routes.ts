import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ControlErrorSchema, type ControlErrorBody, type ControlPlaneApi, CustomModelSchema, DeletedSchema, DeploymentKeysSchema, DeploymentListQuerySchema,
  DeploymentListSchema, DeploymentPatchSchema, DeploymentRequestSchema, DeploymentSchema, HealthzSchema, KeyTypeParam, ModelDetailSchema,
  ModelListQuerySchema, ModelListSchema, ModelNameParam, NamedParam, NamespaceParam, ReadyzSchema, RotatedKeySchema, SyncResponseSchema,
  controlErrorOf,
} from '../../protocol/control-plane.js';
import { CrucibleError, toCrucibleError } from '../../protocol/errors.js';
import { SERVICE_VERSION } from '../../protocol/version.js';

/** A validation failure as seed 003 writes it: `details.errors[{field, message}]`. */
type Issue = { path: PropertyKey[]; message: string; code?: string; keys?: string[] };

function issuesToErrors(issues: Issue[], where: string): { field: string; message: string }[] {
  return issues.map((i) => {
    const path = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys' && i.keys) {
      const field = i.keys.map((k) => (path ? `${path}.${k}` : k)).join(', ');
      return { field, message: `not ${where === 'body' ? 'an accepted' : 'a known'} field${i.keys.length > 1 ? 's' : ''}${where === 'patch' ? ': only replicas, env, resources and endpoint are patchable' : ''}` };
    }
    return { field: path || where, message: i.message };
  });
}

const envelope = (error: ControlErrorBody['error'], message: string, errors?: { field: string; message: string }[]): ControlErrorBody =>
  ({ error, message, ...(errors ? { details: { errors } } : {}) });

/** Any error as the control plane's envelope, with the status of its kind. */
export function controlErrorResponse(c: Context, err: unknown): Response {
  if (err instanceof HTTPException) {
    const status = err.status === 415 || err.status === 413 ? err.status : err.status < 500 ? 400 : 500;
    const body = status === 500 ? envelope('InternalError', err.message)
      : envelope('ValidationError', 'Request validation failed', [{ field: 'body', message: err.message || 'malformed request' }]);
    return c.json(body, status as ContentfulStatusCode);
  }
  const e = toCrucibleError(err);
  const { error, status } = controlErrorOf(e.code, e.status);
  const body = error === 'ValidationError'
    ? envelope(error, 'Request validation failed', [{ field: e.param ?? 'body', message: e.message }])
    : envelope(error, e.message);
  return c.json(body, status as ContentfulStatusCode);
}

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
const errors = {
  400: json(ControlErrorSchema, 'ValidationError (details.errors lists each field) or AuthenticationDisabled'),
  404: json(ControlErrorSchema, 'NotFound'),
  409: json(ControlErrorSchema, 'Conflict'),
  500: json(ControlErrorSchema, 'InternalError'),
};
const body = <T extends z.ZodTypeAny>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });

const routes = {
  healthz: createRoute({ method: 'get', path: '/healthz', tags: ['health'], summary: 'Liveness: 200 while the process is alive', responses: { 200: json(HealthzSchema, 'alive') } }),
  readyz: createRoute({
    method: 'get', path: '/readyz', tags: ['health'], summary: 'Readiness: the deployments backend answers (Kubernetes connectivity with that backend)',
    responses: { 200: json(ReadyzSchema, 'ready'), 503: json(ReadyzSchema, 'not ready') },
  }),
  listModels: createRoute({
    method: 'get', path: '/api/v1/models', tags: ['models'], summary: 'List models: the catalog and custom models, filtered and paged by offset',
    request: { query: ModelListQuerySchema }, responses: { 200: json(ModelListSchema, 'one page of models'), 400: errors[400] },
  }),
  createModel: createRoute({
    method: 'post', path: '/api/v1/models', tags: ['models'], summary: 'Register a custom (BYO) model: a folder, an OpenAI-compatible URL or a registry reference',
    request: body(CustomModelSchema), responses: { 201: json(ModelDetailSchema, 'registered'), 400: errors[400], 409: errors[409] },
  }),
  syncModels: createRoute({
    method: 'post', path: '/api/v1/models/sync', tags: ['models'], summary: 'Fetch the remote catalog now',
    responses: { 200: json(SyncResponseSchema, 'sync done'), 500: errors[500] },
  }),
  getFoundryLocal: createRoute({
    method: 'get', path: '/api/v1/models/foundry-local/{name}', tags: ['models'], summary: 'A Foundry Local catalog model by alias or id',
    request: { params: ModelNameParam }, responses: { 200: json(ModelDetailSchema, 'the model'), 404: errors[404] },
  }),
  getFoundry: createRoute({
    method: 'get', path: '/api/v1/models/foundry/{name}', tags: ['models'], summary: 'A Microsoft Foundry catalog model (none is configured on one machine: always NotFound)',
    request: { params: ModelNameParam }, responses: { 200: json(ModelDetailSchema, 'the model'), 404: errors[404] },
  }),
  getCustom: createRoute({
    method: 'get', path: '/api/v1/models/custom/{name}', tags: ['models'], summary: 'A custom model by resource name',
    request: { params: ModelNameParam }, responses: { 200: json(ModelDetailSchema, 'the model'), 404: errors[404] },
  }),
  putCustom: createRoute({
    method: 'put', path: '/api/v1/models/custom/{name}', tags: ['models'], summary: 'Replace a custom model',
    request: { params: ModelNameParam, ...body(CustomModelSchema) }, responses: { 200: json(ModelDetailSchema, 'replaced'), 400: errors[400], 404: errors[404] },
  }),
  deleteCustom: createRoute({
    method: 'delete', path: '/api/v1/models/custom/{name}', tags: ['models'], summary: 'Delete a custom model (Conflict while a deployment uses it)',
    request: { params: ModelNameParam }, responses: { 200: json(DeletedSchema, 'deleted'), 404: errors[404], 409: errors[409] },
  }),
  listAll: createRoute({
    method: 'get', path: '/api/v1/deployments', tags: ['deployments'], summary: 'Deployments in every namespace (cursor pagination)',
    request: { query: DeploymentListQuerySchema }, responses: { 200: json(DeploymentListSchema, 'one page'), 400: errors[400] },
  }),
  listNs: createRoute({
    method: 'get', path: '/api/v1/namespaces/{ns}/deployments', tags: ['deployments'], summary: 'Deployments in one namespace (cursor pagination)',
    request: { params: NamespaceParam, query: DeploymentListQuerySchema }, responses: { 200: json(DeploymentListSchema, 'one page'), 400: errors[400] },
  }),
  create: createRoute({
    method: 'post', path: '/api/v1/namespaces/{ns}/deployments', tags: ['deployments'], summary: 'Create a deployment',
    request: { params: NamespaceParam, ...body(DeploymentRequestSchema) },
    responses: { 201: json(DeploymentSchema, 'created; its status follows as it loads'), 400: errors[400], 409: errors[409] },
  }),
  get: createRoute({
    method: 'get', path: '/api/v1/namespaces/{ns}/deployments/{name}', tags: ['deployments'], summary: 'A deployment with its spec and status',
    request: { params: NamedParam }, responses: { 200: json(DeploymentSchema, 'the deployment'), 404: errors[404] },
  }),
  replace: createRoute({
    method: 'put', path: '/api/v1/namespaces/{ns}/deployments/{name}', tags: ['deployments'], summary: 'Replace a deployment\'s spec',
    request: { params: NamedParam, ...body(DeploymentRequestSchema) }, responses: { 200: json(DeploymentSchema, 'replaced'), 400: errors[400], 404: errors[404] },
  }),
  patch: createRoute({
    method: 'patch', path: '/api/v1/namespaces/{ns}/deployments/{name}', tags: ['deployments'], summary: 'Update replicas, env, resources or endpoint',
    request: { params: NamedParam, ...body(DeploymentPatchSchema) }, responses: { 200: json(DeploymentSchema, 'patched'), 400: errors[400], 404: errors[404] },
  }),
  delete: createRoute({
    method: 'delete', path: '/api/v1/namespaces/{ns}/deployments/{name}', tags: ['deployments'], summary: 'Delete a deployment and what runs it',
    request: { params: NamedParam }, responses: { 200: json(DeletedSchema, 'deleted'), 404: errors[404] },
  }),
  keys: createRoute({
    method: 'get', path: '/api/v1/namespaces/{ns}/deployments/{name}/keys', tags: ['keys'], summary: 'The deployment\'s primary and secondary API keys',
    request: { params: NamedParam }, responses: { 200: json(DeploymentKeysSchema, 'the keys'), 400: errors[400], 404: errors[404] },
  }),
  rotate: createRoute({
    method: 'post', path: '/api/v1/namespaces/{ns}/deployments/{name}/keys/{keyType}/rotate', tags: ['keys'], summary: 'Replace one key with 64 hex digits; the old one is refused at once',
    request: { params: KeyTypeParam }, responses: { 200: json(RotatedKeySchema, 'the new key'), 400: errors[400], 404: errors[404] },
  }),
};

/** Every route of the control plane, as `METHOD /openapi/path`: what the OpenAPI document must cover. */
export const CONTROL_ROUTES = Object.values(routes).map((r) => `${r.method.toUpperCase()} ${r.path}`);

/**
 * The control plane of seed 003 (`/api/v1`, `/healthz`, `/readyz`), its OpenAPI document at
 * `/openapi.json` generated from the very schemas the routes validate with, and Swagger UI at
 * `/docs` served from the swagger-ui-dist package (no network needed).
 */
export function controlRoutes(app: Hono, control: ControlPlaneApi, opts: { maxBodyBytes: number }): void {
  const cp = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (result.success) return;
      const where = result.target === 'json' ? (c.req.method === 'PATCH' ? 'patch' : 'body') : result.target;
      const issues = (result.error as unknown as { issues: Issue[] }).issues;
      return c.json(envelope('ValidationError', 'Request validation failed', issuesToErrors(issues, where)), 400);
    },
  });
  cp.onError((err, c) => controlErrorResponse(c, err));
  cp.use('/api/v1/*', bodyLimit({
    maxSize: opts.maxBodyBytes,
    onError: () => { throw new CrucibleError('payload_too_large', `request body is larger than ${opts.maxBodyBytes} bytes`); },
  }));

  cp.openapi(routes.healthz, (c) => c.json({ status: 'healthy' as const }, 200));
  cp.openapi(routes.readyz, async (c) => {
    const r = await control.readyz();
    return c.json(r, r.status === 'ready' ? 200 : 503);
  });

  cp.openapi(routes.listModels, async (c) => c.json(await control.listModels(c.req.valid('query')), 200));
  cp.openapi(routes.createModel, async (c) => c.json(await control.createCustomModel(c.req.valid('json')), 201));
  cp.openapi(routes.syncModels, async (c) => c.json(await control.syncModels(), 200));
  cp.openapi(routes.getFoundryLocal, async (c) => c.json(await control.getCatalogModel('foundry-local', c.req.valid('param').name), 200));
  cp.openapi(routes.getFoundry, async (c) => c.json(await control.getCatalogModel('foundry', c.req.valid('param').name), 200));
  cp.openapi(routes.getCustom, async (c) => c.json(await control.getCustomModel(c.req.valid('param').name), 200));
  cp.openapi(routes.putCustom, async (c) => c.json(await control.replaceCustomModel(c.req.valid('param').name, c.req.valid('json')), 200));
  cp.openapi(routes.deleteCustom, async (c) => c.json(await control.deleteCustomModel(c.req.valid('param').name), 200));

  cp.openapi(routes.listAll, async (c) => c.json(await control.listDeployments(null, c.req.valid('query')), 200));
  cp.openapi(routes.listNs, async (c) => c.json(await control.listDeployments(c.req.valid('param').ns, c.req.valid('query')), 200));
  cp.openapi(routes.create, async (c) => c.json(await control.createDeployment(c.req.valid('param').ns, c.req.valid('json')), 201));
  cp.openapi(routes.get, async (c) => {
    const { ns, name } = c.req.valid('param');
    return c.json(await control.getDeployment(ns, name), 200);
  });
  cp.openapi(routes.replace, async (c) => {
    const { ns, name } = c.req.valid('param');
    return c.json(await control.replaceDeployment(ns, name, c.req.valid('json')), 200);
  });
  cp.openapi(routes.patch, async (c) => {
    const { ns, name } = c.req.valid('param');
    return c.json(await control.patchDeployment(ns, name, c.req.valid('json')), 200);
  });
  cp.openapi(routes.delete, async (c) => {
    const { ns, name } = c.req.valid('param');
    return c.json(await control.deleteDeployment(ns, name), 200);
  });
  cp.openapi(routes.keys, async (c) => {
    const { ns, name } = c.req.valid('param');
    return c.json(await control.getKeys(ns, name), 200);
  });
  cp.openapi(routes.rotate, async (c) => {
    const { ns, name, keyType } = c.req.valid('param');
    return c.json(await control.rotateKey(ns, name, keyType), 200);
  });
  // Anything else under /api/v1 is NotFound in the control plane's envelope.
  cp.all('/api/v1/*', (c) => controlErrorResponse(c, new CrucibleError('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  documentDataPlane(cp);
  cp.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http', scheme: 'bearer', description: 'The agent\'s API key (when it has keys), or a deployment\'s own key on its data plane',
  });
  cp.doc('/openapi.json', {
    security: [{ bearer: [] }],
    openapi: '3.0.3',
    info: { title: 'Crucible control plane', version: SERVICE_VERSION, description: 'Seed 003\'s control plane: unified models, deployments and their API keys.' },
  });
  cp.get('/docs', (c) => c.html(SWAGGER_HTML));
  cp.get('/docs/:file{[a-z0-9.-]+}', (c) => {
    const file = c.req.param('file');
    const type = SWAGGER_FILES[file];
    if (!type) return c.json({ error: 'NotFound', message: `no file ${file}` }, 404);
    return c.body(readFileSync(join(swaggerDir(), file)), 200, { 'content-type': type, 'cache-control': 'max-age=3600' });
  });
  app.route('/', cp);
}

/** Every path of a deployment's data plane, under both of its prefixes (documented, not validated here: see protocol/chat.ts and predict.ts). */
export const DATA_PLANE_ROUTES: [method: 'get' | 'post', path: string, summary: string][] = [
  ['get', '/health', 'Liveness of the deployment (no key needed)'],
  ['get', '/ready', 'Readiness: 200 once its workers are loaded, else 503 (no key needed)'],
  ['get', '/v1/model', 'Metadata of the deployment\'s model'],
  ['get', '/v1/models', 'The deployment\'s model, OpenAI-style'],
  ['post', '/v1/chat/completions', 'OpenAI chat completions on the deployment\'s model (stream or not)'],
  ['post', '/v1/completions', 'OpenAI legacy completions on the deployment\'s model'],
  ['post', '/v1/predict', 'Predictive inference on the deployment\'s model (seed 001 items)'],
];

function documentDataPlane(cp: OpenAPIHono): void {
  const name = z.string().openapi({ param: { name: 'name', in: 'path' } });
  const ns = z.string().openapi({ param: { name: 'ns', in: 'path' } });
  const anyJson = z.record(z.string(), z.unknown());
  for (const [prefix, params] of [['/deployments/{name}', z.object({ name })], ['/namespaces/{ns}/deployments/{name}', z.object({ ns, name })]] as const) {
    for (const [method, path, summary] of DATA_PLANE_ROUTES) {
      cp.openAPIRegistry.registerPath({
        method, path: `${prefix}${path}`, tags: ['deployment data plane'], summary,
        description: 'Takes only the deployment\'s own keys when its authentication is enabled (Authorization: Bearer, api-key or X-API-KEY).',
        request: { params, ...(method === 'post' ? { body: { content: { 'application/json': { schema: anyJson } }, required: true } } : {}) },
        responses: {
          200: { description: 'the answer', content: { 'application/json': { schema: anyJson } } },
          401: { description: 'a key other than the deployment\'s' },
          404: { description: 'no such deployment' },
          503: { description: 'not ready, or its queue is full' },
        },
      });
    }
  }
}

const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

let dir: string | null = null;
const swaggerDir = () => (dir ??= dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json')));

const SWAGGER_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crucible control plane</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });</script>
</body></html>`;
