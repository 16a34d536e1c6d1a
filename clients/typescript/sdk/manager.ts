import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../agent/config.js';
import { defaultPipeName, processAlive as alive } from '../../../agent/home.js';
import { type AgentCore, type Listener, createAgent } from '../../../agent/service.js';
import { CrucibleError } from '../../../protocol/errors.js';
import type { ServiceFile } from '../../../protocol/models.js';
import { type AgentClient, apiKeyFor, closeClient, defaultHome } from '../connect.js';
import { EmbeddedClient } from '../embedded-client.js';
import { HttpClient } from '../http-client.js';
import { PipeClient } from '../pipe-client.js';
import { connectOrStart } from './auto-start.js';
import { Catalog } from './catalog.js';

export interface ConnectOptions {
  /** The agent's home (service.json, socket, log); default $CRUCIBLE_HOME or ~/.crucible. */
  home?: string;
  /** An agent's HTTP address, skipping discovery (`http://127.0.0.1:5273`). */
  url?: string;
  apiKey?: string;
  /** `auto` (default): the pipe when it answers, else HTTP. */
  transport?: 'auto' | 'pipe' | 'http';
  /** Start the agent when none answers (a start lock makes concurrent callers start one). */
  autoStart?: boolean;
  /** Flags for an agent autoStart starts (`['--catalog-url', url]`). */
  agentArgs?: string[];
  /** How long autoStart waits for the agent to answer; 30 s. */
  startTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface CreateOptions {
  /** Names the app's home, `~/.crucible/apps/<appName>`, when `home` is not given. */
  appName?: string;
  home?: string;
  /** Where models are stored; default the shared cache `~/.crucible/cache/models` (or `<home>/cache/models` with `home`). */
  modelCacheDir?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  catalogUrl?: string;
  /** Serve the pipe and publish service.json, so that other processes can `connect()`. */
  share?: boolean;
  /** Any other agent flags (`['--ttl', '60']`). */
  agentArgs?: string[];
}


function readService(home: string): ServiceFile | null {
  try {
    return JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')) as ServiceFile;
  } catch {
    return null;
  }
}

/** The client service.json leads to and that answers `status`, or null. */
async function discover(home: string, transport: 'auto' | 'pipe' | 'http', apiKey?: string): Promise<PipeClient | HttpClient | null> {
  const info = readService(home);
  if (!info || !alive(info.pid)) return null;
  if (transport !== 'http' && info.pipeName) {
    try {
      const pipe = await PipeClient.connect(info.pipeName, 2000);
      try {
        await pipe.status();
        return pipe;
      } catch {
        pipe.close();
      }
    } catch {
      // Fall through to HTTP.
    }
  }
  if (transport === 'pipe' || !info.endpoints?.[0]) return null;
  const http = new HttpClient(info.endpoints[0], apiKey ?? apiKeyFor(info));
  try {
    await http.status();
    return http;
  } catch {
    return null;
  }
}

/**
 * The entry point of the SDK: a catalog of models over one agent, reached over the pipe, over
 * HTTP, or running in this process. Each manager is its own object: no process-wide singleton,
 * two managers with two configurations are two managers.
 */
export class CrucibleManager implements AsyncDisposable {
  readonly catalog: Catalog;
  private web: (Listener & { url: string }) | null = null;
  private pipe: Listener | null = null;
  private closed = false;

  private constructor(
    /** The calls every transport shares; the CLI and advanced callers use it directly. */
    readonly client: AgentClient,
    readonly mode: 'embedded' | 'pipe' | 'http',
    /** Whether connect({autoStart}) started the agent. */
    readonly started: boolean,
    private readonly core: AgentCore | null,
    private readonly httpUrl: string | null,
    private readonly apiKey: string | undefined,
  ) {
    this.catalog = new Catalog(client);
  }

  /** Finds a running agent through `<home>/service.json` (pipe first, then HTTP), or starts one with `autoStart`. */
  static async connect(opts: ConnectOptions = {}): Promise<CrucibleManager> {
    const transport = opts.transport ?? 'auto';
    if (opts.url) {
      const http = new HttpClient(opts.url.replace(/\/+$/, ''), opts.apiKey);
      await http.status();
      return new CrucibleManager(http, 'http', false, null, http.baseUrl, opts.apiKey);
    }
    const home = opts.home ?? defaultHome();
    const found = opts.autoStart
      ? await connectOrStart(() => discover(home, transport, opts.apiKey), { home, agentArgs: opts.agentArgs, timeoutMs: opts.startTimeoutMs, signal: opts.signal })
      : await discover(home, transport, opts.apiKey).then((client) => client && { client, started: false });
    if (!found) {
      throw new CrucibleError('connection_closed', `no agent answers on ${home} (service.json missing, stale or unreachable); start one with 'crucible service start', or pass autoStart: true`);
    }
    const { client, started } = found;
    if (client instanceof PipeClient) {
      const info = readService(home);
      return new CrucibleManager(client, 'pipe', started, null, info?.endpoints?.[0] ?? null, opts.apiKey ?? (info ? apiKeyFor(info) : undefined));
    }
    return new CrucibleManager(client, 'http', started, null, client.baseUrl, opts.apiKey ?? undefined);
  }

  /**
   * Embedded mode: the agent runs in this process (its worker threads hold the models), with no
   * HTTP listener and no socket unless asked (`startWebService`, `share`). One agent per home: a
   * second one on the same home, in this process or another, is refused with `home_in_use`.
   */
  static async create(opts: CreateOptions = {}): Promise<CrucibleManager> {
    const base = defaultHome();
    const home = opts.home ?? join(base, 'apps', opts.appName ?? 'default');
    const modelsDir = opts.modelCacheDir ?? (opts.home ? join(home, 'cache', 'models') : join(base, 'cache', 'models'));
    const args = ['--home', home, '--models-dir', modelsDir, '--log-level', opts.logLevel ?? 'info',
      ...(opts.catalogUrl ? ['--catalog-url', opts.catalogUrl] : []), ...(opts.agentArgs ?? [])];
    const config = loadConfig(args, {});
    const core = await createAgent(config, { logToStderr: false });
    const mgr = new CrucibleManager(new EmbeddedClient(core.agent), 'embedded', false, core, null, undefined);
    core.ready = true;
    if (opts.share) {
      try {
        core.pipeName = config.pipe || defaultPipeName(home);
        mgr.pipe = await core.listenPipe(core.pipeName);
        core.publish();
      } catch (err) {
        await core.close();
        throw err;
      }
    }
    return mgr;
  }

  /** The HTTP addresses the agent serves on (embedded: only after startWebService). */
  get urls(): string[] {
    if (this.core) return [...this.core.endpoints];
    return this.httpUrl ? [this.httpUrl] : [];
  }

  /** Embedded mode: serves the agent's OpenAI-compatible HTTP API on host:port (0: a free port). */
  async startWebService(opts: { host?: string; port?: number } = {}): Promise<string[]> {
    const core = this.embedded('startWebService');
    if (this.web) return this.urls;
    this.web = await core.listenHttp(opts.host ?? '127.0.0.1', opts.port ?? 0);
    core.endpoints = [this.web.url];
    if (this.pipe) core.publish();
    return this.urls;
  }

  async stopWebService(): Promise<void> {
    const core = this.embedded('stopWebService');
    if (!this.web) return;
    const web = this.web;
    this.web = null;
    core.endpoints = [];
    if (this.pipe) core.publish();
    await web.close();
  }

  /** `new OpenAI(manager.openAIConfig())`: the agent's OpenAI base URL and the key it wants. */
  openAIConfig(): { baseURL: string; apiKey: string } {
    const url = this.urls[0];
    if (!url) {
      throw new CrucibleError('invalid_request', this.core
        ? 'the embedded agent serves no HTTP; call startWebService() first'
        : 'the agent serves no HTTP endpoint (it runs with --http 0)');
    }
    return { baseURL: `${url}/v1`, apiKey: this.apiKey ?? 'crucible' };
  }

  /** Connected: closes the connection. Embedded: stops listeners, ends requests, unloads models, stops workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.core) {
      closeClient(this.client);
      return;
    }
    // The core closes the listeners after ending the requests in flight.
    await this.core.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private embedded(what: string): AgentCore {
    if (!this.core) throw new CrucibleError('invalid_request', `${what} is for embedded mode (CrucibleManager.create); this manager is connected over the ${this.mode}`);
    return this.core;
  }
}
