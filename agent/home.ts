import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceFile } from '../protocol/models.js';
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
