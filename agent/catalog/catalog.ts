import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.js';
import { type CatalogEntry, parseCatalogEntry } from '../../protocol/catalog.js';
import { pickVariant, providerName } from '../resolve.js';

export interface CatalogOptions {
  builtin: CatalogEntry[];
  remoteUrl?: string;
  /** Where the remote catalog is kept between runs. */
  cacheFile: string;
  maxAgeMs?: number;
  now?: () => number;
  log?: (msg: string) => void;
}

interface CacheFile {
  url: string;
  fetchedAt: number;
  entries: unknown[];
}

/** Maps a catalog runtime's provider name to onnxruntime-node's. */
export const providerOf = (entry: CatalogEntry): string => providerName(entry.runtime.executionProvider);

/**
 * The merged catalog: the built-in entries, overridden and extended by a remote catalog that is
 * cached on disk for six hours and refetched early when a name is not found.
 */
export class Catalog {
  private remote: CatalogEntry[] = [];
  private fetchedAt = 0;
  /** When the remote catalog was last fetched successfully (ms), null when never. */
  private syncedAt: number | null = null;
  private inflight: Promise<void> | null = null;
  private readonly maxAge: number;
  private readonly now: () => number;

  constructor(private readonly opts: CatalogOptions) {
    this.maxAge = opts.maxAgeMs ?? 6 * 3600 * 1000;
    this.now = opts.now ?? Date.now;
    this.readCache();
  }

  async list(): Promise<CatalogEntry[]> {
    if (this.opts.remoteUrl && this.now() - this.fetchedAt > this.maxAge) await this.refresh();
    const byName = new Map<string, CatalogEntry>();
    for (const e of [...this.opts.builtin, ...this.remote]) byName.set(e.name.toLowerCase(), e);
    return [...byName.values()];
  }

  /**
   * Resolves a name with the shared resolver (see resolve.ts): cached variants first, the highest
   * version, then the best provider that runs here. Refreshes the remote catalog once when nothing
   * matches.
   */
  async resolve(name: string, ctx: { cached: Set<string>; providers: string[] }): Promise<CatalogEntry | undefined> {
    const found = this.match(await this.list(), name, ctx);
    if (found || !this.opts.remoteUrl) return found;
    await this.refresh();
    return this.match(await this.list(), name, ctx);
  }

  private match(entries: CatalogEntry[], name: string, ctx: { cached: Set<string>; providers: string[] }): CatalogEntry | undefined {
    const variants = entries.map((entry) => ({ id: entry.name, alias: entry.alias, provider: providerOf(entry), deviceType: entry.runtime.deviceType, cached: ctx.cached.has(entry.name), entry }));
    return pickVariant(variants, name, ctx.providers)?.entry;
  }

  /** The last successful fetch of the remote catalog (ISO 8601), null when there is none. */
  get lastSync(): string | null {
    return this.syncedAt === null ? null : new Date(this.syncedAt).toISOString();
  }

  get hasRemote(): boolean {
    return Boolean(this.opts.remoteUrl);
  }

  /** Fetches the remote catalog; on failure keeps what it had (stale beats nothing offline). */
  refresh(): Promise<void> {
    const url = this.opts.remoteUrl;
    if (!url) return Promise.resolve();
    this.inflight ??= (async () => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = await res.json() as any;
        const list = Array.isArray(body) ? body : Array.isArray(body?.models) ? body.models : null;
        if (!list) throw new Error('the catalog is not a JSON array');
        this.remote = this.parse(list);
        this.fetchedAt = this.now();
        this.syncedAt = this.fetchedAt;
        this.writeCache({ url, fetchedAt: this.fetchedAt, entries: list });
      } catch (err) {
        this.opts.log?.(`catalog ${url} unavailable: ${(err as Error).message}`);
        // Retry no sooner than a minute from now.
        this.fetchedAt = this.now() - this.maxAge + 60_000;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  private parse(list: unknown[]): CatalogEntry[] {
    const out: CatalogEntry[] = [];
    list.forEach((item, i) => {
      try {
        out.push(parseCatalogEntry(item, `catalog[${i}]`));
      } catch (err) {
        this.opts.log?.(`catalog entry ${i} skipped: ${(err as Error).message}`);
      }
    });
    return out;
  }

  private readCache(): void {
    try {
      const c = JSON.parse(readFileSync(this.opts.cacheFile, 'utf8')) as CacheFile;
      if (c.url !== this.opts.remoteUrl) return;
      this.remote = this.parse(c.entries);
      this.fetchedAt = c.fetchedAt;
      this.syncedAt = c.fetchedAt;
    } catch {
      // No cache yet.
    }
  }

  private writeCache(c: CacheFile): void {
    writeFileAtomic(this.opts.cacheFile, JSON.stringify(c), 0o644);
  }
}
