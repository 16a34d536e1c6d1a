/**
 * Seed 003's control plane (`/api/v1`): the unified models API, deployments and their keys. These
 * zod schemas are the one source of the shapes: the HTTP routes validate with them and
 * `/openapi.json` is generated from them.
 */
import { z } from '@hono/zod-openapi';

/** A Kubernetes resource name (DNS-1123 label): what deployments and custom models are called. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const resourceName = z.string().min(1).max(63).regex(DNS_LABEL, 'must be a DNS label: lower-case letters, digits and -, starting and ending with a letter or digit');

// ---------- Errors ----------

export const ControlErrorSchema = z.object({
  error: z.enum(['ValidationError', 'NotFound', 'Conflict', 'AuthenticationDisabled', 'InternalError', 'Unauthorized', 'Forbidden']),
  message: z.string(),
  details: z.object({ errors: z.array(z.object({ field: z.string(), message: z.string() })).optional() }).passthrough().optional(),
}).openapi('ControlError');
export type ControlErrorBody = z.infer<typeof ControlErrorSchema>;

// ---------- Health ----------

export const HealthzSchema = z.object({ status: z.literal('healthy') }).openapi('Healthz');
export const ReadyzSchema = z.object({
  status: z.enum(['ready', 'not ready']),
  kubernetes: z.enum(['connected', 'disconnected', 'not configured']),
  backend: z.enum(['local', 'kubernetes']),
  error: z.string().optional(),
}).openapi('Readyz');
export type Readyz = z.infer<typeof ReadyzSchema>;

// ---------- Models ----------

export const COMPUTE = ['cpu', 'gpu', 'npu'] as const;
export const MODEL_SOURCES = ['foundry-local', 'foundry', 'custom'] as const;

export const ModelListQuerySchema = z.object({
  name: z.string().max(256).optional().openapi({ description: 'Partial, case-insensitive match on id, alias or displayName' }),
  compute: z.enum(COMPUTE).optional(),
  task: z.string().max(128).optional().openapi({ description: 'Exact, case-insensitive match' }),
  publisher: z.string().max(256).optional().openapi({ description: 'Partial, case-insensitive match' }),
  source: z.enum(MODEL_SOURCES).optional(),
  limit: z.coerce.number().int().optional().openapi({ description: 'Results per page, clamped to 1-100 (default 100)' }),
  offset: z.coerce.number().int().min(0).optional(),
});
export type ModelListQuery = z.infer<typeof ModelListQuerySchema>;

export const ModelSummarySchema = z.object({
  name: z.string().openapi({ description: 'Catalog id, or the custom model\'s resource name' }),
  displayName: z.string().nullable(),
  alias: z.string().nullable(),
  publisher: z.string().nullable(),
  description: z.string().nullable(),
  license: z.string().nullable(),
  task: z.string().nullable(),
  source: z.enum(['foundry-local', 'foundry', 'huggingface', 'custom']).nullable(),
  framework: z.string().nullable(),
  modelVersion: z.string().nullable(),
  supportedCompute: z.array(z.enum(COMPUTE)).nullable(),
  cached: z.boolean().openapi({ description: 'Whether it can serve here now (in the model cache, or a reachable custom model)' }),
}).openapi('CatalogModelSummary');
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const ModelListSchema = z.object({
  models: z.array(ModelSummarySchema),
  total: z.number().int(),
  count: z.number().int(),
  hasMore: z.boolean(),
  limit: z.number().int().nullable(),
  offset: z.number().int().nullable(),
  unfilteredTotal: z.number().int(),
  version: z.string().nullable(),
  lastSync: z.string().nullable(),
}).openapi('ModelList');
export type ModelList = z.infer<typeof ModelListSchema>;

export const SecretRefSchema = z.object({
  name: z.string().min(1).max(253),
  usernameKey: z.string().max(253).optional(),
  passwordKey: z.string().max(253).optional(),
});

/** The seed's registry reference: an OCI image holding the model. */
export const RegistryRefSchema = z.object({
  registry: z.string().min(1).max(253),
  repository: z.string().min(1).max(255),
  tag: z.string().max(128).optional(),
  credentials: z.object({ secretRef: SecretRefSchema }).optional(),
});

/**
 * Where a custom model lives: exactly one of a folder on this machine (`path`), an
 * OpenAI-compatible server (`url`, answering for `modelName` or the model's name), or the seed's
 * registry reference (`registry`, `repository`, `tag`, `credentials`).
 */
export const CustomSourceSchema = z.object({
  path: z.string().min(1).max(4096).optional(),
  url: z.string().min(1).max(2048).optional(),
  modelName: z.string().min(1).max(256).optional(),
  registry: z.string().min(1).max(253).optional(),
  repository: z.string().min(1).max(255).optional(),
  tag: z.string().max(128).optional(),
  credentials: z.object({ secretRef: SecretRefSchema }).optional(),
}).superRefine((v, ctx) => {
  const kinds = [v.path !== undefined, v.url !== undefined, v.registry !== undefined].filter(Boolean).length;
  if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of path, url or registry' });
  if (v.registry !== undefined && v.repository === undefined) ctx.addIssue({ code: 'custom', path: ['repository'], message: 'repository is required with registry' });
});

export const CustomModelSchema = z.object({
  name: resourceName,
  displayName: z.string().max(256).optional(),
  description: z.string().max(4096).optional(),
  publisher: z.string().max(256).optional(),
  license: z.string().max(256).optional(),
  source: z.object({ type: z.literal('custom'), custom: CustomSourceSchema }),
  capabilities: z.object({
    task: z.string().max(128).optional(),
    contextLength: z.number().int().min(1).max(10_000_000).optional(),
    streaming: z.boolean().optional(),
  }).optional(),
}).openapi('CustomModelRequest');
export type CustomModelRequest = z.infer<typeof CustomModelSchema>;

export const ModelDetailSchema = ModelSummarySchema.extend({
  spec: z.record(z.string(), z.unknown()).openapi({ description: 'The catalog entry, or the custom model as registered' }),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
}).openapi('ModelDetail');
export type ModelDetail = z.infer<typeof ModelDetailSchema>;

export const SyncResponseSchema = z.object({
  status: z.literal('triggered'),
  message: z.string(),
  syncedAt: z.string(),
}).openapi('SyncResponse');

export const DeletedSchema = z.object({ status: z.literal('deleted'), name: z.string(), namespace: z.string().optional() }).openapi('Deleted');

// ---------- Deployments ----------

export const ModelRefSchema = z.object({
  ref: z.string().min(1).max(253).optional(),
  catalog: z.object({ name: z.string().min(1).max(256), version: z.string().max(64).optional() }).optional(),
  custom: RegistryRefSchema.optional(),
}).superRefine((v, ctx) => {
  const kinds = [v.ref, v.catalog, v.custom].filter((x) => x !== undefined).length;
  if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of ref, catalog or custom' });
}).openapi('ModelRef');

export const EnvVarSchema = z.object({ name: z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be an environment variable name'), value: z.string().max(32768) });
const quantity = z.string().max(64).regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/, 'must be a Kubernetes quantity such as 500m, 2 or 4Gi');
export const ResourcesSchema = z.object({
  requests: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).optional(),
  limits: z.object({ cpu: quantity.optional(), memory: quantity.optional(), gpu: z.number().int().min(1).max(8).optional() }).optional(),
}).openapi('Resources');
export const TolerationSchema = z.object({
  key: z.string().max(316).optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().max(63).optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});
export const EndpointSchema = z.object({
  host: z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a host name').optional(),
  path: z.string().max(256).regex(/^\//, 'must start with /').optional(),
  tls: z.object({ enabled: z.boolean().optional(), secretName: z.string().max(253).optional() }).optional(),
}).openapi('EndpointConfig');

const specFields = {
  model: ModelRefSchema,
  compute: z.enum(['cpu', 'gpu']),
  workloadType: z.enum(['generative', 'predictive']).default('generative'),
  replicas: z.number().int().min(1).max(100).default(1),
  port: z.number().int().min(1024).max(65535).default(5000),
  displayName: z.string().max(256).optional(),
  env: z.array(EnvVarSchema).max(256).optional(),
  resources: ResourcesSchema.optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  tolerations: z.array(TolerationSchema).max(64).optional(),
  endpoint: EndpointSchema.optional(),
  authentication: z.object({ enabled: z.boolean().default(false) }).optional(),
  skipGpuResource: z.boolean().optional(),
  /** Crucible's own: requests that may wait for this deployment before new ones get 503. */
  maxQueue: z.number().int().min(0).max(10_000).optional(),
};

function gpuRule(spec: { compute?: string; skipGpuResource?: boolean; resources?: { limits?: { gpu?: number } } }, ctx: z.RefinementCtx, prefix: string[]): void {
  if (spec.compute === 'gpu' && !spec.skipGpuResource && spec.resources?.limits?.gpu === undefined) {
    ctx.addIssue({ code: 'custom', path: [...prefix, 'resources', 'limits', 'gpu'], message: 'required (1-8) when compute is gpu and skipGpuResource is not set' });
  }
}

export const DeploymentSpecSchema = z.object(specFields).superRefine((s, ctx) => gpuRule(s, ctx, [])).openapi('DeploymentSpec');
export type DeploymentSpec = z.infer<typeof DeploymentSpecSchema>;

export const DeploymentRequestSchema = z.object({
  name: resourceName,
  spec: z.object(specFields),
}).superRefine((b, ctx) => gpuRule(b.spec, ctx, ['spec'])).openapi('DeploymentRequest');
export type DeploymentRequest = z.infer<typeof DeploymentRequestSchema>;

/** Only these are patchable: authentication and the model are not. */
export const DeploymentPatchSchema = z.object({
  replicas: z.number().int().min(1).max(100).optional(),
  env: z.array(EnvVarSchema).max(256).optional(),
  resources: ResourcesSchema.optional(),
  endpoint: EndpointSchema.optional(),
}).strict().openapi('DeploymentPatch');
export type DeploymentPatch = z.infer<typeof DeploymentPatchSchema>;

export const DEPLOYMENT_STATES = ['Pending', 'Creating', 'Running', 'Updating', 'Error', 'Terminating'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export const ConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const DeploymentStatusSchema = z.object({
  state: z.enum(DEPLOYMENT_STATES).nullable(),
  message: z.string().nullable(),
  replicas: z.number().int().nullable(),
  readyReplicas: z.number().int().nullable(),
  deploymentReady: z.boolean().nullable(),
  serviceReady: z.boolean().nullable(),
  internalEndpoint: z.string().nullable(),
  externalEndpoint: z.string().nullable(),
  resolvedModel: z.object({ name: z.string(), variant: z.string().nullable(), image: z.string().nullable() }).nullable(),
  authentication: z.object({
    enabled: z.boolean(),
    keysSecretName: z.string().nullable(),
    primaryKeyCreatedAt: z.string().nullable(),
    secondaryKeyCreatedAt: z.string().nullable(),
  }).nullable(),
  conditions: z.array(ConditionSchema),
}).openapi('DeploymentStatus');
export type DeploymentStatus = z.infer<typeof DeploymentStatusSchema>;

export const DeploymentSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  spec: DeploymentSpecSchema,
  status: DeploymentStatusSchema,
  metadata: z.object({ uid: z.string(), generation: z.number().int(), createdAt: z.string(), updatedAt: z.string() }),
}).openapi('Deployment');
export type Deployment = z.infer<typeof DeploymentSchema>;

export const DeploymentListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional(),
  continue: z.string().max(1024).optional().openapi({ description: 'The continueToken of the previous page' }),
});
export type DeploymentListQuery = z.infer<typeof DeploymentListQuerySchema>;

export const DeploymentListSchema = z.object({
  items: z.array(DeploymentSchema),
  count: z.number().int(),
  continueToken: z.string().nullable(),
}).openapi('DeploymentList');
export type DeploymentList = z.infer<typeof DeploymentListSchema>;

export const ApiKeySchema = z.object({ value: z.string(), createdAt: z.string() });
export const DeploymentKeysSchema = z.object({
  deploymentName: z.string(),
  namespace: z.string(),
  primaryKey: ApiKeySchema,
  secondaryKey: ApiKeySchema,
}).openapi('DeploymentKeys');
export type DeploymentKeys = z.infer<typeof DeploymentKeysSchema>;

export const RotatedKeySchema = z.object({
  deploymentName: z.string(),
  namespace: z.string(),
  keyType: z.enum(['primary', 'secondary']),
  key: ApiKeySchema,
}).openapi('RotatedKey');
export type RotatedKey = z.infer<typeof RotatedKeySchema>;

export const NamespaceParam = z.object({ ns: resourceName.openapi({ param: { name: 'ns', in: 'path' } }) });
export const NamedParam = NamespaceParam.extend({ name: resourceName.openapi({ param: { name: 'name', in: 'path' } }) });
export const KeyTypeParam = NamedParam.extend({ keyType: z.enum(['primary', 'secondary']).openapi({ param: { name: 'keyType', in: 'path' } }) });
export const ModelNameParam = z.object({ name: z.string().min(1).max(256).openapi({ param: { name: 'name', in: 'path' } }) });

/** What a deployment's data plane needs to serve a request: the registry's name for its model. */
export interface DeploymentTarget {
  model: string;
}

/** A deployment as its data plane's gate sees it (see ControlPlaneApi.deploymentAccess). */
export interface DeploymentAccess {
  /** Whether the deployment has keys of its own (`spec.authentication.enabled`). */
  authentication: boolean;
  /** Which of its keys the presented value is, if any. */
  matchedKey: 'primary' | 'secondary' | null;
  /** Names of the model it serves (the spec's catalog name or ref, the resolved name), for key globs. */
  models: string[];
}

/**
 * The control plane's operations, implemented by the agent's ControlPlane; the HTTP routes
 * translate requests into calls on it and never touch models or workers.
 */
export interface ControlPlaneApi {
  readyz(): Promise<Readyz>;
  listModels(q: ModelListQuery): Promise<ModelList>;
  getCatalogModel(source: 'foundry-local' | 'foundry', name: string): Promise<ModelDetail>;
  getCustomModel(name: string): Promise<ModelDetail>;
  createCustomModel(body: CustomModelRequest): Promise<ModelDetail>;
  replaceCustomModel(name: string, body: CustomModelRequest): Promise<ModelDetail>;
  deleteCustomModel(name: string): Promise<{ status: 'deleted'; name: string }>;
  syncModels(): Promise<{ status: 'triggered'; message: string; syncedAt: string }>;
  listDeployments(ns: string | null, q: DeploymentListQuery): Promise<DeploymentList>;
  getDeployment(ns: string, name: string): Promise<Deployment>;
  createDeployment(ns: string, body: DeploymentRequest): Promise<Deployment>;
  replaceDeployment(ns: string, name: string, body: DeploymentRequest): Promise<Deployment>;
  patchDeployment(ns: string, name: string, patch: DeploymentPatch): Promise<Deployment>;
  deleteDeployment(ns: string, name: string): Promise<{ status: 'deleted'; name: string; namespace: string }>;
  getKeys(ns: string, name: string): Promise<DeploymentKeys>;
  rotateKey(ns: string, name: string, keyType: 'primary' | 'secondary'): Promise<RotatedKey>;
  /**
   * What the identity layer needs to admit a request to a deployment's data plane: whether it has
   * keys of its own, which of them the presented value is (compared in constant time; the keys
   * never leave the backend), and the names of the model it serves. NotFound for no such
   * deployment on this agent.
   */
  deploymentAccess(ns: string, name: string, key: string | undefined): Promise<DeploymentAccess>;
  /** The model a deployment's data plane serves (the identity layer has already admitted the caller). */
  deploymentTarget(ns: string, name: string): Promise<DeploymentTarget>;
}

/** The seed's control-plane error name for an error code, with the status it is sent with. */
export function controlErrorOf(code: string, status: number): { error: ControlErrorBody['error']; status: number } {
  if (code === 'authentication_disabled') return { error: 'AuthenticationDisabled', status: 400 };
  if (code === 'conflict' || code === 'model_in_use') return { error: 'Conflict', status: 409 };
  if (status === 404) return { error: 'NotFound', status: 404 };
  if (status === 401) return { error: 'Unauthorized', status: 401 };
  if (status === 403) return { error: 'Forbidden', status: 403 };
  if (status >= 400 && status < 500) return { error: 'ValidationError', status: status === 413 || status === 415 ? status : 400 };
  return { error: 'InternalError', status: 500 };
}
