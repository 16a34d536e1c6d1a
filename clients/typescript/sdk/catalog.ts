import { pickVariant, providerName } from '../../../agent/resolve.js';
import type { CatalogListing, DownloadProgress } from '../../../protocol/catalog.js';
import { CrucibleError } from '../../../protocol/errors.js';
import type { ModelInfo } from '../../../protocol/models.js';
import { stripVersion, versionOf } from '../../../protocol/validate.js';
import type { AgentClient } from '../connect.js';
import { abortable } from './abortable.js';
import { AudioClient, type AudioSettings } from './audio-client.js';
import { type CallOptions, ChatClient, type ChatSettings, PredictClient } from './chat-client.js';
import { EmbeddingClient, type EmbeddingSettings } from './embedding-client.js';

/** One concrete build of a model: an id in the catalog or the cache. */
export interface ModelVariant {
  id: string;
  alias: string;
  version: number;
  /** onnxruntime-node's execution provider name (`cpu`, `cuda`, `webgpu`, `dml` ...). */
  provider: string;
  /** The catalog's device type (`CPU`, `GPU`, `NPU`). */
  deviceType: string;
  cached: boolean;
  /** Whether its execution provider can run on this machine; a variant that cannot is listed, never chosen first. */
  runnable: boolean;
  fileSizeMb: number | null;
  task: string;
  /** The catalog entry, when the variant is in the catalog (a model only in the cache has none). */
  listing: CatalogListing | null;
}

/** Why a Model uses the variant it does. */
export interface Selection {
  id: string;
  /**
   * `explicit`: named by id, device or selectVariant; `only`: the alias has one variant;
   * `cached`: a downloaded variant beats one that is not; `device`: the best execution provider
   * that runs here (then the highest version).
   */
  reason: 'cached' | 'device' | 'explicit' | 'only';
}

export interface DownloadOptions extends CallOptions {
  /** Percent done (0-100) and the agent's detailed report. */
  onProgress?: (percent: number, detail: DownloadProgress) => void;
}

/** The agent's view, read fresh for each question (one `models.list` and one `models.info`). */
interface Snapshot {
  variants: ModelVariant[];
  info: ModelInfo[];
  providers: string[];
}

/** A model by alias with its variants, and the variant this machine uses. */
export class Model {
  constructor(
    private readonly client: AgentClient,
    private readonly catalog: Catalog,
    readonly alias: string,
    readonly variants: ModelVariant[],
    public selection: Selection,
  ) {}

  /** The selected variant's id: what load, chat and download use. */
  get id(): string {
    return this.selection.id;
  }

  get variant(): ModelVariant {
    return this.variants.find((v) => v.id === this.id)!;
  }

  /** Uses this variant (by id) from now on. */
  selectVariant(id: string): this {
    const v = this.variants.find((x) => x.id.toLowerCase() === id.toLowerCase());
    if (!v) throw new CrucibleError('model_not_found', `'${id}' is not a variant of ${this.alias}; variants: ${this.variants.map((x) => x.id).join(', ')}`, 'id');
    this.selection = { id: v.id, reason: 'explicit' };
    return this;
  }

  async isCached(opts: CallOptions = {}): Promise<boolean> {
    return (await abortable(this.client.cachedModels(), opts.signal)).includes(this.id);
  }

  async isLoaded(opts: CallOptions = {}): Promise<boolean> {
    return (await abortable(this.client.loadedModels(), opts.signal)).includes(this.id);
  }

  /** Downloads the selected variant into the cache; returns at once when it is cached. */
  async download(opts: DownloadOptions = {}): Promise<void> {
    if (await this.isCached(opts)) return;
    await this.client.download(this.id, opts.onProgress && ((p) => opts.onProgress!(p.percent ?? 0, p)), opts.signal);
    this.markCached(true);
  }

  /** Loads the selected variant; an aborted signal stops the wait (the agent still finishes the load). */
  async load(opts: CallOptions & { ttl?: number; ep?: string } = {}): Promise<void> {
    await abortable(this.client.load(this.id, { ttl: opts.ttl, ep: opts.ep }), opts.signal);
  }

  async unload(opts: CallOptions & { force?: boolean } = {}): Promise<void> {
    await abortable(this.client.unload(this.id, opts.force ?? false), opts.signal);
  }

  /** Deletes the selected variant from the cache (`force` unloads it first). */
  async removeFromCache(opts: CallOptions & { force?: boolean } = {}): Promise<void> {
    await abortable(this.client.removeModel(this.id, opts.force ?? false), opts.signal);
    this.markCached(false);
  }

  /** Where the selected variant's files are (it must be cached). */
  async path(opts: CallOptions = {}): Promise<string> {
    const row = (await abortable(this.client.modelInfo(), opts.signal)).find((m) => m.id === this.id);
    if (!row) throw new CrucibleError('model_not_found', `'${this.id}' is not in the cache; download it first`, 'model');
    return row.path;
  }

  getChatClient(settings: ChatSettings = {}): ChatClient {
    return new ChatClient(this.client, this.id, settings);
  }

  getPredictClient(): PredictClient {
    return new PredictClient(this.client, this.id);
  }

  /** Speech to text (Whisper models). */
  getAudioClient(settings: AudioSettings = {}): AudioClient {
    return new AudioClient(this.client, this.id, settings);
  }

  getEmbeddingClient(settings: EmbeddingSettings = {}): EmbeddingClient {
    return new EmbeddingClient(this.client, this.id, settings);
  }

  /** The newest version of this model in the catalog. */
  getLatestVersion(opts: CallOptions = {}): Promise<ModelVariant> {
    return this.catalog.getLatestVersion(this, opts);
  }

  private markCached(cached: boolean): void {
    const v = this.variants.find((x) => x.id === this.id);
    if (v) v.cached = cached;
  }
}

const deviceOf = (provider: string): string => (provider === 'cpu' ? 'CPU' : provider === 'qnn' || provider === 'vitisai' ? 'NPU' : 'GPU');

/** Everything the agent knows of: its catalog and its cache, grouped by alias. */
export class Catalog {
  constructor(private readonly client: AgentClient) {}

  private async snapshot(signal?: AbortSignal): Promise<Snapshot> {
    const [listing, info, status] = await abortable(Promise.all([this.client.catalog(), this.client.modelInfo(), this.client.status()]), signal);
    const runs = status.executionProviders ?? ['cpu'];
    // Variants are ranked among the providers chosen automatically (hardware only: a software
    // WebGPU adapter runs what is asked for by name, and is never picked as the GPU).
    const providers = status.devices?.automatic ?? runs;
    const cached = new Set(info.map((m) => m.id));
    const variants: ModelVariant[] = listing.map((e) => {
      const provider = providerName(e.runtime.executionProvider);
      return {
        id: e.name, alias: e.alias, version: versionOf(e.name), provider, deviceType: e.runtime.deviceType,
        cached: cached.has(e.name), runnable: runs.includes(provider), fileSizeMb: e.fileSizeMb, task: e.task, listing: e,
      };
    });
    const known = new Set(variants.map((v) => v.id));
    // Models only in the cache (copied in, built locally) are models too.
    for (const m of info) {
      if (known.has(m.id)) continue;
      variants.push({
        id: m.id, alias: m.alias ?? stripVersion(m.id), version: versionOf(m.id), provider: m.executionProvider ?? 'cpu', deviceType: deviceOf(m.executionProvider ?? 'cpu'),
        cached: true, runnable: true, fileSizeMb: null, task: 'chat-completion', listing: null,
      });
    }
    return { variants, info, providers };
  }

  private group(s: Snapshot, alias: string, selection?: Selection): Model {
    const variants = s.variants.filter((v) => v.alias.toLowerCase() === alias.toLowerCase());
    return new Model(this.client, this, variants[0]?.alias ?? alias, variants, selection ?? this.choose(s, variants, variants[0].alias));
  }

  /** The agent's own rule (agent/resolve.ts), and the reason it picked what it picked. */
  private choose(s: Snapshot, variants: ModelVariant[], name: string): Selection {
    const chosen = pickVariant(variants, name, s.providers) ?? variants[0];
    if (variants.length === 1) return { id: chosen.id, reason: 'only' };
    const beatsUncached = chosen.cached && variants.some((v) => !v.cached && v.runnable);
    return { id: chosen.id, reason: beatsUncached ? 'cached' : 'device' };
  }

  /** One Model per alias, each with its variants and selection. */
  async listModels(opts: CallOptions = {}): Promise<Model[]> {
    const s = await this.snapshot(opts.signal);
    const aliases = [...new Set(s.variants.map((v) => v.alias))];
    return aliases.map((a) => this.group(s, a));
  }

  /**
   * A model by alias (the best variant for this machine, see `Selection`) or by variant id (that
   * variant). `device` (`cpu`, `gpu`, `npu` or a provider such as `cuda`) narrows the choice.
   * Throws `model_not_found` with the closest names when nothing matches.
   */
  async getModel(aliasOrId: string, opts: CallOptions & { device?: string } = {}): Promise<Model> {
    const found = await this.findModel(aliasOrId, opts);
    if (found) return found;
    const s = await this.snapshot(opts.signal);
    const names = [...new Set(s.variants.flatMap((v) => [v.alias, v.id]))];
    const suggestions = closest(aliasOrId, names);
    const device = opts.device ? ` for device '${opts.device}'` : '';
    throw new CrucibleError('model_not_found',
      `no model '${aliasOrId}'${device} in the catalog or the cache${suggestions.length ? `; did you mean ${suggestions.map((n) => `'${n}'`).join(', ')}?` : ''}`, 'model');
  }

  /** As getModel, but undefined when nothing matches. */
  async findModel(aliasOrId: string, opts: CallOptions & { device?: string } = {}): Promise<Model | undefined> {
    const s = await this.snapshot(opts.signal);
    const n = aliasOrId.toLowerCase();
    const byId = s.variants.find((v) => v.id.toLowerCase() === n) ?? pickVariant(s.variants.filter((v) => v.id.includes(':')), aliasOrId, s.providers);
    const byAlias = s.variants.filter((v) => v.alias.toLowerCase() === n);
    if (opts.device) {
      const d = opts.device.toLowerCase();
      const fits = (v: ModelVariant) => v.provider === d || v.deviceType.toLowerCase() === d;
      const candidates = (byAlias.length > 0 ? byAlias : byId ? s.variants.filter((v) => v.alias === byId.alias) : []).filter(fits);
      const chosen = pickVariant(candidates, candidates[0]?.alias ?? '', s.providers);
      return chosen ? this.group(s, chosen.alias, { id: chosen.id, reason: 'explicit' }) : undefined;
    }
    if (byAlias.length > 0) return this.group(s, byAlias[0].alias);
    if (byId) return this.group(s, byId.alias, byId.id.toLowerCase() === n ? { id: byId.id, reason: 'explicit' } : undefined);
    return undefined;
  }

  async getModelVariant(id: string, opts: CallOptions = {}): Promise<ModelVariant> {
    const v = (await this.snapshot(opts.signal)).variants.find((x) => x.id.toLowerCase() === id.toLowerCase());
    if (!v) throw new CrucibleError('model_not_found', `no variant '${id}' in the catalog or the cache`, 'id');
    return v;
  }

  async getCachedModels(opts: CallOptions = {}): Promise<ModelVariant[]> {
    return (await this.snapshot(opts.signal)).variants.filter((v) => v.cached);
  }

  async getLoadedModels(opts: CallOptions = {}): Promise<ModelVariant[]> {
    const s = await this.snapshot(opts.signal);
    const loaded = new Set(s.info.filter((m) => m.state === 'loaded').map((m) => m.id));
    return s.variants.filter((v) => loaded.has(v.id));
  }

  /** The variant with the highest version among those that share the model's name without version and provider. */
  async getLatestVersion(model: Model | ModelVariant | string, opts: CallOptions = {}): Promise<ModelVariant> {
    const id = typeof model === 'string' ? model : model.id;
    const s = await this.snapshot(opts.signal);
    const base = stripVersion(id).toLowerCase();
    const same = s.variants.filter((v) => stripVersion(v.id).toLowerCase() === base);
    if (same.length === 0) throw new CrucibleError('model_not_found', `no variant '${id}' in the catalog or the cache`, 'model');
    return same.sort((a, b) => b.version - a.version)[0];
  }

  /**
   * Reads the catalog and cache again. The SDK keeps no copy between calls, so this only returns
   * the fresh list; the agent refetches its remote catalog when a name is not found.
   */
  refresh(opts: CallOptions = {}): Promise<Model[]> {
    return this.listModels(opts);
  }
}

/** Names within a small edit distance of the asked one, or containing it, closest first. */
function closest(name: string, names: string[]): string[] {
  const n = name.toLowerCase();
  const dist = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length];
  };
  return names
    .map((x) => ({ x, d: x.toLowerCase().includes(n) || n.includes(x.toLowerCase()) ? 0 : dist(n, x.toLowerCase()) }))
    .filter((c) => c.d <= Math.max(2, Math.floor(n.length / 3)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map((c) => c.x);
}
