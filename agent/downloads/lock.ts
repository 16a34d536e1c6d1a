import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CrucibleError } from '../../protocol/errors.js';
import { processAlive as alive } from '../home.js';


/**
 * A lock file holding the owner's pid, created exclusively. A lock whose owner is gone is stale
 * and taken over; a live owner in another process is waited for.
 */
export async function acquireLock(path: string, signal?: AbortSignal, pollMs = 200): Promise<() => void> {
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    if (signal?.aborted) throw new CrucibleError('cancelled', 'the download was cancelled');
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path, 'utf8'));
    } catch {
      continue; // Released between our two calls.
    }
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      rmSync(path, { force: true });
      continue;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
