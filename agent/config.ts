import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CORS_ORIGINS } from '../transports/http/middleware.js';

/**
 * Every knob of the agent, once: its flag, environment variable, default and meaning. The README's
 * configuration table is this list.
 */
export const OPTIONS = {
  home: { flag: 'home', env: 'CRUCIBLE_HOME', type: 'string', default: join(homedir(), '.crucible'), help: 'Data folder: model cache, service.json, socket, logs' },
  host: { flag: 'host', env: 'CRUCIBLE_HOST', type: 'string', default: '127.0.0.1', help: 'Address the HTTP server binds to' },
  port: { flag: 'port', env: 'CRUCIBLE_PORT', type: 'int', default: 0, help: 'HTTP port; 0 picks a free one' },
  ep: { flag: 'ep', env: 'CRUCIBLE_EP', type: 'string', default: 'cpu', help: 'Default execution provider for loads that name none' },
  threads: { flag: 'threads', env: 'CRUCIBLE_THREADS', type: 'int', default: 0, help: 'Intra-op threads per session; 0 chooses by model size and cores' },
  replicas: { flag: 'replicas', env: 'CRUCIBLE_REPLICAS', type: 'int', default: 1, help: 'Worker threads (sessions) per loaded model' },
  maxBatch: { flag: 'max-batch', env: 'CRUCIBLE_MAX_BATCH', type: 'int', default: 8, help: 'Most sequences one worker decodes in one step' },
  prefillChunk: { flag: 'prefill-chunk', env: 'CRUCIBLE_PREFILL_CHUNK', type: 'int', default: 128, help: 'Prompt tokens prefilled per step between decode steps' },
  prefixCacheMb: { flag: 'prefix-cache-mb', env: 'CRUCIBLE_PREFIX_CACHE_MB', type: 'int', default: 64, help: 'MiB of finished sequences\' KV caches each model worker keeps to reuse shared prompt prefixes (0: off)' },
  fuse: { flag: 'fuse', env: 'CRUCIBLE_FUSE', type: 'string', default: '1', help: 'Fuse plain exports into ONNX Runtime kernels at first load, cached in <cache>/.fused (0 to load exports as they are)' },
  catalogUrl: { flag: 'catalog-url', env: 'CRUCIBLE_CATALOG_URL', type: 'string', default: '', help: 'Remote catalog (JSON array) merged over the built-in one, cached for 6 hours' },
  maxLoadedModels: { flag: 'max-loaded-models', env: 'CRUCIBLE_MAX_LOADED_MODELS', type: 'int', default: 3, help: 'Loaded models kept at once; the least recently used idle one is evicted' },
  ttl: { flag: 'ttl', env: 'CRUCIBLE_TTL', type: 'int', default: 600, help: 'Seconds a loaded model may stay idle before it unloads' },
  apiKeysFile: { flag: 'api-keys-file', env: 'CRUCIBLE_API_KEYS_FILE', type: 'string', default: '', help: 'JSON file of a primary and a secondary API key (created with fresh keys if missing); enables authentication' },
  apiKeys: { flag: 'api-keys', env: 'CRUCIBLE_API_KEYS', type: 'string', default: '', help: 'Comma-separated API keys; enables authentication' },
  oidcIssuer: { flag: 'oidc-issuer', env: 'CRUCIBLE_OIDC_ISSUER', type: 'string', default: '', help: "OpenID Connect issuer URL whose signed tokens (JWT) are accepted as Bearer credentials; its key set is found by discovery; enables authentication" },
  oidcAudience: { flag: 'oidc-audience', env: 'CRUCIBLE_OIDC_AUDIENCE', type: 'string', default: '', help: 'Comma-separated audiences a token must name (aud); required with --oidc-issuer' },
  oidcJwksFile: { flag: 'oidc-jwks-file', env: 'CRUCIBLE_OIDC_JWKS_FILE', type: 'string', default: '', help: "The issuer's key set (JWKS) as a file, instead of discovery over the network" },
  oidcRoleMap: { flag: 'oidc-role-map', env: 'CRUCIBLE_OIDC_ROLE_MAP', type: 'string', default: '', help: "Token role / scope values mapped to built-in roles: 'Value=role,...' (values equal to reader, invoker, contributor or admin need no entry)" },
  oidcClockTolerance: { flag: 'oidc-clock-tolerance', env: 'CRUCIBLE_OIDC_CLOCK_TOLERANCE', type: 'int', default: 60, help: 'Seconds of clock skew accepted on token exp / nbf' },
  oidcJwksCooldown: { flag: 'oidc-jwks-cooldown', env: 'CRUCIBLE_OIDC_JWKS_COOLDOWN', type: 'int', default: 30, help: "Seconds before a token with an unknown key id may refetch the issuer's key set" },
  roleAssignmentsFile: { flag: 'role-assignments-file', env: 'CRUCIBLE_ROLE_ASSIGNMENTS_FILE', type: 'string', default: '', help: 'JSON file {"<oid, sub or group>": ["reader", ...]}: roles for token subjects (the offline stand-in for Azure role assignments)' },
  authFailureLimit: { flag: 'auth-failure-limit', env: 'CRUCIBLE_AUTH_FAILURE_LIMIT', type: 'int', default: 60, help: 'Failed authentications (401) per client address per minute before 429 with Retry-After (0: no limit)' },
  corsOrigins: { flag: 'cors-origins', env: 'CRUCIBLE_CORS_ORIGINS', type: 'string', default: DEFAULT_CORS_ORIGINS.join(','), help: "Comma-separated origins browser pages may call from ('http://host:*' for any port, '*' for every origin, 'none' for no browser access); others get no CORS headers, and 403 for preflights and state changes" },
  allowedHosts: { flag: 'allowed-hosts', env: 'CRUCIBLE_ALLOWED_HOSTS', type: 'string', default: '', help: "Comma-separated Host names accepted besides loopback names and the bound --host ('.example.com' for a domain, '*' for any); others get 403 (DNS rebinding)" },
  maxQueue: { flag: 'max-queue', env: 'CRUCIBLE_MAX_QUEUE', type: 'int', default: 32, help: 'Requests that may wait for a busy model before new ones get 503' },
  requestTimeout: { flag: 'request-timeout', env: 'CRUCIBLE_REQUEST_TIMEOUT', type: 'int', default: 600, help: 'Seconds a request may run before it is stopped with 504' },
  maxBodyBytes: { flag: 'max-body-bytes', env: 'CRUCIBLE_MAX_BODY_BYTES', type: 'int', default: 4 * 1024 * 1024, help: 'Largest HTTP request body; larger ones get 413' },
  predictModel: { flag: 'predict-model', env: 'CRUCIBLE_PREDICT_MODEL', type: 'string', default: 'pp-ocrv4', help: 'Predictive model POST /v1/predict uses when the body names none' },
  maxImagePixels: { flag: 'max-image-pixels', env: 'CRUCIBLE_MAX_IMAGE_PIXELS', type: 'int', default: 25_000_000, help: 'Largest image (width x height) /v1/predict decodes' },
  maxImageBytes: { flag: 'max-image-bytes', env: 'CRUCIBLE_MAX_IMAGE_BYTES', type: 'int', default: 16 * 1024 * 1024, help: 'Largest encoded image per /v1/predict item' },
  maxAudioBytes: { flag: 'max-audio-bytes', env: 'CRUCIBLE_MAX_AUDIO_BYTES', type: 'int', default: 25 * 1024 * 1024, help: 'Largest audio file /v1/audio/transcriptions and /v1/audio/translations take; larger ones get 413' },
  responsesMaxAge: { flag: 'responses-max-age', env: 'CRUCIBLE_RESPONSES_MAX_AGE', type: 'int', default: 30 * 24 * 3600, help: 'Seconds a stored response (/v1/responses) is kept' },
  responsesMaxBytes: { flag: 'responses-max-bytes', env: 'CRUCIBLE_RESPONSES_MAX_BYTES', type: 'int', default: 256 * 1024 * 1024, help: 'Total size of stored responses; past it the oldest are removed' },
  logLevel: { flag: 'log-level', env: 'CRUCIBLE_LOG_LEVEL', type: 'string', default: 'info', help: 'debug, info, warn or error' },
  logPrompts: { flag: 'log-prompts', env: 'CRUCIBLE_LOG_PROMPTS', type: 'string', default: '', help: 'Set to 1 to include prompt and completion text in debug logs' },
  ui: { flag: 'ui', env: 'CRUCIBLE_UI', type: 'string', default: '1', help: 'Serve the web console at / on the HTTP port (0, or --no-ui, turns it off)' },
  http: { flag: 'http', env: 'CRUCIBLE_HTTP', type: 'string', default: '1', help: 'Set to 0 to serve the pipe alone, with no TCP port (a private agent)' },
  exitOnStdinClose: { flag: 'exit-on-stdin-close', env: 'CRUCIBLE_EXIT_ON_STDIN_CLOSE', type: 'string', default: '', help: 'Set to 1 to stop when standard input closes: a child agent that ends with its parent' },
  modelsDir: { flag: 'models-dir', env: 'CRUCIBLE_MODELS_DIR', type: 'string', default: '', help: 'Model cache folder; empty: <home>/cache/models' },
  allowPrivateRegistries: { flag: 'allow-private-registries', env: 'CRUCIBLE_ALLOW_PRIVATE_REGISTRIES', type: 'flag', default: '', help: 'Let custom models name private, internal and bare-IP registries and URLs (refused by default: SSRF)' },
  kubeconfig: { flag: 'kubeconfig', env: 'CRUCIBLE_KUBECONFIG', type: 'string', default: '', help: "Run the deployments API on Kubernetes with this kubeconfig ('in-cluster' inside a pod); empty: deployments run locally" },
  image: { flag: 'image', env: 'CRUCIBLE_IMAGE', type: 'string', default: 'crucible:latest', help: 'Container image the kubernetes backend runs deployments with' },
  openReady: { flag: 'open-ready', env: 'CRUCIBLE_OPEN_READY', type: 'flag', default: '', help: 'GET /ready answers without an API key (Kubernetes readiness probes send none)' },
  pipe: { flag: 'pipe', env: 'CRUCIBLE_PIPE', type: 'string', default: '', help: 'Pipe path; empty: <home>/crucible.sock (\\\\.\\pipe\\crucible-<user> on Windows)' },
} as const;

type Spec = typeof OPTIONS;
export type Config = { [K in keyof Spec]: Spec[K]['type'] extends 'int' ? number : string };

export function usage(): string {
  return Object.values(OPTIONS)
    .map((o) => `  --${o.flag.padEnd(16)} ${o.help} (env ${o.env}, default ${JSON.stringify(o.default)})`)
    .join('\n');
}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const { values } = parseArgs({
    args: argv.map((a) => (a === '--no-ui' ? '--ui=0' : a)),
    options: Object.fromEntries(Object.values(OPTIONS).map((o) => [o.flag, { type: o.type === 'flag' ? 'boolean' as const : 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  const out: Record<string, string | number> = {};
  for (const [key, o] of Object.entries(OPTIONS)) {
    const given = (values as Record<string, string | boolean | undefined>)[o.flag];
    const raw = given === true ? '1' : given === false ? undefined : given ?? env[o.env];
    if (raw === undefined || raw === '') { out[key] = o.default; continue; }
    if (o.type === 'int') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${o.flag} must be a non-negative integer, got '${raw}'`);
      out[key] = n;
    } else {
      out[key] = raw;
    }
  }
  const config = out as Config;
  if (config.replicas < 1) throw new Error('--replicas must be at least 1');
  if (config.maxBatch < 1) throw new Error('--max-batch must be at least 1');
  if (config.prefillChunk < 1) throw new Error('--prefill-chunk must be at least 1');
  if (config.prefixCacheMb < 0) throw new Error('--prefix-cache-mb must be 0 or more');
  if (config.maxLoadedModels < 1) throw new Error('--max-loaded-models must be at least 1');
  if (config.ttl < 1) throw new Error('--ttl must be at least 1');
  if (config.requestTimeout < 1) throw new Error('--request-timeout must be at least 1');
  if (!['0', '1'].includes(config.ui)) throw new Error(`--ui must be 0 or 1, got '${config.ui}'`);
  if (!['debug', 'info', 'warn', 'error'].includes(config.logLevel)) throw new Error(`--log-level must be debug, info, warn or error, got '${config.logLevel}'`);
  return { ...config, modelsDir: config.modelsDir || join(config.home, 'cache', 'models') };
}

/** A comma-separated list flag as its entries; `none` is the empty list. */
export function listOf(value: string): string[] {
  const items = value.split(',').map((v) => v.trim()).filter(Boolean);
  return items.length === 1 && items[0].toLowerCase() === 'none' ? [] : items;
}

/** Small models run fastest on one thread; larger ones use the cores the replicas leave free. */
export function threadsFor(modelBytes: number, config: Pick<Config, 'threads' | 'replicas'>): number {
  if (config.threads > 0) return config.threads;
  const share = Math.max(1, Math.floor(availableParallelism() / config.replicas));
  return modelBytes < 16 * 1024 * 1024 ? 1 : Math.min(share, 4);
}
