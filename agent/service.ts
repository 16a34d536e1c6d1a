import { randomUUID } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION, SERVICE_VERSION } from '../protocol/version.js';
import { CrucibleError, ERROR_CODES } from '../protocol/errors.js';
import { createHttpApp } from '../transports/http/app.js';
import { startPipeServer } from '../transports/pipe/server.js';
import { Agent } from './agent.js';
import { CacheOps } from './cache-ops.js';
import { builtinCatalog } from './catalog/builtin.js';
import { Catalog } from './catalog/catalog.js';
import { type Config, listOf, threadsFor } from './config.js';
import type { ModelEntry } from './discovery.js';
import { DeviceProbe } from './devices.js';
import type { ControlPlane } from './deployments/control-plane.js';
import type { ControlPlaneApi } from '../protocol/control-plane.js';
import { createControlPlane, truthy } from './deployments/index.js';
import { Downloader } from './downloads/downloader.js';
import { ProxyRunner } from './external/proxy-runner.js';
import { ExternalRegistrations } from './external/registrations.js';
import { ResponseStore } from './responses/store.js';
import { BUNDLED_MODELS, defaultPipeName, lockHome, prepareHome, removeServiceFile, responsesDbPath, writeServiceFile } from './home.js';
import { KeyStore, readOrCreateKeys } from './keys.js';
import { AuditLog, isManagement } from './identity/audit.js';
import { PIPE_MANAGEMENT } from './identity/actions.js';
import { AccessKeys } from './identity/access-keys.js';
import { Identity } from './identity/identity.js';
import type { OidcVerifier } from './identity/oidc.js';
import { type Logger, createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { PiscinaRunner, type Runner } from './model-runner.js';
import { PiscinaPredictRunner } from './predict-runner.js';
import { PiscinaEmbeddingRunner } from './embedding-runner.js';
import { PiscinaSpeechRunner } from './speech-runner.js';
import { Registry } from './registry.js';

export interface RunningService {
  agent: Agent;
  /** Seed 003's control plane (models and deployments). */
  control: ControlPlane;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  url: string;
  port: number;
  pipeName: string;
  close(): Promise<void>;
}

/** A listener (the HTTP server or the pipe server) that can be closed on its own. */
export interface Listener {
  close(): Promise<void>;
}

/**
 * The agent without listeners: registry, workers, catalog and the Hono app, in this process. The
 * standalone service adds the pipe and HTTP listeners; embedded mode (the SDK's
 * `CrucibleManager.create`) adds them only when asked. It holds the home's lock until closed.
 */
export interface AgentCore {
  agent: Agent;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  config: Config;
  /** What `status` and service.json report; set by whoever opens listeners. */
  endpoints: string[];
  pipeName: string;
  /** `GET /ready` answers ready while true. */
  ready: boolean;
  /** Seed 003's control plane (models and deployments). */
  control: ControlPlane;
  /** Starts the deployments' control loop once the agent is reachable at `baseUrl`. */
  startControlPlane(baseUrl: string): void;
  /** Serves the HTTP app on host:port (0 picks a free port); resolves with its URL. Closed by close() if still open. */
  listenHttp(host: string, port: number): Promise<Listener & { url: string; port: number }>;
  /** Serves the pipe protocol on a socket (or Windows named pipe). Closed by close() if still open. */
  listenPipe(name: string): Promise<Listener>;
  /** Writes service.json with the current endpoints and pipe, so that other processes find the agent. */
  publish(): void;
  /**
   * Removes service.json (when it is ours), ends requests in flight, closes the listeners, stops
   * the workers and releases the home. Idempotent.
   */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
/** Routes polled or fetched by pages and scrapers, logged at debug level. */
const QUIET_ROUTES = new Set(['/health', '/metrics', '/metrics/live', '/', '/console/:file']);

/**
 * Host names the HTTP server answers to besides loopback ones: the bound --host, or, bound to every
 * interface, this machine's name and addresses; and --allowed-hosts.
 */
function acceptedHosts(config: Config): string[] {
  const wildcard = ['0.0.0.0', '::', ''].includes(config.host);
  const own = wildcard
    ? [hostname(), ...Object.values(networkInterfaces()).flat().map((i) => i?.address ?? '').filter(Boolean)]
    : [config.host];
  return [...own, ...listOf(config.allowedHosts)];
}

/** A model's batch, replicas and threads: its manifest's settings, else the agent's flags. */
function settingsFor(entry: ModelEntry, config: Config) {
  const replicas = entry.settings.replicas ?? config.replicas;
  return {
    maxBatch: entry.settings.maxBatch ?? config.maxBatch,
    replicas,
    threads: entry.settings.threads ?? threadsFor(entry.bytes, { threads: config.threads, replicas }),
  };
}

/** The OpenID Connect verifier the flags ask for, or none. */
async function oidcOf(config: Config, onAssignmentsReload: () => void): Promise<OidcVerifier | undefined> {
  if (!config.oidcIssuer) return undefined;
  const { OidcVerifier, parseRoleMap } = await import('./identity/oidc.js');
  const audiences = listOf(config.oidcAudience);
  if (audiences.length === 0) throw new Error('--oidc-issuer needs --oidc-audience: a token for another service must not pass here');
  return new OidcVerifier({
    issuer: config.oidcIssuer,
    audiences,
    jwksFile: config.oidcJwksFile || undefined,
    clockToleranceSec: config.oidcClockTolerance,
    jwksCooldownSec: config.oidcJwksCooldown,
    roleMap: parseRoleMap(config.oidcRoleMap),
    assignmentsFile: config.roleAssignmentsFile || undefined,
    onAssignmentsReload,
  });
}

/** Wires the registry, the agent, the catalog and the HTTP app together, with no listener yet. */
export async function createAgent(config: Config, opts: { logToStderr?: boolean } = {}): Promise<AgentCore> {
  const staticKeys = config.apiKeys.split(',').map((k) => k.trim()).filter(Boolean);
  if (config.apiKeysFile) readOrCreateKeys(config.apiKeysFile);
  const keys = new KeyStore(config.apiKeysFile || null, staticKeys);
  const accessKeys = new AccessKeys(join(config.home, 'access-keys.json'));
  // Deployments' data planes ask the control plane (created below) about their own keys.
  let control: ControlPlaneApi | undefined;
  const identity = new Identity({
    keys, oidc: await oidcOf(config, () => reloaded('role-assignments', config.roleAssignmentsFile)), accessKeys, failureLimit: config.authFailureLimit,
    deployments: {
      access: (ns, name, key) => (control ? control.deploymentAccess(ns, name, key) : Promise.reject(new CrucibleError('not_found', 'no control plane'))),
    },
  });
  // No audit file in the single-user default (nothing configured): only with authentication.
  const audit = identity.enabled ? new AuditLog(join(config.home, 'audit.log')) : undefined;
  /** A configuration file the running agent picked up again: one audit record (no request, no secret). */
  function reloaded(what: string, file: string): void {
    audit?.write({ requestId: randomUUID(), actor: { kind: 'local', id: what }, action: 'keys/write', resource: `reload ${file}`, outcome: 'allowed', status: 200 });
  }
  keys.onReload = () => reloaded('api-keys-file', config.apiKeysFile);
  if (!LOOPBACK.has(config.host) && !identity.enabled) {
    throw new Error(`refusing to listen on ${config.host} without API keys: set --api-keys-file, CRUCIBLE_API_KEYS or --oidc-issuer, or keep the default 127.0.0.1`);
  }
  prepareHome(config.home, config.modelsDir);
  const releaseHome = lockHome(config.home);
  const log = createLogger(config.home, config.logLevel, opts.logToStderr ?? true);
  const metrics = new Metrics();
  const externals = new ExternalRegistrations(join(config.home, 'external-models.json'));
  const devices = new DeviceProbe(join(BUNDLED_MODELS, 'stories260k', 'onnx', 'model.onnx'));
  const registry = new Registry({
    modelsDir: config.modelsDir,
    defaultEp: config.ep,
    defaultTtl: config.ttl,
    maxLoaded: config.maxLoadedModels,
    maxQueue: config.maxQueue,
    capacity: (entry) => {
      const { maxBatch, replicas } = settingsFor(entry, config);
      return entry.external ? 64 : entry.task !== 'chat' ? replicas : maxBatch * replicas;
    },
    externals: () => externals.list(),
    providers: () => devices.knownAutomatic(),
    runnable: () => devices.known(),
    whyNot: (ep) => devices.whyNot(ep),
    startRunner: async (entry, ep, variant) => {
      const t0 = performance.now();
      const { maxBatch, replicas, threads } = settingsFor(entry, config);
      let runner: Runner;
      try {
        runner = entry.external ? new ProxyRunner(entry.external)
          : entry.task === 'embeddings' ? await PiscinaEmbeddingRunner.start({ modelDir: entry.path, intraOpThreads: threads, pooling: entry.settings.pooling }, replicas)
          : entry.task === 'automatic-speech-recognition' ? await PiscinaSpeechRunner.start({ modelDir: entry.path, intraOpThreads: threads }, replicas)
          : entry.task !== 'chat'
          ? await PiscinaPredictRunner.start({ modelDir: entry.path, name: entry.id, intraOpThreads: threads, maxPixels: config.maxImagePixels }, replicas)
          : await PiscinaRunner.start({
            modelDir: entry.path,
            executionProvider: ep,
            intraOpThreads: threads,
            maxBatch,
            prefillChunk: config.prefillChunk,
            prefixCacheBytes: config.prefixCacheMb * 2 ** 20,
            replicas,
            variant: variant ?? entry.settings.variant,
            fusedDir: config.fuse === '0' || entry.settings.fuse === false ? null : join(config.modelsDir, '.fused', entry.folder.replace(/\//g, '-')),
          });
      } catch (err) {
        metrics.modelLoads.inc({ model: entry.id, outcome: 'failed' });
        log.error({ model: entry.id, error: (err as Error).message }, 'model failed to load');
        throw err;
      }
      metrics.modelLoads.inc({ model: entry.id, outcome: 'loaded' });
      log.info({ model: entry.id, ep: runner.facts.executionProvider, fused: Boolean(runner.facts.fused), durationMs: Math.round(performance.now() - t0) }, 'model loaded');
      return runner;
    },
  });
  metrics.sample = () => registry.info(false);
  const catalog = new Catalog({
    builtin: builtinCatalog(BUNDLED_MODELS),
    remoteUrl: config.catalogUrl || undefined,
    cacheFile: join(config.home, 'catalog-cache.json'),
    log: (msg) => log.warn(msg),
  });
  const downloader = new Downloader(config.modelsDir, (msg) => log.info(msg), (model, n) => metrics.downloadBytes.inc({ model }, n));
  const cache = new CacheOps(registry, catalog, downloader, externals, devices, config.modelsDir);
  const responses = new ResponseStore(responsesDbPath(config.home), { maxAgeMs: config.responsesMaxAge * 1000, maxBytes: config.responsesMaxBytes });
  const agent = new Agent(registry, devices, cache, {
    endpoints: () => core.endpoints,
    pipeName: () => core.pipeName,
    modelDirPath: config.modelsDir,
  }, { defaultPredictModel: config.predictModel, metrics, log, requestTimeoutMs: config.requestTimeout * 1000, logPrompts: config.logPrompts === '1', responses });
  let baseUrl = '';
  const plane = await createControlPlane(config, { registry, cache, devices, log, baseUrl: () => baseUrl });
  control = plane.control;
  const app = createHttpApp(agent, {
    control: plane.control,
    openReady: truthy(config.openReady),
    ready: () => core.ready,
    maxBodyBytes: config.maxBodyBytes,
    maxImageBytes: config.maxImageBytes,
    maxAudioBytes: config.maxAudioBytes,
    corsOrigins: listOf(config.corsOrigins),
    allowedHosts: acceptedHosts(config),
    // Always: with nothing configured every caller is the local user, but a deployment with keys
    // of its own still takes only them.
    identity,
    audit: audit ? (limit) => audit.read(limit) : undefined,
    accessKeys: identity.enabled ? accessKeys : undefined,
    onAllowed: (r) => {
      if (!audit || !isManagement(r.action)) return;
      audit.write({ requestId: r.requestId, actor: { kind: r.principal.kind, id: r.principal.id }, action: r.action ?? '*', resource: `${r.method} ${r.path}`, outcome: 'allowed', status: r.status });
    },
    onRefused: (r) => {
      metrics.authFailures.inc({ reason: r.reason });
      audit?.write({
        requestId: r.requestId, actor: r.principal ? { kind: r.principal.kind, id: r.principal.id } : { kind: 'anonymous', id: '' },
        action: r.action ?? '*', resource: `${r.method} ${r.path}`, outcome: 'refused', status: r.status, reason: r.reason,
      });
      log.info({ requestId: r.requestId, method: r.method, route: r.path, status: r.status, reason: r.reason }, 'request refused');
    },
    metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
    liveMetrics: () => metrics.liveSample(),
    ui: config.ui === '1',
    onRequest: (r) => {
      metrics.httpRequests.inc({ route: r.route, method: r.method, status: String(r.status) });
      const level = r.status >= 500 ? 'error' : QUIET_ROUTES.has(r.route) ? 'debug' : 'info';
      log[level]({ requestId: r.requestId, method: r.method, route: r.route, status: r.status, durationMs: r.durationMs }, 'http request');
    },
  });

  const open = new Set<Listener>();
  /** A listener the core closes on close(), unless its owner closed it first. */
  const track = <L extends Listener>(l: L): L => {
    const close = l.close.bind(l);
    let closed: Promise<void> | null = null;
    open.add(l);
    l.close = () => {
      open.delete(l);
      closed ??= close();
      return closed;
    };
    return l;
  };
  let closing: Promise<void> | null = null;
  const core: AgentCore = {
    agent, registry, metrics, log, config, endpoints: [], pipeName: '', ready: false, control: plane.control,
    startControlPlane(url) {
      baseUrl = url;
      plane.start();
    },
    async listenHttp(host, port) {
      const server = await new Promise<ServerType>((resolve, reject) => {
        const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s));
        s.once('error', reject);
      });
      const bound = (server.address() as AddressInfo).port;
      return track({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
        port: bound,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    },
    listenPipe: async (name) => track(await startPipeServer(name, agent, {
      onRequest: (r) => {
        metrics.pipeRequests.inc({ op: r.op, outcome: r.code ?? r.outcome });
        const action = PIPE_MANAGEMENT[r.op];
        if (audit && action) {
          audit.write({
            requestId: randomUUID(), actor: { kind: 'local', id: 'pipe' }, action, resource: `pipe ${r.op}`, outcome: 'allowed',
            status: r.code ? ERROR_CODES[r.code as keyof typeof ERROR_CODES]?.status ?? 500 : 200, ...(r.code ? { reason: r.code } : {}),
          });
        }
        log[r.code === 'internal_error' ? 'error' : 'debug']({ op: r.op, outcome: r.outcome, code: r.code, durationMs: r.durationMs }, 'pipe request');
      },
      onConnection: (event, detail) => {
        if (event === 'protocol_error') log.warn({ detail }, 'pipe protocol error; connection closed');
      },
    })),
    publish() {
      writeServiceFile(config.home, {
        pid: process.pid, version: SERVICE_VERSION, protocolVersion: PROTOCOL_VERSION, endpoints: core.endpoints, pipeName: core.pipeName,
        modelDirPath: config.modelsDir, startedAt: new Date().toISOString(),
        ...(config.apiKeysFile ? { apiKeysFile: config.apiKeysFile } : {}),
      });
    },
    close() {
      closing ??= (async () => {
        core.ready = false;
        removeServiceFile(config.home);
        // In-flight requests end with shutting_down before their workers go away.
        agent.stopAll();
        await new Promise((r) => setTimeout(r, 50));
        await Promise.all([...open].map((l) => l.close()));
        await plane.close();
        await registry.close();
        responses.close();
        releaseHome();
      })();
      return closing;
    },
  };
  return core;
}

/** The standalone agent: the core with its pipe and HTTP listeners, published in service.json. */
export async function startService(config: Config, opts: { logToStderr?: boolean } = {}): Promise<RunningService> {
  const core = await createAgent(config, opts);
  const { agent, registry, metrics, log } = core;
  let url = '';
  let port = 0;
  try {
    core.pipeName = config.pipe || defaultPipeName(config.home);
    await core.listenPipe(core.pipeName);
    // --http 0: a private agent on its socket alone (the Python SDK's Manager.create).
    if (config.http !== '0') {
      ({ url, port } = await core.listenHttp(config.host, config.port));
      core.endpoints = [url];
    }
  } catch (err) {
    await core.close();
    throw err;
  }
  core.startControlPlane(url);
  core.publish();
  core.ready = true;
  log.info({ url, pipeName: core.pipeName, modelsDir: config.modelsDir, auth: Boolean(config.apiKeysFile || config.apiKeys.trim() || config.oidcIssuer) }, 'crucible started');

  let stopped: Promise<void> | null = null;
  const close = () => {
    stopped ??= core.close().then(() => {
      log.info('crucible stopped');
      log.flush?.();
    });
    return stopped;
  };
  return { agent, control: core.control, registry, metrics, log, url, port, pipeName: core.pipeName, close };
}
