import { rmSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { CatalogEntry, CatalogListing, DownloadProgress, DownloadRequest, ExternalModel, RemoveRequest } from '../protocol/catalog.js';
import { CrucibleError } from '../protocol/errors.js';
import type { Catalog } from './catalog/catalog.js';
import type { DeviceProbe } from './devices.js';
import type { Downloader } from './downloads/downloader.js';
import type { ExternalRegistrations } from './external/registrations.js';
import type { Registry } from './registry.js';

/** Catalog, downloads, cache removal and external registrations: the model lifecycle on disk. */
export class CacheOps {
  constructor(
    private readonly registry: Registry,
    private readonly catalog: Catalog,
    private readonly downloader: Downloader,
    private readonly externals: ExternalRegistrations,
    private readonly devices: DeviceProbe,
    private readonly modelsDir: string,
  ) {}

  private cachedIds(): Set<string> {
    return new Set(this.registry.cached().map((e) => e.id));
  }

  async list(): Promise<CatalogListing[]> {
    const cached = this.cachedIds();
    return (await this.catalog.list()).map((e) => ({ ...e, cached: cached.has(e.name) }));
  }

  async resolveCatalog(name: string): Promise<CatalogEntry | undefined> {
    return this.catalog.resolve(name, { cached: this.cachedIds(), providers: await this.devices.automatic() });
  }

  /** Downloads a catalog model into the cache; an already cached model succeeds at once. */
  async download(req: DownloadRequest, opts: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void }): Promise<{ model: string }> {
    let entry = await this.resolveCatalog(req.model);
    if (!entry && req.uri && /^https?:\/\//.test(req.uri)) {
      throw new CrucibleError('model_not_found', `'${req.model}' is not in the catalog, so its files are unknown; add it to a catalog (--catalog-url)`, 'model');
    }
    if (!entry) throw new CrucibleError('model_not_found', `'${req.model}' is not in the catalog`, 'model');
    if (this.cachedIds().has(entry.name)) return { model: entry.name };
    await this.downloader.download(entry, opts);
    this.registry.refresh();
    return { model: entry.name };
  }

  /** Removes a cached model; a loaded one only with force, which unloads it first. */
  async remove(req: RemoveRequest): Promise<{ model: string }> {
    const entry = this.registry.resolve(req.name);
    if (entry.external) throw new CrucibleError('invalid_request', `'${entry.id}' is an external model, not in the cache`, 'name');
    const loaded = this.registry.loaded().some((e) => e.id === entry.id);
    if (loaded && !req.force) {
      throw new CrucibleError('model_in_use', `'${entry.id}' is loaded; unload it first or remove with force`, 'name');
    }
    if (loaded) await this.registry.unload(entry.id, true);
    const root = resolve(this.modelsDir);
    const path = resolve(entry.path);
    // Never delete outside the cache, whatever a folder name says.
    if (!path.startsWith(root + sep) || path === root) throw new CrucibleError('internal_error', `refusing to delete ${path}`);
    rmSync(path, { recursive: true, force: true });
    this.registry.refresh();
    return { model: entry.id };
  }

  async register(model: ExternalModel): Promise<{ model: string }> {
    this.externals.add(model);
    this.registry.refresh();
    return { model: model.ModelName };
  }

  /** Fetches the remote catalog now (`POST /api/v1/models/sync`); the built-in one needs none. */
  async sync(): Promise<{ remote: boolean; lastSync: string | null }> {
    await this.catalog.refresh();
    return { remote: this.catalog.hasRemote, lastSync: this.catalog.lastSync };
  }

  get lastSync(): string | null {
    return this.catalog.lastSync;
  }

  /** Rescans the model cache (a folder linked in or out). */
  refresh(): void {
    this.registry.refresh();
  }

  /** Registered external models' names. */
  externalNames(): string[] {
    return this.externals.list().map((m) => m.ModelName);
  }

  /** Forgets an external model's registration. */
  unregister(name: string): boolean {
    const removed = this.externals.remove(name);
    this.registry.refresh();
    return removed;
  }

  location(): string {
    return join(this.modelsDir);
  }
}
