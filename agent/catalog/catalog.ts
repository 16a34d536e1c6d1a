import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.js';
import { type CatalogEntry, parseCatalogEntry } from '../../protocol/catalog.js';
import { stripVersion } from '../../protocol/validate.js';

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
export function providerOf(entry: CatalogEntry): string {
  const ep = entry.runtime.executionProvider.toLowerCase().replace(/executionprovider$/, '');
  return ep === 'dml' || ep === 'directml' ? 'dml' : ep;
}

const versionNumber = (e: CatalogEntry) => {
  const n = Number(e.version);
  return Number.isFinite(n) ? n : -1;
};

/**
 * The merged catalog: the built-in entries, overridden and extended by a remote catalog that is
 * cached on disk for six hours and refetched early when a name is not found.
 */
export class Catalog {
  private remote: CatalogEntry[] = [];
  private fetchedAt = 0;
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
   * Resolves a name: exact id, then id without version (highest version), then alias, where
   * among an alias's variants a cached one wins, then one whose provider this machine runs
   * (GPU before CPU). Refreshes the remote catalog once when nothing matches.
   */
  async resolve(name: string, ctx: { cached: Set<string>; providers: string[] }): Promise<CatalogEntry | undefined> {
    const found = this.match(await this.list(), name, ctx);
    if (found || !this.opts.remoteUrl) return found;
    await this.refresh();
    return this.match(await this.list(), name, ctx);
  }

  private match(entries: CatalogEntry[], name: string, ctx: { cached: Set<string>; providers: string[] }): CatalogEntry | undefined {
    const n = name.toLowerCase();
    const exact = entries.find((e) => e.name.toLowerCase() === n);
    if (exact) return exact;
    const versions = entries.filter((e) => stripVersion(e.name).toLowerCase() === n).sort((a, b) => versionNumber(b) - versionNumber(a));
    if (versions.length > 0) return versions[0];
    const runnable = entries.filter((e) => e.alias.toLowerCase() === n && ctx.providers.includes(providerOf(e)));
    const rank = (e: CatalogEntry) => (ctx.cached.has(e.name) ? 0 : providerOf(e) === 'cpu' ? 2 : 1);
    return runnable.sort((a, b) => rank(a) - rank(b) || versionNumber(b) - versionNumber(a))[0];
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
    } catch {
      // No cache yet.
    }
  }

  private writeCache(c: CacheFile): void {
    writeFileAtomic(this.opts.cacheFile, JSON.stringify(c), 0o644);
  }
}
