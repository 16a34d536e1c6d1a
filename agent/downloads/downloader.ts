import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CatalogEntry, DownloadProgress } from '../../protocol/catalog.js';
import { CrucibleError } from '../../protocol/errors.js';
import { FileError, fetchInto, remoteSize, sha256File } from './fetch-file.js';
import { acquireLock } from './lock.js';

export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
}

/** The cache folder a catalog entry installs into. */
export const folderFor = (entry: CatalogEntry): string => entry.name.replace(/[^A-Za-z0-9._-]/g, '-');

const RETRIES = 5;
const PROGRESS_EVERY_MS = 100;

/** One model's transfer, shared by every request for that model while it runs. */
class Transfer {
  readonly ac = new AbortController();
  private readonly listeners = new Set<(p: DownloadProgress) => void>();
  private subscribers = 0;
  promise!: Promise<string>;
  last: DownloadProgress | null = null;

  /** Each caller waits on the shared transfer; the transfer is aborted when every caller has left. */
  join(opts: DownloadOptions): Promise<string> {
    this.subscribers++;
    if (opts.onProgress) {
      this.listeners.add(opts.onProgress);
      if (this.last) opts.onProgress(this.last);
    }
    return new Promise<string>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return;
        left = true;
        if (opts.onProgress) this.listeners.delete(opts.onProgress);
        opts.signal?.removeEventListener('abort', onAbort);
        if (--this.subscribers === 0 && !settled) this.ac.abort();
      };
      const onAbort = () => {
        leave();
        reject(new CrucibleError('cancelled', 'the download was cancelled'));
      };
      let settled = false;
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.promise.then((v) => { settled = true; leave(); resolve(v); }, (e) => { settled = true; leave(); reject(e); });
    });
  }

  emit(p: DownloadProgress): void {
    this.last = p;
    for (const l of this.listeners) l(p);
  }
}

/**
 * Installs catalog entries into the cache. Files land in `.partial/<folder>` and the folder moves
 * into the cache, in one rename, only when every file is complete and verified. Interrupted
 * files resume with Range requests; a lock file keeps two processes off the same model.
 */
export class Downloader {
  private readonly active = new Map<string, Transfer>();

  constructor(
    private readonly modelsDir: string,
    private readonly log: (msg: string) => void = () => {},
    private readonly onBytes: (model: string, n: number) => void = () => {},
  ) {}

  download(entry: CatalogEntry, opts: DownloadOptions = {}): Promise<string> {
    let t = this.active.get(entry.name);
    if (!t) {
      const transfer = new Transfer();
      transfer.promise = this.run(entry, transfer).finally(() => this.active.delete(entry.name));
      // Rejections reach the callers through join(); this copy must not be unhandled.
      transfer.promise.catch(() => {});
      this.active.set(entry.name, transfer);
      t = transfer;
    }
    return t.join(opts);
  }

  /** Model names with a transfer running now. */
  inProgress(): string[] {
    return [...this.active.keys()];
  }

  private async run(entry: CatalogEntry, t: Transfer): Promise<string> {
    const folder = folderFor(entry);
    const target = join(this.modelsDir, folder);
    if (existsSync(join(target, 'crucible.json'))) return target;
    const signal = t.ac.signal;
    const release = await acquireLock(join(this.modelsDir, '.locks', `${folder}.lock`), signal);
    const partial = join(this.modelsDir, '.partial', folder);
    try {
      // Another process may have finished it while we waited for the lock.
      if (existsSync(join(target, 'crucible.json'))) return target;
      await this.fetchAll(entry, partial, t);
      writeFileSync(join(partial, 'crucible.json'), JSON.stringify({ id: entry.name, ...entry }, null, 2));
      rmSync(target, { recursive: true, force: true });
      renameSync(partial, target);
      this.log(`downloaded ${entry.name} into ${target}`);
      return target;
    } catch (err) {
      if (signal.aborted) {
        rmSync(partial, { recursive: true, force: true });
        throw new CrucibleError('cancelled', `the download of ${entry.name} was cancelled`);
      }
      throw err;
    } finally {
      release();
    }
  }

  private async fetchAll(entry: CatalogEntry, partial: string, t: Transfer): Promise<void> {
    const signal = t.ac.signal;
    const sizes = await Promise.all(entry.files.map((f) => (f.size !== undefined ? f.size : remoteSize(`${entry.uri}/${f.path}`, signal))));
    const known = sizes.every((s) => s !== null);
    const bytesTotal = known ? (sizes as number[]).reduce((a, b) => a + b, 0) : null;
    const existing = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    let done = entry.files.reduce((sum, f) => sum + existing(join(partial, f.path)), 0);
    const started = Date.now();
    const startBytes = done;
    let lastEmit = 0;
    const report = (file: string, fileIndex: number, force = false) => {
      const now = Date.now();
      if (!force && now - lastEmit < PROGRESS_EVERY_MS) return;
      lastEmit = now;
      const rate = (done - startBytes) / Math.max(0.001, (now - started) / 1000);
      t.emit({
        model: entry.name, file, fileIndex, fileCount: entry.files.length, bytesDone: done, bytesTotal,
        percent: bytesTotal ? Math.min(100, (done / bytesTotal) * 100) : null,
        bytesPerSecond: Math.round(rate),
        secondsLeft: bytesTotal && rate > 0 ? Math.max(0, (bytesTotal - done) / rate) : null,
      });
    };
    for (const [i, file] of entry.files.entries()) {
      const dest = join(partial, file.path);
      const expected = sizes[i];
      if (expected !== null && existing(dest) === expected && expected > 0) {
        await this.verify(file.path, dest, expected, file.sha256);
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          const total = await fetchInto(`${entry.uri}/${file.path}`, dest, file.path, signal, (n) => { done += n; this.onBytes(entry.name, n); report(file.path, i); });
          await this.verify(file.path, dest, expected ?? total, file.sha256);
          break;
        } catch (err) {
          if (signal.aborted) throw err;
          if (!(err instanceof FileError) || !err.retry || attempt >= RETRIES) {
            throw new CrucibleError('download_failed', `download of ${entry.name} failed: ${(err as Error).message}`);
          }
          this.log(`${entry.name}: ${err.message}; retrying (${attempt}/${RETRIES - 1})`);
          done = entry.files.reduce((sum, f) => sum + existing(join(partial, f.path)), 0);
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      report(file.path, i, true);
    }
  }

  /** Size, then sha256 when the catalog gives one; a bad file is deleted so a retry refetches it. */
  private async verify(name: string, path: string, size: number, sha256?: string): Promise<void> {
    const actual = statSync(path).size;
    if (actual !== size) {
      rmSync(path, { force: true });
      throw new FileError(name, `size mismatch: expected ${size} bytes, got ${actual}`, false);
    }
    if (sha256) {
      const digest = await sha256File(path);
      if (digest !== sha256) {
        rmSync(path, { force: true });
        throw new FileError(name, `sha256 mismatch: expected ${sha256}, got ${digest}`, false);
      }
    }
  }
}
