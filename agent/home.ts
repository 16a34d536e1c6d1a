import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceFile } from '../protocol/models.js';
import { CrucibleError } from '../protocol/errors.js';
import { writeFileAtomic } from './atomic-file.js';

/** The bundled default model, shipped in the repository and seeded into every new cache. */
export const BUNDLED_MODELS = fileURLToPath(new URL('../../models/', import.meta.url));

export const serviceFilePath = (home: string) => join(home, 'service.json');

/** The embedded database of stored responses (`/v1/responses`). */
export const responsesDbPath = (home: string) => join(home, 'responses.db');

/** Where the pipe lives: a Unix socket in the home folder, or a per-user named pipe on Windows. */
export function defaultPipeName(home: string): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\crucible-${userInfo().username}`;
  return join(home, 'crucible.sock');
}

export function prepareHome(home: string, modelsDir: string): void {
  mkdirSync(modelsDir, { recursive: true });
  chmodSync(home, 0o700);
  if (!existsSync(BUNDLED_MODELS)) return;
  // The bundled chat model, and manifests of predictive models whose files npm installed.
  for (const name of ['stories260k', 'pp-ocrv4', 'textline-orientation']) {
    const target = join(modelsDir, name);
    if (!existsSync(target) && existsSync(join(BUNDLED_MODELS, name))) cpSync(join(BUNDLED_MODELS, name), target, { recursive: true });
  }
}

export function writeServiceFile(home: string, info: ServiceFile): void {
  writeFileAtomic(serviceFilePath(home), JSON.stringify(info, null, 2));
}

export function readServiceFile(home: string): ServiceFile | null {
  try {
    return JSON.parse(readFileSync(serviceFilePath(home), 'utf8')) as ServiceFile;
  } catch {
    return null;
  }
}

export function removeServiceFile(home: string, pid = process.pid): void {
  const current = readServiceFile(home);
  if (current && current.pid === pid) rmSync(serviceFilePath(home), { force: true });
}

/** Whether a process still runs (one owned by another user counts). */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};


/**
 * Claims the home for this process's agent: `<home>/agent.lock` holds its pid. One agent per home
 * (standalone or embedded), since two would share one cache and one service.json; a lock left by
 * a dead process is taken over. Returns the release.
 */
export function lockHome(home: string): () => void {
  const file = join(home, 'agent.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        const who = owner === process.pid ? 'this process already runs' : `process ${owner} runs`;
        throw new CrucibleError('home_in_use', `${who} an agent on ${home} (${file}); close it first, connect to it, or use another home`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new CrucibleError('home_in_use', `cannot claim ${file}`);
}
