import { serve, type ServerType } from '@hono/node-server';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION, SERVICE_VERSION } from '../protocol/version.js';
import { createHttpApp } from '../transports/http/app.js';
import { startPipeServer } from '../transports/pipe/server.js';
import { Agent } from './agent.js';
import { CacheOps } from './cache-ops.js';
import { builtinCatalog } from './catalog/builtin.js';
import { Catalog } from './catalog/catalog.js';
import { type Config, listOf, threadsFor } from './config.js';
import type { ModelEntry } from './discovery.js';
import { DeviceProbe } from './devices.js';
import { Downloader } from './downloads/downloader.js';
import { ProxyRunner } from './external/proxy-runner.js';
import { ExternalRegistrations } from './external/registrations.js';
import { ResponseStore } from './responses/store.js';
import { BUNDLED_MODELS, defaultPipeName, responsesDbPath, prepareHome, removeServiceFile, writeServiceFile } from './home.js';
import { KeyStore, readOrCreateKeys } from './keys.js';
import { type Logger, createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { PiscinaRunner, type Runner } from './model-runner.js';
import { PiscinaPredictRunner } from './predict-runner.js';
import { Registry } from './registry.js';

export interface RunningService {
  agent: Agent;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  url: string;
  port: number;
  pipeName: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

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

/** Wires the registry, the agent and the transports together and publishes service.json. */
export async function startService(config: Config, opts: { logToStderr?: boolean } = {}): Promise<RunningService> {
  const staticKeys = config.apiKeys.split(',').map((k) => k.trim()).filter(Boolean);
  if (config.apiKeysFile) readOrCreateKeys(config.apiKeysFile);
  const keys = new KeyStore(config.apiKeysFile || null, staticKeys);
  if (!LOOPBACK.has(config.host) && !keys.enabled) {
    throw new Error(`refusing to listen on ${config.host} without API keys: set --api-keys-file or CRUCIBLE_API_KEYS, or keep the default 127.0.0.1`);
  }
  prepareHome(config.home, config.modelsDir);
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
    providers: () => devices.known(),
    startRunner: async (entry, ep, variant) => {
      const t0 = performance.now();
      const { maxBatch, replicas, threads } = settingsFor(entry, config);
      let runner: Runner;
      try {
        runner = entry.external ? new ProxyRunner(entry.external) : entry.task !== 'chat'
          ? await PiscinaPredictRunner.start({ modelDir: entry.path, name: entry.id, intraOpThreads: threads, maxPixels: config.maxImagePixels }, replicas)
          : await PiscinaRunner.start({
            modelDir: entry.path,
            executionProvider: ep,
            intraOpThreads: threads,
            maxBatch,
            prefillChunk: config.prefillChunk,
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
  const pipeName = config.pipe || defaultPipeName(config.home);
  let endpoints: string[] = [];
  let ready = false;
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
    endpoints: () => endpoints,
    pipeName: () => pipeName,
    modelDirPath: config.modelsDir,
  }, { defaultPredictModel: config.predictModel, metrics, log, requestTimeoutMs: config.requestTimeout * 1000, logPrompts: config.logPrompts === '1', responses });
  const app = createHttpApp(agent, {
    ready: () => ready,
    maxBodyBytes: config.maxBodyBytes,
    maxImageBytes: config.maxImageBytes,
    corsOrigins: listOf(config.corsOrigins),
    allowedHosts: acceptedHosts(config),
    checkKey: keys.enabled ? (k) => keys.check(k) : undefined,
    metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
    onRequest: (r) => {
      metrics.httpRequests.inc({ route: r.route, method: r.method, status: String(r.status) });
      const level = r.status >= 500 ? 'error' : r.route === '/health' || r.route === '/metrics' ? 'debug' : 'info';
      log[level]({ requestId: r.requestId, method: r.method, route: r.route, status: r.status, durationMs: r.durationMs }, 'http request');
    },
  });

  const pipe = await startPipeServer(pipeName, agent, {
    onRequest: (r) => {
      metrics.pipeRequests.inc({ op: r.op, outcome: r.code ?? r.outcome });
      log[r.code === 'internal_error' ? 'error' : 'debug']({ op: r.op, outcome: r.outcome, code: r.code, durationMs: r.durationMs }, 'pipe request');
    },
    onConnection: (event, detail) => {
      if (event === 'protocol_error') log.warn({ detail }, 'pipe protocol error; connection closed');
    },
  });
  let server: ServerType;
  let port: number;
  try {
    ({ server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => resolve({ server: s, port: info.port }));
      s.once('error', reject);
    }));
  } catch (err) {
    await pipe.close();
    responses.close();
    throw err;
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  endpoints = [url];
  writeServiceFile(config.home, {
    pid: process.pid, version: SERVICE_VERSION, protocolVersion: PROTOCOL_VERSION, endpoints, pipeName,
    modelDirPath: config.modelsDir, startedAt: new Date().toISOString(),
    ...(config.apiKeysFile ? { apiKeysFile: config.apiKeysFile } : {}),
  });
  ready = true;
  log.info({ url, pipeName, modelsDir: config.modelsDir, auth: keys.enabled }, 'crucible started');

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      removeServiceFile(config.home);
      // In-flight requests end with shutting_down before their workers go away.
      agent.stopAll();
      await new Promise((r) => setTimeout(r, 50));
      await pipe.close();
      await registry.close();
      responses.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      log.info('crucible stopped');
      log.flush?.();
    })();
    return closing;
  };
  return { agent, registry, metrics, log, url, port, pipeName, close };
}
