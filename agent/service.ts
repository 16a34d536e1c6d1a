import { serve, type ServerType } from '@hono/node-server';
import { join } from 'node:path';
import { PROTOCOL_VERSION, SERVICE_VERSION } from '../protocol/version.js';
import { createHttpApp } from '../transports/http/app.js';
import { startPipeServer } from '../transports/pipe/server.js';
import { Agent } from './agent.js';
import { type Config, threadsFor } from './config.js';
import { DeviceProbe } from './devices.js';
import { BUNDLED_MODELS, defaultPipeName, prepareHome, removeServiceFile, writeServiceFile } from './home.js';
import { CacheOps } from './cache-ops.js';
import { builtinCatalog } from './catalog/builtin.js';
import { Catalog } from './catalog/catalog.js';
import { Downloader } from './downloads/downloader.js';
import { ProxyRunner } from './external/proxy-runner.js';
import { ExternalRegistrations } from './external/registrations.js';
import { PiscinaRunner } from './model-runner.js';
import { Registry } from './registry.js';

export interface RunningService {
  agent: Agent;
  registry: Registry;
  url: string;
  port: number;
  pipeName: string;
  close(): Promise<void>;
}

/** Wires the registry, the agent and the transports together and publishes service.json. */
export async function startService(config: Config): Promise<RunningService> {
  prepareHome(config.home, config.modelsDir);
  const log = (msg: string) => console.error(`crucible: ${msg}`);
  const externals = new ExternalRegistrations(join(config.home, 'external-models.json'));
  const registry = new Registry({
    modelsDir: config.modelsDir,
    defaultEp: config.ep,
    defaultTtl: config.ttl,
    maxLoaded: config.maxLoadedModels,
    externals: () => externals.list(),
    startRunner: async (entry, ep) => entry.external ? new ProxyRunner(entry.external) : PiscinaRunner.start({
      modelDir: entry.path,
      executionProvider: ep,
      intraOpThreads: threadsFor(entry.bytes, config),
      maxBatch: config.maxBatch,
      prefillChunk: config.prefillChunk,
      replicas: config.replicas,
    }),
  });
  const pipeName = config.pipe || defaultPipeName(config.home);
  let endpoints: string[] = [];
  let ready = false;
  const devices = new DeviceProbe(join(BUNDLED_MODELS, 'stories260k', 'onnx', 'model.onnx'));
  const catalog = new Catalog({
    builtin: builtinCatalog(BUNDLED_MODELS),
    remoteUrl: config.catalogUrl || undefined,
    cacheFile: join(config.home, 'catalog-cache.json'),
    log,
  });
  const cache = new CacheOps(registry, catalog, new Downloader(config.modelsDir, log), externals, devices, config.modelsDir);
  const agent = new Agent(registry, devices, cache, {
    endpoints: () => endpoints,
    pipeName: () => pipeName,
    modelDirPath: config.modelsDir,
  });
  const app = createHttpApp(agent, { ready: () => ready });

  const pipe = await startPipeServer(pipeName, agent);
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => resolve({ server: s, port: info.port }));
    s.once('error', reject);
  });
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  endpoints = [url];
  writeServiceFile(config.home, {
    pid: process.pid, version: SERVICE_VERSION, protocolVersion: PROTOCOL_VERSION, endpoints, pipeName,
    modelDirPath: config.modelsDir, startedAt: new Date().toISOString(),
  });
  ready = true;

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      removeServiceFile(config.home);
      await pipe.close();
      await registry.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        // Streams in flight were ended by closing their workers; drop idle keep-alive sockets.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    })();
    return closing;
  };
  return { agent, registry, url, port, pipeName, close };
}
